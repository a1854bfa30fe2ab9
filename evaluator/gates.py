"""Answer gates over recorded pairs: the public entry the rollout controller calls.

``evaluate_gates(pairs, gates, sequential=True, settings=None)`` scores the pairs and answers every gate with
a :class:`GateResult`. A gate whose task is ``*`` is answered once per task present that the metric applies
to (``result.gate.task`` names the task, ``result.extra["spec_task"]`` is ``"*"``); side metrics (latency,
TTFT, error rate) with ``*`` pool every pair and keep the spec unchanged.

Idle or inconclusive, never silently passed: a gate for a task with no pairs at all is *idle* (``idle=True``;
a policy with ``ignore_idle_gates`` leaves it out). A gate whose task has pairs but that cannot be answered
(the metric does not apply to the task, no critical fields are named, nothing comparable) is INCONCLUSIVE and
not idle. A task with pairs that no quality gate covers gets an ``ungated`` INCONCLUSIVE result of its own, so
a policy that forgets a task can never PASS on the strength of the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from core.pair import Pair
from evaluator.metrics import CLASSIFY, EXTRACT, LATENCY_QUANTILES, METRICS, TOOLS, Metric
from evaluator.scoring import PairScore, Scored, SettingsLike, score_pairs, side_values
from evaluator.verdict import UNGATED, GateResult, GateSpec, Verdict

if TYPE_CHECKING:
    from core.store import Store

# What an ``ungated`` result suggests adding, by scoring kind.
SUGGESTED_METRIC = {CLASSIFY: "agreement", EXTRACT: "field_f1", TOOLS: "tool_match"}

# The built-in gates when no policy is given (the shipped policies/default.yaml says the same, per task).
DEFAULT_GATES: tuple[GateSpec, ...] = (
    GateSpec("*", "agreement", margin=0.03),
    GateSpec("*", "field_f1", margin=0.03),
    GateSpec("*", "critical_exact", margin=0.02),
    GateSpec("*", "tool_match", margin=0.03),
    GateSpec("*", "similarity", margin=0.05),
    GateSpec("*", "guard_flags", margin=0.02),
    GateSpec("*", "latency_p95", margin=250.0),
    GateSpec("*", "error_rate", margin=0.01),
)


def evaluate_gates(
    pairs: Iterable[Pair],
    gates: Sequence[GateSpec],
    *,
    sequential: bool = True,
    settings: SettingsLike | None = None,
    store: Store | None = None,
    coverage: bool = True,
) -> list[GateResult]:
    """Score ``pairs`` and answer each gate. ``sequential`` (the default) uses always-valid bounds, right for
    a rollout that looks again and again; ``store`` only replays cached judge verdicts (never the network).
    ``coverage`` adds the ``ungated`` results (off only to ask single questions, never for a verdict)."""
    needed = {g.metric for g in gates}
    scored = score_pairs(pairs, settings=settings, similarity="similarity" in needed)
    if "judge_score" in needed and store is not None:
        from evaluator.judge import apply_cached

        apply_cached(scored, store, settings)
    return answer_gates(scored, gates, sequential=sequential, settings=settings, coverage=coverage)


def answer_gates(
    scored: Scored,
    gates: Sequence[GateSpec],
    *,
    sequential: bool,
    settings: SettingsLike | None = None,
    coverage: bool = True,
) -> list[GateResult]:
    """Answer gates over already scored pairs (pure; what :func:`evaluate_gates` and the report share), then
    one ``ungated`` INCONCLUSIVE result per task with pairs that no quality gate covers."""
    by_task: dict[str, list[PairScore]] = {}
    for score in scored.scores:
        by_task.setdefault(score.task, []).append(score)
    critical = dict(settings.critical_fields) if settings is not None else {}
    results: list[GateResult] = []
    for gate in gates:
        results.extend(_answer(scored, by_task, gate, sequential, critical))
    return results + ungated(scored, results) if coverage else results


def ungated(scored: Scored, results: Sequence[GateResult]) -> list[GateResult]:
    """An INCONCLUSIVE result for each task with pairs and no quality gate that applies to its kind."""
    covered = {
        r.gate.task
        for r in results
        if r.gate.metric in METRICS and scored.tasks.get(r.gate.task) in METRICS[r.gate.metric].kinds
    }
    out: list[GateResult] = []
    for task, kind in sorted(scored.tasks.items()):
        if task in covered:
            continue
        metric = SUGGESTED_METRIC.get(kind, "similarity")
        detail = (
            f"task {task!r} ({kind}) has pairs but no quality gate: the verdict cannot be PASS; add e.g. "
            f"{{task: {task}, metric: {metric}, margin: 0.05}} to the policy's gates"
        )
        n = scored.pairs_per_task.get(task, 0)
        out.append(
            GateResult(GateSpec(task, UNGATED), Verdict.INCONCLUSIVE, None, None, None, n, None, "", detail)
        )
    return out


def _answer(
    scored: Scored,
    by_task: dict[str, list[PairScore]],
    gate: GateSpec,
    sequential: bool,
    critical: dict[str, tuple[str, ...]],
) -> list[GateResult]:
    metric = METRICS.get(gate.metric)
    if metric is None:
        known = ", ".join(sorted(METRICS))
        return [_idle(gate, f"unknown metric {gate.metric!r}; known: {known}")]
    if metric.per_side and gate.task == "*" and _per_task_latency(gate, metric):
        tasks = sorted({obs.task for obs in scored.sides})
        if tasks:
            return [_with_spec(_side_gate(scored, replace(gate, task=t), metric, sequential)) for t in tasks]
    if metric.per_side:
        return [_side_gate(scored, gate, metric, sequential)]
    if gate.task != "*":
        return [_task_gate(scored, by_task, gate, metric, sequential, critical)]
    tasks = [t for t, kind in sorted(scored.tasks.items()) if kind in metric.kinds]
    return [
        _with_spec(_task_gate(scored, by_task, replace(gate, task=t), metric, sequential, critical))
        for t in tasks
    ]


def _task_gate(
    scored: Scored,
    by_task: dict[str, list[PairScore]],
    gate: GateSpec,
    metric: Metric,
    sequential: bool,
    critical: dict[str, tuple[str, ...]],
) -> GateResult:
    from evaluator import decide

    kind = scored.tasks.get(gate.task)
    if kind is None:
        return _idle(gate, f"no pairs for task {gate.task!r} in this window")
    if kind not in metric.kinds:
        return _open(
            gate, f"{metric.name} does not apply to task {gate.task!r} (scored as {kind}); fix the gate"
        )
    if metric.name == "critical_exact" and not _critical_for(critical, gate.task):
        return _open(
            gate,
            f"no critical fields for {gate.task!r}: name them in evaluation.critical_fields.{gate.task} "
            "or remove this gate",
        )
    scores = by_task.get(gate.task, [])
    if metric.family == "paired_binary":
        pairs = [
            (s.json_valid_incumbent, s.json_valid_candidate)
            for s in scores
            if s.json_valid_incumbent is not None and s.json_valid_candidate is not None
        ]
        return decide.paired_binary(pairs, gate, metric, sequential=sequential)
    values = _values(scores, metric.name)
    if metric.name == "similarity" and scores and not values:
        return _open(gate, "similarity was not computed (see the bad-input section)")
    return decide.one_sample(values, gate, metric, sequential=sequential)


def _values(scores: list[PairScore], metric: str) -> list[float]:
    if metric == "agreement":
        return [float(s.agree) for s in scores if s.agree is not None]
    if metric == "field_f1":
        return [s.field_f1 for s in scores if s.field_f1 is not None]
    if metric == "critical_exact":
        return [float(s.critical_exact) for s in scores if s.critical_exact is not None]
    if metric == "tool_match":
        return [s.tool_match for s in scores if s.tool_match is not None]
    if metric == "similarity":
        return [float(s.similar) for s in scores if s.similar is not None]
    if metric == "guard_flags":
        return [0.0 if s.flags else 1.0 for s in scores]
    if metric == "judge_score":
        return [s.judge for s in scores if s.judge is not None]
    raise ValueError(f"no per-pair values for {metric}")


def _side_gate(scored: Scored, gate: GateSpec, metric: Metric, sequential: bool) -> GateResult:
    from evaluator import decide

    task = None if gate.task == "*" else gate.task
    if not any(task is None or obs.task == task for obs in scored.sides):
        return _idle(gate, "no answers in this window" if task is None else f"no pairs for task {task!r}")
    if metric.name == "error_rate":
        pairs = [(inc, cand) for obs_task, inc, cand in scored.outcomes if task is None or obs_task == task]
        return decide.paired_binary(pairs, gate, metric, sequential=sequential)
    attr = "ttft_ms" if metric.name.startswith("ttft") else "latency_ms"
    failures = attr == "latency_ms"  # a failed answer is the slowest; TTFT exists only for streams
    inc_values = side_values(scored.sides, "incumbent", attr, task, failures=failures)
    cand_values = side_values(scored.sides, "candidate", attr, task, failures=failures)
    q = LATENCY_QUANTILES[metric.name]
    result = decide.two_latency(inc_values, cand_values, q, gate, metric, sequential=sequential)
    if attr != "latency_ms":
        return result
    paired = [(i, c) for t, i, c in scored.latency_pairs if task is None or t == task]
    if not paired:
        return result
    from evaluator.bounds import paired_latency_differences

    inc, cand = zip(*paired, strict=True)
    extra = paired_latency_differences(inc, cand, q, gate.alpha)
    return replace(result, extra={**result.extra, **extra})


def _per_task_latency(gate: GateSpec, metric: Metric) -> bool:
    """A ``*`` latency gate with a margin is answered per task: tasks have their own latency profiles, and a
    candidate much slower on one task (long summaries) hides in a pooled quantile dominated by another
    (short labels). A hard limit alone stays pooled: it is the rollback's whole-traffic ceiling. Error rate
    stays pooled too: per task it would need several times its ~5,000 pairs."""
    return metric.family == "two_latency" and bool(gate.margin)


def _critical_for(critical: dict[str, tuple[str, ...]], task: str) -> tuple[str, ...]:
    """A task's critical fields, else those configured for ``extract`` (critical_exact is extraction only)."""
    return tuple(critical.get(task) or critical.get("extract") or ())


def _with_spec(result: GateResult) -> GateResult:
    return replace(result, extra={**result.extra, "spec_task": "*"})


def _idle(gate: GateSpec, detail: str) -> GateResult:
    """No pairs of the gate's task at all."""
    return GateResult(gate, Verdict.INCONCLUSIVE, None, None, None, 0, None, "", detail, idle=True)


def _open(gate: GateSpec, detail: str) -> GateResult:
    """The task has pairs but the gate cannot be answered: INCONCLUSIVE, and it counts."""
    return GateResult(gate, Verdict.INCONCLUSIVE, None, None, None, 0, None, "", detail)
