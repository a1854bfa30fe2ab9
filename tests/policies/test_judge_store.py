"""The controller's real judge reads the store tolerantly: an unreadable row is not a crash."""

from __future__ import annotations

from pathlib import Path

from core import schema
from core.store import Store
from evaluator.verdict import Verdict
from policies import load_policy
from policies.runner import store_gate_check
from tests.evaluator.factory import classify_pairs


def test_judge_skips_an_unreadable_row(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.write_pairs(classify_pairs(agree=400, disagree=0))
    row = {
        "pair_id": "broken", "ts": 1.0, "key_hash": "k", "model": "gpt-4o-mini", "target_model": "q:c",
        "task": "classify", "request": "{not json", "served_side": "incumbent", "percent": 10, "failover": 0,
        "incumbent": None, "candidate": None, "meta": "{}",
    }  # fmt: skip
    with store.engine.begin() as conn:  # a hand-edited row, as a person with sqlite3 could leave it
        conn.execute(schema.pairs.insert().values(**row))
    policy = load_policy(None)
    results = store_gate_check(store, policy)(policy.stages[0], 0.0)
    agreement = next(r for r in results if r.gate.metric == "agreement")
    assert agreement.n == 400 and agreement.verdict is Verdict.PASS
