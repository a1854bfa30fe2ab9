"""The supervisor on real processes: the sim started as if it were SGLang, then killed, restarted, stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from backend.plan import build_plan
from backend.spec import BackendSpec, parse_spec
from backend.supervisor import Event, Supervisor, SupervisorError, backoff_delay, check_health
from migrate_cli.backend import backend

CLI = [sys.executable, "-c", "import sys; from migrate_cli.main import cli; sys.exit(cli())"]
SIM = [*CLI, "sim", "--flavor", "sglang", "--host", "{host}", "--port", "{port}", "--models", "{models}"]
FAST = {
    "health_timeout_s": 30,
    "backoff_initial_s": 0.2,
    "backoff_max_s": 1,
    "stable_after_s": 60,
    "stop_grace_s": 5,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raw_spec(launcher: list[str], port: int, **supervision: Any) -> dict[str, Any]:
    return {
        "launcher": launcher,
        "servers": {"qwen7b": {"model": "Qwen/Qwen2.5-0.5B-Instruct", "port": port}},
        "specialists": {
            "classify": {"server": "qwen7b", "adapter": "hf:acme/classify"},
            "extract": {"server": "qwen7b", "adapter": "hf:acme/extract"},
        },
        "supervision": {**FAST, **supervision},
    }


def spec_with(launcher: list[str], **supervision: Any) -> BackendSpec:
    return parse_spec(raw_spec(launcher, free_port(), **supervision), source="b.yaml")


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
def make(tmp_path: Path, events: list[Event]) -> Iterator[Callable[[BackendSpec], Supervisor]]:
    made: list[Supervisor] = []

    def build(spec: BackendSpec) -> Supervisor:
        sup = Supervisor(
            build_plan(spec), log_dir=tmp_path / "logs", supervision=spec.supervision, on_event=events.append
        )
        made.append(sup)
        return sup

    yield build
    for sup in made:
        sup.stop()


def wait_for(
    condition: Callable[[], bool], timeout_s: float, step: Callable[[], None] = lambda: None
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        step()
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("failures", "delay"), [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (500, 60.0)]
)
def test_backoff_doubles_and_is_capped(failures: int, delay: float) -> None:
    assert backoff_delay(failures, 1.0, 60.0) == delay


def test_start_wait_crash_restart_and_stop(
    make: Callable[[BackendSpec], Supervisor], events: list[Event]
) -> None:
    spec = spec_with(SIM)
    sup = make(spec)
    sup.start()
    sup.wait_ready()
    url = spec.servers[0].url
    (state,) = sup.states()
    assert state.ready and state.restarts == 0 and state.pid is not None
    assert check_health(url, ["qwen7b", "classify", "extract"]).ok
    assert [e.kind for e in events] == ["started", "ready"]

    os.killpg(state.pid, signal.SIGKILL)  # the server dies
    wait_for(lambda: sup.states()[0].restarts == 1 and sup.states()[0].ready, 30, step=sup.poll)
    (after,) = sup.states()
    assert after.pid != state.pid
    assert [e.kind for e in events][2:] == ["exited", "restarting", "started", "ready"]
    assert "restarting in 0.2 s" in events[2].detail

    sup.stop()
    assert sup.states()[0].pid is None
    assert events[-1].kind == "stopped"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2)


@pytest.mark.parametrize(
    ("stable_after_s", "second_delay"),
    [(60.0, "0.4"), (0.0, "0.2")],  # a server that stayed up long enough starts the backoff over
)
def test_a_second_crash_waits_longer(
    make: Callable[[BackendSpec], Supervisor], events: list[Event], stable_after_s: float, second_delay: str
) -> None:
    sup = make(spec_with(SIM, stable_after_s=stable_after_s))
    sup.start()
    sup.wait_ready()
    for _ in range(2):
        pid = sup.states()[0].pid
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        wait_for(lambda: replaced(sup, pid), 30, step=sup.poll)  # noqa: B023 (used at once, inside the loop)
        sup.poll()
    delays = [e.detail for e in events if e.kind == "exited"]
    assert delays == ["exit code -9; restarting in 0.2 s", f"exit code -9; restarting in {second_delay} s"]


def replaced(sup: Supervisor, old_pid: int) -> bool:
    state = sup.states()[0]
    return state.ready and state.pid != old_pid


def test_dying_before_ready_fails_with_the_log_line(make: Callable[[BackendSpec], Supervisor]) -> None:
    crash = [
        sys.executable,
        "-c",
        "import sys; print('error: unrecognized arguments: --tp-sise'); sys.exit(2)",
        "{port}",
    ]
    sup = make(spec_with(crash))
    sup.start()
    with pytest.raises(
        SupervisorError, match=r"qwen7b exited with code 2 before it was ready: error: unrecognized"
    ):
        sup.wait_ready()


def test_never_ready_times_out(make: Callable[[BackendSpec], Supervisor]) -> None:
    silent = [sys.executable, "-c", "import time; time.sleep(60)", "{port}"]
    sup = make(spec_with(silent))
    sup.start()
    with pytest.raises(SupervisorError, match=r"not ready after 1 s: qwen7b \(qwen7b: not answering"):
        sup.wait_ready(timeout_s=1.0)


def test_stop_kills_what_ignores_sigterm(
    make: Callable[[BackendSpec], Supervisor], events: list[Event]
) -> None:
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)",
        "{port}",
    ]
    sup = make(spec_with(stubborn, stop_grace_s=0.5))
    sup.start()
    log = sup.states()[0].log_path
    wait_for(lambda: log.read_text(encoding="utf-8").strip() == "up", 10)
    started = time.monotonic()
    sup.stop()
    assert time.monotonic() - started < 5
    assert events[-1] == Event("qwen7b", "stopped", f"exit code {-signal.SIGKILL}")


def test_port_in_use_is_refused_before_anything_starts(make: Callable[[BackendSpec], Supervisor]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        spec = parse_spec(raw_spec(SIM, port), source="b.yaml")
        sup = make(spec)
        with pytest.raises(SupervisorError, match=rf"port {port} on 127.0.0.1 is already in use"):
            sup.start()
        assert sup.states()[0].pid is None


def test_missing_program_is_one_line(make: Callable[[BackendSpec], Supervisor]) -> None:
    sup = make(spec_with(["/nonexistent/sglang", "serve", "--port", "{port}"]))
    with pytest.raises(SupervisorError, match=r"cannot run /nonexistent/sglang: No such file or directory"):
        sup.start()


def test_up_and_status_end_to_end(tmp_path: Path) -> None:
    """`backend up` as a user runs it: ready line, status from another process, SIGTERM stops it all."""
    port = free_port()
    spec_path = tmp_path / "backend.yaml"
    spec_path.write_text(yaml.safe_dump(raw_spec(SIM, port), sort_keys=False), encoding="utf-8")
    up = subprocess.Popen(
        [*CLI, "backend", "up", "--file", str(spec_path), "--log-dir", str(tmp_path / "logs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    stdout = up.stdout
    assert stdout is not None
    try:
        reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True)
        reader.start()
        wait_for(lambda: "backend ready; Ctrl-C to stop\n" in lines, 60)
        assert f"specialist classify: http://127.0.0.1:{port} model=qwen7b:classify\n" in lines

        status = CliRunner().invoke(backend, ["status", "--file", str(spec_path)])
        assert status.exit_code == 0, status.output
        assert "up: healthy" in status.output

        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=30) == 0
        reader.join(timeout=5)
        assert any(" qwen7b stopped: exit code" in line for line in lines), lines
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        stdout.close()
    down = CliRunner().invoke(backend, ["status", "--file", str(spec_path)])
    assert down.exit_code == 1
    assert "DOWN: not answering" in down.output
