"""The rollout controller's decisions, as pure functions over typed values.

Where the rollout stands is derived from the rollout history alone (so a restarted controller picks up where
the last one stopped); what to do next is :func:`decide` over that state and one :class:`Observation` (the
gate results since the stage began, the pairs counted, whether a candidate circuit is open). The gates are
answered by an injected ``judge(stage, since_ts)``: this module never imports the evaluator's statistics.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from core.store import RolloutEntry
from evaluator.verdict import GateResult, Verdict, overall
from policies.model import Policy, Stage

GateCheck = Callable[[Stage, float], list[GateResult]]


class Action(enum.StrEnum):
    START = "start"
    ADVANCE = "advance"
    HOLD = "hold"
    ROLLBACK = "rollback"
    COMPLETE = "complete"
    MANUAL = "manual"


@dataclass(frozen=True)
class RolloutState:
    """``stage_started`` is when the current percent was set (0.0 if never); ``last_action`` is the action
    recorded with the latest history entry (``rollback``, ``complete``, ``manual``...) or None;
    ``entry_id`` is that entry's id, to notice a change made while a decision was being prepared."""

    percent: float
    stage_index: int | None
    stage_started: float
    last_action: str | None
    entry_id: int | None = None

    @property
    def rolled_back(self) -> bool:
        return self.percent == 0 and self.last_action == Action.ROLLBACK

    @property
    def completed(self) -> bool:
        return self.last_action == Action.COMPLETE


@dataclass(frozen=True)
class Observation:
    now: float
    results: tuple[GateResult, ...] = ()
    pairs: int = 0
    circuit_open: bool = False


@dataclass(frozen=True)
class Decision:
    action: Action
    percent_from: float
    percent_to: float
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """The one line printed for this decision while the controller runs."""
        move = f"{self.percent_from:g}% -> {self.percent_to:g}%"
        if self.percent_from == self.percent_to:
            move = f"at {self.percent_from:g}%"
        return f"{self.action.upper():8} {move}: {self.reason}"

    def summary_key(self) -> tuple[object, ...]:
        """What must change for a repeated hold to be worth recording again."""
        gates = self.evidence.get("gates", [])
        verdicts = tuple((g["gate"]["task"], g["gate"]["metric"], g["verdict"]) for g in gates)
        waiting = tuple(self.evidence.get("waiting_for", ()))
        return (self.action, self.percent_from, self.percent_to, verdicts, waiting)


def derive_state(policy: Policy, history: Sequence[RolloutEntry]) -> RolloutState:
    """The state in force after ``history`` (oldest first): the latest percent and when it was set."""
    if not history:
        return RolloutState(0.0, None, 0.0, None)
    latest = history[-1]
    started = latest.ts
    for entry in reversed(history):
        if entry.percent != latest.percent:
            break
        started = entry.ts
    action = latest.evidence.get("action") if latest.evidence else None
    return RolloutState(
        percent=latest.percent,
        stage_index=policy.stage_index(latest.percent),
        stage_started=started,
        last_action=action if isinstance(action, str) else None,
        entry_id=latest.id,
    )


def decide(policy: Policy, state: RolloutState, obs: Observation) -> Decision:
    """The next step: start, roll back on a trigger, advance or complete on PASS with minimums met, or hold."""
    if state.stage_index is None:
        return _start(policy, state, obs)
    stage = policy.stages[state.stage_index]
    trigger = rollback_trigger(policy, obs)
    if trigger:
        return _decision(policy, Action.ROLLBACK, state, 0.0, trigger, obs)
    waiting = unmet_minimums(stage, state, obs)
    results = counted(policy, obs.results)
    if overall(results) is Verdict.PASS and not waiting:
        following = policy.next_percent(state.stage_index)
        if following is None:
            reason = f"the last stage ({stage.percent:g}%) passed every gate with {obs.pairs} pairs"
            return _decision(policy, Action.COMPLETE, state, state.percent, reason, obs)
        reason = f"stage {stage.percent:g}% passed every gate with {obs.pairs} pairs"
        return _decision(policy, Action.ADVANCE, state, following, reason, obs)
    reasons = [*waiting.values(), *(describe(r) for r in results if r.verdict is not Verdict.PASS)]
    reason = "; ".join(reasons) or "no gate results yet"
    return _decision(policy, Action.HOLD, state, state.percent, reason, obs, waiting_for=tuple(waiting))


def _start(policy: Policy, state: RolloutState, obs: Observation) -> Decision:
    first = policy.stages[0].percent
    if policy.rollback.on_circuit_open and obs.circuit_open:
        reason = f"not starting {first:g}%: the candidate's circuit breaker is open"
        return _decision(policy, Action.HOLD, state, state.percent, reason, obs, waiting_for=("circuit",))
    return _decision(policy, Action.START, state, first, f"starting the first stage at {first:g}%", obs)


def counted(policy: Policy, results: Sequence[GateResult]) -> list[GateResult]:
    """The results that decide a stage: all of them, less idle gates (no pairs of their task) if the policy ignores those."""
    return [r for r in results if not (policy.ignore_idle_gates and r.idle)]


