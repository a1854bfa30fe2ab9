"""The recorder: hands each finished split flow to a worker process that turns it into a :class:`Pair` row.

The served path appends the flow to a list. Once per event-loop turn, after that turn's answers went out, the
flows are pickled together, as plain tuples of :class:`proxy.record_worker.Finished`'s fields, and written to a
socket, buffered and non-blocking: parsing JSON and SSE, redacting and the store's inserts happen in the worker
(:mod:`proxy.record_worker`), which holds no lock the served path needs. While the worker is behind, flows wait
in a bounded buffer (``record.queue_size`` flows) and beyond it are dropped and counted, never waited for.
``aclose``/``close`` send what is buffered and wait for the worker's last write, so SIGTERM loses nothing that
was served; if the proxy dies, the worker writes what reached it and exits.

The worker is forked from multiprocessing's fork server (started once per process, single-threaded, with the
worker's modules preloaded), so starting one costs milliseconds and never forks the proxy's own threads.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import multiprocessing
import pickle
import socket
import sys
import time
import types
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.config import RecordSettings
from proxy import record_worker
from proxy.record_worker import HEADER, FinishedValues, leg_values
from proxy.runtime import FlowInfo

log = logging.getLogger(__name__)
STOP_FRAME = HEADER.pack(0)
WORKER_MODULES = ["proxy.record_worker"]
FLUSH_DELAY_S = 0.005  # how long a finished flow may wait to be handed over with the next ones


@contextmanager
def _main_script_hidden() -> Iterator[None]:
    """While the worker is started, ``__main__`` is an empty module. multiprocessing runs the parent's main script
    again in each child it starts (to find targets defined there); the worker's target lives in this package, and
    the script of a program embedding the proxy must not run twice (nor fail to, e.g. when it came on stdin)."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def finished(info: FlowInfo) -> FinishedValues:
    """The plain values the worker needs from a split flow: a tuple of :class:`Finished`'s fields (a plain tuple
    pickles in half the time of the named one)."""
    legs = [
        leg_values(leg) for leg in (info.candidate_failure, info.mirrored, info.served) if leg is not None
    ]
    meta: dict[str, Any] = {}
    if info.failover_reason:
        meta["failover_reason"] = info.failover_reason
    if info.upstream_error:
        meta["upstream_error"] = info.upstream_error
    assert info.target is not None
    return (
        info.pair_id,
        info.key_hash,
        info.requested_model,
        info.target.candidate_model,
        info.target.task,
        info.raw_body or info.body,
        info.side,
        info.percent,
        info.failover,
        tuple(legs),
        meta,
    )


