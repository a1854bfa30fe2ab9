"""Failover's hooks on their own: which flows it watches, and a refused candidate connection pointed at the
in-process responder. Driven with mitmproxy's tflow in a real event loop; the refusal is a real closed port on 127.0.0.1.
(End-to-end failover, through a real proxy, is tests/proxy/test_failover.py.)"""

from __future__ import annotations

import asyncio
import socket

from mitmproxy import connection
from mitmproxy.proxy import server_hooks

from proxy.addons.failover import FAILOVER_HEADER, Failover
from proxy.runtime import Runtime
from proxy.sides import SideClient
from tests.proxy.addons.flows import chat_flow, routed


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_only_candidate_flows_are_watched(runtime: Runtime) -> None:
    failover = Failover(runtime, SideClient(runtime))
    runtime.percent = 0
    incumbent = chat_flow()
    routed(runtime, incumbent)
    failover.request(incumbent)
    assert failover.current == {}
    runtime.percent = 100
    candidate = chat_flow()
    routed(runtime, candidate)
    failover.request(candidate)
    assert failover.current == {candidate.client_conn.id: candidate}


def test_a_refused_candidate_is_pointed_at_the_incumbent_relay(runtime: Runtime) -> None:
    runtime.percent = 100
    flow = chat_flow()
    info = routed(runtime, flow)
    refused = ("127.0.0.1", closed_port())

    async def go() -> tuple[object, object]:
        failover = Failover(runtime, SideClient(runtime))
        await failover.running()
        failover.request(flow)
        data = server_hooks.ServerConnectionHookData(
            server=connection.Server(address=refused), client=flow.client_conn
        )
        await failover.server_connect(data)
        assert failover.responder is not None
        relay = failover.responder.sockets[0].getsockname()[:2]
        await failover.done()
        return data.server.address, relay

    address, relay = asyncio.run(go())
    assert address == relay != refused
    assert (
        info.side == "incumbent"
        and info.failover
        and info.failover_reason == "candidate refused the connection"
    )
    assert info.candidate_failure is not None and info.candidate_failure.status == 0
    assert flow.request.headers[FAILOVER_HEADER] == info.pair_id
    assert runtime.counts["failovers"] == 1


def test_a_reachable_candidate_is_left_alone(runtime: Runtime) -> None:
    runtime.percent = 100
    flow = chat_flow()
    info = routed(runtime, flow)

    async def go() -> object:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            address = listener.getsockname()[:2]
            failover = Failover(runtime, SideClient(runtime))
            await failover.running()
            failover.request(flow)
            data = server_hooks.ServerConnectionHookData(
                server=connection.Server(address=address), client=flow.client_conn
            )
            await failover.server_connect(data)
            await failover.done()
            return data.server.address == address

    assert asyncio.run(go()) is True
    assert info.side == "candidate" and not info.failover and runtime.counts["failovers"] == 0
