"""The demo's servers: two sims and the proxy, each a real ``alveare-migrate`` subprocess on 127.0.0.1.

Separate processes use both cores (one Python process would serialise the sims, the proxy, the SDK clients and
the evaluator on one GIL) and are what a user runs by hand. Each prints one ready line naming its URL (port 0
picks a free port); their logs go to ``OUT/logs/``. Stopping is SIGTERM (the proxy then drains and flushes its
recorder), SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import AlveareError
from migrate_cli import env as envvars

READY_TIMEOUT_S = 30.0
STOP_GRACE_S = 15.0
CONFIG_MARKER = "# written by `alveare-migrate demo`"
# Environment the servers must not inherit: a real OpenAI key never goes anywhere near the demo.
SCRUBBED_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID")
STORE_FILE = "alveare.sqlite"
STORE_FILES = (STORE_FILE, STORE_FILE + "-wal", STORE_FILE + "-shm")
LOG_NAMES = ("incumbent", "candidate", "proxy")


class DemoError(AlveareError):
    """The demo itself could not run (a server that did not start, an unusable --out); one line with the fix."""

    exit_code = 1  # not the user's input: something here failed


@dataclass
class Child:
    name: str
    process: subprocess.Popen[str]
    log: Path
    url: str = ""


def cli_argv(*args: str) -> list[str]:
    """This interpreter running ``alveare-migrate ARGS``: works without the console script on PATH."""
    return [sys.executable, "-m", "migrate_cli", *args]


def sim_argv(
    flavor: str, *, seed: int, disagree: float, latency_ms: float, ttft_ms: float, chunk_interval_ms: float
) -> list[str]:
    return cli_argv(
        "sim",
        "--flavor",
        flavor,
        "--port",
        "0",
        "--seed",
        str(seed),
        "--disagree",
        f"{disagree:g}",
        "--latency-ms",
        f"{latency_ms:g}",
        "--ttft-ms",
        f"{ttft_ms:g}",
        "--chunks",
        "6",
        "--chunk-interval-ms",
        f"{chunk_interval_ms:g}",
    )


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    env[envvars.DEMO_INCUMBENT_KEY] = "sk-demo-not-a-real-key"
    return env


def spawn(name: str, argv: list[str], log_dir: Path) -> Child:
    log = log_dir / f"{name}.log"
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True, env=child_env()
        )
    return Child(name, process, log)


def wait_ready(child: Child, timeout_s: float = READY_TIMEOUT_S) -> str:
    """The URL from the child's ``... listening on URL`` line; afterwards its stdout is copied to its log."""
    stdout = child.process.stdout
    assert stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=0.1):
                continue
            line = stdout.readline()
            if "listening on " in line:
                child.url = line.split("listening on ", 1)[1].split()[0]
                threading.Thread(target=_copy_rest, args=(child,), daemon=True).start()
                return child.url
            if not line and child.process.poll() is not None:
                break
    code = child.process.poll()
    what = f"exited with code {code}" if code is not None else f"did not start within {timeout_s:.0f}s"
    raise DemoError(f"the {child.name} {what}; its log {child.log} ends with: {_tail(child.log)!r}")


def check_alive(children: list[Child]) -> None:
    """Raise DemoError naming the first server that exited while the demo still needs it."""
    for child in children:
        code = child.process.poll()
        if code is not None:
            raise DemoError(
                f"the {child.name} exited with code {code} while the demo ran; its log {child.log} ends "
                f"with: {_tail(child.log)!r}"
            )


def _copy_rest(child: Child) -> None:
    stdout = child.process.stdout
    assert stdout is not None
    with contextlib.suppress(ValueError, OSError), child.log.open("a", encoding="utf-8") as log:
        for line in stdout:
            log.write(line)
            log.flush()


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else "(empty)"


def stop(children: list[Child], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM each (in the order given), wait, SIGKILL what is left; never raises."""
    for child in children:
        if child.process.poll() is None:
            with contextlib.suppress(OSError):
                child.process.terminate()
        try:
            child.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                child.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(5)
        if child.process.stdout is not None:
            with contextlib.suppress(OSError):
                child.process.stdout.close()


def proxy_config(store_path: Path, incumbent_url: str, candidate_url: str) -> dict[str, Any]:
    """The demo's alveare.yaml: every split request mirrored (each pair has both answers), fast polling."""
    models = {"gpt-4o-mini": "classify", "gpt-4.1-mini": "extract", "gpt-3.5-turbo": "summarise"}
    return {
        "listen": "127.0.0.1:0",
        "admin_listen": "127.0.0.1:0",
        "store": f"sqlite:///{store_path.resolve()}",
        "incumbent": {"url": incumbent_url, "key_env": envvars.DEMO_INCUMBENT_KEY},
        "candidate": {"url": candidate_url},
        "models": models,
        "specialists": {task: f"qwen:{task}" for task in models.values()},
        "mirror": {"rate": 1.0, "concurrency": 64},
        "limits": {"rpm": 1_000_000, "tpm": 1_000_000_000},
        "rollout_poll_s": 0.2,
        "record": {"flush_interval_s": 0.1},
        "pricing": {
            "gpt-4o-mini": {"input": 0.15, "output": 0.6},
            "gpt-4.1-mini": {"input": 0.4, "output": 1.6},
            "gpt-3.5-turbo": {"input": 0.5, "output": 1.5},
        },
        "candidate_cost": {"usd_per_gpu_hour": 2.5, "gpus": 1},
        "evaluation": {"critical_fields": {"extract": ["order_id", "amount", "currency"]}},
    }


def write_config(path: Path, raw: dict[str, Any]) -> None:
    header = f"{CONFIG_MARKER}: the proxy config of the last demo run (its URLs are gone once it ends).\n"
    path.write_text(header + yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


def is_demo_config(path: Path) -> bool:
    try:
        return path.read_text(encoding="utf-8").startswith(CONFIG_MARKER)
    except OSError:
        return False


def prepare_out_dir(out: Path) -> None:
    """Create ``out`` and clear what an earlier demo left there; refuse a directory holding someone's own
    alveare.yaml or store."""
    config = out / "alveare.yaml"
    store = out / STORE_FILE
    if (config.exists() or store.exists()) and not is_demo_config(config):
        raise DemoError(
            f"{out} holds an alveare.yaml or alveare.sqlite the demo did not write; "
            "give the demo its own directory with --out DIR"
        )
    (out / "logs").mkdir(parents=True, exist_ok=True)
    doomed = [out / name for name in STORE_FILES] + [out / "logs" / f"{n}.log" for n in LOG_NAMES]
    doomed += list((out / "reports").glob("parity.*")) + list((out / "reports").glob("stage-*/parity.*"))
    for path in doomed:
        path.unlink(missing_ok=True)
    for stage_dir in (out / "reports").glob("stage-*"):
        with contextlib.suppress(OSError):
            stage_dir.rmdir()  # only if empty: anything else in it is not ours
