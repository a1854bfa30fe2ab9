"""From samples to a :class:`GateResult`: bounds (:mod:`evaluator.bounds`), a verdict, and for an
INCONCLUSIVE gate the sample size that would give 80% power if the current estimate held.

Verdict: PASS if the effect's lower bound > -margin, FAIL if its upper bound < -margin; a ``limit`` (hard limit)
FAILs when the candidate's own bound is past it and PASSes when its other bound is inside it. With a limit and
no margin the gate is the limit alone (the policy's "hard limit instead"); with both, both must PASS.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as st

from evaluator import betting, stats
from evaluator import sequential as seq
from evaluator.bounds import (
    Bounds,
    is_binary,
    latency_bounds,
    one_sample_bounds,
    paired_bounds,
    paired_shifted,
)
from evaluator.metrics import Metric
from evaluator.verdict import GateResult, GateSpec, Verdict

POWER = 0.8
MAX_NEEDED = 10_000_000


def one_sample(values: Sequence[float], gate: GateSpec, metric: Metric, *, sequential: bool) -> GateResult:
    """Mean of [0, 1] values against the metric's reference (what the incumbent scores against itself)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return _empty(gate, "no comparable pairs yet")
    bounds = one_sample_bounds(data, metric.reference, gate.alpha, sequential, flip=metric.lower_is_better)
    result = decide(gate, metric, bounds)
    if result.verdict is not Verdict.INCONCLUSIVE:
        return result
    return _with_needed(result, needed_one_sample(data, gate, metric, sequential=sequential))


def needed_one_sample(values: ArrayLike, gate: GateSpec, metric: Metric, *, sequential: bool) -> int | None:
    """The n the report claims: 80% power (one look at that n) if the pairs keep coming as observed. The
    betting bounds are simulated on resamples of the observed scores; Clopper-Pearson's (fixed, binary) is
    solved."""
    data = np.asarray(values, dtype=np.float64)
    threshold = _threshold(gate, metric)
    if sequential or not is_binary(data):
        return betting.needed_n(data, threshold, gate.alpha, sequential=sequential)
    n = int(data.size)
    p = _shrunk(float(data.sum()), n)  # keeps the spread of an all-agree sample above zero
    return needed_n_bounded(
        float(data.mean()),
        math.sqrt(p * (1 - p)),
        threshold,
        lambda s, k: stats.clopper_pearson_interval(s, k, 1 - 2 * gate.alpha)[0],
    )


def _shrunk(total: float, n: int) -> float:
    return (total + 0.5) / (n + 1)


def _threshold(gate: GateSpec, metric: Metric) -> float:
    """The candidate's mean must clear this for the margin part: reference - margin (or the limit alone)."""
    if gate.limit is not None and not gate.margin:
        return 1 - gate.limit if metric.lower_is_better else gate.limit
    return metric.reference - gate.margin


def needed_n_bounded(
    mean: float, sd: float, threshold: float, lower_bound: Callable[[float, int], float]
) -> int | None:
    """Smallest n at which a sample whose sum lands at its 20th percentile (``n mean - z sd sqrt(n) - 1/2``)
    still has ``lower_bound(sum, n) > threshold``: the n with 80% power if the mean and sd hold."""
    if mean <= threshold:
        return None
    z = float(st.norm.ppf(POWER))

    def passes(n: int) -> bool:
        total = n * mean - z * sd * math.sqrt(n) - 0.5  # continuity: counts are whole numbers
        return total > 0 and lower_bound(min(total, n), n) > threshold

    return _smallest(passes)


def paired_binary(
    pairs: Sequence[tuple[bool, bool]], gate: GateSpec, metric: Metric, *, sequential: bool
) -> GateResult:
    """``pairs`` are (incumbent ok, candidate ok); the effect is candidate share minus incumbent share, which
    for ``error_rate`` is incumbent errors minus candidate errors. Paired, in arrival order."""
    n = len(pairs)
    if n == 0:
        return _empty(gate, "no comparable pairs yet")
    bounds = paired_bounds(pairs, gate.alpha, sequential, flip=metric.lower_is_better)
    result = decide(gate, metric, bounds)
    if result.verdict is not Verdict.INCONCLUSIVE:
        return result
    return _with_needed(result, needed_paired(pairs, gate, metric, sequential=sequential))


