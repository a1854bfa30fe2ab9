"""Always-valid (sequential) bounds: the rollout looks again and again, so a fixed-sample interval would
PASS a bad candidate far more often than ``alpha``. These confidence sequences hold at every n at once.

- :func:`mixture_interval`: Robbins' (1970) beta-binomial mixture. ``M_t(p) = B(a+S, b+t-S) / (B(a, b)
  p^S (1-p)^(t-S))`` is a nonnegative martingale under mean ``p`` for Bernoulli data and a supermartingale for
  any data in [0, 1] (the integrand is convex in each observation), so by Ville's inequality
  ``{p : M_t(p) < 1/alpha}`` covers the mean at every t with probability >= 1 - alpha. S may be a real sum.
- :func:`normal_mixture_radius`: the two-sided normal-mixture boundary (Howard et al. 2021; the asymptotic
  confidence sequence of Waudby-Smith et al. 2021 with the sample sd plugged in). Used for sample-size
  estimates of unbounded metrics.
- :func:`quantile_sequence`: a quantile bound from the Bernoulli mixture at the (fixed, unknown) quantile point.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

Interval = tuple[float, float]

# The prior of the mixture: uniform. Neutral about where the rate lies; costs little at any n.
PRIOR_A = 1.0
PRIOR_B = 1.0
# The normal mixture is tuned to be tightest near this many observations (a typical stage's pairs).
NORMAL_MIXTURE_N_OPT = 500


def log_mixture_martingale(p: float, s: float, t: float, a: float = PRIOR_A, b: float = PRIOR_B) -> float:
    """log M_t(p) of the beta-binomial mixture after ``t`` observations summing to ``s``."""
    log_beta = special.betaln(a + s, b + t - s) - special.betaln(a, b)
    return float(log_beta - special.xlogy(s, p) - special.xlog1py(t - s, -p))


def mixture_interval(s: float, t: float, alpha: float, a: float = PRIOR_A, b: float = PRIOR_B) -> Interval:
    """The confidence sequence for a mean in [0, 1] at level ``alpha`` (each end is also one-sided valid)."""
    if t <= 0:
        return (0.0, 1.0)
    s = min(max(s, 0.0), t)
    level = math.log(1 / alpha)
    p_hat = s / t

    def excess(p: float) -> float:
        return log_mixture_martingale(p, s, t, a, b) - level

    lower = 0.0 if s == 0 or excess(_EPS) <= 0 else _root(excess, _EPS, min(p_hat, 1 - _EPS))
    upper = 1.0 if s == t or excess(1 - _EPS) <= 0 else _root(excess, max(p_hat, _EPS), 1 - _EPS)
    return (lower, upper)


_EPS = 1e-12


def _root(fn: Callable[[float], float], lo: float, hi: float) -> float:
    if fn(lo) * fn(hi) > 0:  # p_hat itself is outside (cannot happen with a proper prior, but be safe)
        return lo if abs(fn(lo)) < abs(fn(hi)) else hi
    return float(optimize.brentq(fn, lo, hi, xtol=1e-10))


def mixture_lower(s: float, t: float, alpha: float) -> float:
    return mixture_interval(s, t, alpha)[0]


def mixture_upper(s: float, t: float, alpha: float) -> float:
    return mixture_interval(s, t, alpha)[1]


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
    k = _first_true(lambda count: mixture_lower(count, n, alpha) > q, 1, n)
    lower = float(xs[j - 1]) if j is not None else -math.inf
    upper = float(xs[k - 1]) if k is not None else math.inf
    return (lower, upper)


def _first_true(pred: Callable[[int], bool], lo: int, hi: int) -> int | None:
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
