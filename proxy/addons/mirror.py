"""Mirror: send a sample of split requests to the other side too, off the served path.

The copy runs as a task beside the served request; the served response never waits for it. At most
``mirror.concurrency`` copies are in flight; beyond that a copy is dropped and counted, never queued.
"""

from __future__ import annotations

import asyncio
import random

from mitmproxy import http

from core.pair import other_side
from proxy.addons.record import Record
from proxy.runtime import METADATA_KEY, FlowInfo, Leg, Runtime
from proxy.sides import SideClient


class Mirror:
    def __init__(
        self, runtime: Runtime, sides: SideClient, record: Record, rng: random.Random | None = None
    ) -> None:
        self.runtime = runtime
        self.sides = sides
        self.record = record
        self.rng = rng or random.Random()
        self.inflight = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def request(self, flow: http.HTTPFlow) -> None:
        info: FlowInfo = flow.metadata[METADATA_KEY]
        settings = self.runtime.config.mirror
        if flow.response is not None or not info.split or settings.rate <= 0:
            return
        if self.rng.random() >= settings.rate:
            return
        if self.inflight >= settings.concurrency:
            self.runtime.counts["mirror_dropped"] += 1
            return
        info.mirror_pending = True
        self.inflight += 1
        task = asyncio.get_running_loop().create_task(self._mirror(info))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _mirror(self, info: FlowInfo) -> None:
        side = other_side(info.side)
        try:
            leg = await self.sides.capture(side, info, self.runtime.config.mirror.timeout_s)
        except asyncio.CancelledError:  # shutdown: record the served side anyway
            leg = Leg(side=side, error="mirror cancelled at shutdown")
        finally:
            self.inflight -= 1
        if leg.side != info.side:  # a failover may have made the mirrored side the served one
            info.mirrored = leg
            self.runtime.counts["mirrored"] += 1
        info.mirror_pending = False
        if info.served is not None and info.served.finished is not None:
            self.record.submit(info)

    async def drain(self, timeout: float) -> None:
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)

    async def cancel(self) -> None:
        """End the copies still running; each records its served side (with the mirror marked cancelled)."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
