"""The demo's parity reports: one over every pair it recorded, and one per stage the rollout went through
(each stage's pairs are the evidence for the decision that ended it)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import RolloutEntry, Store
    from policies.model import Policy


def write_reports(store: Store, policy: Policy, config: Settings, out: Path) -> list[Path]:
    """The parity reports over every recorded pair in ``out``, and one per stage in ``out/stage-N``."""
    from evaluator import build_report
    from evaluator import write_reports as write
    from evaluator.formats import FORMATS

    gates = list(dict.fromkeys(g for stage in policy.stages for g in policy.gates_for(stage)))

    def report(pairs: Any, where: Path, filters: dict[str, Any]) -> list[Path]:
        built = build_report(
            pairs,
            gates,
            settings=config.evaluation,
            pricing=config.pricing,
            candidate_cost=config.candidate_cost,
            filters=filters,
            progress=False,
            ignore_idle=policy.ignore_idle_gates,
        )
        return write(built, FORMATS, where)

    paths = report(store.iter_pairs(), out, {})
    for percent, start, end in stage_windows(store.rollout_history()):
        pairs = (p for p in store.iter_pairs(since=start) if p.ts < end)
        report(pairs, out / f"stage-{percent:g}", {"stage": f"{percent:g}%", "since": start, "until": end})
        paths.append(out / f"stage-{percent:g}")
    return paths


def stage_windows(history: Sequence[RolloutEntry]) -> Iterator[tuple[float, float, float]]:
    """(percent, start, end) of each stage the rollout went through, from its rollout history."""
    starts = [(e.percent, e.ts) for e in history if (e.evidence or {}).get("action") in ("start", "advance")]
    ends = [ts for _, ts in starts[1:]]
    last = next(
        (e.ts for e in reversed(history) if (e.evidence or {}).get("action") in ("complete", "rollback")),
        time.time(),
    )
    for (percent, start), end in zip(starts, [*ends, last], strict=True):
        yield percent, start, end
