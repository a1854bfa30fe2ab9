"""Always-valid (sequential) bounds: the rollout looks again and again, so a fixed-sample interval would
PASS a bad candidate far more often than ``alpha``. These confidence sequences hold at every n at once.

- :func:`mixture_interval`: Robbins' (1970) beta-binomial mixture, one-sided. For each end the mixing prior
  (uniform) is restricted to the alternatives on that side: for the lower bound ``M_t(p) = E_q[(q/p)^S
  ((1-q)/(1-p))^(t-S)]`` over ``q`` uniform on ``(p, 1)``. Each ``q`` term is a nonnegative martingale under
  mean ``p`` for Bernoulli data and a supermartingale for any data in [0, 1] (it is convex in each
  observation), so by Ville's inequality the lower bound ``sup{p : M_t(p') >= 1/alpha for all p' <= p}``
  exceeds the mean at some t with probability <= alpha. S may be a real sum. Restricting the prior to one
  side makes the bound about twice as tight as the two-sided mixture (:func:`log_mixture_martingale`) for
  rates near 1, where the gates live.
- :func:`normal_mixture_radius`: the two-sided normal-mixture boundary (Howard et al. 2021; the asymptotic
  confidence sequence of Waudby-Smith et al. 2021 with the sample sd plugged in). Used for sample-size
  estimates of unbounded metrics.
- :func:`quantile_sequence`: a quantile bound from the Bernoulli mixture at the (fixed, unknown) quantile point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

Interval = tuple[float, float]

# The prior of the mixture: uniform. Neutral about where the rate lies; costs little at any n.
PRIOR_A = 1.0
PRIOR_B = 1.0
# The normal mixture is tuned to be tightest near this many observations (a typical stage's pairs).
NORMAL_MIXTURE_N_OPT = 500
# Points (uniform in log-odds) where the bound's crossing is bracketed before root finding.
GRID_POINTS = 24


def log_mixture_martingale(p: float, s: float, t: float, a: float = PRIOR_A, b: float = PRIOR_B) -> float:
    """log M_t(p) of the beta-binomial mixture after ``t`` observations summing to ``s`` (scalar math: this
    runs inside root finding, where numpy/scipy call overhead would dominate)."""
    log_beta = _betaln(a + s, b + t - s) - _betaln(a, b)
    log_likelihood = (s * math.log(p) if s else 0.0) + ((t - s) * math.log1p(-p) if t - s else 0.0)
    return log_beta - log_likelihood


def _betaln(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def log_one_sided_mixture(p: ArrayLike, s: float, t: float, a: float = PRIOR_A, b: float = PRIOR_B) -> Any:
    """log M_t(p) with the prior restricted to alternatives above ``p`` (vectorized over ``p``)."""
    grid = np.asarray(p, dtype=np.float64)
    post_a, post_b = a + s, b + t - s
    with np.errstate(divide="ignore"):
        tail = np.log(special.betaincc(post_a, post_b, grid)) - np.log(special.betaincc(a, b, grid))
    log_beta = special.betaln(post_a, post_b) - special.betaln(a, b)
    return log_beta + tail - special.xlogy(s, grid) - special.xlog1py(t - s, -grid)


def mixture_lower(s: float, t: float, alpha: float, a: float = PRIOR_A, b: float = PRIOR_B) -> float:
    """Always-valid one-sided lower bound at level ``alpha`` for a mean in [0, 1] (``s`` = sum of ``t``)."""
    if t <= 0 or s <= 0:
        return 0.0
    s = min(s, t)
    level = math.log(1 / alpha)
    p_hat = s / t
    top = math.log(p_hat / (1 - p_hat)) if p_hat < 1 else 30.0
    grid = 1 / (1 + np.exp(-np.linspace(-25.0, top, GRID_POINTS)))
    excess = log_one_sided_mixture(grid, s, t, a, b) - level
    kept = np.nonzero(excess < 0)[0]
    if kept.size == 0:
        return float(grid[-1])
    first = int(kept[0])
    if first == 0:
        return 0.0

    def fn(p: float) -> float:
        return _log_one_sided_scalar(p, s, t, a, b) - level

    return float(optimize.brentq(fn, float(grid[first - 1]), float(grid[first]), xtol=1e-10))


def _log_one_sided_scalar(p: float, s: float, t: float, a: float, b: float) -> float:
    """:func:`log_one_sided_mixture` for one ``p`` with scalar math (it runs inside root finding)."""
    post_tail = float(special.betaincc(a + s, b + t - s, p))
    if post_tail <= 0.0:
        return -math.inf
    tail = math.log(post_tail) - math.log(float(special.betaincc(a, b, p)))
    log_likelihood = (s * math.log(p) if s else 0.0) + ((t - s) * math.log1p(-p) if t - s else 0.0)
    return _betaln(a + s, b + t - s) - _betaln(a, b) + tail - log_likelihood


def mixture_upper(s: float, t: float, alpha: float, a: float = PRIOR_A, b: float = PRIOR_B) -> float:
    """The mirror of :func:`mixture_lower`: 1 - the lower bound of the failures' mean."""
    if t <= 0:
        return 1.0
    return 1.0 - mixture_lower(t - min(max(s, 0.0), t), t, alpha, b, a)


def mixture_interval(s: float, t: float, alpha: float) -> Interval:
    """(lower, upper), each end an always-valid one-sided bound at ``alpha`` (together: level 2 * alpha)."""
    return (mixture_lower(s, t, alpha), mixture_upper(s, t, alpha))


def normal_mixture_radius(n: float, sd: float, alpha: float, n_opt: float = NORMAL_MIXTURE_N_OPT) -> float:
    """Half-width of the two-sided normal-mixture confidence sequence for a mean after ``n`` observations."""
    if n <= 0:
        return math.inf
    log_inv = -2 * math.log(alpha)
    rho2 = (log_inv + math.log(log_inv + 1)) / n_opt
    return sd * math.sqrt(2 * (n * rho2 + 1) / (n * n * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha))


def quantile_sequence(values: ArrayLike, q: float, alpha: float) -> Interval:
    """Always-valid bounds for the ``q``-quantile, each end at one-sided level ``alpha``.

    The lower end is the order statistic ``x_(j)`` with the largest j whose mixture upper bound for
    ``P(X <= x_(j-1))`` stays below q; the upper end is ``x_(k)`` with the smallest k whose mixture lower bound
    for the share at or below it exceeds q. Either failing means the Bernoulli sequence at the true quantile
    point left its confidence sequence, which happens with probability <= alpha.
    """
    xs = np.sort(np.asarray(values, dtype=np.float64))
    n = int(xs.size)
    if n == 0:
        return (-math.inf, math.inf)
    # largest j in 1..n with upper(j - 1, n) < q
    j = _last_true(lambda count: mixture_upper(count - 1, n, alpha) < q, 1, n)
    # smallest k in 1..n with lower(k, n) > q
    k = first_true(lambda count: mixture_lower(count, n, alpha) > q, 1, n)
    lower = float(xs[j - 1]) if j is not None else -math.inf
    upper = float(xs[k - 1]) if k is not None else math.inf
    return (lower, upper)


def first_true(pred: Callable[[int], bool], lo: int, hi: int) -> int | None:
    """Smallest x in [lo, hi] with pred(x) for a predicate that is monotone False...True."""
    if not pred(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _last_true(pred: Callable[[int], bool], lo: int, hi: int) -> int | None:
    """Largest x in [lo, hi] with pred(x) for a predicate that is monotone True...False."""
    if not pred(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if pred(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo
