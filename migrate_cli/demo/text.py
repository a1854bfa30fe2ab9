"""What the demo prints, as pure functions over plain data (gate results as the rollout evidence stores them).

A gate result is shown on the scale a person reads it on: the candidate's own agreement, F1 or flagged share,
or how much slower / more error-prone than the incumbent it is, with the confidence bound that decided it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SHARES = {"agreement": "agree", "critical_exact": "exact", "similarity": "similar"}
NAME_WIDTH = 26


@dataclass(frozen=True)
class Scale:
    """How one gate reads: its value and bounds on a display scale, and the threshold they are held to.
    ``unit``: share (a percent), f1, ms, dms (signed ms against the incumbent), dpp (signed percentage
    points against the incumbent); ``template`` places the value in words."""

    value: float
    lower: float | None
    upper: float | None
    threshold: float
    higher_is_better: bool
    unit: str
    template: str


def gate_name(result: Mapping[str, Any]) -> str:
    """``classify/agreement``; a hard limit (a limit and no margin) is ``*/latency_p95 limit``."""
    gate = result["gate"]
    limit = " limit" if gate.get("limit") is not None and not gate.get("margin") else ""
    return f"{gate['task']}/{gate['metric']}{limit}"


def gate_line(result: Mapping[str, Any]) -> str:
    """``classify/agreement     PASS          97.5% agree (lower bound 95.1% > 92%), n=412``."""
    name = gate_name(result)
    if result.get("idle"):
        return f"{name:<{NAME_WIDTH}} idle          {result.get('detail') or 'no pairs'}"
    if not result["n"]:  # pairs of its task, but nothing it can answer: it holds the stage
        return (
            f"{name:<{NAME_WIDTH}} {result['verdict']:<13} {result.get('detail') or 'nothing comparable yet'}"
        )
    return f"{name:<{NAME_WIDTH}} {result['verdict']:<13} {evidence_text(result)}, n={result['n']:,}"


def evidence_text(result: Mapping[str, Any]) -> str:
    """The value and the bound that decided the gate (both bounds while it is still open)."""
    scale = display_scale(result)
    if scale is None:
        return "no estimate yet"
    value = value_text(result)
    good, bad = ("lower", "upper") if scale.higher_is_better else ("upper", "lower")
    above, below = (">", "<") if scale.higher_is_better else ("<", ">")
    bounds = {"lower": scale.lower, "upper": scale.upper}
    threshold = _fmt(scale.threshold, scale.unit, threshold=True)
    verdict = result["verdict"]
    if verdict == "PASS" and bounds[good] is not None:
        return f"{value} ({good} bound {_fmt(bounds[good], scale.unit)} {above} {threshold})"
    if verdict == "FAIL" and bounds[bad] is not None:
        return f"{value} ({bad} bound {_fmt(bounds[bad], scale.unit)} {below} {threshold})"
    needed = result.get("needed_n")
    more = f"; ~{needed:,} pairs needed" if needed else ""
    if scale.lower is None or scale.upper is None:
        return f"{value} (too few pairs for a bound on both sides yet{more})"
    return f"{value} (bounds {_fmt(scale.lower, scale.unit)}..{_fmt(scale.upper, scale.unit)} vs {threshold}{more})"


def display_scale(result: Mapping[str, Any]) -> Scale | None:
    """Effects (candidate minus reference, higher better) turned into what the gate is about."""
    gate, estimate = result["gate"], result.get("estimate")
    if estimate is None:
        return None
    lower, upper, metric = result.get("lower"), result.get("upper"), gate["metric"]
    latency = metric.startswith(("latency", "ttft"))
    quantile = metric.rsplit("_", 1)[-1]
    if gate.get("limit") is not None and not gate.get("margin"):
        unit, template = ("ms", quantile + " {}") if latency else ("share", "error rate {}")
        return Scale(estimate, lower, upper, gate["limit"], False, unit, template)
    margin = float(gate.get("margin") or 0.0)
    if metric in SHARES or metric == "field_f1":
        unit, template = ("f1", "F1 {}") if metric == "field_f1" else ("share", "{} " + SHARES[metric])
        return Scale(1 + estimate, _shift(lower, 1), _shift(upper, 1), 1 - margin, True, unit, template)
    if metric == "guard_flags":
        return Scale(-estimate, _neg(upper), _neg(lower), margin, False, "share", "{} flagged")
    if latency:
        template = quantile + " {} vs the incumbent"
        return Scale(-estimate, _neg(upper), _neg(lower), margin, False, "dms", template)
    if metric == "error_rate":
        template = "error rate {} vs the incumbent"
        return Scale(-estimate, _neg(upper), _neg(lower), margin, False, "dpp", template)
    return Scale(estimate, lower, upper, -margin, True, "f1", metric + " effect {}")


def _shift(value: float | None, by: float) -> float | None:
    return None if value is None else value + by


def _neg(value: float | None) -> float | None:
    return None if value is None else -value


def _fmt(value: float | None, unit: str, *, threshold: bool = False) -> str:
    if value is None:
        return "?"
    value += 0.0  # no "-0.00"
    if unit == "share":
        return f"{value * 100:.{0 if threshold else 1}f}%"
    if unit == "dpp":
        return f"{value * 100:+.{0 if threshold else 2}f} pp"
    if unit == "dms":
        return f"{value:+.0f} ms"
    if unit == "ms":
        return f"{value:.0f} ms"
    return f"{value:.{2 if threshold else 3}f}"


def decision_headline(line: str) -> str:
    """A controller decision line without the gate details its reason may carry (shown below it instead):
    ``ROLLBACK 10% -> 0%: gate failed``."""
    head, sep, reason = line.partition(": ")
    if not sep:
        return line
    return f"{head}: {reason.split(': ', 1)[0]}"


def failed_gates(gates: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [g for g in gates if g["verdict"] == "FAIL"]


def waiting_text(gates: Sequence[Mapping[str, Any]]) -> str:
    """``5/7 gates PASS; waiting for */error_rate (~1,062 pairs), ...`` over the gates that count (n > 0)."""
    counted = [g for g in gates if not g.get("idle")]
    if not counted:
        return "no gate results yet"
    passed = sum(1 for g in counted if g["verdict"] == "PASS")
    text = f"{passed}/{len(counted)} gates PASS"
    open_ = [g for g in counted if g["verdict"] == "INCONCLUSIVE"]
    if open_:
        parts = [gate_name(g) + (f" (~{g['needed_n']:,} pairs)" if g.get("needed_n") else "") for g in open_]
        text += "; waiting for " + ", ".join(parts)
    failed = failed_gates(counted)
    if failed:
        text += "; FAILED: " + ", ".join(gate_name(g) for g in failed)
    return text


@dataclass(frozen=True)
class StageOutcome:
    """One stage as the rollout history tells it: the decision that ended it and the evidence behind it."""

    percent: float
    action: str
    seconds: float
    pairs: int
    reason: str
    gates: tuple[Mapping[str, Any], ...]


def stage_outcomes(history: Sequence[Any]) -> list[StageOutcome]:
    """The decisions that ended stages (advance, complete, rollback), oldest first, from rollout entries."""
    outcomes: list[StageOutcome] = []
    for entry in history:
        evidence = entry.evidence or {}
        action = evidence.get("action")
        if action not in ("advance", "complete", "rollback"):
            continue
        started = float(evidence.get("stage_started") or entry.ts)
        outcomes.append(
            StageOutcome(
                percent=float(evidence.get("stage_percent", entry.percent)),
                action=str(action),
                seconds=max(0.0, entry.ts - started),
                pairs=int(evidence.get("pairs", 0)),
                reason=entry.reason,
                gates=tuple(evidence.get("gates", ())),
            )
        )
    return outcomes


def stage_lines(outcome: StageOutcome, width: int = 108) -> list[str]:
    """A stage in the summary: its decision, then the failed gates in full, or the passed ones' values."""
    head = (
        f"stage {outcome.percent:g}%: {outcome.action.upper()} after {outcome.seconds:.1f}s "
        f"and {outcome.pairs:,} pairs"
    )
    failed = failed_gates(outcome.gates)
    if failed:
        return [head, *("    " + gate_line(g) for g in failed)]
    passed = [_short(g) for g in outcome.gates if g["verdict"] == "PASS"]
    if not passed:
        return [head]
    wrapped = textwrap.wrap("PASS: " + "; ".join(passed), width, subsequent_indent="      ")
    return [head, *("    " + line for line in wrapped)]


