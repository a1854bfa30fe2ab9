"""Calling either side off mitmproxy's data path: for failover and for the mirror.

The mirror's copies take the pool that fetches served whole answers (``proxy.direct``) where the proxy has one
(reverse mode): a copy there costs a fraction of aiohttp's per request, all in the proxy's one process. aiohttp
serves the rest (the incumbent relay, key checks, copies in intercept mode); not httpx, whose pure Python client
cost the served side about 0.7 ms p50 (bench/proxy_overhead.py). The relayed answer is produced as raw HTTP/1.1
bytes so a failover can hand it to mitmproxy as if the candidate had sent it: the client then sees an ordinary
response, streamed if it asked for a stream.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus

import aiohttp

from core.pair import Side
from proxy import wire
from proxy.direct import Deadlines, DirectClient, Expired, Unreachable, post_request
from proxy.framing import BadAnswer
from proxy.runtime import FlowInfo, Leg, Runtime

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}
# Not forwarded from the app's request: hop-by-hop (RFC 9110 7.6.1), what aiohttp sets for this connection, the
# key (replaced per side) and the proxy's own markers.
REQUEST_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}
    | {"proxy-connection", "content-length", "host", "authorization", "x-alveare-failover"}
)


CLIENT_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


def side_request(runtime: Runtime, info: FlowInfo, side: Side) -> tuple[str, dict[str, str], bytes]:
    """URL path prefix, auth header and body for sending ``info``'s request to ``side`` (served or mirrored)."""
    config = runtime.config
    if side == "candidate":
        assert info.target is not None
        body = wire.dumps({**info.body, "model": info.target.candidate_model})
        key = runtime.candidate_key
        return config.candidate.url, ({"authorization": f"Bearer {key}"} if key else {}), body
    return config.incumbent.url, incumbent_auth(runtime, info), info.raw_body


def incumbent_auth(runtime: Runtime, info: FlowInfo) -> dict[str, str]:
    if info.key is not None:  # the app holds our key; the OpenAI key stays in the proxy
        return {"authorization": f"Bearer {runtime.incumbent_key}"} if runtime.incumbent_key else {}
    return {"authorization": info.client_auth} if info.client_auth else {}


