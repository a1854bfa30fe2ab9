"""Ground truth through the proxy: real recorded OpenAI exchanges replayed byte for byte, and the conformance
checker (`alveare-migrate check`) passing against the proxy with an SGLang-flavored candidate at 100%."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from backend.conformance import run_checks
from tests.cassettes import Interaction, chat_interactions

REPLAY_HEADER = "x-replay"
EXCHANGES = chat_interactions()


@pytest.fixture(scope="module")
def replay_upstream() -> Iterator[str]:
    """An upstream that answers each request with the recorded response named by its x-replay header."""
    by_name = {e.name: e for e in EXCHANGES}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            exchange = by_name[self.headers[REPLAY_HEADER]]
            self.send_response(exchange.status)
            self.send_header("content-type", exchange.content_type)
            body = exchange.raw_response.encode()
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_every_recorded_exchange_is_loaded() -> None:
    assert len(EXCHANGES) >= 13
    assert {200, 400, 401, 404} <= {e.status for e in EXCHANGES}


@pytest.mark.parametrize("exchange", EXCHANGES, ids=lambda e: e.name)
def test_recorded_answer_reaches_the_client_byte_for_byte(
    proxy_factory: Any, replay_upstream: str, exchange: Interaction
) -> None:
    proxy = proxy_factory(replay_upstream, "http://127.0.0.1:9", percent=0)
    response = httpx.post(
        proxy.url + "/v1/chat/completions",
        content=exchange.raw_request.encode(),
        headers={
            "content-type": "application/json",
            "authorization": "Bearer sk-x",
            REPLAY_HEADER: exchange.name,
        },
    )
    assert response.status_code == exchange.status
    assert response.content == exchange.raw_response.encode()
    assert response.headers["content-type"] == exchange.content_type


def test_conformance_checker_passes_through_the_proxy_with_an_sglang_candidate(
    proxy_factory: Any, sim_process: Any
) -> None:
    proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), percent=100)
    _, key = proxy.server.keys.create("checker", rpm=10_000, tpm=10_000_000)
    results = run_checks(proxy.url, key, "gpt-4o-mini", timeout=30)
    failed = [(r.check, r.status, r.detail) for r in results if r.status != "PASS"]
    assert failed == []
    assert len(results) == 15
    pairs = proxy.pairs(expected=10)  # 8 split checks served by the candidate, 2 failed over (recorded async)
    assert sum(p.served_side == "candidate" for p in pairs) >= 8  # the split checks were answered by SGLang
    assert all(p.failover for p in pairs if p.served_side == "incumbent")  # except the 5xx it failed over
