"""How often do the summary checks get it wrong? False accept and false reject on the labelled set
tests/evaluator/data/summary_facts.jsonl (pairs written by hand: meaning kept, or meaning changed by a swapped
party, an antonym, a changed figure, currency, date, score order, a new name, an unsupported sentence or a
truncation).

Three deciders: the embedding alone (cosine >= the similarity threshold), the rules alone (guards and fact
checks flag nothing), and what the similarity gate uses (both). ``dev`` rows are the ones the rules were
written against; ``heldout`` rows were written afterwards and measured once, without tuning.

    python bench/summary_checks.py            # all-MiniLM-L6-v2 on CPU, one thread (about 10 s)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluator import facts, guards  # noqa: E402
from evaluator.embed import cosine_similarities  # noqa: E402
from evaluator.scoring import SIMILARITY_THRESHOLD  # noqa: E402

DATA = ROOT / "tests" / "evaluator" / "data" / "summary_facts.jsonl"


def main() -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    cosines = cosine_similarities([(r["incumbent"], r["candidate"]) for r in rows], threads=1)
    print(f"{len(rows)} labelled pairs; accept = judged to say the same thing")
    print(f"{'split':<8} {'decider':<24} {'false accept':>14} {'false reject':>14}")
    for split in ("dev", "heldout", "all"):
        chosen = [(r, c) for r, c in zip(rows, cosines, strict=True) if split in ("all", r["split"])]
        for name, accept in (
            (f"cosine >= {SIMILARITY_THRESHOLD}", lambda r, c: c >= SIMILARITY_THRESHOLD),
            ("rules (no flag)", lambda r, c: not _flags(r)),
            ("similarity gate (both)", lambda r, c: c >= SIMILARITY_THRESHOLD and not _flags(r)),
        ):
            changed = [accept(r, c) for r, c in chosen if not r["same"]]
            same = [not accept(r, c) for r, c in chosen if r["same"]]
            print(f"{split:<8} {name:<24} {sum(changed):>4}/{len(changed):<3} {sum(changed) / len(changed):>5.1%} "
                  f"{sum(same):>4}/{len(same):<3} {sum(same) / len(same):>5.1%}")  # fmt: skip


def _flags(row: dict[str, str]) -> list[guards.Flag]:
    return guards.check(row["incumbent"], row["candidate"], row["source"]) + facts.check(
        row["incumbent"], row["candidate"], row["source"]
    )


if __name__ == "__main__":
    main()
