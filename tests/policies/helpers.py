"""Scripted gate results and small policies for the controller's tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from evaluator.verdict import GateResult, GateSpec, Verdict
from policies.model import Policy, Stage, parse_policy

AGREEMENT = GateSpec("classify", "agreement", margin=0.03)
F1 = GateSpec("extract", "field_f1", margin=0.03)
ERROR_LIMIT = GateSpec("*", "error_rate", limit=0.05)


def policy(
    *, min_pairs: int = 0, min_duration: str = "0s", on_gate_fail: bool = True, ignore_idle: bool = True
) -> Policy:
    return parse_policy(
        {
            "gates": [
                {"task": "classify", "metric": "agreement", "margin": 0.03},
                {"task": "extract", "metric": "field_f1", "margin": 0.03},
            ],
            "ignore_idle_gates": ignore_idle,
            "stages": [
                {"percent": p, "min_pairs": min_pairs, "min_duration": min_duration} for p in (10, 50, 100)
            ],
            "rollback": {"on_gate_fail": on_gate_fail, "max_error_rate": 0.05},
        },
        source="test-policy",
    )


def result(
    gate: GateSpec, verdict: Verdict, *, n: int = 300, needed_n: int | None = None, idle: bool = False
) -> GateResult:
    estimate = {Verdict.PASS: 0.01, Verdict.FAIL: -0.09, Verdict.INCONCLUSIVE: -0.02}[verdict]
    return GateResult(
        gate=gate,
        verdict=verdict,
        estimate=estimate,
        lower=estimate - 0.02,
        upper=estimate + 0.02,
        n=n,
        needed_n=needed_n,
        method="test",
        idle=idle,
    )


def verdicts(*pairs: tuple[GateSpec, Verdict]) -> list[GateResult]:
    return [result(gate, verdict) for gate, verdict in pairs]


def all_pass() -> list[GateResult]:
    return verdicts((AGREEMENT, Verdict.PASS), (F1, Verdict.PASS), (ERROR_LIMIT, Verdict.PASS))


def inconclusive() -> list[GateResult]:
    return [
        result(AGREEMENT, Verdict.INCONCLUSIVE, n=120, needed_n=400),
        result(F1, Verdict.PASS),
        result(ERROR_LIMIT, Verdict.PASS),
    ]


class ScriptedJudge:
    """A judge that answers from a script, one list of results per call, and remembers what it was asked."""

    def __init__(self, script: Iterable[Sequence[GateResult]]) -> None:
        self.script = [list(results) for results in script]
        self.calls: list[tuple[float, float]] = []

    def __call__(self, stage: Stage, since: float) -> list[GateResult]:
        self.calls.append((stage.percent, since))
        if not self.script:
            raise AssertionError("the controller asked the judge more often than the script allows")
        return self.script.pop(0)
