"""The parity report as data: verdict, gate results, per-task and per-side summaries, cost, the pairs a person
should look at, and what could not be scored. Renderers (:mod:`evaluator.render`, :mod:`evaluator.html`) turn it
into Markdown, JSON, JUnit XML and HTML.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from core.pair import SIDES, Pair, Side
from evaluator.cost import CandidateCostLike, CostSummary, CostTally, PriceLike
from evaluator.gates import DEFAULT_GATES, answer_gates
from evaluator.metrics import CHAT, CLASSIFY, EXTRACT, SUMMARISE, TOOLS
from evaluator.records import BadRecord
from evaluator.scoring import PairScore, Scored, Scorer, SettingsLike, side_values
from evaluator.verdict import GateResult, GateSpec, Verdict, overall

if TYPE_CHECKING:
    from core.store import Store

SCHEMA_VERSION = 1
PROGRESS_MIN_PAIRS = 1000
WORST_PER_TASK = 5
WORST_TOTAL = 15
REVIEW_LISTED = 100
CONFUSION_LABELS = 12


@dataclass(frozen=True)
class TaskSummary:
    task: str
    kind: str
    compared: int
    agreement: float | None = None
    confusion: tuple[tuple[str, str, int], ...] = ()  # (incumbent label, candidate label, count)
    json_valid_incumbent: float | None = None
    json_valid_candidate: float | None = None
    field_f1: float | None = None
    critical_exact: float | None = None
    tool_match: float | None = None
    similarity_mean: float | None = None
    similar_share: float | None = None
    flagged: int = 0
    judge: float | None = None


@dataclass(frozen=True)
class SideSummary:
    side: str
    answers: int
    errors: int
    error_rate: float | None
    latency_p50: float | None
    latency_p95: float | None
    ttft_n: int
    ttft_p50: float | None
    ttft_p95: float | None


@dataclass(frozen=True)
class PairView:
    """One pair side by side, for the worst-pairs and human-review sections. ``count``: pairs with the same
    task, request and answers shown as one row (``pair_id`` is the first of them)."""

    pair_id: str
    task: str
    score: float | None
    request: str
    incumbent: str
    candidate: str
    note: str
    count: int = 1


@dataclass(frozen=True)
class Report:
    verdict: Verdict
    results: tuple[GateResult, ...]
    generated_at: float
    sequential: bool
    filters: dict[str, Any]
    total: int
    compared: int
    tasks: tuple[TaskSummary, ...]
    sides: tuple[SideSummary, ...]
    cost: CostSummary | None
    problems: dict[str, int]
    problem_examples: dict[str, list[str]]
    review: tuple[PairView, ...]
    review_total: int
    worst: tuple[PairView, ...]
    judge: dict[str, Any] | None
    more_needed: int | None
    distributions: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    window_s: float | None = None  # first to last recorded pair: "needed" as time at the observed rate

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``schema_version`` 1); non-finite numbers become null."""
        data = {
            "schema_version": SCHEMA_VERSION,
            "verdict": self.verdict.value,
            "generated_at": self.generated_at,
            "sequential": self.sequential,
            "filters": self.filters,
            "pairs": {"total": self.total, "compared": self.compared},
            "more_pairs_needed": self.more_needed,
            "window_s": self.window_s,
            "gates": [result_dict(r) for r in self.results],
            "tasks": [asdict(t) for t in self.tasks],
            "sides": [asdict(s) for s in self.sides],
            "cost": self.cost.as_dict() if self.cost is not None else None,
            "bad_input": {
                k: {"count": v, "examples": self.problem_examples.get(k, [])}
                for k, v in self.problems.items()
            },
            "review": {"total": self.review_total, "pairs": [asdict(p) for p in self.review]},
            "worst_pairs": [asdict(p) for p in self.worst],
            "judge": self.judge,
        }
        clean = _finite(data)
        assert isinstance(clean, dict)
        return clean