def frame(flows: list[FinishedValues]) -> bytes:
    """One frame for ``flows``: its length, then one pickle of them all."""
    payload = pickle.dumps(flows, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


class Recorder:
    def __init__(self, store_url: str, settings: RecordSettings, counts: Counter[str]) -> None:
        self.settings = settings
        self.counts = counts
        self.written = 0
        self.submitted = 0
        self._seen = 0  # flows the worker has taken
        self._dropped_here = 0
        self._dropped_there = 0
        self._fresh: list[FlowInfo] = []  # submitted, not pickled yet
        self._pending: deque[bytes | memoryview] = deque()  # pickled, not sent yet (each chunk: some flows)
        self._pending_counts: deque[int] = deque()
        self._pending_flows = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flush_scheduled = False
        self._watching = False
        self._closed = False
        self._broken = False
        self.data, theirs = socket.socketpair()
        self.status, their_status = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(WORKER_MODULES)
        self.process = context.Process(
            target=record_worker.serve,
            args=(theirs, their_status, store_url, settings),
            name="alveare-recorder",
            daemon=True,
        )
        with _main_script_hidden():
            self.process.start()
        theirs.close()
        their_status.close()
        self.data.setblocking(False)
        self.status.setblocking(False)
        atexit.register(self.close)  # before multiprocessing's own exit handler ends daemonic workers

    # --- the served path --------------------------------------------------------------------------------

    def submit(self, info: FlowInfo) -> bool:
        """Queue ``info``'s pair for the worker; False (dropped, counted) when the buffer is full."""
        waiting = self._pending_flows + len(self._fresh)
        if self._closed or self._broken or waiting >= self.settings.queue_size:
            self._dropped_here += 1
            self.counts["record_dropped"] += 1
            return False
        self._fresh.append(info)  # pickled in _flush, once the answer is on its way to the app
        self.submitted += 1
        if not self._flush_scheduled and not self._watching:
            try:
                loop = self._loop = asyncio.get_running_loop()
            except RuntimeError:
                self._flush()  # no event loop (a tool or a test): write now, never waiting
            else:
                self._flush_scheduled = True
                # the flows finished within FLUSH_DELAY_S, in one write: under load a hand-over (a pickle, a
                # write, a wake of the worker) per loop turn cost more than the pairs it carried
                loop.call_later(FLUSH_DELAY_S, self._flush)
        return True

    def _frame_fresh(self) -> None:
        """Pickle the flows submitted since the last flush, into one frame."""
        if not self._fresh:
            return
        fresh, self._fresh = self._fresh, []
        made: list[tuple[FlowInfo, FinishedValues]] = []
        for info in fresh:
            try:
                made.append((info, finished(info)))
            except Exception:  # a pair we cannot hand over must not stop the others
                self._cannot_send(info)
        values = [value for _, value in made]
        try:
            chunk = frame(values)
        except Exception:  # one of them does not pickle: leave it out, send the rest
            values = []
            for info, value in made:
                try:
                    pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception:
                    self._cannot_send(info)
                else:
                    values.append(value)
            chunk = frame(values)
        if values:
            self._pending.append(chunk)
            self._pending_counts.append(len(values))
            self._pending_flows += len(values)

    def _cannot_send(self, info: FlowInfo) -> None:
        log.exception("cannot record pair %s", info.pair_id)
        self._dropped_here += 1
        self.counts["record_dropped"] += 1
        self.submitted -= 1  # it never reaches the worker

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._closed:
            return  # close() sent what was left
        self._frame_fresh()
        pending = self._pending
        while pending:
            chunk = pending[0]
            try:
                sent = self.data.send(chunk)
            except BlockingIOError:
                break
            except OSError as exc:
                self._lost(exc)
                return
            if sent == len(chunk):
                pending.popleft()
                self._pending_flows -= self._pending_counts.popleft()
            else:
                pending[0] = memoryview(chunk)[sent:]
                break
        self._watch(bool(pending))

    def _watch(self, on: bool) -> None:
        """While the socket is full, write again as soon as it drains (event loop only)."""
        if on == self._watching or self._loop is None or self._loop.is_closed():
            return
        if on:
            self._loop.add_writer(self.data.fileno(), self._flush)
        else:
            self._loop.remove_writer(self.data.fileno())
        self._watching = on

    def _lost(self, exc: OSError) -> None:
        self._broken = True
        lost = self._pending_flows + len(self._fresh)
        self._pending.clear()
        self._pending_counts.clear()
        self._pending_flows = 0
        self._fresh.clear()
        self._dropped_here += lost
        self.counts["record_dropped"] += lost
        log.error("the recorder's worker is gone (%s); %d pairs dropped, recording stopped", exc, lost)
        self._watch(False)

    # --- status -----------------------------------------------------------------------------------------

    def depth(self) -> int:
        """Flows submitted that the worker has not taken yet (also reads the worker's counters)."""
        self._read_status()
        return self.submitted - self._seen

    def _read_status(self) -> bool:
        """Apply the worker's latest reports; True once its final one came."""
        final = False
        while True:
            try:
                message = self.status.recv(65536)
            except (BlockingIOError, TimeoutError):
                return final
            except OSError:
                return True
            if not message:
                return True
            report: dict[str, Any] = pickle.loads(message)
            self._seen = report["seen"]
            self.written = report.get("written", 0)
            self._dropped_there = report.get("dropped", 0)
            self.counts["record_dropped"] = self._dropped_here + self._dropped_there
            self.counts["record_spooled"] = report.get("spooled", 0)
            final = final or report["final"]

    # --- shutdown ---------------------------------------------------------------------------------------

    async def aclose(self, timeout: float = 30.0) -> None:
        """``close`` from the event loop: the loop stops watching the socket first, then the wait runs in a
        thread."""
        self._watch(False)
        self._loop = None
        await asyncio.to_thread(self.close, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Send everything buffered, then wait for the worker to write it all and stop."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        deadline = time.monotonic() + timeout
        self._frame_fresh()
        try:
            self.data.settimeout(timeout)
            while self._pending and not self._broken:
                self.data.sendall(self._pending.popleft())
                self._pending_flows -= self._pending_counts.popleft()
            self.data.sendall(STOP_FRAME)
        except OSError as exc:
            self._lost(exc)
        # It exits once all is written or spooled. Its reports are read meanwhile: a full inbox would hold up its
        # final report (sent blocking, after one per batch that found the inbox full and was dropped).
        while self.process.is_alive() and time.monotonic() < deadline:
            self.process.join(0.05)
            self._read_status()
        self._read_status()  # its last report is waiting
        if self.process.is_alive():
            log.error("the recorder's worker did not finish within %.0fs; stopping it", timeout)
            self.process.terminate()
            self.process.join(5)
        with contextlib.suppress(OSError):
            self.data.close()
            self.status.close()
