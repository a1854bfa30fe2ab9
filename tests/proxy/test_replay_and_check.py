"""Ground truth through the proxy: real recorded OpenAI exchanges replayed byte for byte, and the conformance
checker (`alveare-migrate check`) passing against the proxy with an SGLang-flavored candidate at 100%."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import yaml

from backend.conformance import run_checks
from proxy.keys import KeyStore
from tests.shared_paths import FIXTURES

REPLAY_HEADER = "x-replay"


@dataclass(frozen=True)
class Recorded:
    name: str
    request: bytes
    status: int
    content_type: str
    body: bytes


def _text(part: dict[str, Any]) -> str:
    body = part.get("body")
    if isinstance(body, dict) and "string" in body:
        return str(body["string"])
    if isinstance(body, str):
        return body
    if "content" in part:
        return str(part["content"])
    return json.dumps(part.get("parsed_body"))


def _header(headers: dict[str, Any], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) else value)
    return "application/json"


def recorded_exchanges() -> list[Recorded]:
    found = []
    for path in sorted(FIXTURES.rglob("*.yaml")):
        cassette = yaml.safe_load(path.read_text(encoding="utf-8"))
        for number, interaction in enumerate(cassette["interactions"]):
            request, response = interaction["request"], interaction["response"]
            if not request["uri"].endswith("/v1/chat/completions"):
                continue
            status = response["status"]["code"] if "status" in response else response["status_code"]
            content_type = _header(response.get("headers") or {}, "content-type")
            found.append(
                Recorded(
                    f"{path.parent.name}/{path.name}#{number}",
                    _text(request).encode(),
                    int(status),
                    content_type,
                    _text(response).encode(),
                )
            )
    return found


EXCHANGES = recorded_exchanges()


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
            self.send_header("content-length", str(len(exchange.body)))
            self.end_headers()
            self.wfile.write(exchange.body)

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
    proxy_factory: Any, replay_upstream: str, exchange: Recorded
) -> None:
    proxy = proxy_factory(replay_upstream, "http://127.0.0.1:9", percent=0)
    response = httpx.post(
        proxy.url + "/v1/chat/completions",
        content=exchange.request,
        headers={
            "content-type": "application/json",
            "authorization": "Bearer sk-x",
            REPLAY_HEADER: exchange.name,
        },
    )
    assert response.status_code == exchange.status
    assert response.content == exchange.body
    assert response.headers["content-type"] == exchange.content_type


def test_conformance_checker_passes_through_the_proxy_with_an_sglang_candidate(
    proxy_factory: Any, sim_process: Any
) -> None:
    proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), percent=100)
    _, key = KeyStore(proxy.store).create("checker", rpm=10_000, tpm=10_000_000)
    results = run_checks(proxy.url, key, "gpt-4o-mini", timeout=30)
    failed = [(r.check, r.status, r.detail) for r in results if r.status != "PASS"]
    assert failed == []
    assert len(results) == 15
    pairs = proxy.pairs()
    assert sum(p.served_side == "candidate" for p in pairs) >= 8  # the split checks were answered by SGLang
    assert all(p.failover for p in pairs if p.served_side == "incumbent")  # except the 5xx it failed over
