"""The recorder's worker process: parses finished flows into :class:`Pair` rows and writes them in batches.

It runs apart from the proxy (:class:`proxy.recorder.Recorder` starts it) so that decoding JSON, assembling SSE
streams, redacting and the database's inserts never hold the served path's GIL. Frames arrive on a stream socket
(4-byte length, then a pickled list of :class:`Finished` tuples; length 0 or the socket's end: stop); after each
batch the worker reports its counters on a datagram socket. A batch the store refuses (database unreachable) goes
to a bounded spool on disk (:mod:`proxy.spool`), written, in order, when the store answers again.
"""

from __future__ import annotations

import logging
import pickle
import signal
import socket
import struct
import time
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from mitmproxy.net import encoding

from core.config import RecordSettings
from core.pair import Answer, Pair, Side
from core.store import Store
from proxy import wire
from proxy.redact import redact_pii
from proxy.runtime import Leg
from proxy.spool import Spool
from proxy.sse import CompletionAssembler, SSEEvents, event_data

log = logging.getLogger("proxy.recorder")
HEADER = struct.Struct("!I")
SPOOL_RETRY_S = 1.0
FINAL_STATUS_TIMEOUT_S = 10.0


class Finished(NamedTuple):
    """What the proxy hands over for one split request once it is over: plain values, cheap to pickle."""

    pair_id: str
    key_hash: str
    model: str
    target_model: str
    task: str
    request: bytes | dict[str, Any]  # the request as the app sent it (JSON bytes), or already parsed
    served_side: Side
    percent: float
    failover: bool
    legs: tuple[LegValues, ...]  # a later leg of the same side wins (the served one over a mirror)
    meta: dict[str, Any]


# What the proxy pickles: Finished's fields in a plain tuple.
FinishedValues = tuple[Any, ...]


# A Leg as plain values (pickled several times faster than the dataclass): side, status, chunks, encoding,
# stream, started, first_byte, finished, error.
LegValues = tuple[Side, int, list[bytes], str, bool, float, float | None, float | None, str | None]


def leg_values(leg: Leg) -> LegValues:
    return (
        leg.side,
        leg.status,
        leg.chunks,
        leg.encoding,
        leg.stream,
        leg.started,
        leg.first_byte,
        leg.finished,
        leg.error,
    )


def as_leg(values: LegValues) -> Leg:
    side, status, chunks, encoding_, stream, started, first_byte, finished, error = values
    return Leg(side, status, chunks, [], encoding_, stream, started, first_byte, finished, error)


def leg_answer(leg: Leg) -> Answer:
    """Parse what one side sent into an :class:`Answer`; a broken body becomes an error, never an exception."""
    raw = b"".join(leg.chunks)
    body: dict[str, Any] | None = None
    error = leg.error
    if leg.encoding and leg.encoding != "identity":
        try:
            decoded = encoding.decode(raw, leg.encoding)
            raw = decoded.encode() if isinstance(decoded, str) else decoded
        except ValueError:
            error = error or f"cannot decode a {leg.encoding} body"
    if raw and leg.stream and 200 <= leg.status < 300:
        body, stream_error = _assemble(raw)
        error = error or stream_error
    elif raw:
        try:
            parsed = wire.loads(raw)
            body = parsed if isinstance(parsed, dict) else None
            if body is None:
                error = error or "answer is not a JSON object"
        except ValueError:
            error = error or "malformed JSON answer"
    elif error is None and leg.status:
        error = "empty answer"
    return Answer(
        status=leg.status, body=body, latency_ms=leg.latency_ms(), ttft_ms=leg.ttft_ms(), error=error
    )