def result_dict(result: GateResult) -> dict[str, Any]:
    gate = result.gate
    return {
        "task": gate.task,
        "metric": gate.metric,
        "margin": gate.margin,
        "alpha": gate.alpha,
        "limit": gate.limit,
        "verdict": result.verdict.value,
        "estimate": result.estimate,
        "lower": result.lower,
        "upper": result.upper,
        "n": result.n,
        "needed_n": result.needed_n,
        "method": result.method,
        "detail": result.detail,
        "extra": result.extra,
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# --- building ------------------------------------------------------------------------------------------


def build_report(
    pairs: Iterable[Pair | BadRecord],
    gates: Sequence[GateSpec] = DEFAULT_GATES,
    *,
    sequential: bool = True,
    settings: SettingsLike | None = None,
    pricing: Mapping[str, PriceLike] | None = None,
    candidate_cost: CandidateCostLike | None = None,
    store: Store | None = None,
    judge_api_key: str | None = None,
    judge_offline: bool = False,
    task: str | None = None,
    filters: Mapping[str, Any] | None = None,
    threads: int = 1,
    progress: bool | None = None,
    expected: int | None = None,
    ignore_idle: bool = False,
) -> Report:
    """Score ``pairs`` (streamed once), answer ``gates`` and gather everything the reports show.

    ``task`` keeps only pairs of that task (after inferring tasks the proxy did not know). ``pricing`` and
    ``candidate_cost`` enable the cost section. With ``settings.judge`` and a ``store`` the judge is asked
    (or, ``judge_offline``, only replayed from the store's cache). ``progress`` shows tqdm bars on stderr
    (default: when ``expected`` is at least 1,000 pairs). ``ignore_idle`` leaves gates with no pairs at all
    (n = 0) out of the overall verdict, as a policy with ``ignore_idle_gates`` does.
    """
    show = progress if progress is not None else (expected or 0) >= PROGRESS_MIN_PAIRS
    tally = CostTally(pricing or {})
    scorer = Scorer(settings)
    with _ProgressBar(show, expected, "scoring pairs", "pair") as bar:
        for pair in pairs:
            if isinstance(pair, Pair):
                tally.add(pair)
            scorer.add(pair, task)
            if bar is not None:
                bar(1)
    with _ProgressBar(show, None, "embedding answers", "text") as bar:
        scorer.fill_similarity(threads, bar)
    scored = scorer.result()
    judge = _judge(scored, gates, settings, store, judge_api_key, judge_offline)
    results = answer_gates(scored, gates, sequential=sequential, settings=settings)
    cost = tally.summary(candidate_cost) if pricing else None
    return _assemble(scored, results, sequential, filters, cost, judge, ignore_idle)


class _ProgressBar:
    """A tqdm bar on stderr as a callable ``update(n)``, or a no-op."""

    def __init__(self, show: bool, total: int | None, desc: str, unit: str) -> None:
        self.bar: Any = None
        if show:
            try:
                from tqdm import tqdm  # type: ignore[import-untyped]
            except ImportError:  # progress is a nicety: no tqdm, no bar
                return
            self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, mininterval=0.5)

    def __enter__(self) -> _ProgressBar | None:
        return self if self.bar is not None else None

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def __call__(self, n: int) -> None:
        self.bar.update(n)


def _judge(
    scored: Scored,
    gates: Sequence[GateSpec],
    settings: SettingsLike | None,
    store: Store | None,
    api_key: str | None,
    offline: bool,
) -> dict[str, Any] | None:
    from evaluator import judge

    if store is None:
        return None
    config = settings.judge if settings is not None else None
    if config is None:
        if not any(g.metric == "judge_score" for g in gates):
            return None
        return {
            "replayed": judge.apply_cached(scored, store, settings),
            "note": "no judge configured; cache only",
        }
    every_pair = any(g.metric == "judge_score" for g in gates)
    asked = judge.to_judge(scored.scores, every_pair=every_pair)
    run = judge.Judge(config.url, config.model, store, api_key=api_key, offline=offline).run(asked)
    judge.apply_scores(scored, run.scores)
    scope = "every pair" if every_pair else "pairs the similarity and the fact rules disagree on"
    return {"model": config.model, "scope": scope, **judge.summary(run)}


def _assemble(
    scored: Scored,
    results: list[GateResult],
    sequential: bool,
    filters: Mapping[str, Any] | None,
    cost: CostSummary | None,
    judge: dict[str, Any] | None,
    ignore_idle: bool,
) -> Report:
    counted = [r for r in results if not (ignore_idle and r.idle)]
    verdict = overall(counted) if scored.total else Verdict.INCONCLUSIVE
    flagged = [s for s in scored.scores if s.flags]
    return Report(
        verdict=verdict,
        results=tuple(results),
        generated_at=time.time(),
        sequential=sequential,
        filters=dict(filters or {}),
        total=scored.total,
        compared=len(scored.scores),
        tasks=tuple(
            _task_summary(t, k, [s for s in scored.scores if s.task == t])
            for t, k in sorted(scored.tasks.items())
        ),
        sides=tuple(_side_summary(scored, side) for side in SIDES),
        cost=cost,
        problems=dict(sorted(scored.problems.counts.items())),
        problem_examples=scored.problems.examples,
        review=_grouped(flagged)[:REVIEW_LISTED],
        review_total=len(flagged),
        worst=_worst(scored.scores),
        judge=judge,
        more_needed=_more_needed(results) if verdict is Verdict.INCONCLUSIVE else None,
        distributions=_distributions(scored),
        window_s=scored.window_s,
    )


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _task_summary(task: str, kind: str, scores: list[PairScore]) -> TaskSummary:
    def share(values: Iterable[bool | None]) -> float | None:
        return _mean([float(v) for v in values if v is not None])

    confusion: tuple[tuple[str, str, int], ...] = ()
    if kind == CLASSIFY:
        counts = Counter((s.label_incumbent or "", s.label_candidate or "") for s in scores)
        confusion = tuple((a, b, n) for (a, b), n in counts.most_common(CONFUSION_LABELS * CONFUSION_LABELS))
    return TaskSummary(
        task=task,
        kind=kind,
        compared=len(scores),
        agreement=share(s.agree for s in scores) if kind == CLASSIFY else None,
        confusion=confusion,
        json_valid_incumbent=share(s.json_valid_incumbent for s in scores) if kind == EXTRACT else None,
        json_valid_candidate=share(s.json_valid_candidate for s in scores) if kind == EXTRACT else None,
        field_f1=_mean([s.field_f1 for s in scores if s.field_f1 is not None]),
        critical_exact=share(s.critical_exact for s in scores),
        tool_match=_mean([s.tool_match for s in scores if s.tool_match is not None])
        if kind == TOOLS
        else None,
        similarity_mean=_mean([s.similarity for s in scores if s.similarity is not None]),
        similar_share=share(s.similar for s in scores) if kind in (SUMMARISE, CHAT) else None,
        flagged=sum(1 for s in scores if s.flags),
        judge=_mean([s.judge for s in scores if s.judge is not None]),
    )


