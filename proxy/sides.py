"""Calling either side off mitmproxy's data path: for failover and for the mirror.

httpx is slow under heavy concurrency, but these are the rare paths (a failing candidate, a sampled mirror), and
both are bounded. The answer is produced as raw HTTP/1.1 bytes so a failover can hand it to mitmproxy as if the
candidate had sent it: the client then sees an ordinary response, streamed if it asked for a stream.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from proxy.pair import Side
from proxy.runtime import FlowInfo, Leg, Runtime

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


class SideClient:
    """One pooled httpx client per side, shared by failover and mirror."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        cap = max(4, runtime.config.mirror.concurrency)
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                runtime.config.mirror.timeout_s, connect=runtime.config.failover.connect_timeout_s
            ),
            limits=httpx.Limits(max_connections=cap * 2, max_keepalive_connections=cap),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def exchange(
        self, side: Side, info: FlowInfo, timeout_s: float | None = None
    ) -> AsyncIterator[tuple[int, list[tuple[str, str]], bytes]]:
        """Send ``info``'s request to ``side``; yield (status, headers, chunk) for each body chunk received."""
        from proxy.addons.upstream import side_request

        base_url, auth, body = side_request(self.runtime, info, side)
        headers = {"content-type": "application/json", "accept-encoding": "identity", **auth}
        timeout = httpx.Timeout(timeout_s or self.runtime.config.mirror.timeout_s)
        request = self.client.build_request(
            "POST", base_url + "/v1/chat/completions", headers=headers, content=body, timeout=timeout
        )
        response = await self.client.send(request, stream=True)
        try:
            kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]
            yield response.status_code, kept, b""
            async for chunk in response.aiter_raw():
                yield response.status_code, kept, chunk
        finally:
            await response.aclose()

    async def capture(self, side: Side, info: FlowInfo, timeout_s: float | None = None) -> Leg:
        """The whole answer of ``side`` as a :class:`Leg` (used by the mirror and the 5xx failover)."""
        leg = Leg(side=side, stream=info.stream, started=time.perf_counter())
        try:
            async for status, headers, chunk in self.exchange(side, info, timeout_s):
                leg.status, leg.headers = status, headers
                if chunk:
                    leg.first_byte = leg.first_byte or time.perf_counter()
                    leg.chunks.append(chunk)
        except httpx.HTTPError as exc:
            leg.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        leg.finished = time.perf_counter()
        return leg

    async def relay_incumbent(self, info: FlowInfo, write: Callable[[bytes], Awaitable[None]]) -> None:
        """Write the incumbent's answer as a raw HTTP/1.1 response (``connection: close``, body until EOF)."""
        try:
            async for status, headers, chunk in self.exchange("incumbent", info):
                if not chunk:
                    await write(_response_head(status, headers))
                else:
                    await write(chunk)
        except httpx.HTTPError as exc:
            from proxy import wire

            body = wire.error_bytes(f"The upstream could not be reached: {type(exc).__name__}", status=502)
            head = _response_head(502, [("content-type", "application/json")])
            await write(head + body)


def _response_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {httpx.codes.get_reason_phrase(status) or 'Status'}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
