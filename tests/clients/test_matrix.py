"""The client matrix: each client library, as an app uses it, through the proxy at 0%, 50% and 100% and in
failover, gets exactly what it gets from the incumbent stand-in directly (tests/clients/scenarios.py says what is
compared). docs/compatibility.md shows the matrix.

The incumbent stand-in requires the key ``sk-matrix`` (so the 401 row is OpenAI's); the candidate is the SGLang
stand-in. One proxy serves 0% -> 50% -> 100% in turn (it learns the incumbent's dated model name at 0%, as a real
rollout does); the failover proxy's candidate refuses every connection.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.scenarios import run_all
from tests.proxy.conftest import RunningProxy, make_config, start_proxy

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
KEY = "sk-matrix"
TARGETS = ("0%", "50%", "100%", "failover")


def openai_python(base_url: str, user: str) -> dict[str, Any]:
    return run_all(base_url, KEY, user)


def node_script(script: str) -> Callable[[str, str], dict[str, Any]]:
    """A driver that runs ``tests/clients/node/<script>`` with Node (installed by scripts/setup.sh)."""

    def drive(base_url: str, user: str) -> dict[str, Any]:
        node = shutil.which("node")
        assert node, "Node.js is needed for the client matrix: install it, then run scripts/setup.sh"
        modules = HERE / "node" / "node_modules"
        assert (modules / "openai").is_dir() and (modules / "ai").is_dir(), (
            "run scripts/setup.sh (tests/clients/node)"
        )
        done = subprocess.run(
            [node, str(HERE / "node" / script), base_url, KEY, user],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    return drive


def python_library(library: str, venv: str = "python") -> Callable[[str, str], dict[str, Any]]:
    """A driver that runs ``tests/clients/python_libs.py LIBRARY`` with ``.venv-clients/<venv>``'s Python (these
    libraries pin what the project's venv cannot share; scripts/setup.sh makes the venv)."""

    def drive(base_url: str, user: str) -> dict[str, Any]:
        python = ROOT / ".venv-clients" / venv / "bin" / "python"
        assert python.exists(), f"{python} is missing: run scripts/setup.sh (it makes the client venvs)"
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": ""}
        done = subprocess.run(
            [str(python), str(HERE / "python_libs.py"), library, base_url, KEY, user],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    return drive


CLIENTS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "openai-python": openai_python,
    "openai-node": node_script("matrix.mjs"),
    "vercel-ai-sdk": node_script("ai_sdk.mjs"),
    "langchain-openai": python_library("langchain-openai"),
    "instructor": python_library("instructor"),
    "pydantic-ai": python_library("pydantic-ai"),
    "litellm": python_library("litellm"),
    "llama-index-llms-openai": python_library("llama-index-llms-openai", venv="llama-index"),
}


class Matrix:
    """The stand-ins and proxies, and each client's answers from the incumbent directly (the expected row)."""

    def __init__(self, sim_process: Callable[..., str], tmp: Path) -> None:
        self.incumbent = sim_process("openai", require_key=KEY)
        self.candidate = sim_process("sglang")
        self.tmp = tmp
        self.running: tuple[str, RunningProxy] | None = None
        self.expected: dict[str, dict[str, Any]] = {}

    def baseline(self, client: str) -> dict[str, Any]:
        if client not in self.expected:
            self.expected[client] = CLIENTS[client](self.incumbent + "/v1", client)
        return self.expected[client]

    def proxy_for(self, target: str) -> RunningProxy:
        """The rollout proxy at ``target`` percent, or the failover one (one at a time: mitmproxy keeps
        process-wide state, so two masters must not run side by side)."""
        kind = "failover" if target == "failover" else "rollout"
        if self.running is None or self.running[0] != kind:
            self.close()
            self.running = (kind, self._start(kind))
        proxy = self.running[1]
        proxy.set_percent(100.0 if kind == "failover" else float(target.rstrip("%")))
        return proxy

    def _start(self, kind: str) -> RunningProxy:
        folder = self.tmp / f"{kind}-{len(list(self.tmp.iterdir()))}"
        folder.mkdir()
        candidate = f"http://127.0.0.1:{_free_port()}" if kind == "failover" else self.candidate
        proxy = start_proxy(make_config(folder, self.incumbent, candidate, failover__circuit_failures=10_000))
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
        headers = {
            "authorization": f"Bearer {KEY}"
        }  # an app's first request, at 0%: the dated name is learned
        answer = httpx.post(proxy.url + "/v1/chat/completions", json=body, headers=headers, timeout=20)
        assert answer.status_code == 200, answer.text
        return proxy

    def close(self) -> None:
        if self.running is not None:
            self.running[1].stop()
            self.running = None


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """A client's row with what the model chose to say reduced to its shape: the two sides are different models,
    and the matrix is about the wire (error rows are compared whole)."""
    return {name: row if "status" in row else _wire(row) for name, row in result.items()}


def _wire(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["content"] = "text" if row.get("content") else row.get("content")
    out["tool_calls"] = [(name, sorted(args)) for name, args in row.get("tool_calls") or []]
    if "parsed" in row:
        out["parsed"] = {key: type(value).__name__ for key, value in row["parsed"].items()}
    usage = row.get("usage")
    if isinstance(usage, dict):
        total = usage["prompt_tokens"] + usage["completion_tokens"] == usage["total_tokens"]
        out["usage"] = {"keys": sorted(_keys(usage)), "adds_up": total}
    return out


def _keys(value: dict[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, item in value.items():
        keys.append(prefix + key)
        if isinstance(item, dict):
            keys += _keys(item, prefix + key + ".")
    return keys


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def matrix(sim_process: Callable[..., str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    tmp = tmp_path_factory.mktemp("matrix")
    built = Matrix(sim_process, tmp)
    yield built
    built.close()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("client", list(CLIENTS))
def test_client_sees_what_the_incumbent_answers(matrix: Matrix, client: str, target: str) -> None:
    expected = matrix.baseline(client)
    proxy = matrix.proxy_for(target)
    counts = proxy.server.runtime.counts
    before = counts["requests.candidate"], counts["failovers"]
    got = CLIENTS[client](proxy.url + "/v1", client)
    expected, got = comparable(expected), comparable(got)
    differing = {
        name: {"direct": expected[name], "proxy": got[name]}
        for name in expected
        if got[name] != expected[name]
    }
    assert not differing, json.dumps(differing, indent=1)
    served_by_candidate = counts["requests.candidate"] - before[0]
    if target == "100%":  # (at 50% the sticky assignment may keep one client's users on either side)
        assert served_by_candidate > 0, "the candidate served this row"
    if target == "failover":
        assert counts["failovers"] > before[1]
