"""The recorder: turns finished flows into :class:`Pair` rows and writes them in batches, off the served path.

The served path only appends to a bounded queue (never blocks: when full, the row is dropped and counted). A
thread parses the captured bytes (JSON or SSE), optionally redacts PII, and writes batches to the store; a batch
the store refuses (database unreachable) goes to a bounded spool on disk (:mod:`proxy.spool`), written, in order,
when the store answers again. ``close``
drains what is queued, so SIGTERM loses nothing that was served.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from mitmproxy.net import encoding

from core.config import RecordSettings
from core.pair import Answer, Pair
from core.store import Store
from proxy.redact import redact_pii
from proxy.runtime import FlowInfo, Leg
from proxy.spool import Spool
from proxy.sse import CompletionAssembler, SSEEvents, event_data

log = logging.getLogger(__name__)
_STOP = object()
SPOOL_RETRY_S = 1.0


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
            parsed = json.loads(raw)
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


def flow_pair(info: FlowInfo, *, redact: bool) -> Pair:
    legs: dict[str, Leg] = {}
    for leg in (info.candidate_failure, info.mirrored, info.served):
        if leg is not None:
            legs[leg.side] = leg  # the served leg wins over a mirror of the same side
    request = redact_pii(info.body) if redact else info.body
    answers = {side: leg_answer(leg) for side, leg in legs.items()}
    if redact:
        answers = {side: _redacted(answer) for side, answer in answers.items()}
    assert info.target is not None
    return Pair(
        pair_id=info.pair_id,
        ts=time.time(),
        key_hash=info.key_hash,
        model=info.requested_model,
        target_model=info.target.candidate_model,
        task=info.target.task,
        request=request,
        served_side=info.side,
        percent=info.percent,
        failover=info.failover,
        incumbent=answers.get("incumbent"),
        candidate=answers.get("candidate"),
        meta=_meta(info),
    )


def _meta(info: FlowInfo) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if info.failover_reason:
        meta["failover_reason"] = info.failover_reason
    if info.upstream_error:
        meta["upstream_error"] = info.upstream_error
    return meta


def _redacted(answer: Answer) -> Answer:
    body = redact_pii(answer.body) if answer.body is not None else None
    return Answer(answer.status, body, answer.latency_ms, answer.ttft_ms, answer.error)


class Recorder:
    def __init__(self, store: Store, settings: RecordSettings, counts: Counter[str]) -> None:
        self.store = store
        self.settings = settings
        self.counts = counts
        self.queue: queue.Queue[object] = queue.Queue(maxsize=settings.queue_size)
        self.written = 0
        # what the store could not take waits on disk (a previous process's leftovers included)
        self.spool = Spool(Path(settings.spool_dir), settings.spool_max_mb * 1024 * 1024)
        self._spooled = bool(self.spool.files())
        self._spool_retry = 0.0
        self._thread = threading.Thread(target=self._run, name="alveare-recorder", daemon=True)
        self._thread.start()

    def submit(self, info: FlowInfo) -> bool:
        try:
            self.queue.put_nowait(info)
        except queue.Full:
            self.counts["record_dropped"] += 1
            return False
        return True

    def depth(self) -> int:
        return self.queue.qsize()

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the thread."""
        self.queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._next_batch()
            if self._spooled and (stopping or time.monotonic() >= self._spool_retry):
                self._write_spool()
            if batch:
                self._write(batch)

    def _next_batch(self) -> tuple[list[FlowInfo], bool]:
        """The pairs queued within ``flush_interval_s`` of the first one (at most ``batch_size``).

        Between the first pair and the write the thread sleeps instead of waking for every pair: each wake-up
        would take the GIL from the served path, once per request."""
        try:
            first = self.queue.get(timeout=self.settings.flush_interval_s)
        except queue.Empty:
            return [], False
        if first is _STOP:
            return self._drain(), True
        assert isinstance(first, FlowInfo)
        batch = [first]
        if self.queue.qsize() < self.settings.batch_size:  # a backlog is written at once
            time.sleep(self.settings.flush_interval_s)
        while len(batch) < self.settings.batch_size:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch + self._drain(), True
            assert isinstance(item, FlowInfo)
            batch.append(item)
        return batch, False

    def _drain(self) -> list[FlowInfo]:
        rest: list[FlowInfo] = []
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return rest
            if isinstance(item, FlowInfo):
                rest.append(item)

    def _write(self, batch: list[FlowInfo]) -> None:
        pairs = []
        for info in batch:
            try:
                pairs.append(flow_pair(info, redact=self.settings.redact_pii))
            except Exception:  # a row we cannot build must not stop the recorder
                log.exception("cannot record pair %s", info.pair_id)
                self.counts["record_dropped"] += 1
        try:
            if self._spooled:
                raise ConnectionError("older pairs are still spooled")  # keep the order: spool first
            self.written += self.store.write_pairs(pairs)
        except Exception as exc:
            self._keep(pairs, exc)

    def _keep(self, pairs: list[Pair], exc: Exception) -> None:
        """The store refused a batch: put it in the spool (or, spool full, drop and count it)."""
        if not self._spooled:
            log.warning("cannot write to the store (%s); spooling pairs to %s", exc, self.spool.folder)
        if self.spool.add(pairs):
            self._spooled = True
            self.counts["record_spooled"] += len(pairs)
        else:
            log.error("the spool %s is full or unwritable; %d pairs dropped", self.spool.folder, len(pairs))
            self.counts["record_dropped"] += len(pairs)

    def _write_spool(self) -> None:
        try:
            self.written += self.spool.drain(self.store.write_pairs)
        except Exception:
            self._spool_retry = time.monotonic() + SPOOL_RETRY_S
            return
        self._spooled = False
        self.counts["record_spooled"] = 0
        log.warning("the store is back; spooled pairs written")
