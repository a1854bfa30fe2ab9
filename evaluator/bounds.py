"""The bounds each kind of gate computes, pure: the effect and the candidate's own value, each end at one-sided
level ``alpha``. :mod:`evaluator.decide` turns them into verdicts; ``bench/verdict_calibration.py`` simulates
them directly.

- one sample (agreement-like, scores in [0, 1]): fixed = Wilson (binary) or BCa bootstrap (scores, n >= 20);
  sequential = Robbins' beta-binomial mixture.
- paired binary (json_valid): fixed = Newcombe paired (method 10), McNemar exact p alongside;
  sequential = a mixture on each discordant share (only the candidate ok, only the incumbent ok), Bonferroni.
- two binary (error_rate): fixed = Newcombe independent, Fisher exact p alongside; sequential = a mixture
  per side at ``alpha / 2`` (Bonferroni).
- two latency samples: p50 fixed = Hodges-Lehmann shift with the Mann-Whitney interval (Kayenta's judge);
  p95 fixed = order-statistic intervals per side at ``alpha / 2``; sequential = mixture quantile bounds per side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from evaluator import sequential as seq
from evaluator import stats

BOOTSTRAP_MIN_N = 20


@dataclass(frozen=True)
class Bounds:
    """What a test found: the effect and the candidate's own value, each with bounds at the gate's alpha."""

    effect: float
    lower: float
    upper: float
    candidate: float
    candidate_lower: float
    candidate_upper: float
    n: int
    method: str
    extra: dict[str, Any] = field(default_factory=dict)


def mean_interval(values: ArrayLike, alpha: float, sequential: bool) -> tuple[float, float, str]:
    """Bounds on the mean of [0, 1] values, each end one-sided at ``alpha``."""
    data = np.asarray(values, dtype=np.float64)
    n, total = int(data.size), float(data.sum())
    if sequential:
        lo, hi = seq.mixture_interval(total, n, alpha)
        return lo, hi, "beta-binomial mixture confidence sequence (always valid)"
    if is_binary(data) or n < BOOTSTRAP_MIN_N:
        lo, hi = stats.wilson_interval(total, n, 1 - 2 * alpha)
        note = "" if is_binary(data) else " on the score sum (conservative at small n)"
        return lo, hi, "Wilson score interval" + note
    lo, hi = stats.bootstrap_mean_interval(data, 1 - 2 * alpha)
    return max(0.0, lo), min(1.0, hi), "BCa bootstrap" if n <= stats.BCA_MAX_N else "t interval (large n)"


def is_binary(data: np.ndarray) -> bool:
    return bool(np.all((data == 0) | (data == 1)))


def one_sample_bounds(
    values: ArrayLike, reference: float, alpha: float, sequential: bool, *, flip: bool = False
) -> Bounds:
    """Mean against ``reference``; ``flip``: the candidate's natural value is ``1 - mean`` (a flag rate)."""
    data = np.asarray(values, dtype=np.float64)
    lo, hi, method = mean_interval(data, alpha, sequential)
    mean = float(data.mean())
    own = (1 - mean, 1 - hi, 1 - lo) if flip else (mean, lo, hi)
    extra = {"reference": reference}
    return Bounds(mean - reference, lo - reference, hi - reference, *own, int(data.size), method, extra)


def paired_bounds(pairs: Sequence[tuple[bool, bool]], alpha: float, sequential: bool) -> Bounds:
    """(incumbent ok, candidate ok) per pair; the effect is candidate share minus incumbent share."""
    n = len(pairs)
    both = sum(1 for i, c in pairs if i and c)
    only_candidate = sum(1 for i, c in pairs if c and not i)
    only_incumbent = sum(1 for i, c in pairs if i and not c)
    neither = n - both - only_candidate - only_incumbent
    cand_rate, inc_rate = (both + only_candidate) / n, (both + only_incumbent) / n
    if sequential:
        lower, upper = discordant_interval(only_candidate, only_incumbent, n, alpha)
        method = "beta-binomial mixture on each discordant share, Bonferroni (always valid)"
        own = seq.mixture_interval(both + only_candidate, n, alpha)
    else:
        lower, upper = stats.newcombe_paired(both, only_candidate, only_incumbent, neither, 1 - 2 * alpha)
        method = "Newcombe paired interval (method 10)"
        own = stats.wilson_interval(both + only_candidate, n, 1 - 2 * alpha)
    extra = {
        "incumbent": inc_rate,
        "discordant": {"only_candidate": only_candidate, "only_incumbent": only_incumbent},
        "mcnemar_exact_p": stats.mcnemar_exact_p(only_candidate, only_incumbent),
    }
    return Bounds(cand_rate - inc_rate, lower, upper, cand_rate, own[0], own[1], n, method, extra)