def rollback_trigger(policy: Policy, obs: Observation) -> str | None:
    """Why the rollout must go back to 0% now, or None: an open circuit, a broken hard limit, a failed gate."""
    rules = policy.rollback
    if rules.on_circuit_open and obs.circuit_open:
        return "the candidate's circuit breaker is open"
    hard = set(rules.hard_limits)
    failed = [r for r in obs.results if r.verdict is Verdict.FAIL]
    broken = [r for r in failed if r.gate in hard]
    if broken:
        return "hard limit broken: " + "; ".join(describe(r) for r in broken)
    if rules.on_gate_fail and failed:
        return "gate failed: " + "; ".join(describe(r) for r in failed)
    return None


def unmet_minimums(stage: Stage, state: RolloutState, obs: Observation) -> dict[str, str]:
    """The stage minimums not met yet: ``{"pairs": "12/200 pairs", "time": "30/600s in stage"}``."""
    waiting: dict[str, str] = {}
    if obs.pairs < stage.min_pairs:
        waiting["pairs"] = f"{obs.pairs}/{stage.min_pairs} pairs"
    elapsed = obs.now - state.stage_started
    if elapsed < stage.min_duration_s:
        waiting["time"] = f"{elapsed:.0f}/{stage.min_duration_s:.0f}s in stage"
    return waiting


@dataclass(frozen=True)
class ManualCheck:
    """The answer to ``rollout --percent N``: allowed or not, and why (with the gate numbers)."""

    allowed: bool
    reason: str
    needs_gates: bool


def check_manual(
    policy: Policy, state: RolloutState, target: float, results: Sequence[GateResult] | None = None
) -> ManualCheck:
    """Going down is always allowed; going up needs the current stage's gates to PASS (``results``), and
    moves at most to the next stage. With ``results`` None the answer says whether gates are needed."""
    if target <= state.percent:
        return ManualCheck(True, f"going down to {target:g}% is always allowed", needs_gates=False)
    following = policy.next_percent(state.stage_index)
    ceiling = 100.0 if following is None else following
    if target > ceiling:
        return ManualCheck(
            False, f"the policy moves one stage at a time: the next stage is {ceiling:g}%", False
        )
    if state.stage_index is None:
        return ManualCheck(True, f"{target:g}% is within the first stage", needs_gates=False)
    if results is None:
        return ManualCheck(False, "the current stage's gates must be evaluated", needs_gates=True)
    stage = policy.stages[state.stage_index]
    deciding = counted(policy, results)
    not_passed = [r for r in deciding if r.verdict is not Verdict.PASS]
    if overall(deciding) is Verdict.PASS:
        return ManualCheck(True, f"stage {stage.percent:g}% passed every gate", needs_gates=True)
    detail = "; ".join(describe(r) for r in not_passed) or "no gate results"
    return ManualCheck(
        False, f"stage {stage.percent:g}% has not passed its gates: {detail}", needs_gates=True
    )


class Controller:
    """One step of the automatic rollout: ask the judge about the current stage (if any), then decide."""

    def __init__(self, policy: Policy, judge: GateCheck) -> None:
        self.policy = policy
        self.judge = judge

    def step(
        self, state: RolloutState, *, now: float, pairs: int = 0, circuit_open: bool = False
    ) -> Decision:
        results: tuple[GateResult, ...] = ()
        if state.stage_index is not None:
            results = tuple(self.judge(self.policy.stages[state.stage_index], state.stage_started))
        return decide(self.policy, state, Observation(now, results, pairs, circuit_open))


def describe(result: GateResult) -> str:
    """``classify/agreement INCONCLUSIVE: -0.012 [-0.051, 0.027] n=120, needs ~400``: one gate, its numbers."""
    gate = result.gate
    text = f"{gate.task}/{gate.metric} {result.verdict.value}"
    if result.estimate is not None:
        text += f": {result.estimate:.4g}"
        if result.lower is not None or result.upper is not None:
            text += f" [{_num(result.lower)}, {_num(result.upper)}]"
    text += f" n={result.n}"
    if gate.limit is not None:
        text += f", limit {gate.limit:g}"
    elif gate.margin:
        text += f", margin {gate.margin:g}"
    if result.needed_n is not None and result.verdict is Verdict.INCONCLUSIVE:
        text += f", needs ~{result.needed_n}"
    if result.detail:
        text += f" ({result.detail})"
    return text


def result_dict(result: GateResult) -> dict[str, Any]:
    """A gate result as plain JSON-able data for the rollout history's evidence."""
    data = asdict(result)
    data["verdict"] = result.verdict.value
    return data


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _decision(
    policy: Policy,
    action: Action,
    state: RolloutState,
    percent_to: float,
    reason: str,
    obs: Observation,
    *,
    waiting_for: tuple[str, ...] = (),
) -> Decision:
    evidence: dict[str, Any] = {
        "action": action.value,
        "stage_percent": state.percent,
        "stage_started": state.stage_started,
        "pairs": obs.pairs,
        "circuit_open": obs.circuit_open,
        "verdict": overall(counted(policy, obs.results)).value,
        "gates": [result_dict(r) for r in obs.results],
    }
    if waiting_for:
        evidence["waiting_for"] = list(waiting_for)
    return Decision(action, state.percent, percent_to, reason, evidence)
