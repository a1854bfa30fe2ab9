"""The recorder never blocks the served path: a full queue drops rows and counts them; close() flushes the rest."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

from core.config import RecordSettings
from core.store import Store
from proxy.recorder import Recorder
from proxy.routing import Target
from proxy.runtime import FlowInfo, Leg


def finished_flow(n: int) -> FlowInfo:
    info = FlowInfo(
        pair_id=f"p{n}", started=0.0, requested_model="gpt-4o-mini", body={"model": "gpt-4o-mini"}
    )
    info.target = Target("qwen:classify", "classify")
    info.served = Leg(side="incumbent", status=200, chunks=[b'{"choices":[]}'], started=0.0, finished=0.001)
    return info


def test_overflow_drops_and_counts_without_blocking_then_close_flushes(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store.open(f"sqlite:///{path}")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database: the recorder's batch waits
    counts: Counter[str] = Counter()
    recorder = Recorder(store, RecordSettings(queue_size=5, batch_size=2, flush_interval_s=0.01), counts)
    started = time.monotonic()
    accepted = sum(recorder.submit(finished_flow(n)) for n in range(50))
    assert time.monotonic() - started < 0.5  # submitting never waited for the store
    assert counts["record_dropped"] == 50 - accepted and accepted <= 5 + 2 + 1
    blocker.execute("COMMIT")
    blocker.close()
    recorder.close()
    assert store.count_pairs() == accepted == recorder.written
