"""Confidence bounds by betting for the mean of values in [0, 1] (Waudby-Smith & Ramdas, "Estimating means of
bounded random variables by betting", JRSS-B 86(1), 2024): the anchor of the gates' sequential mode.

For a candidate mean ``m`` a gambler who believes the mean is above ``m`` bets a fraction ``lambda_t`` of his
capital on each observation: ``K_t(m) = prod_i (1 + lambda_i (x_i - m))``. If the true mean is ``m`` (or
less) this is a nonnegative (super)martingale, so by Ville's inequality it ever reaches ``1 / alpha`` with
probability at most ``alpha``. Every ``m`` at which the capital has reached ``1 / alpha`` is excluded, so the
lower bound is the largest ``m`` below which every value is excluded. The upper bound is the mirror image
(bets on ``1 - x``); together they are the paper's hedged capital process with ``theta = 1/2`` at level
``2 alpha``, each end one-sided at ``alpha`` as the gates use them.

Bets (the paper's predictable plug-in, eqs. 26-27): ``lambda_t = sqrt(2 log(1/alpha) / (sigma2_{t-1} t
log(1 + t)))``, from the running variance estimate with a prior of 1/4, truncated at ``c / m`` so the capital
stays positive. It bets big when the scores barely vary, which is what makes it tight where the mixture and
Hoeffding-type bounds are not (a constant score gets a bound that tightens like 1/t, never a zero width).

``horizon``: a fixed-sample bound tuned for one look at ``n`` (``sqrt(2 log(1/alpha) / (n sigma2))``), valid
the same way; the sequential schedule is valid at every look, however many.

Exclusion is checked on the current capital, not its running maximum: Ville's inequality already bounds the
chance that it EVER reaches ``1 / alpha`` under the null, so every look is valid, and a candidate that
degrades after an early streak loses the capital it won (a running intersection would keep the early PASS).
The search for the bound assumes exclusion is monotone in ``m`` (it is for the untruncated bets; truncation
keeps it so in practice); the bound is refined on a grid to about 1e-6.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

TRUNCATION = 0.75  # c: the largest fraction of the capital at risk (the paper uses 1/2 or 3/4)
GRID = 48  # candidate means per refinement round
ROUNDS = 4  # 48^4 cells: the bound is exact to ~1e-6 of the range


def bets(data: FloatArray, alpha: float, horizon: int | None = None) -> FloatArray:
    """The predictable plug-in bet sizes before truncation, one per observation (uses only the past)."""
    n = data.size
    t = np.arange(1, n + 1, dtype=np.float64)
    mean = (0.5 + np.cumsum(data)) / (t + 1)
    spread = (0.25 + np.cumsum((data - mean) ** 2)) / (t + 1)
    previous = np.r_[0.25, spread[:-1]]  # sigma2_{t-1}: the bet on x_t is placed before x_t is seen
    log_level = math.log(1 / alpha)
    scale = np.full(n, float(horizon)) if horizon else t * np.log1p(t)
    return np.asarray(np.sqrt(2 * log_level / (previous * scale)), dtype=np.float64)


def log_capital(data: FloatArray, lam: FloatArray, means: FloatArray) -> FloatArray:
    """log K_n(m) after all observations, for each candidate mean ``m``."""
    m = means[None, :]
    stake = np.minimum(lam[:, None], TRUNCATION / np.maximum(m, 1e-12))
    return np.asarray(np.sum(np.log1p(stake * (data[:, None] - m)), axis=0), dtype=np.float64)


def capital_path(data: FloatArray, mean: float, alpha: float) -> FloatArray:
    """log K_t(mean) for t = 1..n under the sequential bets."""
    stake = np.minimum(bets(data, alpha), TRUNCATION / max(mean, 1e-12))
    return np.asarray(np.cumsum(np.log1p(stake * (data - mean))), dtype=np.float64)


def excluded(values: ArrayLike, mean: float, alpha: float, horizon: int | None = None) -> bool:
    """Has a bettor on "the mean is above ``mean``" reached ``1 / alpha`` at some point? (a PASS test)"""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0 or mean <= 0:
        return mean < 0
    if mean >= 1:
        return False
    capital = log_capital(data, bets(data, alpha, horizon), np.asarray([mean]))
    return bool(capital[0] >= math.log(1 / alpha))


def lower_bound(values: ArrayLike, alpha: float, horizon: int | None = None) -> float:
    """The betting lower confidence bound at one-sided level ``alpha`` for the mean of ``values`` in [0, 1]."""
    data = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    if data.size == 0:
        return 0.0
    lam, level = bets(data, alpha, horizon), math.log(1 / alpha)
    lo, hi = 0.0, 1.0
    for _ in range(ROUNDS):
        grid = np.linspace(lo, hi, GRID)
        out = log_capital(data, lam, grid) >= level
        out[0] = out[0] or grid[0] <= 0.0  # the mean of [0, 1] values is never below 0
        if out.all():
            return float(hi)
        first = int(np.argmin(out))  # first mean not excluded
        if first == 0:
            return float(lo)
        lo, hi = float(grid[first - 1]), float(grid[first])
    return lo


def upper_bound(values: ArrayLike, alpha: float, horizon: int | None = None) -> float:
    """The mirror of :func:`lower_bound`: one minus the lower bound of ``1 - values``."""
    return 1.0 - lower_bound(1.0 - np.asarray(values, dtype=np.float64), alpha, horizon)


def interval(values: ArrayLike, alpha: float, horizon: int | None = None) -> tuple[float, float]:
    """(lower, upper), each end one-sided at ``alpha`` (the hedged process at level ``2 alpha``)."""
    return lower_bound(values, alpha, horizon), upper_bound(values, alpha, horizon)


# --- the sample size a report claims -----------------------------------------------------------------------

# The claimed n is where 90% of simulated samples PASS (not 80%): the simulation resamples
# the observed pairs, and its own noise must not make the claim fall short of 80% power.
CLAIM_QUANTILE = 0.9
RESAMPLES = 64
MAX_CLAIM = 200_000


def _resampler(values: FloatArray, seed: int) -> tuple[np.random.Generator, FloatArray, float]:
    """Resample the observed values, with half a pseudo-observation at 0 in ``n + 1`` so that a sample that
    happens to be all perfect does not promise a certainty it has not seen."""
    return np.random.default_rng(seed), values, 0.5 / (values.size + 1)


def _draw(rng: np.random.Generator, values: FloatArray, shrink: float, size: int) -> FloatArray:
    draws = rng.choice(values, size=size)
    draws[rng.random(size) < shrink] = 0.0
    return draws


def needed_n(
    values: ArrayLike, threshold: float, alpha: float, *, sequential: bool, seed: int = 0
) -> int | None:
    """The n at which the gate's own betting bound clears ``threshold`` in :data:`CLAIM_QUANTILE` of samples
    drawn like the observed ones (None: the observed mean is not above the threshold, or beyond
    :data:`MAX_CLAIM`)."""
    data = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    if data.size == 0 or (float(data.sum()) + 0.5) / (data.size + 1) <= threshold:
        return None
    rng, pool, shrink = _resampler(data, seed)
    if sequential:
        return _needed_sequential(rng, pool, shrink, threshold, alpha)
    return _needed_fixed(rng, pool, shrink, threshold, alpha)


def _needed_sequential(
    rng: np.random.Generator, pool: FloatArray, shrink: float, threshold: float, alpha: float
) -> int | None:
    """Sequential bets do not depend on n: one long path per resample says at which n each would PASS."""
    length, level = max(4 * pool.size, 1024), math.log(1 / alpha)
    while True:
        passing = np.zeros(length, dtype=np.int64)
        for _ in range(RESAMPLES):
            passing += capital_path(_draw(rng, pool, shrink, length), threshold, alpha) >= level
        enough = np.nonzero(passing >= CLAIM_QUANTILE * RESAMPLES)[0]
        if enough.size:
            return int(enough[0]) + 1
        if length >= MAX_CLAIM:
            return None
        length = min(length * 4, MAX_CLAIM)


def _needed_fixed(
    rng: np.random.Generator, pool: FloatArray, shrink: float, threshold: float, alpha: float
) -> int | None:
    def passes(n: int) -> bool:
        hits = sum(
            excluded(_draw(rng, pool, shrink, n), threshold, alpha, horizon=n) for _ in range(RESAMPLES)
        )
        return hits >= CLAIM_QUANTILE * RESAMPLES

    hi = 16
    while not passes(hi):
        hi *= 2
        if hi > MAX_CLAIM:
            return None
    lo = hi // 2 + 1
    while lo < hi:  # a noisy predicate: the search settles on one crossing, the bench checks the power
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if passes(mid) else (mid + 1, hi)
    return lo
