"""Shared fixtures: a real stand-in upstream (``backend.sim.server``) for any test that needs one.

``sim_process`` (session scope) -- a factory ``start(flavor="openai", *, fresh=False, **opts) -> base_url``.
    Runs ``alveare-migrate sim --port 0 ...`` as a real subprocess (the CLI entry point, via
    ``python -c "from migrate_cli.main import cli; cli()"``), waits for its ``listening on`` line and returns
    ``http://127.0.0.1:PORT`` (add ``/v1`` for the OpenAI SDK). ``opts`` are CLI flags with ``_`` for ``-``:
    ``start("sglang", latency_ms=50, require_key="sk-x", models=["qwen", "qwen:classify"])``. Calls with the
    same arguments share one process for the whole session; pass ``fresh=True`` when the test changes the
    sim's state (rate-limit buckets, the ``--error-rate`` sequence) or must not share it. Every process is
    terminated at the end of the session.

``sim_server`` (function scope) -- a factory ``start(flavor="openai", **opts) -> base_url`` for the sim
    in-process (``backend.sim.SimServer`` in a background thread; ``opts`` are ``SimOptions`` fields). Faster
    to start; stopped when the test ends.

Both sims accept per-request controls (``x-sim-fail: 429``, ``x-sim-fault: hang|cut|malformed|refuse|error``,
magic models ``sim-error-503`` / ``sim-fault-cut``, ``x-sim-latency-ms`` ...): see ``backend/sim.py``.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.sim.server import SimOptions, SimServer

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 20.0


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own empty folder, with no ``ALVEARE_*`` variable from the developer's shell: no
    test reads or writes the repository's folder or its neighbours by accident, and none sees another's files."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("ALVEARE_")]:
        monkeypatch.delenv(name)


def sim_command(flavor: str, opts: dict[str, Any]) -> list[str]:
    """The command line that runs the sim CLI with ``opts`` as flags (``latency_ms=5`` -> ``--latency-ms 5``)."""
    command = [sys.executable, "-c", "from migrate_cli.main import cli; cli()", "sim", "--flavor", flavor]
    opts = {"port": 0, **opts}
    for name, value in opts.items():
        if value is None:
            continue
        text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        command += ["--" + name.replace("_", "-"), text]
    return command


def wait_listening(process: subprocess.Popen[str], log: Path, timeout_s: float = START_TIMEOUT_S) -> str:
    """Waits for the sim's ``listening on`` line and returns its URL; kills it and shows its stderr if none."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = process.stdout.readline()
                if "listening on" in line:
                    return line.strip().rsplit(" ", 1)[1]
                if not line and process.poll() is not None:
                    break
    process.kill()
    process.wait(5)
    raise RuntimeError(f"sim did not start; its stderr:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def sim_process() -> Iterator[Callable[..., str]]:
    running: dict[str, str] = {}
    processes: list[subprocess.Popen[str]] = []
    logs = tempfile.TemporaryDirectory(prefix="sim-logs-")

    def start(flavor: str = "openai", *, fresh: bool = False, **opts: Any) -> str:
        key = repr((flavor, sorted((k, repr(v)) for k, v in opts.items())))
        if not fresh and key in running:
            return running[key]
        log = Path(logs.name) / f"sim-{len(processes)}.log"
        with log.open("w") as stderr:
            process = subprocess.Popen(
                sim_command(flavor, opts),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        processes.append(process)
        url = wait_listening(process, log)
        if not fresh:
            running[key] = url
        return url

    try:
        yield start
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            if process.stdout is not None:
                process.stdout.close()
        logs.cleanup()


@pytest.fixture
def sim_server() -> Iterator[Callable[..., str]]:
    servers: list[SimServer] = []

    def start(flavor: str = "openai", **opts: Any) -> str:
        if "models" in opts:
            opts["models"] = tuple(opts["models"])
        server = SimServer(SimOptions(**{"flavor": flavor, **opts})).start()
        servers.append(server)
        return server.base_url

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


# --- PostgreSQL and Redis (started before the tests, as in CI; see .ci/run) --------------------------------------

POSTGRES_ADMIN_URL = os.environ.get("ALVEARE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("ALVEARE_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test only (``postgresql://.../alveare_test_<hex>``), dropped after."""
    from tests.services import postgres_database

    with postgres_database(POSTGRES_ADMIN_URL) as url:
        yield url


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix in the test Redis that this test alone uses; every key under it is deleted after."""
    from tests.services import redis_namespace

    with redis_namespace(REDIS_TEST_URL) as prefix:
        yield prefix


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on an SQLite file and on its own PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    from tests.services import postgres_database

    with postgres_database(POSTGRES_ADMIN_URL) as url:
        yield url
