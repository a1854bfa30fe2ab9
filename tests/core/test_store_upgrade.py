"""A store written before pairs had a `source` column is upgraded in place when opened; replayed pairs are kept
apart from live ones."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from core.store import Store
from tests.evaluator.factory import ok, pair

OLD_PAIRS = """CREATE TABLE pairs (pair_id TEXT PRIMARY KEY, ts REAL NOT NULL, key_hash TEXT NOT NULL,
model TEXT NOT NULL, target_model TEXT NOT NULL, task TEXT NOT NULL, request TEXT NOT NULL,
served_side TEXT NOT NULL, percent REAL NOT NULL, failover INTEGER NOT NULL, incumbent TEXT, candidate TEXT,
meta TEXT NOT NULL)"""


def test_an_old_store_gains_the_source_column_and_keeps_its_pairs(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_PAIRS)
        conn.execute(
            "INSERT INTO pairs VALUES ('old', 1.0, 'k', 'gpt-4o-mini', 'qwen', 'classify', '{}', 'incumbent',"
            " 0, 0, NULL, NULL, '{}')"
        )
    store = Store(path)
    (old,) = store.iter_pairs()
    assert old.pair_id == "old" and old.source == "live"
    store.write_pairs([replace(pair(ok("a"), ok("b"), task="classify"), pair_id="r1", source="replay")])
    assert [p.pair_id for p in store.iter_pairs()] == ["old"]
    assert [p.pair_id for p in store.iter_pairs(source="replay")] == ["r1"]
    assert store.count_pairs(source=None) == 2
    store.close()
    reopened = Store(path)  # the upgrade is idempotent
    assert reopened.count_pairs(source=None) == 2
    columns = [row[1] for row in reopened.execute("PRAGMA table_info(pairs)")]
    assert columns.count("source") == 1
