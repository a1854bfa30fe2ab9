"""The bounds each kind of gate computes, pure: the effect and the candidate's own value, each end at one-sided
level ``alpha``. :mod:`evaluator.decide` turns them into verdicts; ``bench/verdict_calibration.py`` simulates
them directly.

- one sample (agreement-like, scores in [0, 1]): sequential = the betting confidence sequence
  (:mod:`evaluator.betting`); fixed = Clopper-Pearson (binary: exact, where Wilson let 5.5-7% false PASS
  through at the margin) or the betting bound tuned for one look at n (scores: never zero-width, unlike a
  bootstrap of near-constant scores).
- paired binary (json_valid, error_rate): the per-pair difference ``candidate ok - incumbent ok`` in {-1, 0, 1},
  mapped to [0, 1]; sequential = betting on its mean; fixed = the betting bound for one look at n on the
  same mapped difference (valid at alpha; Newcombe's paired interval let 7% false PASS through at the margin,
  and it is kept in ``extra`` for reference). McNemar exact p alongside. Error rate is compared on the pairs where both sides answered or failed.
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

from evaluator import betting, stats
from evaluator import sequential as seq

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


BETTING = "betting confidence sequence (Waudby-Smith & Ramdas 2024; always valid)"


def mean_interval(values: ArrayLike, alpha: float, sequential: bool) -> tuple[float, float, str]:
    """Bounds on the mean of [0, 1] values (in arrival order), each end one-sided at ``alpha``."""
    data = np.asarray(values, dtype=np.float64)
    n, total = int(data.size), float(data.sum())
    if sequential:
        return *betting.interval(data, alpha), BETTING
    if is_binary(data):
        return *stats.clopper_pearson_interval(total, n, 1 - 2 * alpha), "Clopper-Pearson exact interval"
    return *betting.interval(data, alpha, horizon=n), f"betting confidence interval for n = {n}"


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


def paired_bounds(
    pairs: Sequence[tuple[bool, bool]], alpha: float, sequential: bool, *, flip: bool = False
) -> Bounds:
    """(incumbent ok, candidate ok) per pair; the effect is candidate share minus incumbent share (for error
    rates: incumbent errors minus candidate errors, the same number). ``flip``: the candidate's own value is
    its failure share (an error rate) rather than its ok share."""
    n = len(pairs)
    both = sum(1 for i, c in pairs if i and c)
    only_candidate = sum(1 for i, c in pairs if c and not i)
    only_incumbent = sum(1 for i, c in pairs if i and not c)
    neither = n - both - only_candidate - only_incumbent
    cand_rate, inc_rate = (both + only_candidate) / n, (both + only_incumbent) / n
    shifted = paired_shifted(pairs)
    extra: dict[str, Any] = {}
    if sequential:
        lo, hi = betting.interval(shifted, alpha)
        method = "betting confidence sequence on the paired difference (always valid)"
        own = betting.interval(np.asarray([float(c) for _, c in pairs]), alpha)
    else:
        lo, hi = betting.interval(shifted, alpha, horizon=n)
        method = f"betting confidence interval for n = {n} on the paired difference"
        own = stats.clopper_pearson_interval(both + only_candidate, n, 1 - 2 * alpha)
        extra["newcombe_paired"] = stats.newcombe_paired(
            both, only_candidate, only_incumbent, neither, 1 - 2 * alpha
        )
    lower, upper = 2 * lo - 1, 2 * hi - 1
    extra |= {
        "incumbent": 1 - inc_rate if flip else inc_rate,
        "discordant": {"only_candidate": only_candidate, "only_incumbent": only_incumbent},
        "mcnemar_exact_p": stats.mcnemar_exact_p(only_candidate, only_incumbent),
    }
    mine = (1 - cand_rate, 1 - own[1], 1 - own[0]) if flip else (cand_rate, own[0], own[1])
    return Bounds(cand_rate - inc_rate, lower, upper, *mine, n, method, extra)


def paired_shifted(pairs: Sequence[tuple[bool, bool]]) -> np.ndarray:
    """``(1 + candidate ok - incumbent ok) / 2`` per pair: the paired difference on [0, 1], in order."""
    return np.asarray([(1 + int(c) - int(i)) / 2 for i, c in pairs], dtype=np.float64)


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
        big = np.finfo(np.float64).max / 4  # ranks only: failures are the slowest, and finite for the shift
        shift, s_lo, s_hi = stats.hodges_lehmann_interval(
            np.minimum(cand, big), np.minimum(inc, big), 1 - 2 * alpha
        )
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
    return Bounds(
        _or(effect, math.nan), _or(lower, -math.inf), _or(upper, math.inf), q_c, own[0], own[1],
        int(cand.size), method, extra,
    )  # fmt: skip


def _or(value: float, fallback: float) -> float:
    """inf - inf (both sides' quantile is a failure) is no information: the widest bound."""
    return fallback if math.isnan(value) else value


def paired_latency_differences(
    incumbent: ArrayLike, candidate: ArrayLike, q: float, alpha: float
) -> dict[str, Any]:
    """Candidate minus incumbent on the same request (ms), its ``q``-quantile and an order-statistic interval
    (distribution-free, each end at ``alpha``). A failure is the worst latency: a side that failed alone is
    +-inf slower; a request both sides failed says nothing and is left out. Shown next to the per-side
    quantiles: the pairing removes the request-to-request spread that the per-side comparison carries."""
    inc, cand = np.asarray(incumbent, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    both_failed = np.isinf(inc) & np.isinf(cand)
    with np.errstate(invalid="ignore"):
        diffs = (cand - inc)[~both_failed]
    if diffs.size == 0:
        return {}
    lo, hi = stats.quantile_interval(diffs, q, 1 - 2 * alpha)
    return {
        "paired_n": int(diffs.size),
        "paired_quantile_diff_ms": stats.quantile(diffs, q),
        "paired_quantile_diff_bounds_ms": (lo, hi),
        "paired_candidate_slower_share": float(np.mean(diffs > 0)),
    }
