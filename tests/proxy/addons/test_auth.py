"""Auth: app keys checked, the OpenAI key swapped in, tokens settled after the answer. Driven with mitmproxy's taddons/tflow."""

from __future__ import annotations

import asyncio
import json

from mitmproxy.test import taddons, tutils

from core.store import Store
from proxy.addons.auth import Auth
from proxy.addons.upstream import Upstream
from proxy.keys import KeyStore
from proxy.runtime import METADATA_KEY, FlowInfo, Runtime
from tests.proxy.addons.flows import chat_flow, drive, routed


def test_auth_with_keys_rejects_unknown_and_swaps_the_key(runtime: Runtime) -> None:
    keys = KeyStore(Store.open(runtime.config.store))
    _, plaintext = keys.create("app", rpm=10, tpm=10_000)
    auth = Auth(runtime, keys)
    bad, good = chat_flow(), chat_flow()
    good.request.headers["authorization"] = f"Bearer {plaintext}"
    drive(auth, lambda: auth.request(bad), lambda: auth.request(good))
    assert bad.response is not None and bad.response.status_code == 401
    assert good.response is None
    info: FlowInfo = good.metadata[METADATA_KEY]
    assert info.key is not None and info.ratelimit_headers["x-ratelimit-remaining-requests"] == "9"
    routed(runtime, good)
    upstream = Upstream(runtime)
    drive(upstream, lambda: upstream.request(good))
    assert good.request.headers["authorization"] == "Bearer sk-real"


def test_auth_settles_the_tokens_an_answer_really_used(runtime: Runtime) -> None:
    keys = KeyStore(Store.open(runtime.config.store))
    _, plaintext = keys.create("app", rpm=100, tpm=10_000)
    auth = Auth(
        runtime, keys, clock=lambda: 1000.0
    )  # a still clock: nothing refills between the two requests
    first, second = chat_flow(), chat_flow()
    for flow in (first, second):
        flow.request.headers["authorization"] = f"Bearer {plaintext}"
    estimate = len(first.request.raw_content) // 4 + 16
    answer = tutils.tresp(content=json.dumps({"usage": {"total_tokens": 500}}).encode())

    async def run() -> None:
        with taddons.context(auth):
            auth.request(first)
            first.response = answer
            auth.response(first)
            await asyncio.sleep(0)  # the settlement runs after the answer has gone out
            auth.request(second)

    asyncio.run(run())
    remaining = [
        int(f.metadata[METADATA_KEY].ratelimit_headers["x-ratelimit-remaining-tokens"])
        for f in (first, second)
    ]
    assert remaining == [10_000 - estimate, 10_000 - 500 - estimate]


def test_auth_writes_the_limit_headers_once_per_answer_and_again_on_a_replacement(runtime: Runtime) -> None:
    """The response hook follows responseheaders on the same answer: the six headers are not written twice
    (each write rebuilds the fields). An answer that replaces it (a failover, our own error) gets them all the
    same, and an app's own ``x-ratelimit-*`` header never survives beside ours."""
    keys = KeyStore(Store.open(runtime.config.store))
    _, plaintext = keys.create("app", rpm=10, tpm=10_000)
    auth = Auth(runtime, keys)
    flow = chat_flow()
    flow.request.headers["authorization"] = f"Bearer {plaintext}"
    first = tutils.tresp(content=b"{}")
    first.headers["x-ratelimit-limit-requests"] = "999"  # what an upstream said: ours replace it

    def answer() -> None:
        flow.response = first
        auth.responseheaders(flow)
        fields = first.headers.fields
        auth.response(flow)
        assert first.headers.fields is fields  # not rebuilt: nothing to write again

    drive(auth, lambda: auth.request(flow), answer)
    assert first.headers.get_all("x-ratelimit-limit-requests") == ["10"]
    replacement = tutils.tresp(content=b"{}")
    flow.response = replacement
    drive(auth, lambda: auth.response(flow))
    assert replacement.headers["x-ratelimit-remaining-requests"] == "9"
