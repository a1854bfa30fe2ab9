"""The recorder's spool on its own: batches the store refuses wait on disk in order, a full spool drops and
counts, and what a stopped process left is written by the next one."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from core.config import RecordSettings
from core.store import Store
from proxy.recorder import Recorder
from proxy.spool import Spool
from tests.evaluator.factory import classify_pairs
from tests.proxy.test_recorder import finished_flow


def test_spooled_batches_come_back_in_order_and_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=10_000_000)
    first, second = classify_pairs(agree=3, disagree=0), classify_pairs(agree=2, disagree=0)
    assert spool.add(first) and spool.add(second)
    batches: list[list[str]] = []
    assert spool.drain(lambda pairs: batches.append([p.pair_id for p in pairs]) or len(pairs)) == 5
    assert batches == [[p.pair_id for p in first], [p.pair_id for p in second]]
    assert spool.files() == []


def test_a_full_spool_refuses_the_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=2_000)
    assert not spool.add(classify_pairs(agree=50, disagree=0))
    assert spool.files() == []


def test_a_spool_left_by_a_stopped_proxy_is_written_by_the_next(tmp_path: Path) -> None:
    settings = RecordSettings(flush_interval_s=0.01, spool_dir=str(tmp_path / "spool"))
    Spool(Path(settings.spool_dir), 10_000_000).add(classify_pairs(agree=4, disagree=0))
    store = Store.open(f"sqlite:///{tmp_path / 's.sqlite'}")
    recorder = Recorder(f"sqlite:///{tmp_path / 's.sqlite'}", settings, Counter())
    recorder.submit(finished_flow(1))
    recorder.close()
    assert store.count_pairs() == 5 and recorder.written == 5
    assert list((tmp_path / "spool").glob("*.jsonl")) == []
    store.close()
