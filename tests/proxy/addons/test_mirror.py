"""Mirror: a sample of split requests also sent to the other side, as a task beside the served request.
Driven with mitmproxy's taddons/tflow; the other side is a real stand-in on 127.0.0.1. Every test runs with both
ways a copy is sent: the pool that fetches served whole answers (``proxy.direct``, as the proxy runs) and aiohttp
(without that pool: intercept mode)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from mitmproxy.test import taddons

from core.config import parse_config
from proxy.addons.mirror import Mirror
from proxy.addons.record import Record
from proxy.direct import DirectClient, tls_context
from proxy.engine import answer_size_limit
from proxy.recorder import Recorder
from proxy.runtime import Runtime
from proxy.sides import SideClient
from tests.proxy.addons.flows import chat_flow, routed


def mirror_runtime(tmp_path: Path, url: str, **mirror: object) -> Runtime:
    config = parse_config(
        {
            "store": f"sqlite:///{tmp_path / 's.sqlite'}",
            "incumbent": {"url": url},
            "candidate": {"url": url},
            "models": {"gpt-4o-mini": "classify"},
            "specialists": {"classify": "classify"},
            "mirror": {"rate": 1.0, **mirror},
        },
        source="test",
    )
    return Runtime(config, {})


@pytest.fixture(params=["direct", "aiohttp"])
def pooled(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "direct")


def run_mirror(
    runtime: Runtime, percent: float, flows: int, pooled: bool = True
) -> tuple[Mirror, list[object]]:
    """Routes ``flows`` chat flows at ``percent``, hands each to the mirror, and waits for the copies (sent by
    the direct pool when ``pooled``, else by aiohttp)."""
    runtime.percent = percent
    recorder = Recorder(runtime.config.store, runtime.config.record, runtime.counts)
    routed_flows = [chat_flow() for _ in range(flows)]
    infos: list[object] = [routed(runtime, flow) for flow in routed_flows]

    async def go() -> Mirror:
        direct = DirectClient(answer_size_limit(runtime.config), tls_context()) if pooled else None
        sides = SideClient(runtime, direct)
        mirror = Mirror(runtime, sides, Record(runtime, recorder), rng=random.Random(1))
        with taddons.context(mirror):
            for flow in routed_flows:
                mirror.request(flow)
            await mirror.drain(10)
        await sides.aclose()
        if direct is not None:
            direct.close()
        return mirror

    mirror = asyncio.run(go())
    recorder.close()
    return mirror, infos


def test_mirror_sends_the_request_to_the_other_side(
    tmp_path: Path, sim_server: Callable[..., str], pooled: bool
) -> None:
    runtime = mirror_runtime(tmp_path, sim_server("openai"))
    _, (info,) = run_mirror(runtime, 0, 1, pooled)
    assert info.side == "incumbent"  # type: ignore[attr-defined]
    leg = info.mirrored  # type: ignore[attr-defined]
    assert leg is not None and leg.side == "candidate" and leg.status == 200 and leg.error is None
    assert b'"chat.completion"' in b"".join(leg.chunks)
    assert leg.first_byte is not None and leg.started <= leg.first_byte <= (leg.finished or 0)
    assert ("content-type", "application/json") in [(k.lower(), v) for k, v in leg.headers]
    assert not {k.lower() for k, _ in leg.headers} & {"content-length", "connection", "transfer-encoding"}
    assert runtime.counts["mirrored"] == 1


def test_mirror_drops_beyond_its_concurrency_and_counts_it(
    tmp_path: Path, sim_server: Callable[..., str], pooled: bool
) -> None:
    runtime = mirror_runtime(tmp_path, sim_server("openai", latency_ms=200), concurrency=1)
    mirror, infos = run_mirror(runtime, 100, 3, pooled)
    assert runtime.counts["mirror_dropped"] == 2 and runtime.counts["mirrored"] == 1
    assert mirror.inflight == 0
    assert sum(info.mirrored is not None for info in infos) == 1  # type: ignore[attr-defined]


def test_mirror_rate_zero_sends_nothing(tmp_path: Path, sim_server: Callable[..., str], pooled: bool) -> None:
    runtime = mirror_runtime(tmp_path, sim_server("openai"), rate=0)
    mirror, (info,) = run_mirror(runtime, 100, 1, pooled)
    assert info.mirrored is None and not mirror.tasks  # type: ignore[attr-defined]
    assert runtime.counts["mirrored"] == 0


def test_a_copy_to_a_side_nobody_answers_records_why(tmp_path: Path, pooled: bool) -> None:
    """An unreachable other side: the copy ends with its error on the leg, the served side is untouched."""
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    runtime = mirror_runtime(tmp_path, f"http://127.0.0.1:{port}", timeout_s=2)
    _, (info,) = run_mirror(runtime, 0, 1, pooled)
    leg = info.mirrored  # type: ignore[attr-defined]
    assert leg is not None and leg.side == "candidate" and leg.status == 0 and not leg.chunks
    assert leg.error and leg.finished is not None


def test_a_pooled_copy_refuses_a_key_that_would_break_the_head(
    tmp_path: Path, sim_server: Callable[..., str]
) -> None:
    """A candidate key holding a line end (read from a badly written environment file, say) must not split the
    request head into two requests: the copy fails with a reason, nothing is sent."""
    runtime = mirror_runtime(tmp_path, sim_server("openai"))
    runtime.candidate_key = "sk-good\r\nx-injected: 1"
    _, (info,) = run_mirror(runtime, 0, 1, pooled=True)
    leg = info.mirrored  # type: ignore[attr-defined]
    assert leg is not None and leg.status == 0 and "line end" in (leg.error or "")
