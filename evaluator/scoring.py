"""Per-pair scoring: each recorded pair becomes a :class:`PairScore`; every side feeds latency and errors.

Only pairs where both sides answered successfully are quality-scored. Everything else is counted by reason in
:class:`Problems` (shown in the report's bad-input section), never dropped silently: a missing side, an error
answer, invalid JSON, text that was not valid UTF-8, a huge answer, a record that cannot be read.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from core.pair import SIDES, Answer, Pair, Side
from evaluator import facts, guards, jsonfields, tools
from evaluator.metrics import CHAT, CLASSIFY, EXTRACT, SUMMARISE, TASK_ALIASES, TOOLS, kind_of_task
from evaluator.records import BadRecord
from evaluator.text import Text, answer_text, excerpt, normalize_label, request_text, word_count
from evaluator.values import Rules

log = logging.getLogger(__name__)

SHORT_LABEL_WORDS = 4
# Cosine at or above which two texts count as saying the same thing with all-MiniLM-L6-v2: paraphrases of a
# summary score 0.77-0.90, a different text on the same topic 0.3-0.6 (see evaluator/README.md).
SIMILARITY_THRESHOLD = 0.75
JUDGE_AS_GOOD = 0.5  # the judge's score for a tie: the candidate's answer is as good as the incumbent's
EXAMPLES_PER_PROBLEM = 5
TEXT_KEPT = 2000  # characters of each answer kept for the report's side-by-side view and the judge


class JudgeLike(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def key_env(self) -> str | None: ...


class SettingsLike(Protocol):
    """What the evaluator reads from ``core.config.EvaluationSettings``."""

    @property
    def critical_fields(self) -> Mapping[str, tuple[str, ...]]: ...
    @property
    def judge(self) -> JudgeLike | None: ...
    @property
    def list_keys(self) -> Mapping[str, str]: ...
    @property
    def float_tolerance(self) -> Mapping[str, float]: ...


def value_rules(settings: SettingsLike | None) -> Rules:
    """How extraction fields and tool arguments are compared (list keys, per-field float tolerance)."""
    if settings is None:
        return Rules()
    return Rules(dict(settings.list_keys), dict(settings.float_tolerance))


@dataclass(frozen=True)
class PairScore:
    """The quality scores of one complete pair; fields that do not apply to its kind are None."""

    pair_id: str
    task: str
    kind: str
    agree: bool | None = None
    label_incumbent: str | None = None
    label_candidate: str | None = None
    json_valid_incumbent: bool | None = None
    json_valid_candidate: bool | None = None
    field_precision: float | None = None
    field_recall: float | None = None
    field_f1: float | None = None
    critical_exact: bool | None = None
    tool_match: float | None = None
    tool_names_match: bool | None = None
    similarity: float | None = None
    flags: tuple[guards.Flag, ...] = ()
    judge: float | None = None
    request: str = ""
    incumbent_text: str = ""
    candidate_text: str = ""

    @property
    def unsettled(self) -> bool:
        """The embeddings and the fact rules disagree: close but flagged, or far apart with nothing flagged.
        These are the pairs the LLM judge settles when one is configured."""
        if self.similarity is None:
            return False
        return (self.similarity >= SIMILARITY_THRESHOLD) == bool(self.flags)

    @property
    def similar(self) -> bool | None:
        """Equivalent for the similarity gate: close embeddings and no guard flag; where those two disagree and
        the judge has ruled, the judge's ruling (the candidate at least as good: a score of 0.5 or more)."""
        if self.similarity is None:
            return None
        if self.judge is not None and self.unsettled:
            return self.judge >= JUDGE_AS_GOOD
        return self.similarity >= SIMILARITY_THRESHOLD and not self.flags

    @property
    def quality(self) -> float | None:
        """One number per pair for ranking the worst pairs (1 = same answer)."""
        if self.kind == CLASSIFY:
            return None if self.agree is None else float(self.agree)
        if self.kind == EXTRACT:
            return 0.0 if self.json_valid_candidate is False else self.field_f1
        if self.kind == TOOLS:
            return self.tool_match
        if self.similarity is None:
            return None
        return 0.0 if self.flags else self.similarity


