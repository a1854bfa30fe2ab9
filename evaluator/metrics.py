"""The metric names a :class:`~evaluator.verdict.GateSpec` may ask for, in one place.

Every gate is a non-inferiority question on a *difference* scale where higher is better for the candidate:
``effect = candidate - reference`` (quality) or ``incumbent - candidate`` (latency, errors). A gate PASSes when
the lower confidence bound of the effect is above ``-margin``, FAILs when the upper bound is below it.
Without ground truth the incumbent is the reference, so it agrees with itself: quality metrics compare the
candidate's agreement with the incumbent against 1.0 (0.5 for the judge, 0 flags for the guards).
"""

from __future__ import annotations

from dataclasses import dataclass

# The scoring kinds. A pair's task (the specialist name) maps to one of them.
CLASSIFY = "classify"
EXTRACT = "extract"
TOOLS = "tools"
SUMMARISE = "summarise"
CHAT = "chat"
KINDS: tuple[str, ...] = (CLASSIFY, EXTRACT, TOOLS, SUMMARISE, CHAT)
TASK_ALIASES = {
    "summarize": SUMMARISE,
    "summary": SUMMARISE,
    "classification": CLASSIFY,
    "extraction": EXTRACT,
}


@dataclass(frozen=True)
class Metric:
    name: str
    kinds: frozenset[str]  # the scoring kinds it applies to; empty = every pair (side metrics)
    family: str  # "one_sample", "paired_binary", "two_binary", "two_latency"
    reference: float  # what the incumbent scores against itself (one-sample metrics)
    lower_is_better: bool  # for a hard limit: is the limit a maximum?
    units: str
    meaning: str

    @property
    def per_side(self) -> bool:
        return not self.kinds


_QUALITY = frozenset(KINDS)

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "agreement",
            frozenset({CLASSIFY}),
            "one_sample",
            1.0,
            False,
            "share",
            "share of pairs whose labels are equal after normalization (case, punctuation, whitespace); "
            "PASS if the lower bound of the share > 1 - margin",
        ),
        Metric(
            "json_valid",
            frozenset({EXTRACT}),
            "paired_binary",
            0.0,
            False,
            "share",
            "candidate minus incumbent share of answers that parse as JSON (and match the request's "
            "json_schema); paired: betting bound on the per-pair difference and McNemar exact p",
        ),
        Metric(
            "field_f1",
            frozenset({EXTRACT}),
            "one_sample",
            1.0,
            False,
            "F1",
            "mean per-pair F1 of the candidate's flattened normalized key/value pairs against the incumbent's",
        ),
        Metric(
            "critical_exact",
            frozenset({EXTRACT}),
            "one_sample",
            1.0,
            False,
            "share",
            "share of pairs whose configured critical fields are exactly equal (evaluation.critical_fields)",
        ),
        Metric(
            "tool_match",
            frozenset({TOOLS}),
            "one_sample",
            1.0,
            False,
            "F1",
            "mean per-pair F1 over tool calls; a call matches with the same name and JSON-equal arguments "
            "(numbers within a relative tolerance)",
        ),
        Metric(
            "similarity",
            frozenset({SUMMARISE, CHAT}),
            "one_sample",
            1.0,
            False,
            "share",
            "share of pairs judged equivalent: embedding cosine >= the similarity threshold and no guard flag "
            "(negation flip, changed number); flagged pairs count as disagreements",
        ),
        Metric(
            "guard_flags",
            frozenset({SUMMARISE, CHAT}),
            "one_sample",
            1.0,
            True,
            "share flagged",
            "share of pairs a guard flagged (negation flip, number not in the incumbent's answer or the request); "
            "PASS if its upper bound < margin",
        ),
        Metric(
            "judge_score",
            _QUALITY,
            "one_sample",
            0.5,
            False,
            "preference",
            "pairwise judge asked in both orders: 1 candidate better, 0 worse, 0.5 tie or position-inconsistent; "
            "mean compared with 0.5",
        ),
        Metric(
            "latency_p50", frozenset(), "two_latency", 0.0, True, "ms", "median total latency of ok answers"
        ),
        Metric("latency_p95", frozenset(), "two_latency", 0.0, True, "ms", "95th percentile total latency"),
        Metric(
            "ttft_p50", frozenset(), "two_latency", 0.0, True, "ms", "median time to first token (streams)"
        ),
        Metric(
            "ttft_p95", frozenset(), "two_latency", 0.0, True, "ms", "95th percentile time to first token"
        ),
        Metric(
            "error_rate",
            frozenset(),
            "two_binary",
            0.0,
            True,
            "share",
            "share of answers that are errors (non-2xx, error body, timeout, refused); paired: betting bound on "
            "the per-pair difference and McNemar exact p",
        ),
    )
}

LATENCY_QUANTILES = {"latency_p50": 0.5, "latency_p95": 0.95, "ttft_p50": 0.5, "ttft_p95": 0.95}


def kind_of_task(task: str) -> str | None:
    """The scoring kind a task name maps to directly, or None when it must be inferred from the pair."""
    task = TASK_ALIASES.get(task, task)
    return task if task in KINDS else None
