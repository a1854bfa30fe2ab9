"""A small, fast HTTP/1.1 server on asyncio + httptools, built for the sim's fault injection.

A handler turns each :class:`Request` into a plan: a whole :class:`Reply` (optionally delayed or cut short),
a :class:`Stream` of chunked events (optionally delayed, spaced or cut after k events), :class:`Hang` (never
answer) or :class:`Drop` (close without answering). Owning the transport is what lets the sim refuse, hang,
and cut connections the way a failing upstream does; a web framework would hide exactly that.

Keep-alive and pipelining work (requests on one connection are answered in order); a whole reply with no
delay is written straight from the parser callback, so the fast path creates no task.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import cast

import httptools

Headers = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool = True


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole response. ``cut_at``: send only this many body bytes, then reset the connection; ``reset_at``:
    send only this many bytes of the whole response (head included), then reset; ``stall_at``: send this many
    body bytes, then nothing more, ever."""

    status: int
    headers: Headers = ()
    body: bytes = b""
    delay_s: float = 0.0
    cut_at: int | None = None
    reset_at: int | None = None
    stall_at: int | None = None


@dataclass(frozen=True, slots=True)
class Stream:
    """A chunked response of ``events``. Headers go out with the first event, after ``first_delay_s``;
    ``cut_after``: reset the connection after that many events instead of finishing; ``stall_after``: after
    that many events, send nothing more, ever."""

    status: int
    headers: Headers
    events: tuple[bytes, ...]
    first_delay_s: float = 0.0
    interval_s: float = 0.0
    cut_after: int | None = None
    stall_after: int | None = None


@dataclass(frozen=True, slots=True)
class Hang:
    """Read the request, never answer."""


@dataclass(frozen=True, slots=True)
class Drop:
    """Close the connection without answering."""


Plan = Reply | Stream | Hang | Drop


class _Gone(Exception):
    """The client went away mid-answer."""


Handler = Callable[[Request], Plan]


class _Clock:
    """The ``date`` header, formatted once a second."""

    second = -1
    text = ""

    @classmethod
    def date(cls) -> str:
        now = int(time.time())
        if now != cls.second:
            cls.second, cls.text = now, email.utils.formatdate(now, usegmt=True)
        return cls.text


def _head(status: int, headers: Headers, framing: str, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"date: {_Clock.date()}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += [framing, "connection: keep-alive" if keep_alive else "connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def encode_reply(reply: Reply, keep_alive: bool) -> bytes:
    return _head(reply.status, reply.headers, f"content-length: {len(reply.body)}", keep_alive) + reply.body


def _breaks(reply: Reply) -> bool:
    return reply.reset_at is not None or reply.stall_at is not None


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


@dataclass
class HttpServer:
    """Serves ``handler`` on ``host:port``. ``refuse``: reset every connection as soon as it is accepted."""

    handler: Handler
    refuse: bool = False
    connections: set[_Connection] = field(default_factory=set)
    _server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Starts listening; returns the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_address=True, backlog=1024
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [c.task for c in self.connections if c.task is not None]
        for connection in list(self.connections):
            connection.abort()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)


class _Connection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: collections.deque[Request] = collections.deque()
        self.task: asyncio.Task[None] | None = None
        self.writable = asyncio.Event()
        self.writable.set()
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []

    # --- asyncio.Protocol -----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        if self.server.refuse:
            self.transport.abort()
            return
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self.task is not None:
            self.task.cancel()
        self.transport = None
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._write_and_close(Reply(400, (("content-type", "text/plain"),), b"upgrade not supported\n"))
        except httptools.HttpParserError:
            self._write_and_close(Reply(400, (("content-type", "text/plain"),), b"bad request\n"))

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # --- httptools callbacks --------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", {}, []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        if self.headers.get("expect", "").lower() == "100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        path, _, query = self.url.decode("latin-1").partition("?")
        method = self.parser.get_method().decode("latin-1")
        request = Request(
            method, path, query, self.headers, b"".join(self.body), self.parser.should_keep_alive()
        )
        if self.task is None and not self.pending:
            self._dispatch(request)
        else:
            self.pending.append(request)

    # --- answering ------------------------------------------------------------------------------------------

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _dispatch(self, request: Request) -> None:
        try:
            plan = self.server.handler(request)
        except Exception as exc:  # the handler is ours; a bug must not kill the connection silently
            plan = Reply(500, (("content-type", "text/plain"),), f"sim handler failed: {exc!r}\n".encode())
        if isinstance(plan, Reply) and plan.delay_s <= 0 and plan.cut_at is None and not _breaks(plan):
            self._write_reply(plan, request.keep_alive)
            return
        if isinstance(plan, Drop):
            if self.transport is not None:
                self.transport.close()
            return
        self.task = asyncio.get_running_loop().create_task(self._run(plan, request.keep_alive))

    def _write_reply(self, reply: Reply, keep_alive: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(encode_reply(reply, keep_alive))
        if not keep_alive:
            self.transport.close()

    def _write_and_close(self, reply: Reply) -> None:
        self._write_reply(reply, keep_alive=False)

    async def _run(self, plan: Plan, keep_alive: bool) -> None:
        try:
            if isinstance(plan, Hang):
                await asyncio.Event().wait()
            elif isinstance(plan, Reply):
                await self._delayed_reply(plan, keep_alive)
            elif isinstance(plan, Stream):
                await self._stream(plan, keep_alive)
        except (asyncio.CancelledError, _Gone):
            return
        self.task = None
        self._next()

    def _next(self) -> None:
        if self.pending and self.transport is not None and not self.transport.is_closing():
            self._dispatch(self.pending.popleft())

    async def _delayed_reply(self, reply: Reply, keep_alive: bool) -> None:
        if reply.delay_s > 0:
            await asyncio.sleep(reply.delay_s)
        if reply.cut_at is None and not _breaks(reply):
            self._write_reply(reply, keep_alive)
            return
        if self.transport is not None:
            data = encode_reply(reply, keep_alive)
            body_start = len(data) - len(reply.body)
            if reply.stall_at is not None:
                self.transport.write(data[: body_start + reply.stall_at])
                await asyncio.Event().wait()
            end = reply.reset_at if reply.reset_at is not None else body_start + (reply.cut_at or 0)
            self.transport.write(data[:end])
            self.transport.abort()

    async def _stream(self, stream: Stream, keep_alive: bool) -> None:
        if stream.first_delay_s > 0:
            await asyncio.sleep(stream.first_delay_s)
        head = _head(stream.status, stream.headers, "transfer-encoding: chunked", keep_alive)
        if stream.interval_s <= 0 and stream.cut_after is None and stream.stall_after is None:  # one write
            self._send(head + b"".join(map(_chunk, stream.events)) + b"0\r\n\r\n")
        elif not await self._paced(stream, head):
            return
        if not keep_alive and self.transport is not None:
            self.transport.close()

    async def _paced(self, stream: Stream, head: bytes) -> bool:
        """Sends events one by one; False when the plan cut the connection instead of finishing."""
        for number, event in enumerate(stream.events):
            if stream.cut_after is not None and number >= stream.cut_after:
                self._send(head)
                self.abort()
                return False
            if stream.stall_after is not None and number >= stream.stall_after:
                self._send(head)
                await asyncio.Event().wait()
            if number and stream.interval_s > 0:
                await asyncio.sleep(stream.interval_s)
            if not self.writable.is_set():
                await self.writable.wait()
            self._send(head + _chunk(event))
            head = b""
        self._send(head + b"0\r\n\r\n")
        return True

    def _send(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise _Gone
        if data:
            self.transport.write(data)
