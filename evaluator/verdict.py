"""The contract between the evaluator and the rollout: what a gate asks and what it answers.

A gate is a non-inferiority question about one metric of one task ("is the candidate's label agreement no
worse than the incumbent's by more than ``margin``?"). The policy declares gates; the evaluator answers each
with a :class:`GateResult`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Verdict(enum.StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True)
class GateSpec:
    """One gate. ``task`` is a specialist task (``classify``, ``extract``, ``summarise``, ``tools``, ``chat``)
    or ``*`` for all; ``metric`` names what is compared (see evaluator docs); ``margin`` is the
    non-inferiority margin in the metric's units; ``limit`` is an optional hard limit (e.g. max p95 ms)."""

    task: str
    metric: str
    margin: float = 0.0
    alpha: float = 0.05
    limit: float | None = None


@dataclass(frozen=True)
class GateResult:
    gate: GateSpec
    verdict: Verdict
    estimate: float | None
    lower: float | None
    upper: float | None
    n: int
    needed_n: int | None = None
    method: str = ""
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # No pairs of the gate's task at all (the app sends none): a policy with ``ignore_idle_gates`` leaves it out.
    # A gate whose task HAS pairs but that cannot be answered (no critical fields named, nothing comparable)
    # is INCONCLUSIVE and never idle: it always holds the verdict back.
    idle: bool = False


# The metric name of the result that says a task with pairs has no quality gate at all.
UNGATED = "ungated"


def overall(results: list[GateResult]) -> Verdict:
    """FAIL if any gate fails, PASS if all pass, else INCONCLUSIVE (no gates at all is INCONCLUSIVE)."""
    if any(r.verdict is Verdict.FAIL for r in results):
        return Verdict.FAIL
    if results and all(r.verdict is Verdict.PASS for r in results):
        return Verdict.PASS
    return Verdict.INCONCLUSIVE
