"""Chain: our addons as one mitmproxy addon, each hook once, in order. Driven with mitmproxy's taddons/tflow."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mitmproxy.proxy.layers.http import HttpRequestHook as RequestHook
from mitmproxy.test import taddons, tflow

from proxy.addons.chain import Chain
from proxy.engine import InFlight
from tests.proxy.addons.flows import chat_flow


def test_chain_calls_each_hook_once_in_order_under_a_real_master() -> None:
    calls: list[str] = []

    class First:
        def request(self, flow: Any) -> None:
            calls.append("first")

    class Second:
        def request(self, flow: Any) -> None:
            calls.append("second")

    chain = Chain([First(), Second()])
    flow = chat_flow()

    async def run() -> None:
        with taddons.context(chain) as tctx:
            await tctx.master.addons.handle_lifecycle(RequestHook(flow))

    asyncio.run(run())
    assert calls == ["first", "second"]


def test_chain_refuses_async_data_path_hooks() -> None:
    class Slow:
        async def request(self, flow: Any) -> None:
            pass

    with pytest.raises(TypeError, match="must not be async"):
        Chain([Slow()])


def test_inflight_ends_a_flow_once_whichever_hook_comes() -> None:
    inflight = InFlight()
    streamed, plain = tflow.tflow(resp=True), tflow.tflow()
    for flow in (streamed, plain):
        inflight.requestheaders(flow)
    assert inflight.live == 2
    inflight.error(streamed)  # the client hung up mid-stream: headers were sent, no response hook
    inflight.response(plain)
    inflight.error(plain)
    assert inflight.live == 0