def needed_paired(
    pairs: Sequence[tuple[bool, bool]], gate: GateSpec, metric: Metric, *, sequential: bool
) -> int | None:
    """The n at which the paired gate PASSes in 80% of samples drawn like the observed pairs."""
    if gate.limit is not None and not gate.margin:  # the candidate's own error rate against the limit
        ok = np.asarray([1.0 if c else 0.0 for _, c in pairs])
        return needed_one_sample(ok, gate, metric, sequential=sequential)
    shifted = paired_shifted(pairs)
    threshold = (1 - gate.margin) / 2
    return betting.needed_n(shifted, threshold, gate.alpha, sequential=sequential)


def _smallest(passes: Callable[[int], bool]) -> int | None:
    """Smallest n >= 1 with ``passes(n)`` for a predicate that turns true and stays true (None if never)."""
    hi = 1
    while not passes(hi):
        hi *= 2
        if hi > MAX_NEEDED:
            return None
    return seq.first_true(passes, hi // 2 + 1 if hi > 1 else 1, hi)


def _needed_normal(gap: float, sd: float, alpha: float, sequential: bool) -> int | None:
    if not sequential:
        return stats.needed_n_normal(gap, sd, alpha, POWER)
    if gap <= 0 or not math.isfinite(gap):
        return None
    z = float(st.norm.ppf(POWER))
    n = 2
    while z * sd / math.sqrt(n) + seq.normal_mixture_radius(n, sd, alpha) >= gap:
        n = math.ceil(n * 1.1)
        if n > MAX_NEEDED:
            return None
    return n


def two_latency(
    incumbent: Sequence[float],
    candidate: Sequence[float],
    q: float,
    gate: GateSpec,
    metric: Metric,
    *,
    sequential: bool,
) -> GateResult:
    """A latency quantile per side (ms); the effect is incumbent minus candidate (positive = faster)."""
    inc, cand = np.asarray(incumbent, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    if cand.size == 0:
        return _empty(gate, "no candidate latencies yet")
    bounds = latency_bounds(inc, cand, q, gate.alpha, sequential)
    result = decide(gate, metric, bounds)
    if result.verdict is not Verdict.INCONCLUSIVE:
        return result
    return _with_needed(result, needed_latency(bounds, inc, cand, q, gate, sequential))


def needed_latency(
    b: Bounds, inc: np.ndarray, cand: np.ndarray, q: float, gate: GateSpec, sequential: bool
) -> int | None:
    # how many standard errors the current half-width spans: z for a fixed interval, more for a sequence
    z = float(st.norm.ppf(1 - gate.alpha))
    if sequential:
        z = seq.normal_mixture_radius(b.n, 1.0, gate.alpha) * math.sqrt(b.n)
    if gate.limit is not None and not gate.margin:
        gap, width = gate.limit - b.candidate, b.candidate_upper - b.candidate
    else:
        gap, width = b.effect + gate.margin, b.effect - b.lower
    if math.isfinite(width) and width > 0:
        sd = width * math.sqrt(b.n) / z
    else:  # too few observations for any bound: the normal-theory spread of a sample quantile
        spread = math.sqrt(q * (1 - q)) / float(st.norm.pdf(st.norm.ppf(q)))
        sd = spread * math.sqrt(_finite_var(cand) + _finite_var(inc))
    needed = _needed_normal(gap, sd, gate.alpha, sequential)
    return None if needed is None else max(needed, min_n_quantile(q, gate.alpha / 2, sequential))


def _finite_var(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.var(finite)) if finite.size else 0.0


def min_n_quantile(q: float, alpha: float, sequential: bool) -> int:
    """The fewest observations for which a one-sided upper bound on the ``q``-quantile exists at all."""
    if not sequential:
        return math.ceil(math.log(alpha) / math.log(q))
    n = 1
    while seq.mixture_lower(n, n, alpha) <= q and n < MAX_NEEDED:
        n = math.ceil(n * 1.05) + 1
    return n


# --- the verdict ---------------------------------------------------------------------------------------


def decide(gate: GateSpec, metric: Metric, b: Bounds) -> GateResult:
    parts: list[Verdict] = []
    notes: list[str] = []
    limit_only = gate.limit is not None and not gate.margin
    if not limit_only:
        parts.append(_margin_verdict(b, gate.margin))
        notes.append(_margin_note(parts[-1], b, gate.margin))
    if gate.limit is not None:
        parts.append(_limit_verdict(b, gate.limit, metric.lower_is_better))
        notes.append(_limit_note(parts[-1], b, gate.limit, metric))
    verdict = (
        Verdict.FAIL
        if Verdict.FAIL in parts
        else Verdict.PASS
        if all(p is Verdict.PASS for p in parts)
        else Verdict.INCONCLUSIVE
    )
    extra = {
        **b.extra,
        "candidate": b.candidate,
        "candidate_lower": b.candidate_lower,
        "candidate_upper": b.candidate_upper,
    }
    if limit_only:
        estimate, lower, upper = b.candidate, b.candidate_lower, b.candidate_upper
        extra["scale"] = "candidate value"
    else:
        estimate, lower, upper = b.effect, b.lower, b.upper
        extra["scale"] = "effect (higher is better for the candidate)"
    return GateResult(
        gate, verdict, _num(estimate), _num(lower), _num(upper), b.n, None, b.method, "; ".join(notes), extra
    )


def _margin_verdict(b: Bounds, margin: float) -> Verdict:
    if b.lower > -margin:
        return Verdict.PASS
    if b.upper < -margin:
        return Verdict.FAIL
    return Verdict.INCONCLUSIVE


def _limit_verdict(b: Bounds, limit: float, lower_is_better: bool) -> Verdict:
    if lower_is_better:
        broken, within = b.candidate_lower > limit, b.candidate_upper <= limit
    else:
        broken, within = b.candidate_upper < limit, b.candidate_lower >= limit
    return Verdict.FAIL if broken else Verdict.PASS if within else Verdict.INCONCLUSIVE


def _margin_note(v: Verdict, b: Bounds, margin: float) -> str:
    if v is Verdict.PASS:
        return f"lower bound {b.lower:.4g} > -margin {-margin:.4g}"
    if v is Verdict.FAIL:
        return f"upper bound {b.upper:.4g} < -margin {-margin:.4g}: worse than the margin allows"
    return f"interval [{b.lower:.4g}, {b.upper:.4g}] contains -margin {-margin:.4g}"


def _limit_note(v: Verdict, b: Bounds, limit: float, metric: Metric) -> str:
    side = "at most" if metric.lower_is_better else "at least"
    where = f"candidate {b.candidate:.4g} [{b.candidate_lower:.4g}, {b.candidate_upper:.4g}] {metric.units}"
    state = {Verdict.PASS: "within", Verdict.FAIL: "BROKEN:", Verdict.INCONCLUSIVE: "not yet decided:"}[v]
    return f"limit {side} {limit:g} {state} {where}"


def _with_needed(result: GateResult, needed: int | None) -> GateResult:
    if needed is None:
        detail = result.detail + "; no sample size would PASS if the current estimate holds"
        return replace(result, needed_n=None, detail=detail)
    needed = max(needed, result.n + 1)
    detail = f"{result.detail}; about {needed} needed for 80% power if the estimate holds"
    return replace(result, needed_n=needed, detail=detail)


def _empty(gate: GateSpec, detail: str) -> GateResult:
    return GateResult(gate, Verdict.INCONCLUSIVE, None, None, None, 0, None, "", detail)


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
