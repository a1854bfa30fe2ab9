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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from mitmproxy import http
from mitmproxy.proxy import server_hooks

from proxy.mitm_internals import server_transport
from proxy.runtime import METADATA_KEY, FlowInfo, Leg, Runtime, client_gave_up
from proxy.sides import SideClient

log = logging.getLogger(__name__)
FAILOVER_HEADER = "x-alveare-failover"
STATUS_LINE_BYTES = 12  # "HTTP/1.1 503"


class Failover:
    def __init__(self, runtime: Runtime, sides: SideClient, master: Any = None) -> None:
        self.runtime = runtime
        self.sides = sides
        self.master = master
        self.current: dict[str, http.HTTPFlow] = {}  # client connection id -> its candidate flow in flight
        self.relays: dict[str, FlowInfo] = {}
        # client connection id -> the reader of its connection to the candidate
        self.readers: dict[str, FailoverReader] = {}
        self.responder: asyncio.Server | None = None

    async def running(self) -> None:
        self.responder = await asyncio.start_server(self._relay, "127.0.0.1", 0)

    async def done(self) -> None:
        if self.responder is not None:
            self.responder.close()
            await self.responder.wait_closed()

    def request(self, flow: http.HTTPFlow) -> None:
        info: FlowInfo = flow.metadata[METADATA_KEY]
        if flow.response is None and info.split and info.side == "candidate":
            self.current[flow.client_conn.id] = flow
            reader = self.readers.get(flow.client_conn.id)
            if reader is not None:
                reader.new_flow.set()

    async def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        flow = self.current.get(data.client.id)
        if flow is None or data.server.address is None or await self._reachable(data.server.address):
            return
        info: FlowInfo = flow.metadata[METADATA_KEY]
        self.switch(info, "candidate refused the connection", status=0)
        assert self.responder is not None
        data.server.address = self.responder.sockets[0].getsockname()[:2]
        self.relays[info.pair_id] = info
        flow.request.headers[FAILOVER_HEADER] = info.pair_id

    def server_connected(self, data: server_hooks.ServerConnectionHookData) -> None:
        io = server_transport(self.master, data.client.id, data.server)
        if io is not None and data.client.id in self.current:
            reader = FailoverReader(io, self, data.client.id, data.server.id)
            io.reader = self.readers[data.client.id] = reader

    def server_disconnected(self, data: server_hooks.ServerConnectionHookData) -> None:
        reader = self.readers.get(data.client.id)
        if reader is not None and reader.server_id == data.server.id:
            del self.readers[data.client.id]

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


class FailoverReader:
    """Stands in for mitmproxy's reader of one candidate connection.

    Until the current flow's status line has arrived, reads are bounded by the first-byte deadline; a timeout, a
    reset, an early EOF or a 5xx status line switches the flow to the incumbent and the reader then yields the
    incumbent's HTTP/1.1 answer (``connection: close``) followed by EOF. While a good answer passes, it is a
    plain pass-through. An idle read (between requests on a kept-alive connection) is woken by the next flow so
    that flow gets its deadline too.
    """

    def __init__(self, io: Any, failover: Failover, client_id: str, server_id: str) -> None:
        self.io = io
        self.inner: asyncio.StreamReader = io.reader
        self.server_id = server_id
        self.failover = failover
        self.client_id = client_id
        self.answering: FlowInfo | None = None  # the flow whose good answer is passing through
        self.replacement: asyncio.Queue[bytes] | None = None
        self.new_flow = asyncio.Event()
        self._pending: asyncio.Task[bytes] | None = None

    async def read(self, n: int = -1) -> bytes:
        while True:
            if self.replacement is not None:
                return await self.replacement.get()
            info = self._candidate_flow()
            if info is not None and info is not self.answering:
                return await self._first_bytes(info, n)
            if not await self._idle_read(n):
                continue  # a new flow started while we waited: it gets its deadline
            # Data arrived. mitmproxy runs hooks as tasks, so this read may have begun while the previous answer
            # was still current: if the data belongs to a newer flow, its status line is checked all the same.
            info = self._candidate_flow()
            if info is not None and info is not self.answering:
                return await self._first_bytes(info, n)
            return self._take()

    def _candidate_flow(self) -> FlowInfo | None:
        flow = self.failover.current.get(self.client_id)
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY) if flow is not None else None
        return info if info is not None and info.side == "candidate" else None

    async def _idle_read(self, n: int) -> bool:
        """Wait for data or for a new flow; True when data (or an error) is ready in the pending read."""
        pending = self._pending = self._pending or asyncio.ensure_future(self.inner.read(n))
        self.new_flow.clear()
        waiter = asyncio.ensure_future(self.new_flow.wait())
        await asyncio.wait({pending, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        return pending.done()

    def _take(self) -> bytes:
        assert self._pending is not None
        task, self._pending = self._pending, None
        return task.result()

    async def _first_bytes(self, info: FlowInfo, n: int) -> bytes:
        timeout = self.failover.runtime.config.failover.first_byte_timeout_s
        deadline = info.started + timeout
        data = b""
        try:
            while len(data) < STATUS_LINE_BYTES:
                self._pending = self._pending or asyncio.ensure_future(self.inner.read(n))
                remaining = max(0.0, deadline - time.perf_counter())
                await asyncio.wait_for(asyncio.shield(self._pending), remaining)
                chunk = self._take()
                if not chunk:
                    return await self._replace(info, "candidate closed the connection without answering", 0)
                data += chunk
        except TimeoutError:
            return await self._replace(info, f"no answer within {timeout:g}s", 0)
        except OSError as exc:
            self._pending = None
            return await self._replace(info, f"candidate connection failed: {exc}", 0)
        status = _status(data)
        if status >= 500:
            return await self._replace(info, f"candidate answered {status}", status)
        self.answering = info
        self.failover.runtime.circuit.record_success()
        return data

    async def _replace(self, info: FlowInfo, reason: str, status: int) -> bytes:
        self.failover.switch(info, reason, status)
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self.io.writer = DetachedWriter(self.io.writer)
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


def _status(data: bytes) -> int:
    parts = data.split(b" ", 2)
    try:
        return int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return 0


def _header(head: bytes, name: str) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.encode():
            return value.strip().decode("latin-1")
    return None