class SideClient:
    """One pooled HTTP client, shared by failover and mirror; created lazily inside the proxy's loop."""

    def __init__(self, runtime: Runtime, direct: DirectClient | None = None) -> None:
        self.runtime = runtime
        self.direct = direct  # where set, captures (the mirror's copies) take its pool, not aiohttp's
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            cap = max(4, self.runtime.config.mirror.concurrency)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=cap * 2, enable_cleanup_closed=False),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def exchange(
        self, side: Side, info: FlowInfo, timeout_s: float | None = None, *, relay: bool = False
    ) -> AsyncIterator[tuple[int, list[tuple[str, str]], bytes]]:
        """Send ``info``'s request to ``side``; yield (status, headers, chunk) for each body chunk received.

        The incumbent gets the app's own headers (``OpenAI-Organization``, ``OpenAI-Project``, ``user-agent``,
        idempotency keys, a gateway's headers ...), as at 0%; ``relay`` also keeps the app's
        ``accept-encoding`` and the answer's ``content-encoding``, since its bytes go to the app unchanged."""
        base_url, auth, body = side_request(self.runtime, info, side)
        headers = request_headers(side, info, auth, relay=relay)
        drop = HOP_BY_HOP - {"content-encoding"} if relay else HOP_BY_HOP
        upstream = self.runtime.config.candidate if side == "candidate" else self.runtime.config.incumbent
        timeout = aiohttp.ClientTimeout(
            total=timeout_s or self.runtime.config.mirror.timeout_s,
            connect=self.runtime.config.failover.connect_timeout_s,
            sock_read=upstream.idle_timeout_s,
        )
        url = base_url + "/v1/chat/completions"
        async with self.session.post(url, data=body, headers=headers, timeout=timeout) as response:
            kept = [(k, v) for k, v in response.headers.items() if k.lower() not in drop]
            yield response.status, kept, b""
            async for chunk in response.content.iter_any():
                yield response.status, kept, chunk

    async def check_key(self, authorization: str) -> int | None:
        """The incumbent's status for ``GET /v1/models`` with this ``authorization`` (None: no answer)."""
        url = self.runtime.config.incumbent.url + "/v1/models"
        headers = {"authorization": authorization} if authorization else {}
        timeout = aiohttp.ClientTimeout(
            total=self.runtime.config.failover.first_byte_timeout_s,
            connect=self.runtime.config.failover.connect_timeout_s,
        )
        try:
            async with self.session.get(url, headers=headers, timeout=timeout) as response:
                await response.read()
                return response.status
        except CLIENT_ERRORS:
            return None

    async def capture(self, side: Side, info: FlowInfo, timeout_s: float | None = None) -> Leg:
        """The whole answer of ``side`` as a :class:`Leg` (the mirror's copy of a split request), within
        ``timeout_s`` (default: the mirror's) and the side's silence limit."""
        if self.direct is not None:
            return await self._capture_direct(self.direct, side, info, timeout_s)
        leg = Leg(side=side, stream=info.stream, started=time.perf_counter())
        try:
            async for status, headers, chunk in self.exchange(side, info, timeout_s):
                leg.status, leg.headers = status, headers
                if chunk:
                    leg.first_byte = leg.first_byte or time.perf_counter()
                    leg.chunks.append(chunk)
        except CLIENT_ERRORS as exc:
            leg.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        leg.finished = time.perf_counter()
        return leg

    async def _capture_direct(
        self, direct: DirectClient, side: Side, info: FlowInfo, timeout_s: float | None
    ) -> Leg:
        """:meth:`capture` on the pool that fetches served whole answers (``proxy.direct``): the same request
        and headers as aiohttp would send, at a fraction of its cost per copy in the proxy's one process."""
        config = self.runtime.config
        leg = Leg(side=side, stream=info.stream, started=time.perf_counter())
        upstream = config.candidate if side == "candidate" else config.incumbent
        deadlines = Deadlines(
            upstream.idle_timeout_s,
            timeout_s or config.mirror.timeout_s,
            connect=config.failover.connect_timeout_s,
        )
        base_url, auth, body = side_request(self.runtime, info, side)
        try:
            headers = request_headers(side, info, auth, relay=False)
            address, request = post_request(base_url, "/v1/chat/completions", headers, body)
            answer = await direct.exchange(address, request, leg.started, deadlines)
        except (Unreachable, Expired, BadAnswer, ValueError) as exc:
            leg.error = f"{type(exc).__name__}: {exc}"
        else:
            head = answer.response
            assert head is not None
            leg.status, leg.encoding = answer.status, answer.header(b"content-encoding")
            for name, value in head.headers:
                key = name.decode("latin-1")
                if key.lower() not in HOP_BY_HOP:
                    leg.headers.append((key, value.decode("utf-8", "surrogateescape")))
            content = answer.take()
            if content:
                leg.chunks.append(content)
                leg.first_byte = answer.first_body
        leg.finished = time.perf_counter()
        return leg

    async def relay_incumbent(self, info: FlowInfo, write: Callable[[bytes], Awaitable[None]]) -> None:
        """Write the incumbent's answer as a raw HTTP/1.1 response (``connection: close``, body until EOF).

        Within the incumbent's deadlines; a stream that breaks after its head ends with OpenAI's error event."""
        from proxy.framing import error_event

        head_sent = False
        try:
            async for status, headers, chunk in self.exchange(
                "incumbent", info, self.runtime.config.incumbent.timeout_s, relay=True
            ):
                if not chunk:
                    head_sent = True
                    await write(_response_head(status, headers))
                else:
                    await write(chunk)
        except CLIENT_ERRORS as exc:
            info.upstream_error = f"incumbent: {type(exc).__name__}: {exc}"
            if head_sent:
                if info.stream:
                    await write(
                        b"\n\n"
                        + error_event("The model's answer was interrupted. Please retry your request.")
                    )
                return
            body = wire.error_bytes(
                "The upstream server could not be reached. Please retry your request.", status=502
            )
            head = _response_head(502, [("content-type", "application/json")])
            await write(head + body)


def request_headers(
    side: Side, info: FlowInfo, auth: dict[str, str], *, relay: bool
) -> list[tuple[str, str]]:
    """What ``side`` is sent: for the incumbent, the app's headers (hop-by-hop aside) with the incumbent's key."""
    if side == "candidate" or not info.client_headers:
        return [("content-type", "application/json"), ("accept-encoding", "identity"), *auth.items()]
    kept = [(k, v) for k, v in info.client_headers if k.lower() not in REQUEST_HOP_BY_HOP]
    if not relay:  # a captured answer is parsed here: ask for it uncompressed
        kept = [(k, v) for k, v in kept if k.lower() != "accept-encoding"] + [("accept-encoding", "identity")]
    return kept + list(auth.items())


def _response_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Status"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
