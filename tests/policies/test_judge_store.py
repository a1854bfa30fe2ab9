"""The controller's real judge reads the store tolerantly: an unreadable row is not a crash."""

from __future__ import annotations

from pathlib import Path

from core.store import Store
from evaluator.verdict import Verdict
from policies import load_policy
from policies.runner import store_gate_check
from tests.evaluator.factory import classify_pairs


def test_judge_skips_an_unreadable_row(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.write_pairs(classify_pairs(agree=400, disagree=0))
    store.execute(
        "INSERT INTO pairs (pair_id, ts, key_hash, model, target_model, task, request, served_side, percent,"
        " failover, incumbent, candidate, meta) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            "broken",
            1.0,
            "k",
            "gpt-4o-mini",
            "q:c",
            "classify",
            "{not json",
            "incumbent",
            10,
            0,
            None,
            None,
            "{}",
        ),
    )
    policy = load_policy(None)
    results = store_gate_check(store, policy)(policy.stages[0], 0.0)
    agreement = next(r for r in results if r.gate.metric == "agreement")
    assert agreement.n == 400 and agreement.verdict is Verdict.PASS
