from __future__ import annotations

import pytest

from core.store import RolloutEntry
from evaluator.verdict import GateResult, Verdict
from policies.controller import (
    Action,
    Controller,
    Observation,
    RolloutState,
    check_manual,
    decide,
    derive_state,
    describe,
)
from tests.policies.helpers import (
    AGREEMENT,
    ERROR_LIMIT,
    F1,
    ScriptedJudge,
    all_pass,
    inconclusive,
    policy,
    result,
    verdicts,
)


def entry(i: int, ts: float, percent: float, action: str | None = None) -> RolloutEntry:
    evidence = {"action": action} if action else None
    return RolloutEntry(i, ts, percent, "test", "why", False, evidence)


def at(percent: float, started: float = 1000.0, index: int | None = None) -> RolloutState:
    return RolloutState(percent, index if index is not None else policy().stage_index(percent), started, None)


def test_derive_state_from_history() -> None:
    p = policy()
    assert derive_state(p, []) == RolloutState(0.0, None, 0.0, None)
    history = [entry(1, 10.0, 10, "start"), entry(2, 20.0, 50, "advance"), entry(3, 30.0, 50, "manual")]
    assert derive_state(p, history) == RolloutState(50.0, 1, 20.0, "manual", entry_id=3)
    history.append(entry(4, 40.0, 0, "rollback"))
    state = derive_state(p, history)
    assert state.rolled_back and state.stage_index is None and state.stage_started == 40.0
    completed = derive_state(p, [entry(1, 1.0, 100, "advance"), entry(2, 2.0, 100, "complete")])
    assert completed.completed and completed.stage_started == 1.0
    assert derive_state(p, [entry(1, 5.0, 30)]).stage_index == 0


def test_starts_the_first_stage_from_zero() -> None:
    decision = decide(policy(), at(0), Observation(now=1.0))
    assert (decision.action, decision.percent_from, decision.percent_to) == (Action.START, 0, 10)


def test_does_not_start_while_the_circuit_is_open() -> None:
    decision = decide(policy(), at(0), Observation(now=1.0, circuit_open=True))
    assert (decision.action, decision.percent_to) == (Action.HOLD, 0)
    assert "circuit breaker is open" in decision.reason


def test_holds_while_a_gate_is_inconclusive_and_says_which_with_numbers() -> None:
    decision = decide(policy(), at(10), Observation(now=2000.0, results=tuple(inconclusive()), pairs=150))
    assert (decision.action, decision.percent_to) == (Action.HOLD, 10)
    assert (
        "classify/agreement INCONCLUSIVE: -0.02 [-0.04, 0] n=120, margin 0.03, needs ~400" in decision.reason
    )
    assert "field_f1" not in decision.reason
    assert decision.evidence["verdict"] == "INCONCLUSIVE"
    assert [g["verdict"] for g in decision.evidence["gates"]] == ["INCONCLUSIVE", "PASS", "PASS"]
    assert decision.line().startswith("HOLD     at 10%: ")


@pytest.mark.parametrize(
    ("pairs", "now", "waiting"),
    [(10, 5000.0, "10/200 pairs"), (500, 1100.0, "100/600s in stage"), (0, 1000.0, "0/200 pairs; 0/600s")],
)
def test_holds_until_the_stage_minimums_are_met(pairs: int, now: float, waiting: str) -> None:
    p = policy(min_pairs=200, min_duration="10m")
    decision = decide(p, at(10), Observation(now=now, results=tuple(all_pass()), pairs=pairs))
    assert decision.action is Action.HOLD
    assert waiting in decision.reason
    met = decide(p, at(10), Observation(now=1600.0, results=tuple(all_pass()), pairs=200))
    assert (met.action, met.percent_to) == (Action.ADVANCE, 50)


def test_advances_one_stage_on_pass() -> None:
    decision = decide(policy(), at(10), Observation(now=2000.0, results=tuple(all_pass()), pairs=300))
    assert (decision.action, decision.percent_from, decision.percent_to) == (Action.ADVANCE, 10, 50)
    assert decision.evidence["verdict"] == "PASS" and decision.evidence["pairs"] == 300
    assert decision.line() == "ADVANCE  10% -> 50%: stage 10% passed every gate with 300 pairs"


def test_between_stages_the_lower_stage_rules() -> None:
    decision = decide(policy(), at(30), Observation(now=2000.0, results=tuple(all_pass())))
    assert (decision.action, decision.percent_to) == (Action.ADVANCE, 50)


def test_completes_when_the_last_stage_passes() -> None:
    decision = decide(policy(), at(100), Observation(now=2000.0, results=tuple(all_pass()), pairs=9))
    assert (decision.action, decision.percent_to) == (Action.COMPLETE, 100)


def test_rolls_back_at_once_when_a_gate_fails() -> None:
    results = verdicts((AGREEMENT, Verdict.FAIL), (F1, Verdict.PASS), (ERROR_LIMIT, Verdict.PASS))
    decision = decide(policy(min_pairs=10_000), at(50), Observation(now=1001.0, results=tuple(results)))
    assert (decision.action, decision.percent_from, decision.percent_to) == (Action.ROLLBACK, 50, 0)
    assert decision.reason.startswith("gate failed: classify/agreement FAIL: -0.09")


