"""The cheap invariants of the served path (issue 15): what a request does not cost.

- An incumbent answer our addons do not change reaches the client as the incumbent's own bytes: no JSON parse
  and re-encode on the way (the stand-in's formatting, which ``json.dumps`` would not reproduce, survives).
- On a warm cache (keys loaded, rollout percent polled) the proxy's event loop never touches the store: the key
  check, the rate limiter and the split decision read memory only. Counted with a SQLAlchemy listener on the
  proxy's own store engine, by thread.
- Recording costs the served path a hand-over only: pairs are parsed and written by a worker process, not by a
  thread sharing the proxy's GIL.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from proxy.keys import KeyStore
from tests.proxy.conftest import RunningProxy
from tests.proxy.stub_http import QuietHandler

# Spaces, key order and a raw non-ASCII character: a json.loads/json.dumps round trip changes all three.
ODD_ANSWER = (
    b'{"id":  "chatcmpl-odd", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",\n'
    b' "choices": [{"index": 0, "message": {"role": "assistant", "content": "caf\xc3\xa9", "refusal": null},'
    b' "logprobs": null, "finish_reason": "stop"}],\n'
    b' "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}\n'
)


class _Incumbent(QuietHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.answer(ODD_ANSWER)

    def do_GET(self) -> None:  # the key check: GET /v1/models
        self.answer(b'{"object": "list", "data": []}')


@pytest.fixture
def odd_incumbent() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Incumbent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def chat(client: httpx.Client, url: str, user: str, key: str = "sk-test") -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "user": user}
    return client.post(
        url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=20
    )


def test_an_unchanged_incumbent_answer_is_served_byte_for_byte(
    proxy_factory: Any, odd_incumbent: str, sim_server: Any
) -> None:
    proxy: RunningProxy = proxy_factory(odd_incumbent, sim_server("sglang"))
    with httpx.Client() as client:
        for user in ("a", "b", "c"):
            response = chat(client, proxy.url, user)
            assert response.status_code == 200
            assert response.headers["x-alveare-upstream"] == "incumbent"
            assert response.content == ODD_ANSWER
    assert json.dumps(json.loads(ODD_ANSWER)).encode() != ODD_ANSWER  # a re-encode would show


def test_a_warm_proxy_serves_without_touching_the_store(proxy_factory: Any, sim_server: Any) -> None:
    proxy: RunningProxy = proxy_factory(sim_server("openai"), sim_server("sglang"), percent=50)
    _, key = KeyStore(proxy.store).create("app", rpm=1_000_000, tpm=1_000_000_000)
    on_loop: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.current_thread() is proxy.thread:
            on_loop.append(statement)

    event.listen(proxy.server.store.engine, "before_cursor_execute", count)
    try:
        for _ in range(200):  # bounded: the key poller loads the new key within rollout_poll_s (0.1 s)
            if proxy.server.keys.any_active():
                break
            time.sleep(0.05)
        with httpx.Client() as client:
            assert chat(client, proxy.url, "warm", "sk-not-an-app-key").status_code == 401  # keys are on
            assert chat(client, proxy.url, "warm", key).status_code == 200
            on_loop.clear()
            sides = {
                chat(client, proxy.url, f"user-{n}", key).headers["x-alveare-upstream"] for n in range(20)
            }
    finally:
        event.remove(proxy.server.store.engine, "before_cursor_execute", count)
    assert sides == {"incumbent", "candidate"}
    assert on_loop == []


def test_pairs_are_written_by_a_worker_process_not_a_thread_of_the_proxy(
    proxy_factory: Any, sim_server: Any
) -> None:
    proxy: RunningProxy = proxy_factory(sim_server("openai"), sim_server("sglang"), percent=50)
    worker = proxy.server.recorder.process
    assert worker.is_alive() and worker.pid != os.getpid()
    with httpx.Client() as client:
        for n in range(10):
            assert chat(client, proxy.url, f"user-{n}").status_code == 200
    for _ in range(100):  # bounded: the worker writes a batch every flush interval
        if proxy.store.count_pairs() == 10:
            break
        time.sleep(0.05)
    assert proxy.store.count_pairs() == 10
    assert not [t.name for t in threading.enumerate() if "record" in t.name]
