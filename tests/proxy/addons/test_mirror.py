"""Mirror: a sample of split requests also sent to the other side, as a task beside the served request.
Driven with mitmproxy's taddons/tflow; the other side is a real stand-in on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

from mitmproxy.test import taddons

from core.config import parse_config
from proxy.addons.mirror import Mirror
from proxy.addons.record import Record
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


def run_mirror(runtime: Runtime, percent: float, flows: int) -> tuple[Mirror, list[object]]:
    """Routes ``flows`` chat flows at ``percent``, hands each to the mirror, and waits for the copies."""
    runtime.percent = percent
    recorder = Recorder(runtime.config.store, runtime.config.record, runtime.counts)
    routed_flows = [chat_flow() for _ in range(flows)]
    infos: list[object] = [routed(runtime, flow) for flow in routed_flows]

    async def go() -> Mirror:
        sides = SideClient(runtime)
        mirror = Mirror(runtime, sides, Record(runtime, recorder), rng=random.Random(1))
        with taddons.context(mirror):
            for flow in routed_flows:
                mirror.request(flow)
            await mirror.drain(10)
        await sides.aclose()
        return mirror

    mirror = asyncio.run(go())
    recorder.close()
    return mirror, infos


def test_mirror_sends_the_request_to_the_other_side(tmp_path: Path, sim_server: Callable[..., str]) -> None:
    runtime = mirror_runtime(tmp_path, sim_server("openai"))
    _, (info,) = run_mirror(runtime, 0, 1)
    assert info.side == "incumbent"  # type: ignore[attr-defined]
    leg = info.mirrored  # type: ignore[attr-defined]
    assert leg is not None and leg.side == "candidate" and leg.status == 200 and leg.error is None
    assert b'"chat.completion"' in b"".join(leg.chunks)
    assert runtime.counts["mirrored"] == 1


def test_mirror_drops_beyond_its_concurrency_and_counts_it(
    tmp_path: Path, sim_server: Callable[..., str]
) -> None:
    runtime = mirror_runtime(tmp_path, sim_server("openai", latency_ms=200), concurrency=1)
    mirror, infos = run_mirror(runtime, 100, 3)
    assert runtime.counts["mirror_dropped"] == 2 and runtime.counts["mirrored"] == 1
    assert mirror.inflight == 0
    assert sum(info.mirrored is not None for info in infos) == 1  # type: ignore[attr-defined]


def test_mirror_rate_zero_sends_nothing(tmp_path: Path, sim_server: Callable[..., str]) -> None:
    runtime = mirror_runtime(tmp_path, sim_server("openai"), rate=0)
    mirror, (info,) = run_mirror(runtime, 100, 1)
    assert info.mirrored is None and not mirror.tasks  # type: ignore[attr-defined]
    assert runtime.counts["mirrored"] == 0
