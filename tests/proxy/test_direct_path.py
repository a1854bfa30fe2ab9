"""Split requests for whole answers go through the proxy's own pool (proxy/direct.py), not mitmproxy's upstream
side: connections are shared across the apps' connections, and a failover rebuilds the incumbent's request.
Streams keep mitmproxy's upstream side."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.proxy.conftest import make_config, start_proxy
from tests.proxy.stub_http import QuietHandler
from tests.proxy.test_intercept import self_signed

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_whole_answers_share_one_kept_alive_upstream_connection(proxy_factory: Any, sim_server: Any) -> None:
    proxy = proxy_factory(sim_server("openai"), sim_server("sglang"), percent=100)
    for number in range(4):  # a new client connection each time
        with httpx.Client(base_url=proxy.url, timeout=20) as client:
            answer = client.post(
                "/v1/chat/completions",
                json={**BODY, "user": f"user-{number}"},
                headers={"authorization": "Bearer sk-test"},
            )
        assert answer.status_code == 200 and answer.headers["x-alveare-upstream"] == "candidate"
        assert answer.json()["model"] == "gpt-4o-mini" and answer.json()["id"].startswith("chatcmpl-")
    direct = proxy.server.direct
    assert direct is not None
    pooled = [connection for idle in direct.idle.values() for connection in idle if not connection.closed]
    assert len(pooled) == 1  # mitmproxy's side would have opened one per client connection


def test_a_failover_sends_the_incumbent_the_apps_request_under_its_own_base_path(
    proxy_factory: Any, sim_server: Any
) -> None:
    # the candidate's base path (/sglang) is put before the request's path; the incumbent must not get it
    candidate = f"http://127.0.0.1:{closed_port()}/sglang"
    proxy = proxy_factory(sim_server("openai", require_key="sk-test"), candidate, percent=100)
    with httpx.Client(base_url=proxy.url, timeout=20) as client:
        answer = client.post("/v1/chat/completions", json=BODY, headers={"authorization": "Bearer sk-test"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-alveare-upstream"] == "incumbent"
    (pair,) = proxy.pairs(expected=1)
    assert pair.failover and pair.candidate is not None
    assert pair.candidate.error == "candidate refused the connection"


def test_streams_keep_mitmproxys_upstream_side(proxy_factory: Any, sim_server: Any) -> None:
    proxy = proxy_factory(sim_server("openai"), sim_server("sglang"), percent=100)
    client = proxy.client()
    chunks = list(client.chat.completions.create(**BODY, stream=True))
    assert chunks and all(chunk.model == "gpt-4o-mini" for chunk in chunks)
    direct = proxy.server.direct
    assert direct is not None and not any(direct.idle.values())


class _OpenAIOverTLS(QuietHandler):
    """OpenAI's answer to any chat completion: whole, or as a two-event stream when asked."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if request.get("stream"):
            event = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o-mini",
            }
            chunk = {**event, "choices": [{"index": 0, "delta": {"content": "tls"}, "finish_reason": None}]}
            body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
            content_type = "text/event-stream"
        else:
            message = {"role": "assistant", "content": "over tls"}
            body = json.dumps(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                }
            ).encode()
            content_type = "application/json"
        self.answer(body, content_type)


@pytest.fixture
def openai_over_tls(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS stand-in for OpenAI on 127.0.0.1 with a self-signed certificate: (its URL, the certificate)."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OpenAIOverTLS)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_port}", cert
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("trusted", [True, False])
def test_an_https_incumbent_is_fetched_over_tls_with_the_roots_mitmproxy_uses(
    tmp_path: Path, sim_server: Any, openai_over_tls: tuple[str, Path], trusted: bool
) -> None:
    url, cert = openai_over_tls
    environ = {
        "TEST_INCUMBENT_KEY": "sk-incumbent-secret",
        **({"SSL_CERT_FILE": str(cert)} if trusted else {}),
    }
    proxy = start_proxy(make_config(tmp_path, url, sim_server("sglang")), environ)
    try:
        with httpx.Client(base_url=proxy.url, timeout=20) as client:
            headers = {"authorization": "Bearer sk-test"}
            whole = client.post("/v1/chat/completions", json=BODY, headers=headers)
            streamed = client.post("/v1/chat/completions", json={**BODY, "stream": True}, headers=headers)
        if not trusted:  # certifi's roots do not know this certificate: refused on either path
            assert whole.status_code == 502 and streamed.status_code == 502
            pairs = {pair.request.get("stream", False): pair for pair in proxy.pairs(expected=2)}
            assert "CERTIFICATE_VERIFY_FAILED" in pairs[False].meta["upstream_error"]  # fetched directly
            assert pairs[True].incumbent is not None  # through mitmproxy: its error, recorded
            assert "Certificate verify failed" in (pairs[True].incumbent.error or "")
            return
        assert whole.status_code == 200 and whole.json()["choices"][0]["message"]["content"] == "over tls"
        assert streamed.status_code == 200 and '"content": "tls"' in streamed.text
        direct = proxy.server.direct
        assert direct is not None
        assert [address[2] for address, idle in direct.idle.items() if idle] == [True]  # one TLS connection
    finally:
        proxy.stop()