def _short(result: Mapping[str, Any]) -> str:
    task = result["gate"]["task"]
    return value_text(result) if task == "*" else f"{task} {value_text(result)}"


def value_text(result: Mapping[str, Any]) -> str:
    """The gate's value in words, without its bounds: ``97.5% agree``."""
    scale = display_scale(result)
    return "-" if scale is None else scale.template.format(_fmt(scale.value, scale.unit))


def rejection_reason(outcome: StageOutcome) -> str:
    """Why a rollback happened, in one clause: the failed gates with their numbers, else the recorded reason."""
    failed = failed_gates(outcome.gates)
    if not failed:
        return outcome.reason
    return "; ".join(f"{gate_name(g)} failed: {evidence_text(g)}" for g in failed)


def verdict_line(
    outcomes: Sequence[StageOutcome], final_percent: float, tasks: str, *, stopped: str = ""
) -> str:
    """The demo's last line: accepted, rejected (with why), or still undecided."""
    last = outcomes[-1] if outcomes else None
    if last is not None and last.action == "complete":
        return f"candidate accepted: {final_percent:g}% of {tasks} traffic now on SGLang"
    if last is not None and last.action == "rollback":
        return (
            f"candidate rejected: rolled back to {final_percent:g}% at the {last.percent:g}% stage because "
            f"{rejection_reason(last)}"
        )
    why = f" ({stopped})" if stopped else ""
    return (
        f"rollout undecided: stopped at {final_percent:g}% before the gates could decide{why}; "
        "run it again with more --requests"
    )
