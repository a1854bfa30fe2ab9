"""Proxy replicas as real processes (``alveare-migrate proxy --config ...``), the way a Deployment runs them:
mitmproxy keeps process-wide state, so replicas in one process would not be independent."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import ROOT
from tests.proxy.conftest import MODELS, SPECIALISTS

START_TIMEOUT_S = 60.0


@dataclass
class Replica:
    process: subprocess.Popen[str]
    url: str
    admin_url: str
    log: Path

    def health(self) -> dict[str, Any]:
        response = httpx.get(self.admin_url + "/healthz", timeout=5)
        return dict(response.json())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def replica_config(folder: Path, incumbent: str, candidate: str, **extra: Any) -> Path:
    raw: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "admin_listen": "127.0.0.1:0",
        "incumbent": {"url": incumbent, "key_env": "TEST_INCUMBENT_KEY"},
        "candidate": {"url": candidate},
        "models": MODELS,
        "specialists": SPECIALISTS,
        "record": {"flush_interval_s": 0.05},
        **extra,
    }
    path = folder / "alveare.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def start_replica(config: Path, log: Path) -> Replica:
    command = [
        sys.executable,
        "-c",
        "from migrate_cli.main import cli; cli()",
        "proxy",
        "--config",
        str(config),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TEST_INCUMBENT_KEY": "sk-incumbent-secret"}
    with log.open("w") as stderr:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env
        )
    line = _listening_line(process)
    if line is None:
        process.kill()
        process.wait(5)
        raise RuntimeError(f"replica did not start; its stderr:\n{log.read_text(errors='replace')}")
    # "alveare proxy listening on http://127.0.0.1:P (admin http://127.0.0.1:Q); ..."
    url = line.split("listening on ", 1)[1].split(" ", 1)[0]
    admin = line.split("(admin ", 1)[1].split(")", 1)[0]
    return Replica(process, url, admin, log)


def _listening_line(process: subprocess.Popen[str]) -> str | None:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = process.stdout.readline()
                if "listening on" in line:
                    return line
                if not line and process.poll() is not None:
                    return None
    return None
