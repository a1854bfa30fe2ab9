"""Hand-made bad requests against the real proxy: every answer is OpenAI-shaped JSON, nothing unchecked goes
upstream, every split request is recorded whatever its size, and no hook error is left unhandled."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
import pytest

from proxy.addons.front import MAX_HEAD_BYTES, MAX_TARGET_BYTES, TLS_ALERT
from tests.openapi_schema import validator
from tests.reliability.conftest import CountingListener, RawAnswer, http_request, raw_exchange

CHAT = "/v1/chat/completions"


def chat_body(content: str = "Classify: where is my parcel?", **extra: Any) -> bytes:
    return json.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **extra}
    ).encode()


def assert_openai_error(answer: RawAnswer, status: int) -> dict[str, Any]:
    assert answer.status == status, answer.raw[:300]
    assert answer.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = json.loads(answer.body)
    validator("ErrorResponse").validate(body)
    assert b"mitmproxy" not in answer.raw.lower() and b"errno" not in answer.raw.lower()
    return body


BIG = "word " * 420_000  # about 2 MB: over mitmproxy's old 1 MiB streaming threshold


def test_a_large_body_without_a_key_is_refused_and_never_forwarded(
    proxy_factory: Any, counting_listener: CountingListener
) -> None:
    proxy = proxy_factory(counting_listener.url, counting_listener.url, percent=50)
    proxy.server.keys.create("app", rpm=100, tpm=100_000_000)
    answer = raw_exchange(proxy.url, http_request("POST", CHAT, chat_body(BIG)))
    assert_openai_error(answer, 401)
    assert counting_listener.accepted == 0


@pytest.mark.parametrize("percent", [0, 100])
def test_a_large_body_with_a_key_is_split_and_recorded(
    proxy_factory: Any, sim_process: Any, percent: int
) -> None:
    incumbent = sim_process("openai", require_key="sk-incumbent-secret")
    proxy = proxy_factory(incumbent, sim_process("sglang"), percent=percent)
    _, key = proxy.server.keys.create("app", rpm=100, tpm=100_000_000)
    answer = raw_exchange(
        proxy.url, http_request("POST", CHAT, chat_body(BIG), {"authorization": f"Bearer {key}"})
    )
    assert answer.status == 200, answer.raw[:300]  # the incumbent got OpenAI's key, not the app's
    assert answer.headers["x-alveare-upstream"] == ("candidate" if percent else "incumbent")
    assert len(proxy.pairs(1)) == 1


def test_bodies_over_the_limit_get_413_never_a_forward(
    proxy_factory: Any, counting_listener: CountingListener
) -> None:
    proxy = proxy_factory(counting_listener.url, counting_listener.url, percent=50, max_body_bytes=1_500_000)
    _, key = proxy.server.keys.create("app", rpm=100, tpm=100_000_000)  # no key check upstream either
    body = chat_body(BIG)
    auth = {"authorization": f"Bearer {key}"}
    assert_openai_error(raw_exchange(proxy.url, http_request("POST", CHAT, body, auth)), 413)
    chunked = b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)
    headers = {"transfer-encoding": "chunked", **auth}
    request = http_request("POST", CHAT, headers=headers).replace(b"content-length: 0\r\n", b"") + chunked
    assert_openai_error(raw_exchange(proxy.url, request), 413)
    assert counting_listener.accepted == 0


def test_undecodable_headers_and_deep_nesting_fail_closed(proxy_factory: Any, sim_process: Any) -> None:
    proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), percent=50)
    weird = b"\xff\xfe\xc3("
    session = http_request("POST", CHAT, chat_body()).replace(
        b"host: proxy", b"host: proxy\r\nx-alveare-session: " + weird
    )
    assert raw_exchange(proxy.url, session).status == 200  # pass-through: assigned and answered
    passthrough_key = session.replace(b"host: proxy", b"host: proxy\r\nauthorization: Bearer sk-" + weird)
    assert raw_exchange(proxy.url, passthrough_key).status == 200
    deep = (
        b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":'
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}]}"
    )
    assert_openai_error(raw_exchange(proxy.url, http_request("POST", CHAT, deep)), 400)
    assert len(proxy.pairs(2)) == 2
    assert proxy.server.runtime.counts["hook_errors"] == 0


def test_an_undecodable_app_key_is_refused(proxy_factory: Any, counting_listener: CountingListener) -> None:
    proxy = proxy_factory(counting_listener.url, counting_listener.url, percent=50)
    proxy.server.keys.create("app", rpm=100, tpm=100_000)
    ours = http_request("POST", CHAT, chat_body()).replace(
        b"host: proxy", b"host: proxy\r\nauthorization: Bearer alv_live_\xff\xfe"
    )
    assert_openai_error(raw_exchange(proxy.url, ours), 401)
    assert proxy.server.runtime.counts["hook_errors"] == 0
    assert counting_listener.accepted == 0


def test_the_bearer_scheme_is_case_insensitive(proxy_factory: Any, sim_process: Any) -> None:
    proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), percent=0)
    _, key = proxy.server.keys.create("app", rpm=100, tpm=100_000)
    for scheme in ("bearer", "BEARER", "Bearer"):
        answer = raw_exchange(
            proxy.url, http_request("POST", CHAT, chat_body(), {"authorization": f"{scheme} {key}"})
        )
        assert answer.status == 200, (scheme, answer.raw[:200])


class Exploding:
    """An addon whose hook raises, standing in for any bug in ours."""

    def __init__(self, hook: str) -> None:
        setattr(self, hook, self.explode)

    def explode(self, _: object) -> None:
        raise RuntimeError("a bug")


@pytest.mark.parametrize("hook", ["requestheaders", "request"])
def test_an_exception_in_a_hook_fails_closed(
    proxy_factory: Any, counting_listener: CountingListener, hook: str
) -> None:
    proxy = proxy_factory(counting_listener.url, counting_listener.url, percent=50)
    _, key = proxy.server.keys.create("app", rpm=100, tpm=100_000)  # no key check upstream either
    chain = next(a for a in proxy.server.master.addons.chain if type(a).__name__ == "Chain")
    chain.hooks[hook].insert(1, Exploding(hook).explode)
    request = http_request("POST", CHAT, chat_body(), {"authorization": f"Bearer {key}"})
    body = assert_openai_error(raw_exchange(proxy.url, request), 500)
    assert body["error"]["type"] == "server_error"
    assert counting_listener.accepted == 0
    assert proxy.server.runtime.counts["hook_errors"] == 1
    assert "alveare_hook_errors 1.0" in httpx.get(proxy.admin_url + "/metrics").text


def test_an_exception_after_the_answer_replaces_it(proxy_factory: Any, sim_process: Any) -> None:
    proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), percent=100)
    chain = next(a for a in proxy.server.master.addons.chain if type(a).__name__ == "Chain")
    chain.hooks["response"].insert(0, Exploding("response").explode)
    assert_openai_error(raw_exchange(proxy.url, http_request("POST", CHAT, chat_body())), 500)
    chain.hooks["response"].pop(0)
    chain.hooks["responseheaders"].insert(0, Exploding("responseheaders").explode)
    streamed = http_request("POST", CHAT, chat_body(stream=True))
    assert_openai_error(raw_exchange(proxy.url, streamed), 500)


@pytest.mark.parametrize(
    ("path", "split"),
    [
        ("/v1/chat/completions", True),
        ("/v1//chat/completions", True),
        ("//v1/chat/completions/", True),
        ("/V1/Chat/Completions", True),
        ("/v1/chat%2Fcompletions", True),
        ("/v1/chat/completions?x=1", True),
        ("/v1/chat/completion", False),
    ],
)
def test_chat_path_spellings_are_all_split_and_recorded(
    proxy_factory: Any, sim_process: Any, path: str, split: bool
) -> None:
    proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), percent=100)
    answer = raw_exchange(proxy.url, http_request("POST", path, chat_body()))
    if split:
        assert answer.status == 200 and answer.headers["x-alveare-upstream"] == "candidate"
        assert len(proxy.pairs(1)) == 1
    else:
        assert answer.status == 404 and "x-alveare-upstream" not in answer.headers
        assert proxy.pairs() == []


def test_proxy_made_answers_are_openai_json(proxy_factory: Any, counting_listener: CountingListener) -> None:
    dead = "http://127.0.0.1:9"
    proxy = proxy_factory(dead, dead, percent=0)
    assert_openai_error(raw_exchange(proxy.url, http_request("POST", CHAT, chat_body())), 502)
    assert_openai_error(raw_exchange(proxy.url, http_request("GET", "/v1/models")), 502)
    smuggle = http_request("POST", CHAT, chat_body(), {"transfer-encoding": "chunked"})
    assert_openai_error(raw_exchange(proxy.url, smuggle), 400)
    long_line = http_request("GET", "/v1/models?" + "a" * (MAX_TARGET_BYTES + 10))
    assert_openai_error(raw_exchange(proxy.url, long_line), 414)
    huge_head = http_request("GET", "/v1/models", headers={"x-big": "b" * (MAX_HEAD_BYTES + 10)})
    assert_openai_error(raw_exchange(proxy.url, huge_head), 431)
    many_headers = http_request("GET", "/v1/models", headers={f"x-h{i}": "v" * 100 for i in range(300)})
    assert_openai_error(raw_exchange(proxy.url, many_headers), 431)
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    assert_openai_error(raw_exchange(proxy.url, preface), 505)


def test_tls_on_the_plain_port_is_refused_at_once(
    proxy_factory: Any, counting_listener: CountingListener
) -> None:
    proxy = proxy_factory(counting_listener.url, counting_listener.url)
    hello = bytes.fromhex("16030100a5010000a10303") + bytes(32) + b"\x00\x00\x02\x00\x2f\x01\x00" + bytes(80)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", int(proxy.url.rsplit(":", 1)[1])), timeout=5) as sock:
        sock.sendall(hello)
        received = sock.recv(100)
    assert received == TLS_ALERT
    assert time.monotonic() - started < 2
    assert counting_listener.accepted == 0