def discordant_interval(plus: float, minus: float, n: int, alpha: float) -> tuple[float, float]:
    """Always-valid bounds on ``P(only candidate ok) - P(only incumbent ok)`` from the two discordant shares
    (each at ``alpha / 2``): tight when discordance is rare, which a bound on the difference itself is not."""
    plus_lo, plus_hi = seq.mixture_interval(plus, n, alpha / 2)
    minus_lo, minus_hi = seq.mixture_interval(minus, n, alpha / 2)
    return plus_lo - minus_hi, plus_hi - minus_lo


def error_bounds(
    incumbent: tuple[int, int],
    candidate: tuple[int, int],
    alpha: float,
    sequential: bool,
    *,
    details: bool = True,
) -> Bounds:
    """(errors, answers) per side; the effect is incumbent rate minus candidate rate (``details``: Fisher p)."""
    (e_i, n_i), (e_c, n_c) = incumbent, candidate
    lower, upper, own_lo, own_hi, method = error_interval(e_i, n_i, e_c, n_c, alpha, sequential)
    r_i, r_c = (e_i / n_i if n_i else 0.0), e_c / n_c
    extra: dict[str, Any] = {
        "incumbent": r_i,
        "n_incumbent": n_i,
        "errors": {"incumbent": e_i, "candidate": e_c},
    }
    if n_i and details:
        extra["fisher_exact_p"] = stats.fisher_exact_p([[e_c, n_c - e_c], [e_i, n_i - e_i]])
    return Bounds(r_i - r_c, lower, upper, r_c, own_lo, own_hi, n_c, method, extra)


def error_interval(
    e_i: float, n_i: int, e_c: float, n_c: int, alpha: float, sequential: bool
) -> tuple[float, float, float, float, str]:
    """(effect lower, effect upper, candidate rate lower, candidate rate upper, method); counts may be real."""
    if sequential:
        i_lo, i_hi = seq.mixture_interval(e_i, n_i, alpha / 2) if n_i else (0.0, 1.0)
        c_lo, c_hi = seq.mixture_interval(e_c, n_c, alpha / 2)
        own = seq.mixture_interval(e_c, n_c, alpha)
        return i_lo - c_hi, i_hi - c_lo, *own, "beta-binomial mixture per side, Bonferroni (always valid)"
    d_lo, d_hi = stats.newcombe_independent(e_c, n_c, e_i, n_i, 1 - 2 * alpha) if n_i else (-1.0, 1.0)
    own = stats.wilson_interval(e_c, n_c, 1 - 2 * alpha)
    return -d_hi, -d_lo, *own, "Newcombe hybrid score interval"


def latency_bounds(
    incumbent: ArrayLike,
    candidate: ArrayLike,
    q: float,
    alpha: float,
    sequential: bool,
    *,
    details: bool = True,
) -> Bounds:
    """The ``q``-quantile per side (ms); the effect is incumbent minus candidate (positive = faster).
    ``details`` adds the Hodges-Lehmann shift and the Mann-Whitney p (always computed for the fixed p50)."""
    inc, cand = np.asarray(incumbent, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    q_c = stats.quantile(cand, q)
    own = (
        seq.quantile_sequence(cand, q, alpha)
        if sequential
        else stats.quantile_interval(cand, q, 1 - 2 * alpha)
    )
    extra: dict[str, Any] = {"n_incumbent": int(inc.size)}
    if inc.size == 0:
        return Bounds(
            math.nan, -math.inf, math.inf, q_c, *own, int(cand.size), "no incumbent latencies", extra
        )
    q_i = stats.quantile(inc, q)
    effect = q_i - q_c
    extra["incumbent"] = q_i
    if details or (not sequential and q == 0.5):
        shift, s_lo, s_hi = stats.hodges_lehmann_interval(cand, inc, 1 - 2 * alpha)
        extra["hodges_lehmann_shift_ms"] = shift
        extra["mann_whitney_p"] = stats.mann_whitney_p(cand, inc)
    if sequential:
        i_lo, i_hi = seq.quantile_sequence(inc, q, alpha / 2)
        c_lo, c_hi = seq.quantile_sequence(cand, q, alpha / 2)
        lower, upper, method = (
            i_lo - c_hi,
            i_hi - c_lo,
            "mixture quantile bounds per side, Bonferroni (always valid)",
        )
    elif q == 0.5:
        effect, lower, upper = -shift, -s_hi, -s_lo
        method = "Hodges-Lehmann shift, Mann-Whitney interval"
    else:
        i_lo, i_hi = stats.quantile_interval(inc, q, 1 - alpha)
        c_lo, c_hi = stats.quantile_interval(cand, q, 1 - alpha)
        lower, upper, method = i_lo - c_hi, i_hi - c_lo, "order-statistic intervals per side, Bonferroni"
    return Bounds(effect, lower, upper, q_c, own[0], own[1], int(cand.size), method, extra)
