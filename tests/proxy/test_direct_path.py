"""Split requests for whole answers go through the proxy's own pool (proxy/direct.py), not mitmproxy's upstream
side: connections are shared across the apps' connections, and a failover rebuilds the incumbent's request.
Streams keep mitmproxy's upstream side."""

from __future__ import annotations

import socket
from typing import Any

import httpx

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