@dataclass(frozen=True)
class SideObs:
    """One side's answer for the latency and error metrics (every pair contributes its present sides)."""

    task: str
    side: Side
    ok: bool
    latency_ms: float
    ttft_ms: float | None


@dataclass
class Problems:
    """Counts of what could not be scored (or was scored after repair), with a few example pair ids."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, pair_id: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        bucket = self.examples.setdefault(reason, [])
        if len(bucket) < EXAMPLES_PER_PROBLEM:
            bucket.append(pair_id)


@dataclass
class Scored:
    scores: list[PairScore]
    sides: list[SideObs]
    problems: Problems
    tasks: dict[str, str]  # every task seen (complete or not) -> its scoring kind
    pairs_per_task: dict[str, int] = field(default_factory=dict)
    # (task, incumbent ok, candidate ok) for every pair where both sides answered or failed, in order
    outcomes: list[tuple[str, bool, bool]] = field(default_factory=list)
    # (task, incumbent ms, candidate ms) for the same pairs, a failed side as +inf: the paired latency view
    latency_pairs: list[tuple[str, float, float]] = field(default_factory=list)
    first_ts: float | None = None  # the recording window, for "needed" as time at the observed rate
    last_ts: float | None = None

    @property
    def window_s(self) -> float | None:
        if self.first_ts is None or self.last_ts is None or self.last_ts <= self.first_ts:
            return None
        return self.last_ts - self.first_ts

    total: int = 0
    complete: int = 0


def infer_kind(pair: Pair) -> str:
    """The scoring kind of a pair: its task if it names one, else from the request and the answers."""
    named = kind_of_task(pair.task)
    if named:
        return named
    request = pair.request if isinstance(pair.request, dict) else {}
    fmt, _ = jsonfields.response_format(request)
    if fmt in ("json_object", "json_schema"):
        return EXTRACT
    if request.get("tools") or request.get("functions"):
        return TOOLS
    texts = [answer_text(a).value for a in (pair.incumbent, pair.candidate) if a is not None and a.ok]
    if texts and all(0 < word_count(t) <= SHORT_LABEL_WORDS for t in texts):
        return CLASSIFY
    return CHAT


def task_name(pair: Pair, kind: str) -> str:
    """The task a pair is reported and gated under: its own name (``summarize`` spelt as ``summarise``), or
    its inferred kind when the proxy did not know it."""
    return TASK_ALIASES.get(pair.task, pair.task) or kind


def score_pairs(
    pairs: Iterable[Pair | BadRecord],
    *,
    settings: SettingsLike | None = None,
    similarity: bool = True,
    threads: int = 1,
    task: str | None = None,
    progress: Callable[[int], None] | None = None,
    embed_progress: Callable[[int], None] | None = None,
) -> Scored:
    """Score every pair; ``similarity`` False skips the embedding model (a cheaper run without those gates).
    ``progress`` is called with 1 per pair read, ``embed_progress`` with the number of texts embedded."""
    scorer = Scorer(settings)
    for pair in pairs:
        scorer.add(pair, task)
        if progress is not None:
            progress(1)
    if similarity:
        scorer.fill_similarity(threads, embed_progress)
    return scorer.result()


class Scorer:
    """Scores pairs one at a time (``add``), then embeds the prose pairs in one batch (``fill_similarity``)."""

    def __init__(self, settings: SettingsLike | None) -> None:
        self.critical = dict(settings.critical_fields) if settings is not None else {}
        self.rules = value_rules(settings)
        self.schemas = jsonfields.SchemaCache()
        self.scored = Scored([], [], Problems(), {})
        self._prose: list[tuple[int, str, str]] = []  # (index in scores, incumbent text, candidate text)

    def add(self, pair: Pair | BadRecord, only_task: str | None) -> None:
        if isinstance(pair, BadRecord):
            self.scored.total += 1
            self.scored.problems.add(pair.reason, pair.pair_id)
            return
        try:
            kind = infer_kind(pair)
            name = task_name(pair, kind)
            if only_task is not None and name != only_task:
                return
            self.scored.total += 1
            self._window(float(pair.ts))
            self.scored.tasks.setdefault(name, kind)
            self.scored.pairs_per_task[name] = self.scored.pairs_per_task.get(name, 0) + 1
            self._sides(pair, name)
            scored = self._quality(pair, name, kind)
        except Exception as exc:  # a record we cannot read is reported, never fatal
            log.warning("pair %s could not be scored: %r", getattr(pair, "pair_id", "?"), exc)
            self.scored.problems.add(
                f"unreadable record ({type(exc).__name__})", str(getattr(pair, "pair_id", "?"))
            )
            return
        if scored is not None:
            score, texts = scored
            if kind in (SUMMARISE, CHAT):
                self._prose.append((len(self.scored.scores), *texts))
            self.scored.scores.append(score)

    def _window(self, ts: float) -> None:
        scored = self.scored
        scored.first_ts = ts if scored.first_ts is None else min(scored.first_ts, ts)
        scored.last_ts = ts if scored.last_ts is None else max(scored.last_ts, ts)

    def _sides(self, pair: Pair, task: str) -> None:
        if pair.incumbent is not None and pair.candidate is not None:
            self.scored.outcomes.append((task, pair.incumbent.ok, pair.candidate.ok))
            self.scored.latency_pairs.append((task, _worst(pair.incumbent), _worst(pair.candidate)))
        for side in SIDES:
            answer = pair.answer(side)
            if answer is None:
                self.scored.problems.add(f"{side} missing (not mirrored)", pair.pair_id)
                continue
            if not answer.ok:
                self.scored.problems.add(f"{side} error ({_error_reason(answer)})", pair.pair_id)
            self.scored.sides.append(SideObs(task, side, answer.ok, float(answer.latency_ms), answer.ttft_ms))

    def _quality(self, pair: Pair, task: str, kind: str) -> tuple[PairScore, tuple[str, str]] | None:
        incumbent, candidate = pair.incumbent, pair.candidate
        if incumbent is None or candidate is None or not incumbent.ok or not candidate.ok:
            return None
        self.scored.complete += 1
        left = self._text(answer_text(incumbent), "incumbent", pair.pair_id)
        right = self._text(answer_text(candidate), "candidate", pair.pair_id)
        base = PairScore(
            pair.pair_id,
            task,
            kind,
            request=excerpt(request_text(pair.request), 400),
            incumbent_text=excerpt(left, TEXT_KEPT),
            candidate_text=excerpt(right, TEXT_KEPT),
        )
        if kind == CLASSIFY:
            score = _classify(base, left, right)
        elif kind == EXTRACT:
            score = self._extract(base, pair, left, right)
        elif kind == TOOLS:
            score = self._tools(base, incumbent, candidate)
        else:
            score = _prose(base, pair, left, right)
        return score, (left, right)

    def _text(self, text: Text, side: str, pair_id: str) -> str:
        if text.repaired:
            self.scored.problems.add(f"{side} text not valid UTF-8 (repaired)", pair_id)
        if text.huge:
            self.scored.problems.add(f"{side} answer huge (scored on its first part)", pair_id)
        return text.value

    def _extract(self, base: PairScore, pair: Pair, incumbent: str, candidate: str) -> PairScore:
        reference = jsonfields.parse_answer(incumbent, pair.request, self.schemas)
        answer = jsonfields.parse_answer(candidate, pair.request, self.schemas)
        for side, parsed in (("incumbent", reference), ("candidate", answer)):
            if not parsed.valid:
                self.scored.problems.add(f"{side} invalid JSON", pair.pair_id)
        valid_in, valid_out = _json_ok(reference), _json_ok(answer)
        score = replace(base, json_valid_incumbent=valid_in, json_valid_candidate=valid_out)
        if not reference.valid:  # no reference to compare fields with
            return score
        fields = (
            jsonfields.field_score(reference.value, answer.value, self.rules)
            if answer.valid
            else jsonfields.FieldScore(0, 0, 0)
        )
        critical = self.critical.get(base.task) or self.critical.get(EXTRACT)
        exact = None
        if critical:
            exact = answer.valid and jsonfields.critical_match(
                reference.value, answer.value, tuple(critical), self.rules
            )
        return replace(
            score,
            agree=answer.valid and fields.f1 == 1.0,
            field_precision=fields.precision,
            field_recall=fields.recall,
            field_f1=fields.f1,
            critical_exact=exact,
        )

    def _tools(self, base: PairScore, incumbent: Answer, candidate: Answer) -> PairScore:
        result = tools.tool_score(tools.calls_of(incumbent), tools.calls_of(candidate), self.rules)
        if result.invalid_arguments:
            self.scored.problems.add("candidate tool arguments not JSON", base.pair_id)
        return replace(
            base, agree=result.f1 == 1.0, tool_match=result.f1, tool_names_match=result.names_match
        )

    def fill_similarity(self, threads: int, progress: Callable[[int], None] | None = None) -> None:
        from evaluator.embed import EmbeddingUnavailable, cosine_similarities

        if not self._prose:
            return
        try:
            values = cosine_similarities(
                [(a, b) for _, a, b in self._prose], threads=threads, progress=progress
            )
        except EmbeddingUnavailable as exc:
            self.scored.problems.add(f"similarity not computed: {exc}", "-")
            return
        for (i, _, _), value in zip(self._prose, values, strict=True):
            self.scored.scores[i] = replace(self.scored.scores[i], similarity=value)
        self._prose = []

    def result(self) -> Scored:
        return self.scored


def _error_reason(answer: Answer) -> str:
    if answer.error:
        return answer.error
    body = answer.body
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") or error.get("code") if isinstance(error, dict) else None
    return f"HTTP {answer.status}" + (f" {kind}" if kind else "")


def _with_calls(text: str, answer: Answer) -> str:
    calls = [f"{c.name}({json.dumps(c.arguments, sort_keys=True)})" for c in tools.calls_of(answer)]
    return "\n".join([text, *calls]).strip()


def _json_ok(parsed: jsonfields.Parsed) -> bool:
    return parsed.valid and parsed.schema_valid is not False


def _classify(base: PairScore, incumbent: str, candidate: str) -> PairScore:
    left, right = normalize_label(incumbent), normalize_label(candidate)
    return replace(base, agree=left == right, label_incumbent=left, label_candidate=right)


def _prose(base: PairScore, pair: Pair, incumbent: str, candidate: str) -> PairScore:
    """The guards (negation, changed digits) and the fact checks (:mod:`evaluator.facts`)."""
    source = request_text(pair.request, limit=200_000)
    flags = guards.check(incumbent, candidate, source)
    finish = _finish_reason(pair.candidate)
    seen = {f.guard for f in flags}
    for flag in facts.check(incumbent, candidate, source, finish_reason=finish):
        if not (flag.guard == "quantity" and "numbers" in seen):  # one flag per changed figure
            flags.append(flag)
    return replace(base, flags=tuple(flags))


def _finish_reason(answer: Answer | None) -> str | None:
    body = answer.body if answer is not None else None
    choices = body.get("choices") if isinstance(body, dict) else None
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    reason = first.get("finish_reason")
    return reason if isinstance(reason, str) else None


def _worst(answer: Any) -> float:
    """An answer's latency, a failure as the worst (+inf), as :func:`side_values` counts it."""
    return float(answer.latency_ms) if answer.ok else math.inf


def side_values(
    sides: Sequence[SideObs], side: Side, attr: str, task: str | None, *, failures: bool = False
) -> list[float]:
    """Latency (``latency_ms``) or TTFT (``ttft_ms``) of one side's ok answers, for one task or all.
    ``failures``: a failed answer (error, timeout, refused) counts as the worst latency, +inf, so a side
    that times out on slow requests does not look faster for it."""
    out: list[float] = []
    for obs in sides:
        if obs.side != side or not (task is None or obs.task == task):
            continue
        if not obs.ok:
            if failures:
                out.append(math.inf)
            continue
        value: Any = getattr(obs, attr)
        if value is not None:
            out.append(float(value))
    return out
