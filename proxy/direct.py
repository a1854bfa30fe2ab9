"""Whole answers to split requests, fetched by the proxy itself over pooled HTTP/1.1 connections.

mitmproxy's upstream side (a server connection per client connection, its HTTP/1 layer and h11 parsing the
answer, events and hooks per connection) cost as much per request as all our addons together, and the failover
reader then parsed every answer a second time under it. A split request that wants a whole answer (no stream)
is sent from the ``request`` hook instead (``Failover.request``): the request as mitmproxy would send it, on a
kept-alive connection of our pool, the answer parsed once by httptools (:class:`proxy.framing.AnswerParser`)
within the side's deadlines, and handed to mitmproxy as ``flow.response``. An ``https`` side is reached over TLS
with the certificate checked against the same roots mitmproxy uses (certifi's, or ``SSL_CERT_FILE``'s). Streams
and intercept mode keep mitmproxy's upstream side and the failover reader.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import certifi

from core.config import Settings
from core.pair import Side
from proxy.framing import AnswerParser, BadAnswer

MAX_IDLE_PER_ADDRESS = 64


class Unreachable(Exception):
    """No connection to the upstream (refused, unreachable, or not within the connect timeout)."""


class Expired(Exception):
    """A deadline passed before the answer was complete; the message says which."""


@dataclass(frozen=True)
class Deadlines:
    """Seconds, from the request's start (``first_byte``, ``total``) or from the last byte (``idle``), and for
    a new connection (its TLS handshake included) to be made (``connect``; None: the idle deadline)."""

    idle: float
    total: float
    first_byte: float | None = None  # None: until the first byte, the idle deadline applies
    connect: float | None = None

    def due(self, start: float, last: float, awaiting_first_byte: bool) -> tuple[float, str, float]:
        """When the answer's next byte must have come, on the clock of ``start`` (the request's start) and
        ``last`` (the last byte, or when the wait began), and which limit that is (:func:`expired_reason` words
        it): ``first_byte`` (while no byte came, for a side that has one), ``idle`` or ``total``, with its
        seconds."""
        if awaiting_first_byte and self.first_byte is not None:
            when, kind, limit = start + self.first_byte, "first_byte", self.first_byte
        else:
            when, kind, limit = last + self.idle, "idle", self.idle
        if start + self.total < when:
            when, kind, limit = start + self.total, "total", self.total
        return when, kind, limit


def deadlines_for(config: Settings, side: Side) -> Deadlines:
    """A side's deadlines: the candidate's first byte and connection are the failover's; for the incumbent,
    connecting and waiting for the first byte count as silence, as through mitmproxy."""
    if side == "candidate":
        candidate, failover = config.candidate, config.failover
        return Deadlines(
            candidate.idle_timeout_s,
            candidate.timeout_s,
            failover.first_byte_timeout_s,
            failover.connect_timeout_s,
        )
    return Deadlines(config.incumbent.idle_timeout_s, config.incumbent.timeout_s)


def expired_reason(kind: str, seconds: float) -> str:
    """Why an answer was given up on (recorded with the pair; a reason starting "no answer", "silent" or
    "answer not complete" is a timeout)."""
    if kind == "first_byte":
        return f"no answer within {seconds:g}s"
    if kind == "idle":
        return f"silent for {seconds:g}s mid-answer"
    return f"answer not complete within {seconds:g}s"


def tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """Certificates checked against ``cafile`` (default: certifi's roots, as mitmproxy's), HTTP/1.1 offered."""
    context = ssl.create_default_context(cafile=cafile or certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context


Address = tuple[str, int, bool]  # host, port, TLS


@dataclass(frozen=True)
class Destination:
    """Where a side's base URL points: the request retargeted to it (``proxy.addons.upstream``) and the
    requests this module writes itself go under its path."""

    scheme: str
    host: str
    port: int
    netloc: str
    prefix: str  # the URL's path, which the request's path goes under

    @classmethod
    @lru_cache(maxsize=64)
    def of(cls, url: str) -> Destination:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname or "127.0.0.1", port, parts.netloc, parts.path.rstrip("/"))

    @property
    def address(self) -> Address:
        return self.host, self.port, self.scheme == "https"


def post_request(url: str, path: str, headers: list[tuple[str, str]], body: bytes) -> tuple[Address, bytes]:
    """A ``POST`` of ``body`` to ``path`` under ``url`` (its base path kept) with ``headers``, as the HTTP/1.1
    bytes :meth:`DirectClient.exchange` sends, and the address to send them to. Raises ValueError for a header
    value that would break the head (a line end or NUL: a key read from the environment, say)."""
    to = Destination.of(url)
    lines = [f"POST {to.prefix}{path} HTTP/1.1", f"host: {to.netloc}"]
    for name, value in headers:
        if not set(name + value).isdisjoint("\r\n\0"):
            raise ValueError(f"header {name!r} holds a line end")
        lines.append(f"{name}: {value}")
    lines.append(f"content-length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    return to.address, head + body


class _Connection(asyncio.Protocol):
    """One kept-alive upstream connection; at most one request on it at a time."""

    def __init__(self, address: Address, max_bytes: int) -> None:
        self.address = address
        self.max_bytes = max_bytes
        self.received = 0
        self.transport: asyncio.Transport | None = None
        self.parser: AnswerParser | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.got_bytes = False
        self.last_byte = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        parser, waiter = self.parser, self.waiter
        if parser is None or waiter is None or waiter.done():
            self.close()  # bytes nobody asked for: this connection cannot be trusted with another request
            return
        self.got_bytes = True
        self.last_byte = time.monotonic()
        self.received += len(data)
        if self.received > self.max_bytes:
            waiter.set_exception(BadAnswer(f"answer over {self.max_bytes} bytes"))
            return
        try:
            parser.feed(data)
        except BadAnswer as exc:
            waiter.set_exception(exc)
            return
        if parser.done:
            waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        parser, waiter = self.parser, self.waiter
        if parser is None or waiter is None or waiter.done():
            return
        try:
            parser.feed(b"")  # an answer delimited by the connection's end is complete now
        except BadAnswer as bad:
            waiter.set_exception(bad)
            return
        waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Deadline:
    """Cancels ``waiter`` (an answer being awaited on ``connection``) once one of ``deadlines`` passes, and says
    why in ``reason``. No timer is moved as bytes arrive: it fires at the earliest any deadline could pass (an
    idle one counts from a byte, so from now at the earliest), and then waits again for the one now due. An
    object, not closures: a closure that schedules itself is a reference cycle, left for the cyclic collector
    with everything it holds, one per request."""

    __slots__ = ("connection", "deadlines", "handle", "loop", "reason", "start", "waiter")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        waiter: asyncio.Future[None],
        connection: _Connection,
        deadlines: Deadlines,
        start: float,
        sent: float,
    ) -> None:
        self.loop, self.waiter, self.connection = loop, waiter, connection
        self.deadlines, self.start = deadlines, start
        self.reason: str | None = None
        first = max(0.0, min(self._due()[0], sent + deadlines.idle) - sent)
        self.handle: asyncio.TimerHandle | None = loop.call_later(first, self._fire)

    def _due(self) -> tuple[float, str, float]:
        connection = self.connection
        return self.deadlines.due(self.start, connection.last_byte, not connection.got_bytes)

    def _fire(self) -> None:
        when, kind, limit = self._due()
        now = time.monotonic()
        if now < when:  # bytes came meanwhile: the deadline moved on
            self.handle = self.loop.call_later(when - now, self._fire)
        elif not self.waiter.done():
            self.reason = expired_reason(kind, limit)
            self.waiter.cancel()

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None  # the handle held this object: the pair is freed now, not by the collector


class DirectClient:
    """Pooled HTTP/1.1 connections to the upstreams (over TLS where asked), one request at a time on each."""

    def __init__(self, max_answer_bytes: int, tls: ssl.SSLContext | None = None) -> None:
        self.max_answer_bytes = max_answer_bytes  # head and body; a larger answer is a broken one
        self.tls = tls or tls_context()
        self.idle: dict[Address, list[_Connection]] = {}

    async def exchange(
        self, address: Address, request: bytes, started: float, deadlines: Deadlines
    ) -> AnswerParser:
        """Send ``request`` (whole HTTP/1.1 bytes) to ``address`` (host, port, TLS) and return the parsed,
        complete answer. ``started``: the request's start (``time.perf_counter``), which the first-byte and
        total deadlines count from.

        Raises :class:`Unreachable`, :class:`Expired` or :class:`BadAnswer` (reset, cut, malformed)."""
        connect_s = deadlines.idle if deadlines.connect is None else deadlines.connect
        connection = self._kept(address)
        if connection is not None:
            try:
                return await self._on(connection, request, started, deadlines)
            except BadAnswer:
                if connection.got_bytes:
                    raise
                # closed without a byte: most likely the upstream ended this kept-alive connection while it
                # idled, before it read the request; once more, on a new connection
        connection = await self._connect(address, connect_s)
        return await self._on(connection, request, started, deadlines)

    def _kept(self, address: Address) -> _Connection | None:
        idle = self.idle.get(address)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self, address: Address, timeout_s: float) -> _Connection:
        loop = asyncio.get_running_loop()
        host, port, tls = address
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(address, self.max_answer_bytes),
                    host,
                    port,
                    ssl=self.tls if tls else None,
                    server_hostname=host if tls else None,
                ),
                timeout_s,
            )
        except (OSError, TimeoutError) as exc:  # ssl.SSLError (a certificate refused) is an OSError
            raise Unreachable(str(exc) or type(exc).__name__) from None
        connection: _Connection = protocol
        return connection

    async def _on(
        self, connection: _Connection, request: bytes, started: float, deadlines: Deadlines
    ) -> AnswerParser:
        loop = asyncio.get_running_loop()
        parser = connection.parser = AnswerParser()
        waiter = connection.waiter = loop.create_future()
        connection.got_bytes, connection.received = False, 0
        sent = connection.last_byte = time.monotonic()
        # the request's start on the monotonic clock (perf_counter's epoch differs)
        start = sent - (time.perf_counter() - started)
        assert connection.transport is not None
        connection.transport.write(request)
        deadline = _Deadline(loop, waiter, connection, deadlines, start, sent)
        ok = False
        try:
            await waiter
            ok = True
        except asyncio.CancelledError:
            if deadline.reason is None:
                raise  # not our deadline: the flow itself was cancelled
            raise Expired(deadline.reason) from None
        finally:
            deadline.cancel()
            connection.parser = connection.waiter = None
            if ok and _reusable(parser):
                self._release(connection)
            else:
                connection.close()
        return parser

    def _release(self, connection: _Connection) -> None:
        if connection.closed:
            return
        idle = self.idle.setdefault(connection.address, [])
        if len(idle) >= MAX_IDLE_PER_ADDRESS:
            connection.close()
        else:
            idle.append(connection)

    def close(self) -> None:
        for idle in self.idle.values():
            for connection in idle:
                connection.close()
        self.idle.clear()


def _reusable(parser: AnswerParser) -> bool:
    head = parser.response
    if head is None or not parser.delimited:
        return False
    return "close" not in head.value(b"connection").lower() and head.http_version == b"HTTP/1.1"
