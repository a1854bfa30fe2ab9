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


def test_after_answer_hooks_run_in_the_next_loop_turn_and_cannot_replace_the_answer() -> None:
    calls: list[str] = []

    class Answers:
        def response(self, flow: Any) -> None:
            calls.append("answer")

    class Counts:
        after_answer = ("response",)

        def response(self, flow: Any) -> None:
            calls.append(f"count {flow.response.status_code}")
            raise RuntimeError("a bug in counting")

    chain = Chain([Counts(), Answers()])
    flows = [tflow.tflow(resp=True), tflow.tflow(resp=True)]

    async def run() -> None:
        await chain.running()
        for flow in flows:  # two answers in one loop turn
            chain.response(flow)
        assert calls == [
            "answer",
            "answer",
        ]  # what waits for the answer ran; the counting waits for the next turn
        await asyncio.sleep(0)
        assert calls == ["answer", "answer", "count 200", "count 200"]

    asyncio.run(run())
    assert all(flow.response is not None and flow.response.status_code == 200 for flow in flows)
    assert chain.counts["hook_errors"] == 2