def _assemble(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    splitter, assembler = SSEEvents(), CompletionAssembler()
    events = [*splitter.feed(raw), splitter.flush()]
    for event in events:
        payload = event_data(event) if event else None
        if payload is not None:
            assembler.add(payload)
    if assembler.error is not None:
        return {"error": assembler.error}, "error in stream"
    if not assembler.done:
        return assembler.result(), "stream ended without [DONE]"
    return assembler.result(), None


def flow_pair(flow: Finished, *, redact: bool) -> Pair:
    legs = {leg.side: leg for leg in map(as_leg, flow.legs)}
    request = wire.loads(flow.request) if isinstance(flow.request, bytes) else flow.request
    if redact:
        request = redact_pii(request)
    answers = {side: leg_answer(leg) for side, leg in legs.items()}
    if redact:
        answers = {side: _redacted(answer) for side, answer in answers.items()}
    return Pair(
        pair_id=flow.pair_id,
        ts=time.time(),
        key_hash=flow.key_hash,
        model=flow.model,
        target_model=flow.target_model,
        task=flow.task,
        request=request,
        served_side=flow.served_side,
        percent=flow.percent,
        failover=flow.failover,
        incumbent=answers.get("incumbent"),
        candidate=answers.get("candidate"),
        meta=flow.meta,
    )


def _redacted(answer: Answer) -> Answer:
    body = redact_pii(answer.body) if answer.body is not None else None
    return Answer(answer.status, body, answer.latency_ms, answer.ttft_ms, answer.error)


class Frames:
    """Reads length-prefixed frames from a stream socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.ended = False  # the stop frame or the socket's end was seen

    def next(self, timeout: float | None) -> bytes | None:
        """The next frame's payload (waiting up to ``timeout``; 0: only what is already here), or None."""
        while not self.ended:
            frame = self._parse()
            if frame is not None:
                return frame
            self.sock.settimeout(timeout)
            try:
                data = self.sock.recv(1 << 20)
            except (TimeoutError, BlockingIOError):
                return None
            except OSError:
                data = b""
            if not data:
                self.ended = True
            self.buffer += data
        return None

    def _parse(self) -> bytes | None:
        if len(self.buffer) < HEADER.size:
            return None
        (size,) = HEADER.unpack_from(self.buffer)
        if size == 0:
            del self.buffer[: HEADER.size]
            self.ended = True
            return None
        if len(self.buffer) < HEADER.size + size:
            return None
        payload = bytes(self.buffer[HEADER.size : HEADER.size + size])
        del self.buffer[: HEADER.size + size]
        return payload


class PairWriter:
    """Builds rows and writes batches; what the store refuses is spooled, the oldest first when it returns."""

    def __init__(self, store_url: str, settings: RecordSettings) -> None:
        self.store_url = store_url
        self.store: Store | None = None
        self.settings = settings
        self.counts: Counter[str] = Counter()
        self.spool = Spool(Path(settings.spool_dir), settings.spool_max_mb * 1024 * 1024)
        self.spooled = bool(self.spool.files())  # a previous process's leftovers included
        self._spool_retry = 0.0

    def write(self, batch: list[Finished]) -> None:
        pairs = []
        for flow in batch:
            try:
                pairs.append(flow_pair(flow, redact=self.settings.redact_pii))
            except Exception:  # a row we cannot build must not stop the recorder
                log.exception("cannot record pair %s", flow.pair_id)
                self.counts["dropped"] += 1
        try:
            if self.spooled:
                raise ConnectionError("older pairs are still spooled")  # keep the order: spool first
            self.counts["written"] += self._store().write_pairs(pairs)
        except Exception as exc:
            self._keep(pairs, exc)

    def _store(self) -> Store:
        """The store, opened on first use and again after it failed to open (the database may be back)."""
        if self.store is None:
            self.store = Store.open(self.store_url)
        return self.store

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def retry_spool(self, now: bool) -> None:
        if not self.spooled or not (now or time.monotonic() >= self._spool_retry):
            return
        try:
            self.counts["written"] += self.spool.drain(self._store().write_pairs)
        except Exception:
            self._spool_retry = time.monotonic() + SPOOL_RETRY_S
            return
        self.spooled = False
        self.counts["spooled"] = 0
        log.warning("the store is back; spooled pairs written")

    def _keep(self, pairs: list[Pair], exc: Exception) -> None:
        if not self.spooled:
            log.warning("cannot write to the store (%s); spooling pairs to %s", exc, self.spool.folder)
        if self.spool.add(pairs):
            self.spooled = True
            self.counts["spooled"] += len(pairs)
        else:
            log.error("the spool %s is full or unwritable; %d pairs dropped", self.spool.folder, len(pairs))
            self.counts["dropped"] += len(pairs)


def next_batch(frames: Frames, settings: RecordSettings) -> list[Finished]:
    """The flows that arrived within ``flush_interval_s`` of the first one (frames are taken whole, until the batch
    holds ``batch_size`` flows or more)."""
    first = frames.next(settings.flush_interval_s)
    if first is None:
        return []
    batch = flows_in(first)
    _take(frames, batch, settings.batch_size)
    if len(batch) < settings.batch_size and not frames.ended:
        time.sleep(settings.flush_interval_s)  # one wake-up per batch, not one per pair (a backlog: at once)
        _take(frames, batch, settings.batch_size)
    return batch


def _take(frames: Frames, batch: list[Finished], most: int) -> None:
    while len(batch) < most:
        payload = frames.next(0)
        if payload is None:
            return
        batch += flows_in(payload)


def flows_in(payload: bytes) -> list[Finished]:
    values: list[FinishedValues] = pickle.loads(payload)
    return [Finished._make(value) for value in values]


def report(status: socket.socket, writer: PairWriter, seen: int, *, final: bool = False) -> None:
    """Tell the proxy what has been done so far (dropped when its inbox is full: the next report says it all)."""
    message = pickle.dumps({"seen": seen, **writer.counts, "final": final})
    try:
        if final:
            status.settimeout(FINAL_STATUS_TIMEOUT_S)
            status.send(message)
        else:
            status.send(message, socket.MSG_DONTWAIT)
    except OSError:
        pass


def serve(data: socket.socket, status: socket.socket, store_url: str, settings: RecordSettings) -> None:
    """The worker's main function: until the stop frame (or the proxy's end), batch, write, report."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # the proxy stops us once it has sent everything
        signal.signal(sig, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    writer = PairWriter(store_url, settings)
    frames = Frames(data)
    seen = 0
    try:
        while not frames.ended:
            batch = next_batch(frames, settings)
            writer.retry_spool(now=frames.ended)
            if batch:
                seen += len(batch)
                writer.write(batch)
                report(status, writer, seen)
        writer.retry_spool(now=True)
    finally:
        report(status, writer, seen, final=True)
        writer.close()
        data.close()
        status.close()
