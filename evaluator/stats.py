"""Fixed-sample statistics for the gates: pure functions over counts and arrays.

Every interval here is two-sided at ``confidence``; a gate at level ``alpha`` asks for
``confidence = 1 - 2 * alpha`` so that each end is a one-sided bound at ``alpha``. The always-valid
(sequential) counterparts live in :mod:`evaluator.sequential`.

References: Wilson (1927); Newcombe, Stat Med 17:873 (independent) and 17:2635 (paired), method 10 in both;
Hodges & Lehmann (1963) with the Mann-Whitney inversion R's ``wilcox.test(conf.int=TRUE)`` uses; order-statistic
quantile intervals (distribution-free, binomial); BCa bootstrap (Efron 1987) via ``scipy.stats.bootstrap``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as st

Interval = tuple[float, float]
FloatArray = NDArray[np.float64]

# Above this the BCa jackknife costs O(n^2) for nothing: a mean of bounded scores is normal to 1e-3 there.
BCA_MAX_N = 2000
# Exact Mann-Whitney null distribution below this per-sample size (as R does), normal approximation above.
MWU_EXACT_MAX = 50
# Brute-force pairwise differences up to this many (32 MB); bisection on counts above, in O(m + n) memory.
PAIRWISE_BRUTE_MAX = 4_000_000


def z_two_sided(confidence: float) -> float:
    return float(st.norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a proportion; ``successes`` may be a real sum of [0, 1] scores."""
    if n <= 0:
        return (0.0, 1.0)
    if successes <= 0 or successes >= n:  # exact ends: the interval touches 0 or 1
        z = z_two_sided(confidence)
        edge = n / (n + z * z)
        return (0.0, 1 - edge) if successes <= 0 else (edge, 1.0)
    z = z_two_sided(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def clopper_pearson_interval(successes: float, n: int, confidence: float = 0.95) -> Interval:
    """Clopper-Pearson (exact binomial) interval: each end covers with probability at least
    ``(1 + confidence) / 2`` at every n and p, unlike Wilson's, which undercovers near the edges (the fixed-sample
    gates' false PASS at the margin was 0.055-0.070 with Wilson)."""
    if n <= 0:
        return (0.0, 1.0)
    x, tail = round(successes), (1 - confidence) / 2
    lower = 0.0 if x <= 0 else float(st.beta.ppf(tail, x, n - x + 1))
    upper = 1.0 if x >= n else float(st.beta.ppf(1 - tail, x + 1, n - x))
    return (lower, upper)


def newcombe_independent(x1: float, n1: int, x2: float, n2: int, confidence: float = 0.95) -> Interval:
    """Newcombe's hybrid score interval (method 10) for ``x1/n1 - x2/n2``, independent samples."""
    p1, p2 = x1 / n1 if n1 else 0.0, x2 / n2 if n2 else 0.0
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    d = p1 - p2
    lower = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (max(-1.0, lower), min(1.0, upper))


def newcombe_paired(a: int, b: int, c: int, d: int, confidence: float = 0.95) -> Interval:
    """Newcombe's method 10 for paired proportions ``p1 - p2 = (b - c) / n``.

    The 2x2 table: ``a`` both succeed, ``b`` only the first, ``c`` only the second, ``d`` neither.
    """
    n = a + b + c + d
    if n == 0:
        return (-1.0, 1.0)
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_interval(a + b, n, confidence)
    l2, u2 = wilson_interval(a + c, n, confidence)
    phi = _paired_phi(a, b, c, d)
    diff = p1 - p2
    lower = diff - math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    upper = diff + math.sqrt(max((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2, 0.0))
    return (max(-1.0, lower), min(1.0, upper))


def _paired_phi(a: int, b: int, c: int, d: int) -> float:
    """Newcombe's continuity-corrected correlation between the two paired proportions."""
    n = a + b + c + d
    product = (a + b) * (c + d) * (a + c) * (b + d)
    if product == 0:
        return 0.0
    cross = a * d - b * c
    corrected = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
    return corrected / math.sqrt(product)


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact (conditional binomial) McNemar p-value from the discordant counts."""
    if b + c == 0:
        return 1.0
    return min(1.0, 2 * float(st.binom.cdf(min(b, c), b + c, 0.5)))


def fisher_exact_p(table: Sequence[Sequence[int]]) -> float:
    """Two-sided Fisher exact p-value of a 2x2 table."""
    return float(st.fisher_exact(np.asarray(table, dtype=np.int64)).pvalue)


def bootstrap_mean_interval(
    values: ArrayLike, confidence: float = 0.95, *, n_resamples: int = 2000, seed: int = 0
) -> Interval:
    """BCa bootstrap interval of a mean (t interval above :data:`BCA_MAX_N`; point for constant data)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return (-math.inf, math.inf)
    if data.size == 1 or float(np.ptp(data)) == 0.0:
        return (float(data[0]), float(data[0]))
    if data.size > BCA_MAX_N:
        half = (
            float(st.t.ppf(0.5 + confidence / 2, data.size - 1))
            * float(data.std(ddof=1))
            / math.sqrt(data.size)
        )
        return (float(data.mean()) - half, float(data.mean()) + half)
    result = st.bootstrap(
        (data,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="BCa",
        rng=np.random.default_rng(seed),
        batch=500,
    )
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


# --- Hodges-Lehmann shift and its Mann-Whitney interval ------------------------------------------------


def pairwise_difference_kth(x: ArrayLike, y: ArrayLike, k: int) -> float:
    """The ``k``-th smallest (1-based) of all ``x_i - y_j``, without building them when there are many."""
    xs = np.sort(np.asarray(x, dtype=np.float64))
    ys = np.sort(np.asarray(y, dtype=np.float64))
    total = xs.size * ys.size
    if not 1 <= k <= total:
        raise ValueError(f"k={k} is outside 1..{total}")
    if total <= PAIRWISE_BRUTE_MAX:
        diffs = np.subtract.outer(xs, ys).ravel()
        return float(np.partition(diffs, k - 1)[k - 1])
    lo, hi = float(xs[0] - ys[-1]), float(xs[-1] - ys[0])
    if _count_at_most(xs, ys, lo) >= k:
        return lo
    while True:  # invariant: count(<= lo) < k <= count(<= hi)
        mid = (lo + hi) / 2
        if mid <= lo or mid >= hi:
            break
        if _count_at_most(xs, ys, mid) >= k:
            hi = mid
        else:
            lo = mid
    return _largest_at_most(xs, ys, hi)


def _first_qualifying(xs: FloatArray, ys: FloatArray, t: float) -> np.ndarray:
    """Per ``x_i``, the first index j with ``x_i - y_j <= t``, decided on the exact differences (the search on
    ``x_i - t`` can be off by one rounding step; a block of tied ``y`` moves as one)."""
    idx = np.searchsorted(ys, xs - t, side="left")
    prev = np.clip(idx - 1, 0, ys.size - 1)
    back = (idx > 0) & (xs - ys[prev] <= t)
    idx = np.where(back, np.searchsorted(ys, ys[prev], side="left"), idx)
    here = np.clip(idx, 0, ys.size - 1)
    ahead = (idx < ys.size) & (xs - ys[here] > t)
    return np.where(ahead, np.searchsorted(ys, ys[here], side="right"), idx)


def _count_at_most(xs: FloatArray, ys: FloatArray, t: float) -> int:
    """How many ``x_i - y_j <= t``."""
    return int(np.sum(ys.size - _first_qualifying(xs, ys, t)))


def _largest_at_most(xs: FloatArray, ys: FloatArray, t: float) -> float:
    idx = _first_qualifying(xs, ys, t)
    valid = idx < ys.size
    return float(np.max(xs[valid] - ys[idx[valid]]))


def hodges_lehmann(x: ArrayLike, y: ArrayLike) -> float:
    """Hodges-Lehmann two-sample shift: the median of all ``x_i - y_j``."""
    m, n = np.size(x), np.size(y)
    total = m * n
    if total == 0:
        return math.nan
    if total % 2:
        return pairwise_difference_kth(x, y, (total + 1) // 2)
    return (pairwise_difference_kth(x, y, total // 2) + pairwise_difference_kth(x, y, total // 2 + 1)) / 2


@lru_cache(maxsize=256)
def _mwu_null_cdf(m: int, n: int) -> tuple[float, ...]:
    """P(U <= u), u = 0..mn, under no shift and no ties: coefficients of the Gaussian binomial [m+n, m]_q."""
    size = m * n + 1
    poly = np.zeros(size, dtype=np.float64)
    poly[0] = 1.0
    for i in range(1, m + 1):
        shift = n + i
        if shift < size:
            poly[shift:] = poly[shift:] - poly[: size - shift].copy()
        for r in range(i):  # divide by (1 - q^i): a running sum with stride i
            poly[r::i] = np.cumsum(poly[r::i])
    cdf = np.cumsum(poly) / poly.sum()
    return tuple(float(v) for v in cdf)


def mwu_critical_index(m: int, n: int, confidence: float) -> int:
    """R's ``qwilcox((1 - confidence) / 2, m, n)``: the interval is ``[D_(k), D_(mn - k + 1)]``; 0 = unbounded."""
    tail = (1 - confidence) / 2
    if m < MWU_EXACT_MAX and n < MWU_EXACT_MAX:
        cdf = np.asarray(_mwu_null_cdf(m, n))
        return int(np.searchsorted(cdf, tail * (1 - 1e-12), side="left"))
    sigma = math.sqrt(m * n * (m + n + 1) / 12)
    return max(0, math.ceil(m * n / 2 - 0.5 + float(st.norm.ppf(tail)) * sigma))


def hodges_lehmann_interval(
    x: ArrayLike, y: ArrayLike, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(shift, lower, upper) for the location shift ``x - y`` (Mann-Whitney inversion, as Kayenta and R)."""
    m, n = np.size(x), np.size(y)
    if m == 0 or n == 0:
        return (math.nan, -math.inf, math.inf)
    shift = hodges_lehmann(x, y)
    k = mwu_critical_index(m, n, confidence)
    if k < 1:
        return (shift, -math.inf, math.inf)
    return (shift, pairwise_difference_kth(x, y, k), pairwise_difference_kth(x, y, m * n - k + 1))


def mann_whitney_p(x: ArrayLike, y: ArrayLike) -> float:
    """Two-sided Mann-Whitney U p-value (scipy's automatic exact/asymptotic choice)."""
    if np.size(x) == 0 or np.size(y) == 0:
        return math.nan
    return float(st.mannwhitneyu(np.asarray(x), np.asarray(y), alternative="two-sided").pvalue)


# --- quantiles ---------------------------------------------------------------------------------------


def quantile_interval(values: ArrayLike, q: float, confidence: float = 0.95) -> Interval:
    """Distribution-free interval for the ``q``-quantile from order statistics (binomial, no assumptions)."""
    xs = np.sort(np.asarray(values, dtype=np.float64))
    n = xs.size
    tail = (1 - confidence) / 2
    if n == 0:
        return (-math.inf, math.inf)
    cdf = st.binom.cdf(np.arange(n + 1), n, q)
    below = np.nonzero(cdf <= tail)[0]  # l - 1 = largest k with P(Bin <= k) <= tail
    above = np.nonzero(cdf >= 1 - tail)[0]  # u - 1 = smallest k with P(Bin <= k) >= 1 - tail
    lower = float(xs[below[-1]]) if below.size else -math.inf
    upper_index = int(above[0]) if above.size else n
    upper = float(xs[upper_index]) if upper_index < n else math.inf
    return (lower, upper)


def quantile(values: ArrayLike, q: float) -> float:
    """The sample quantile; with failures counted as +inf, an order statistic (no inf - inf interpolation)."""
    data = np.asarray(values, dtype=np.float64)
    if not data.size:
        return math.nan
    if np.all(np.isfinite(data)):
        return float(np.quantile(data, q))
    return float(np.quantile(data, q, method="inverted_cdf"))


# --- sample size ---------------------------------------------------------------------------------------


def needed_n_normal(gap: float, sd: float, alpha: float, power: float = 0.8) -> int | None:
    """Fixed-sample n for a one-sided test at ``alpha`` to clear ``gap`` (effect + margin) with ``power``."""
    if gap <= 0 or not math.isfinite(gap):
        return None
    if sd <= 0:
        return 2
    z = float(st.norm.ppf(1 - alpha)) + float(st.norm.ppf(power))
    return max(2, math.ceil((z * sd / gap) ** 2))
