"""Start the planned processes, wait until they serve, restart the ones that die, stop them all cleanly.

Each child runs in its own session (so its own process group): SGLang forks a scheduler and a detokenizer,
and stopping means SIGTERM to the whole group, then SIGKILL to the group after a grace period. A child that
dies after it was ready is restarted after an exponential backoff (capped); one that dies before it was ever
ready fails ``wait_ready`` with the last line of its log, since restarting a bad flag forever helps no one.
Ready means ``GET /health`` answers 200 and ``GET /v1/models`` lists the served name and every adapter.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from backend.plan import Launch, resolve_argv
from backend.spec import Supervision
from core.errors import BackendError

EventKind = Literal["started", "ready", "exited", "restarting", "stopped"]


class SupervisorError(BackendError):
    """A server that could not be started or never became ready; one line with the fix or the log to read."""

    exit_code = 1  # not the user's input: something here failed


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class Event:
    name: str
    kind: EventKind
    detail: str = ""


def backoff_delay(failures: int, initial_s: float, max_s: float) -> float:
    """Seconds to wait before restart number ``failures`` (1, 2, ...): doubling from ``initial_s``, capped."""
    if failures <= 0:
        return 0.0
    return float(min(max_s, initial_s * 2 ** min(failures - 1, 62)))


def probe(url: str, *, api_key: str | None = None, timeout_s: float = 2.0) -> Health:
    """One look at a server: does /health answer 200, and which models does /v1/models list."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with httpx.Client(timeout=timeout_s, headers=headers) as client:
            health = client.get(f"{url}/health")
            if health.status_code != 200:
                return Health(False, f"GET /health answered {health.status_code}")
            listed = client.get(f"{url}/v1/models")
    except httpx.HTTPError as exc:
        return Health(False, f"not answering ({type(exc).__name__})")
    if listed.status_code != 200:
        return Health(False, f"GET /v1/models answered {listed.status_code}")
    try:
        ids = tuple(str(m["id"]) for m in listed.json()["data"])
    except (ValueError, KeyError, TypeError):
        return Health(False, "GET /v1/models did not return an OpenAI model list")
    return Health(True, "healthy", ids)


def check_health(url: str, expect_models: Sequence[str], *, api_key: str | None = None) -> Health:
    """:func:`probe`, plus: every expected model (served name, adapter names) must be listed."""
    health = probe(url, api_key=api_key)
    if not health.ok:
        return health
    missing = [m for m in expect_models if m not in health.models]
    if missing:
        return Health(False, f"/v1/models does not list {', '.join(missing)} yet", health.models)
    return health


@dataclass
class _Child:
    launch: Launch
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restarts: int = 0
    restart_at: float | None = None
    ready: bool = False
    ever_ready: bool = False


@dataclass(frozen=True)
class ChildState:
    name: str
    pid: int | None
    ready: bool
    restarts: int
    log_path: Path


