"""Failover sends the incumbent exactly the headers it gets at 0% (hop-by-hop aside): the app's
``OpenAI-Organization``, ``OpenAI-Project``, ``OpenAI-Beta``, ``user-agent``, ``x-stainless-*``, idempotency key
and any custom header. The incumbent here is a recording stand-in that answers as OpenAI does."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from tests.proxy.stub_http import QuietHandler

ANSWER = {
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "billing", "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
    "service_tier": "default",
    "system_fingerprint": "fp_06737a9306",
}
APP_HEADERS = {
    "OpenAI-Organization": "org-app",
    "OpenAI-Project": "proj_app",
    "OpenAI-Beta": "assistants=v2",
    "Idempotency-Key": "idem-42",
    "X-Gateway-Trace": "trace-7",
}
HOP_BY_HOP = {"connection", "content-length", "host", "keep-alive", "transfer-encoding"}


class Recorder(ThreadingHTTPServer):
    seen: list[dict[str, str]]


class Handler(QuietHandler):
    server: Recorder

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        self.answer(json.dumps(ANSWER).encode())

    def do_GET(self) -> None:  # the proxy's one check of the app's key (GET /v1/models)
        self.answer(b'{"object": "list", "data": []}')


@pytest.fixture
def recording_incumbent() -> Iterator[Recorder]:
    server = Recorder(("127.0.0.1", 0), Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ask(proxy: Any) -> str:
    client = proxy.client(default_headers=APP_HEADERS)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Classify: charged twice"}], user="u1"
    )
    assert raw.parse().choices[0].message.content == "billing"
    return str(raw.headers["x-alveare-upstream"])


@pytest.mark.parametrize("failure", ["refused", "silent"])
def test_failover_sends_the_incumbent_the_apps_headers(
    proxy_factory: Any, sim_process: Any, recording_incumbent: Recorder, failure: str
) -> None:
    incumbent = f"http://127.0.0.1:{recording_incumbent.server_address[1]}"
    at_zero = proxy_factory(incumbent, sim_process("sglang"), percent=0)
    assert _ask(at_zero) == "incumbent"
    if failure == "refused":
        failing = proxy_factory(incumbent, f"http://127.0.0.1:{free_port()}", percent=100)
    else:
        failing = proxy_factory(
            incumbent,
            sim_process("sglang"),
            percent=100,
            models={"gpt-4o-mini": "sim-fault-hang"},
            failover__first_byte_timeout_s=0.3,
        )
    assert _ask(failing) == "incumbent"
    direct, relayed = ({k: v for k, v in h.items() if k not in HOP_BY_HOP} for h in recording_incumbent.seen)
    for name, value in APP_HEADERS.items():
        assert direct[name.lower()] == value
    assert direct["user-agent"].startswith("OpenAI/Python")
    assert relayed == direct
