"""Failover: a candidate that fails before the client has seen a byte is replaced by the incumbent's answer.

mitmproxy answers a failed upstream with its own 502 and has no first-byte timeout, so we act below it, on the
bytes of the candidate's connection:

- refused or unreachable: each new candidate connection is probed first (``server_connect``); if the probe
  fails, mitmproxy's connection is pointed at an in-process responder that relays the incumbent's answer;
- reset or closed before answering, silent past ``failover.first_byte_timeout_s``, or a 5xx status line: the
  connection's reader is wrapped (``server_connected``) by :class:`FailoverReader`, which then hands mitmproxy
  the incumbent's answer instead, as if the candidate had sent it.

Either way the client gets an ordinary response (streamed if it asked for a stream). Each failover is counted,
feeds the circuit breaker, and is recorded with the candidate's failure.

In reverse mode, a split request that wants a whole answer never reaches mitmproxy's upstream
side: :meth:`Failover.answer_whole` fetches it with :mod:`proxy.direct` under the same rules (the same deadlines,
the same reasons, the incumbent's answer in place of a broken candidate's), which costs a fraction of mitmproxy's
upstream side and our reader under it. The rest above applies to streams and intercept mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mitmproxy import http
from mitmproxy.net.http.http1 import assemble_request_head
from mitmproxy.proxy import server_hooks

from core.pair import Side
from proxy.addons.front import proxy_error
from proxy.addons.upstream import to_incumbent
from proxy.direct import DirectClient, Expired, Unreachable, deadlines_for, expired_reason
from proxy.fields import header, replace_body
from proxy.framing import AnswerParser, BadAnswer, StreamReframer, chunk, error_answer
from proxy.mitm_internals import built_response, interrupt_read, server_transport
from proxy.runtime import METADATA_KEY, FlowInfo, Leg, Runtime, client_gave_up
from proxy.sides import SideClient

log = logging.getLogger(__name__)
FAILOVER_HEADER = "x-alveare-failover"
STREAM_BROKEN_MESSAGE = (
    "The model's answer was interrupted before it was complete. Please retry your request."
)
ANSWER_BROKEN_MESSAGE = (
    "The upstream server did not give a complete answer in time. Please retry your request."
)


class Failover:
    def __init__(
        self, runtime: Runtime, sides: SideClient, master: Any = None, direct: DirectClient | None = None
    ) -> None:
        self.runtime = runtime
        self.sides = sides
        self.master = master
        self.direct = direct  # None: every answer comes through mitmproxy's upstream side and our reader
        self.current: dict[str, http.HTTPFlow] = {}  # client connection id -> its split flow in flight
        self.relays: dict[str, FlowInfo] = {}
        # client connection id -> server connection id -> the reader of that upstream connection
        self.readers: dict[str, dict[str, UpstreamReader]] = {}
        self.responder: asyncio.Server | None = None

    async def running(self) -> None:
        self.responder = await asyncio.start_server(self._relay, "127.0.0.1", 0)

    async def done(self) -> None:
        if self.responder is not None:
            self.responder.close()
            await self.responder.wait_closed()

    def request(self, flow: http.HTTPFlow) -> Callable[[], Awaitable[None]] | None:
        """A split request wanting a whole answer is answered by :meth:`answer_whole` once every request hook
        has run (the chain calls what this returns); any other split request is read by
        :class:`UpstreamReader`."""
        info: FlowInfo = flow.metadata[METADATA_KEY]
        if flow.response is None and info.split:
            if self.direct is not None and not info.stream:
                return lambda: self.answer_whole(flow, info)
            self.current[flow.client_conn.id] = flow
            for reader in self.readers.get(flow.client_conn.id, {}).values():
                if reader.idle:
                    reader.wake()
        return None

    # --- whole answers, fetched directly (proxy.direct) -------------------------------------------------

    async def answer_whole(self, flow: http.HTTPFlow, info: FlowInfo) -> None:
        """Fetch the chosen side's whole answer into ``flow.response``, with the reader's rules: a candidate
        that is unreachable, resets, cuts its body, times out, answers 5xx or malformed JSON is replaced by the
        incumbent's answer; a broken incumbent answer becomes OpenAI's 502 or 504 error."""
        if info.side == "candidate":
            parser: AnswerParser | None = None
            try:
                parser = await self._exchange(flow, info, info.started)
                if parser.status >= 500:
                    raise BadAnswer(f"candidate answered {parser.status}")
                parser.check_json()
            except Unreachable:
                self.switch(info, "candidate refused the connection", status=0)
            except (BadAnswer, Expired) as exc:
                status = parser.status if parser is not None and isinstance(exc, BadAnswer) else 0
                self.switch(info, str(exc), status)
            else:
                self.runtime.circuit.record_success()
                flow.response = answer_response(parser)
                return
            request = flow.request
            request.headers.fields = info.client_fields  # the app's headers, before the candidate's rewrite
            request.path = info.client_path  # without the candidate's base path
            to_incumbent(self.runtime, flow, info)
            replace_body(request, info.raw_body)
            started = time.perf_counter()  # the incumbent's deadlines count from here, as a relay's did
        else:
            started = info.started
        try:
            parser = await self._exchange(flow, info, started)
        except Unreachable as exc:
            self.ended(info, "incumbent", f"unreachable: {exc}")
            flow.response = proxy_error(502)
        except (BadAnswer, Expired) as exc:
            self.ended(info, "incumbent", str(exc))
            flow.response = answer_response(
                parsed(error_answer(504 if isinstance(exc, Expired) else 502, ANSWER_BROKEN_MESSAGE))
            )
        else:
            flow.response = answer_response(parser)

    def ended(self, info: FlowInfo, side: Side, reason: str) -> None:
        """We end ``side``'s answer ourselves (after a failover, if any): record why and count it."""
        info.upstream_error = f"{side}: {reason}"
        if info.served is not None:
            info.served.error = info.upstream_error
        if side == "candidate":
            self.runtime.circuit.record_failure()
        self.runtime.counts["upstream_errors"] += 1
        log.warning("%s %s: %s", side, info.pair_id, reason)

    async def _exchange(self, flow: http.HTTPFlow, info: FlowInfo, started: float) -> AnswerParser:
        assert self.direct is not None
        deadlines = deadlines_for(self.runtime.config, info.side)
        request = flow.request
        address = (request.host, request.port, request.scheme == "https")
        return await self.direct.exchange(address, request_bytes(request), started, deadlines)

    async def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        flow = self.current.get(data.client.id)
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY) if flow is not None else None
        if info is None or info.side != "candidate" or data.server.address is None:
            return
        if await self._reachable(data.server.address):
            return
        assert flow is not None
        self.switch(info, "candidate refused the connection", status=0)
        assert self.responder is not None
        data.server.address = self.responder.sockets[0].getsockname()[:2]
        self.relays[info.pair_id] = info
        flow.request.headers[FAILOVER_HEADER] = info.pair_id

    def server_connected(self, data: server_hooks.ServerConnectionHookData) -> None:
        flow = self.current.get(data.client.id)
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY) if flow is not None else None
        if info is None or self._is_responder(data.server.address):
            return
        io = server_transport(self.master, data.client.id, data.server)
        if io is not None:
            reader = UpstreamReader(
                io, self, data.client.id, data.server, info.side, blind=bool(data.server.tls)
            )
            io.reader = self.readers.setdefault(data.client.id, {})[data.server.id] = reader
            io.writer = QuietWriter(io.writer)

    def server_disconnected(self, data: server_hooks.ServerConnectionHookData) -> None:
        readers = self.readers.get(data.client.id, {})
        reader = readers.pop(data.server.id, None)
        if reader is not None:
            reader.stop_timer()
        if not readers:
            self.readers.pop(data.client.id, None)

    def _is_responder(self, address: Any) -> bool:
        if self.responder is None or address is None:
            return False
        return tuple(address) == tuple(self.responder.sockets[0].getsockname()[:2])

    def response(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        info = self._finish(flow)
        candidate_failed = (
            info is not None and info.split and info.side == "candidate" and flow.response is None
        )
        if candidate_failed and not client_gave_up(flow):
            self.runtime.circuit.record_failure()

    def _finish(self, flow: http.HTTPFlow) -> FlowInfo | None:
        if self.current.get(flow.client_conn.id) is flow:
            del self.current[flow.client_conn.id]
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        return info

    def switch(self, info: FlowInfo, reason: str, status: int) -> None:
        """From now on this flow is served by the incumbent; the candidate's failure is kept for the record."""
        info.candidate_failure = Leg(
            side="candidate", status=status, started=info.started, finished=time.perf_counter(), error=reason
        )
        info.side, info.failover, info.failover_reason = "incumbent", True, reason
        self.runtime.counts["failovers"] += 1
        self.runtime.circuit.record_failure()
        log.warning("failover %s: %s", info.pair_id, reason)

    async def _reachable(self, address: tuple[str, int]) -> bool:
        timeout = self.runtime.config.failover.connect_timeout_s
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()  # the probe's socket closed now, not at some later loop turn
        return True

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The in-process responder a refused candidate connection is pointed at."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            info = self.relays.pop(_header(head, FAILOVER_HEADER) or "", None)
            if info is None:
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                return

            async def write(data: bytes) -> None:
                writer.write(data)
                await writer.drain()

            await self.sides.relay_incumbent(info, write)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            log.warning("failover relay: %s", exc)
        finally:
            with contextlib.suppress(OSError):
                writer.close()


class UpstreamReader:
    """Stands in for mitmproxy's reader of one upstream connection used by split requests (either side).

    For the current flow it parses the answer first (:mod:`proxy.framing`), within the side's deadlines: the
    first byte (``failover.first_byte_timeout_s`` for the candidate, ``idle_timeout_s`` for the incumbent), each
    silence (``idle_timeout_s``) and the whole answer (``timeout_s``), all counted from the request's start.

    - A whole answer is held until complete (and, from the candidate, until its JSON parses). A candidate that
      times out, resets, cuts its body, answers 5xx or malformed JSON is replaced by the incumbent's answer
      (the reader then yields that, ``connection: close``, then EOF); a broken incumbent answer becomes OpenAI's
      502 or 504 error.
    - A stream passes event by event; if it stalls or breaks, it ends with one OpenAI error event. The reason
      is logged and recorded with the pair.

    An idle read (between requests on a kept-alive connection) is woken by the next flow so that flow gets its
    deadlines too.
    """

    def __init__(
        self, io: Any, failover: Failover, client_id: str, server: Any, side: Side, *, blind: bool = False
    ) -> None:
        self.io = io
        self.blind = blind  # a TLS connection: its bytes are ciphertext, only the deadlines apply
        self._blind_bytes = 0
        self.inner: asyncio.StreamReader = io.reader
        self.server_id = server.id
        self.address = tuple(server.address)
        self.side = side
        self._deadlines = deadlines_for(failover.runtime.config, side)
        self.failover = failover
        self.client_id = client_id
        self.answering: FlowInfo | None = None  # the flow whose answer is being read or has passed
        self.parser: AnswerParser | None = None
        self.reframer: StreamReframer | None = None
        self.replacement: asyncio.Queue[bytes] | None = None
        self.closed = False  # we ended an answer ourselves: the connection is done
        self.idle = False  # reading between answers, with no deadline until a flow of ours starts (wake)
        # Deadlines: the loop time by which the read in progress must return. One timer per reader, re-armed
        # only when it fires before the deadline (which each read moves later), not set and cancelled per read.
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._cut = False  # the timer interrupted the read in progress
        self._loop = asyncio.get_running_loop()

    async def read(self, n: int = -1) -> bytes:
        if self.blind and self.replacement is None:
            return await self._blind_read(n)
        while True:
            if self.replacement is not None:
                return await self.replacement.get()
            if self.closed:
                return b""
            info = self._my_flow()
            if info is not None and info is not self.answering:
                return await self._start(info, n)
            if self.answering is not None and self.reframer is not None:
                return await self._stream_more(self.answering, n)
            data = await self._idle_read(n)
            if data is None:
                continue  # a new flow started while we waited: it gets its deadlines
            # Data arrived. mitmproxy runs hooks as tasks, so this read may have begun while the previous answer
            # was still current: if the data belongs to a newer flow, it is checked all the same.
            info = self._my_flow()
            if info is not None and info is not self.answering:
                return await self._start(info, n, data)
            return data

    async def _blind_read(self, n: int) -> bytes:
        """Over TLS the answer cannot be judged, only timed: a silent candidate (no byte since the request) still
        fails over; past that, a deadline ends the connection and mitmproxy answers OpenAI's 502 (or the stream
        stops). The reason is recorded all the same."""
        while not self.closed:
            info = self._my_flow()
            if info is None:
                data = await self._idle_read(n)
                if data is None:
                    continue
                arrived = self._my_flow()
                if arrived is not None and arrived is not self.answering:  # the new flow's first bytes
                    self.answering, self._blind_bytes = arrived, len(data)
                return data
            if info is not self.answering:
                self.answering, self._blind_bytes = info, 0
            first = self._blind_bytes == 0
            silent = first and self._deadlines.first_byte is not None  # the candidate, no byte yet
            try:
                chunk = await self._read_within(n, info, first)
            except Expired as exc:
                if self._my_flow() is not info:
                    continue  # that answer was complete after all: wait for the next one
                if silent:
                    return await self._replace(info, str(exc), 0)
                self._ended(info, str(exc))
                return b""
            except BadAnswer:
                return b""
            self._blind_bytes += len(chunk)
            return chunk
        return b""

    def _my_flow(self) -> FlowInfo | None:
        flow = self.failover.current.get(self.client_id)
        if flow is None or (flow.request.host, flow.request.port) != self.address:
            return None
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        return info if info is not None and info.side == self.side else None

    async def _idle_read(self, n: int) -> bytes | None:
        """Read with no deadline until a new flow of ours starts (``wake``), then within that flow's first
        deadline: the read goes on (data that comes is that flow's answer); None when the deadline passed."""
        self.idle = True
        try:
            return await self._read(n, None)
        finally:
            self.idle = False

    def wake(self) -> None:
        """A flow started: an idle read of ours gets that flow's first deadline."""
        info = self._my_flow()
        if info is None or info is self.answering:
            return  # not ours, or its answer is being read already
        self._until(self._deadline_of(info, awaiting_first_byte=True)[0])

    async def _read(self, n: int, wait: float | None) -> bytes | None:
        """One read of the connection within ``wait`` seconds (None: until :meth:`wake` sets a deadline); None
        when the deadline passed first (any data that comes later stays buffered)."""
        if wait is not None:
            self._until(wait)
        try:
            return await self.inner.read(n)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._cut and task is not None and not task.cancelling():
                return None  # our deadline, not a cancellation of the connection
            raise
        finally:
            self._deadline, self._cut = None, False

    def _until(self, wait: float) -> None:
        """The read in progress must end ``wait`` seconds from now; the timer moves only if that is sooner."""
        deadline = self._deadline = self._loop.time() + max(0.0, wait)
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        """Interrupt the read if its deadline passed; if the deadline moved on, wait for it instead."""
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return  # no read under a deadline now: the next one arms the timer again
        if self._loop.time() < deadline:
            self._timer = self._loop.call_at(deadline, self._on_timer)  # the read's deadline moved on
        elif interrupt_read(self.inner):
            self._cut = True

    def stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _deadline_of(self, info: FlowInfo, awaiting_first_byte: bool) -> tuple[float, str, float]:
        """Seconds left for the next read of ``info``'s answer, and which limit they are (``Deadlines.due``)."""
        now = time.perf_counter()
        when, kind, limit = self._deadlines.due(info.started, now, awaiting_first_byte)
        return when - now, kind, limit

    async def _read_within(self, n: int, info: FlowInfo, awaiting_first_byte: bool = False) -> bytes:
        """One read, fed to the parser, bounded by the side's deadlines (the first-byte one while
        ``awaiting_first_byte``)."""
        wait, kind, limit = self._deadline_of(info, awaiting_first_byte)
        try:
            chunk = await self._read(n, wait)
        except OSError as exc:
            raise BadAnswer(f"connection failed: {exc!r}") from None
        if chunk is None:
            raise Expired(expired_reason(kind, limit))
        if self.parser is not None:
            self.parser.feed(chunk)
        return chunk

    async def _start(self, info: FlowInfo, n: int, arrived: bytes | None = None) -> bytes:
        """Read (and judge) the answer to ``info``; ``arrived``: its first bytes, read while idle."""
        self.answering, self.parser, self.reframer = info, AnswerParser(), None
        raw = b""
        try:
            if arrived is not None:
                self.parser.feed(arrived)
                raw = arrived
            while self.parser.response is None:
                raw += await self._read_within(n, info, awaiting_first_byte=True)  # until the head
            if self.side == "candidate" and self.parser.status >= 500:
                return await self._broken(
                    info, f"candidate answered {self.parser.status}", self.parser.status
                )
            if self.parser.is_stream:
                self._succeeded()
                self.reframer = StreamReframer()
                head = self.reframer.head(self.parser.response)
                return head + await self._stream_more(info, n, self.reframer.body(self.parser.take()))
            while not self.parser.done:
                raw += await self._read_within(n, info)
            if self.side == "candidate":
                self.parser.check_json()
        except (BadAnswer, Expired) as exc:
            return await self._broken(info, str(exc), self.parser.status if isinstance(exc, BadAnswer) else 0)
        self._succeeded()
        return raw

    async def _stream_more(self, info: FlowInfo, n: int, ready: bytes = b"") -> bytes:
        """The next whole events of a stream (never b"" before its end), or its clean end on a failure."""
        parser, reframer = self.parser, self.reframer
        assert parser is not None and reframer is not None
        out = ready
        try:
            while not out and not parser.done:
                await self._read_within(n, info)
                out = reframer.body(parser.take())
        except (BadAnswer, Expired) as exc:
            self.reframer = None
            self._ended(info, str(exc))
            return out + reframer.fail(STREAM_BROKEN_MESSAGE)
        if parser.done:
            self.reframer = None
            out += reframer.end()
        return out

    def _succeeded(self) -> None:
        if self.side == "candidate":
            self.failover.runtime.circuit.record_success()

    async def _broken(self, info: FlowInfo, reason: str, status: int) -> bytes:
        """A whole answer (or a stream's head) that failed before the client saw a byte of it."""
        if self.side == "candidate":
            return await self._replace(info, reason, status)
        self._ended(info, reason)
        timed_out = reason.startswith(("no answer", "silent", "answer not complete"))
        return error_answer(504 if timed_out else 502, ANSWER_BROKEN_MESSAGE)

    def _ended(self, info: FlowInfo, reason: str) -> None:
        """We end this answer ourselves: record why, and let nothing more use the connection."""
        self.failover.ended(info, self.side, reason)
        self._detach()

    def _detach(self) -> None:
        self.closed = True
        self.io.writer = DetachedWriter(self.io.writer)

    async def _replace(self, info: FlowInfo, reason: str, status: int) -> bytes:
        self.failover.switch(info, reason, status)
        self._detach()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.replacement = queue

        async def write(data: bytes) -> None:
            if data:
                queue.put_nowait(data)

        async def produce() -> None:
            try:
                await self.failover.sides.relay_incumbent(info, write)
            finally:
                queue.put_nowait(b"")  # EOF: the answer is delimited by the connection's end

        task = asyncio.get_running_loop().create_task(produce())
        info.background.add(task)
        task.add_done_callback(info.background.discard)
        return await queue.get()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class QuietWriter:
    """The writer of a guarded upstream connection. mitmproxy cancels a connection whose write fails, before its
    reader can judge the answer; an upstream that resets as it accepts is then a 502 instead of a failover. The
    failed write is left to show as the failed read it always comes with, which the reader handles."""

    def __init__(self, inner: asyncio.StreamWriter) -> None:
        self.inner = inner
        self.write = inner.write  # every write: found here, not through __getattr__

    async def drain(self) -> None:
        with contextlib.suppress(OSError):
            await self.inner.drain()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class DetachedWriter:
    """Replaces the writer of a candidate connection we have given up on: mitmproxy may still drain or close
    it, but nothing more goes to the candidate, and its errors must not cancel the replacement answer."""

    def __init__(self, inner: asyncio.StreamWriter) -> None:
        self.inner = inner
        with contextlib.suppress(OSError):
            inner.close()

    def write(self, data: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        pass

    def write_eof(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return False

    def is_closing(self) -> bool:
        return True

    async def wait_closed(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.inner.get_extra_info(name, default)


def request_bytes(request: http.Request) -> bytes:
    """``request`` as mitmproxy's HTTP/1 client would send it: its head, then its body (chunked again when a
    ``transfer-encoding`` frames it; mitmproxy holds the body de-chunked)."""
    body = request.raw_content or b""
    if "chunked" in header(request.headers, b"transfer-encoding").lower():
        body = chunk(body) + b"0\r\n\r\n"
    head: bytes = assemble_request_head(request)
    return head + body


def parsed(raw: bytes) -> AnswerParser:
    """A whole answer we made ourselves, parsed as an upstream's would be."""
    parser = AnswerParser()
    parser.feed(raw)
    return parser


def answer_response(parser: AnswerParser) -> http.Response:
    """The complete answer ``parser`` holds, as mitmproxy's response (its headers as the upstream sent them)."""
    head = parser.response
    assert head is not None and parser.done
    response: http.Response = built_response(
        head.http_version,
        head.status_code,
        head.reason,
        http.Headers(head.headers),
        parser.take(),
        time.time(),
    )
    return response


def _header(head: bytes, name: str) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.encode():
            return value.strip().decode("latin-1")
    return None