@dataclass
class Supervisor:
    """Owns the child processes of one plan; use as a context manager so they always get stopped."""

    launches: Sequence[Launch]
    log_dir: Path
    supervision: Supervision = field(default_factory=Supervision)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    api_key: str | None = None
    on_event: Callable[[Event], None] = lambda event: None
    clock: Callable[[], float] = time.monotonic
    _children: list[_Child] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._children = [
            _Child(
                launch=x,
                argv=resolve_argv(x, self.environ),
                log_path=self.log_dir / f"{_file_name(x.name)}.log",
            )
            for x in self.launches
        ]

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def states(self) -> list[ChildState]:
        return [
            ChildState(c.launch.name, c.proc.pid if c.proc else None, c.ready, c.restarts, c.log_path)
            for c in self._children
        ]

    def start(self) -> None:
        """Spawn every process; refuse at once if one of their ports is already taken."""
        for child in self._children:
            _check_port_free(child.launch.url)
        try:
            for child in self._children:
                self._spawn(child)
        except OSError as exc:
            self.stop()
            raise SupervisorError(
                f"cannot run {exc.filename or 'the command'}: {exc.strerror}; is it installed?"
            ) from None

    def wait_ready(self, timeout_s: float | None = None, stop: threading.Event | None = None) -> None:
        """Block until every child is ready; raise if one exits first or the time runs out."""
        limit = self.supervision.health_timeout_s if timeout_s is None else timeout_s
        deadline = self.clock() + limit
        stop = stop or threading.Event()
        while not stop.is_set():
            for child in self._children:
                self._check_startup(child)
            if all(c.ready for c in self._children):
                return
            if self.clock() >= deadline:
                raise SupervisorError(self._timeout_message(limit))
            stop.wait(0.2)

    def poll(self) -> None:
        """One supervision round: notice deaths, restart those whose backoff has passed, re-check health."""
        now = self.clock()
        for child in self._children:
            self._poll_child(child, now)

    def run(self, stop: threading.Event, interval_s: float = 0.5) -> None:
        """Supervise until ``stop`` is set (by a signal handler), then stop everything."""
        try:
            while not stop.wait(interval_s):
                self.poll()
        finally:
            self.stop()

    def stop(self) -> None:
        """SIGTERM to every process group, SIGKILL to the groups still there after the grace period."""
        alive = [c for c in self._children if c.proc is not None]
        for child in alive:
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + self.supervision.stop_grace_s
        for child in alive:
            assert child.proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for child in alive:
            _signal_group(child, signal.SIGKILL)
            assert child.proc is not None
            code = child.proc.wait()
            child.proc, child.ready, child.restart_at = None, False, None
            self.on_event(Event(child.launch.name, "stopped", f"exit code {code}"))

    # -------------------------------------------------------------------------------------------- private

    def _spawn(self, child: _Child) -> None:
        with child.log_path.open("ab") as log:
            child.proc = subprocess.Popen(
                child.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child.started_at, child.ready, child.restart_at = self.clock(), False, None
        self.on_event(Event(child.launch.name, "started", f"pid {child.proc.pid}, log {child.log_path}"))

    def _check_startup(self, child: _Child) -> None:
        if child.ready or child.proc is None:
            return
        code = child.proc.poll()
        if code is not None:
            raise SupervisorError(
                f"{child.launch.name} exited with code {code} before it was ready: {_last_line(child.log_path)}"
                f" (full log: {child.log_path})"
            )
        self._check_ready(child)

    def _check_ready(self, child: _Child) -> None:
        health = check_health(child.launch.url, child.launch.expect_models, api_key=self.api_key)
        if health.ok:
            child.ready = child.ever_ready = True
            self.on_event(Event(child.launch.name, "ready", child.launch.url))

    def _poll_child(self, child: _Child, now: float) -> None:
        if child.proc is None:
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self.on_event(Event(child.launch.name, "restarting", f"restart {child.restarts}"))
                self._spawn(child)
            return
        code = child.proc.poll()
        if code is not None:
            self._on_exit(child, code, now)
        elif not child.ready:
            self._check_ready(child)
        elif now - child.started_at >= self.supervision.stable_after_s:
            child.failures = 0

    def _on_exit(self, child: _Child, code: int, now: float) -> None:
        _signal_group(child, signal.SIGKILL)  # leftovers (scheduler, detokenizer) would hold the GPU and port
        child.proc, child.ready = None, False
        child.failures += 1
        s = self.supervision
        delay = backoff_delay(child.failures, s.backoff_initial_s, s.backoff_max_s)
        child.restart_at = now + delay
        self.on_event(Event(child.launch.name, "exited", f"exit code {code}; restarting in {delay:.1f} s"))

    def _timeout_message(self, limit: float) -> str:
        waiting = [c for c in self._children if not c.ready]
        first = waiting[0]
        health = check_health(first.launch.url, first.launch.expect_models, api_key=self.api_key)
        names = ", ".join(c.launch.name for c in waiting)
        return (
            f"not ready after {limit:.0f} s: {names} ({first.launch.name}: {health.detail}); "
            f"read {first.log_path}, or raise supervision.health_timeout_s"
        )


def _signal_group(child: _Child, sig: signal.Signals) -> None:
    if child.proc is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.proc.pid, sig)


def _check_port_free(url: str) -> None:
    host, _, port_text = url.removeprefix("http://").rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, int(port_text)))
        except OSError:
            raise SupervisorError(
                f"port {port_text} on {host} is already in use; stop what holds it or change the port in backend.yaml"
            ) from None


def _last_line(path: Path) -> str:
    try:
        lines = path.read_bytes()[-4096:].decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "server"