def test_a_failed_gate_only_holds_when_the_policy_says_so() -> None:
    results = verdicts((AGREEMENT, Verdict.FAIL), (F1, Verdict.PASS), (ERROR_LIMIT, Verdict.PASS))
    decision = decide(policy(on_gate_fail=False), at(50), Observation(now=1001.0, results=tuple(results)))
    assert decision.action is Action.HOLD and "classify/agreement FAIL" in decision.reason


def test_a_broken_hard_limit_rolls_back_even_without_on_gate_fail() -> None:
    results = verdicts((AGREEMENT, Verdict.PASS), (F1, Verdict.PASS), (ERROR_LIMIT, Verdict.FAIL))
    decision = decide(policy(on_gate_fail=False), at(50), Observation(now=1001.0, results=tuple(results)))
    assert decision.action is Action.ROLLBACK
    assert (
        decision.reason.startswith("hard limit broken: */error_rate FAIL") and "limit 0.05" in decision.reason
    )


def test_an_open_circuit_rolls_back() -> None:
    decision = decide(
        policy(), at(100), Observation(now=1001.0, results=tuple(all_pass()), circuit_open=True)
    )
    assert (decision.action, decision.percent_to) == (Action.ROLLBACK, 0)
    assert "circuit breaker is open" in decision.reason


def test_idle_gates_do_not_hold_back_unless_the_policy_says_so() -> None:
    results = (
        result(AGREEMENT, Verdict.PASS),
        result(F1, Verdict.INCONCLUSIVE, n=0, idle=True),
        result(ERROR_LIMIT, Verdict.PASS),
    )
    ignoring = decide(policy(), at(10), Observation(now=2000.0, results=results))
    assert ignoring.action is Action.ADVANCE and ignoring.evidence["verdict"] == "PASS"
    blocking = decide(policy(ignore_idle=False), at(10), Observation(now=2000.0, results=results))
    assert blocking.action is Action.HOLD and "extract/field_f1 INCONCLUSIVE" in blocking.reason
    not_idle = (results[0], result(F1, Verdict.INCONCLUSIVE, n=0), results[2])  # pairs, nothing comparable
    held = decide(policy(), at(10), Observation(now=2000.0, results=not_idle))
    assert held.action is Action.HOLD and held.evidence["verdict"] == "INCONCLUSIVE"


def test_no_results_at_all_holds() -> None:
    decision = decide(policy(), at(10), Observation(now=2000.0))
    assert decision.action is Action.HOLD and decision.reason == "no gate results yet"


def test_controller_asks_the_judge_about_the_current_stage_since_it_began() -> None:
    judge = ScriptedJudge([all_pass()])
    controller = Controller(policy(), judge)
    assert controller.step(at(0), now=5.0).action is Action.START
    assert judge.calls == []
    decision = controller.step(at(50, started=123.0), now=500.0, pairs=3)
    assert (decision.action, decision.percent_to) == (Action.ADVANCE, 100)
    assert judge.calls == [(50.0, 123.0)]


def test_summary_key_ignores_changing_counts() -> None:
    p = policy(min_pairs=1000)
    first = decide(p, at(10), Observation(now=1100.0, results=tuple(inconclusive()), pairs=10))
    later = decide(p, at(10), Observation(now=1200.0, results=tuple(inconclusive()), pairs=20))
    assert first.reason != later.reason and first.summary_key() == later.summary_key()
    passed = decide(p, at(10), Observation(now=1300.0, results=tuple(all_pass()), pairs=30))
    assert passed.summary_key() != later.summary_key()


class TestManual:
    def test_going_down_is_always_allowed(self) -> None:
        check = check_manual(policy(), at(50), 10)
        assert check.allowed and not check.needs_gates

    def test_up_to_the_first_stage_needs_no_gates(self) -> None:
        assert check_manual(policy(), at(0), 10).allowed
        refused = check_manual(policy(), at(0), 50)
        assert not refused.allowed and "next stage is 10%" in refused.reason

    def test_up_needs_the_gates_to_pass(self) -> None:
        assert check_manual(policy(), at(10), 50).needs_gates
        assert check_manual(policy(), at(10), 50, all_pass()).allowed
        refused = check_manual(policy(), at(10), 50, inconclusive())
        assert not refused.allowed
        assert refused.reason.startswith(
            "stage 10% has not passed its gates: classify/agreement INCONCLUSIVE"
        )
        assert "n=120" in refused.reason and "needs ~400" in refused.reason

    def test_one_stage_at_a_time(self) -> None:
        refused = check_manual(policy(), at(10), 100, all_pass())
        assert not refused.allowed and "next stage is 50%" in refused.reason
        assert check_manual(policy(), at(10), 30, all_pass()).allowed


def test_describe_without_numbers() -> None:
    bare = GateResult(
        gate=AGREEMENT, verdict=Verdict.INCONCLUSIVE, estimate=None, lower=None, upper=None, n=0
    )
    assert describe(bare) == "classify/agreement INCONCLUSIVE n=0, margin 0.03"
