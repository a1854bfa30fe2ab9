"""Fact checks for summaries: the audit's meaning changes are flagged, paraphrases are not, and the labelled set
(tests/evaluator/data/summary_facts.jsonl) keeps its false accept / false reject rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.pair import Answer
from evaluator import facts, guards
from evaluator.scoring import score_pairs
from tests.evaluator.factory import completion, ok, pair, request

DATA = Path(__file__).parent / "data" / "summary_facts.jsonl"
SOURCE = (
    "Under the settlement, Acme Corp must pay Globex Inc. $2 million by March 3. The trial enrolled 2092 "
    "patients at 52 sites. The board approved the merger. Sales rose 12%. The Hawks won the final 7-2."
)
REFERENCE = (
    "Acme must pay Globex $2 million by March 3. The trial enrolled 2092 patients. The board approved the "
    "merger. Sales rose 12%. The Hawks won the final 7-2."
)


def _changed(old: str, new: str) -> str:
    assert old in REFERENCE
    return REFERENCE.replace(old, new)


@pytest.mark.parametrize(
    ("candidate", "guard"),
    [
        (_changed("Acme must pay Globex", "Globex must pay Acme"), "roles"),
        (_changed("$2 million", "EUR 2 million"), "quantity"),
        (_changed("$2 million", "two billion dollars"), "quantity"),
        (_changed("March 3", "May 3"), "date"),
        (_changed("2092 patients", "52 patients"), "quantity"),  # 52 is in the source, as sites
        (_changed("approved", "rejected"), "polarity"),
        (_changed("rose", "fell"), "polarity"),
        (_changed("7-2", "2-7"), "order"),
        (REFERENCE + " The chief executive resigned over an accounting scandal.", "unsupported"),
        (REFERENCE[:60], "truncated"),
    ],
)
def test_the_audits_meaning_changes_are_flagged(candidate: str, guard: str) -> None:
    """Each of these was accepted before (cosine >= 0.75, no guard flag)."""
    flags = facts.check(REFERENCE, candidate, SOURCE)
    assert guard in {f.guard for f in flags}, flags


@pytest.mark.parametrize(
    "candidate",
    [
        REFERENCE,
        "Globex is to be paid $2 million by Acme by March 3. 2,092 patients were enrolled in the trial. "
        "The merger was approved by the board. Sales increased 12%. The Hawks won the final 7-2.",
        "Acme owes Globex two million dollars, due March 3; the board approved the merger.",
    ],
)
def test_paraphrases_are_not_flagged(candidate: str) -> None:
    assert facts.check(REFERENCE, candidate, SOURCE) == []


def test_a_length_cut_answer_is_flagged_from_its_finish_reason() -> None:
    body = completion("Acme must pay Globex $2 million by March 3.")  # reads as complete; it was cut
    body["choices"][0]["finish_reason"] = "length"
    cut = pair(ok(REFERENCE), Answer(200, body, 300.0), task="summarise", req=request(SOURCE))
    score = score_pairs([cut], similarity=False).scores[0]
    assert [f.guard for f in score.flags] == ["truncated"]


def _rates(split: str) -> tuple[float, float]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r["split"] == split]
    flagged = [
        bool(guards.check(r["incumbent"], r["candidate"], r["source"]))
        or bool(facts.check(r["incumbent"], r["candidate"], r["source"]))
        for r in rows
    ]
    changed = [not f for r, f in zip(rows, flagged, strict=True) if not r["same"]]
    kept = [f for r, f in zip(rows, flagged, strict=True) if r["same"]]
    assert len(changed) >= 15 and len(kept) >= 10
    return sum(changed) / len(changed), sum(kept) / len(kept)


def test_labelled_set_rates_do_not_regress() -> None:
    """docs/evaluator.md gives the measured rates; these bounds only keep them from silently getting worse."""
    assert _rates("dev") <= (0.05, 0.05)
    false_accept, false_reject = _rates("heldout")
    assert false_accept <= 0.2 and false_reject <= 0.25