def _side_summary(scored: Scored, side: Side) -> SideSummary:
    from evaluator.stats import quantile

    obs = [o for o in scored.sides if o.side == side]
    errors = sum(1 for o in obs if not o.ok)
    latency = side_values(scored.sides, side, "latency_ms", None)
    ttft = side_values(scored.sides, side, "ttft_ms", None)
    return SideSummary(
        side=side,
        answers=len(obs),
        errors=errors,
        error_rate=errors / len(obs) if obs else None,
        latency_p50=quantile(latency, 0.5) if latency else None,
        latency_p95=quantile(latency, 0.95) if latency else None,
        ttft_n=len(ttft),
        ttft_p50=quantile(ttft, 0.5) if ttft else None,
        ttft_p95=quantile(ttft, 0.95) if ttft else None,
    )


def _view(score: PairScore) -> PairView:
    notes = [f"{f.guard}: {f.detail}" for f in score.flags]
    if score.similarity is not None:
        notes.insert(0, f"cosine {score.similarity:.3f}")
    if score.judge is not None:
        notes.append(f"judge {score.judge:.2g}")
    if score.kind == EXTRACT and score.field_f1 is not None:
        notes.insert(0, f"field F1 {score.field_f1:.3f}")
    if score.json_valid_candidate is False:
        notes.insert(0, "candidate JSON invalid")
    return PairView(
        score.pair_id,
        score.task,
        score.quality,
        score.request,
        score.incumbent_text,
        score.candidate_text,
        "; ".join(notes),
    )


def _worst(scores: list[PairScore]) -> tuple[PairView, ...]:
    """Per task: the pairs a guard or the judge flagged although their embeddings are close (the ones a
    similarity score would hide), then the lowest scores; identical pairs grouped with a count."""
    by_task: dict[str, list[PairScore]] = {}
    for score in scores:
        if (score.quality is not None and score.quality < 1.0) or _hidden_problem(score):
            by_task.setdefault(score.task, []).append(score)
    picked: list[PairView] = []
    for group in by_task.values():
        hidden = [s for s in group if _hidden_problem(s)]
        rest = sorted((s for s in group if not _hidden_problem(s)), key=_quality_key)
        views = _grouped(hidden)[: WORST_PER_TASK // 2 + 1] + _grouped(rest)
        picked.extend(views[:WORST_PER_TASK])
    return tuple(sorted(picked, key=lambda v: v.score if v.score is not None else 1.0)[:WORST_TOTAL])


def _hidden_problem(score: PairScore) -> bool:
    """Close embeddings, yet a guard flagged it or the judge preferred the incumbent."""
    from evaluator.scoring import SIMILARITY_THRESHOLD

    close = score.similarity is not None and score.similarity >= SIMILARITY_THRESHOLD
    return close and (bool(score.flags) or (score.judge is not None and score.judge < 0.5))


def _grouped(scores: Iterable[PairScore]) -> tuple[PairView, ...]:
    """One view per distinct (task, request, incumbent, candidate), in first-seen order, with a count."""
    views: dict[tuple[str, str, str, str], PairView] = {}
    for score in scores:
        key = (score.task, score.request, score.incumbent_text, score.candidate_text)
        seen = views.get(key)
        views[key] = _view(score) if seen is None else replace(seen, count=seen.count + 1)
    return tuple(views.values())


def _quality_key(score: PairScore) -> float:
    return score.quality if score.quality is not None else 1.0


def _more_needed(results: Sequence[GateResult]) -> int | None:
    gaps = [r.needed_n - r.n for r in results if r.verdict is Verdict.INCONCLUSIVE and r.needed_n is not None]
    return max(gaps) if gaps else None


def _distributions(scored: Scored) -> dict[str, dict[str, list[float]]]:
    similarity: dict[str, list[float]] = {}
    for score in scored.scores:
        if score.similarity is not None:
            similarity.setdefault(score.task, []).append(score.similarity)
    return {
        "similarity": similarity,
        "latency_ms": {side: side_values(scored.sides, side, "latency_ms", None) for side in SIDES},
        "ttft_ms": {side: side_values(scored.sides, side, "ttft_ms", None) for side in SIDES},
    }
