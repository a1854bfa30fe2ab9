"""Always-valid bounds: closed forms, published formulas, and time-uniform coverage by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluator import sequential as seq


def test_two_sided_mixture_closed_form_all_successes() -> None:
    # Uniform prior, S = t: M_t(p) = B(t + 1, 1) / p^t = 1 / ((t + 1) p^t); the boundary is (alpha/(t+1))^(1/t).
    t = 50
    p = (0.05 / (t + 1)) ** (1 / t)
    assert seq.log_mixture_martingale(p, t, t) == pytest.approx(math.log(1 / 0.05))


def test_one_sided_mixture_closed_form_all_successes() -> None:
    # Prior uniform on (p, 1): M_t(p) = (1 - p^(t+1)) / ((t + 1)(1 - p) p^t).
    t, p = 40, 0.9
    expected = (1 - p ** (t + 1)) / ((t + 1) * (1 - p) * p**t)
    assert float(seq.log_one_sided_mixture(p, t, t)) == pytest.approx(math.log(expected))
    lower = seq.mixture_lower(t, t, 0.05)
    closed = (1 - lower ** (t + 1)) / ((t + 1) * (1 - lower) * lower**t)
    assert closed == pytest.approx(20.0, rel=1e-6)  # the bound sits where M_t = 1 / alpha


def test_mixture_interval_brackets_the_estimate_and_mirrors() -> None:
    for s, t in ((0, 10), (3, 10), (95, 100), (100, 100), (930.5, 1000)):
        lower, upper = seq.mixture_interval(s, t, 0.05)
        assert lower <= s / t <= upper
        flipped = seq.mixture_interval(t - s, t, 0.05)
        assert (1 - flipped[1], 1 - flipped[0]) == pytest.approx((lower, upper))
    assert seq.mixture_interval(0, 0, 0.05) == (0.0, 1.0)


def test_one_sided_bound_is_tighter_than_two_sided_near_one() -> None:
    two_sided = (0.05 / 201) ** (1 / 200)  # two-sided mixture, 200 of 200
    assert seq.mixture_lower(200, 200, 0.05) > two_sided + 0.01


def test_mixture_lower_is_valid_at_every_look() -> None:
    """Time-uniform: over 1,000 observations, the lower bound exceeds the true mean at *some* look in at
    most alpha of the runs (here 0.05; the run-to-run sampling error is about 0.01)."""
    rng = np.random.default_rng(11)
    p, alpha, runs = 0.9, 0.05, 300
    looks = range(10, 1001, 10)
    crossed = 0
    for _ in range(runs):
        sums = np.cumsum(rng.random(looks.stop) < p)
        crossed += any(seq.mixture_lower(float(sums[n - 1]), n, alpha) > p for n in looks)
    assert crossed / runs <= alpha + 0.02


def test_normal_mixture_radius_waudby_smith_form() -> None:
    # Waudby-Smith et al. (2021): sigma * sqrt(2 (t rho^2 + 1) / (t^2 rho^2) * log(sqrt(t rho^2 + 1) / alpha)),
    # with rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / t_opt.
    n, sd, alpha, n_opt = 400, 2.0, 0.05, 500
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / n_opt
    expected = sd * math.sqrt(2 * (n * rho2 + 1) / (n * n * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha))
    assert seq.normal_mixture_radius(n, sd, alpha, n_opt) == pytest.approx(expected)
    assert seq.normal_mixture_radius(n, 1.0, alpha) > 1.96 / math.sqrt(n)  # wider than a fixed interval


def test_quantile_sequence_brackets_the_sample_quantile() -> None:
    rng = np.random.default_rng(2)
    values = rng.lognormal(6, 0.4, 3000)
    lower, upper = seq.quantile_sequence(values, 0.95, 0.05)
    true_p95 = math.exp(6 + 0.4 * 1.6448536)
    assert lower < np.quantile(values, 0.95) < upper
    assert lower < true_p95 < upper
    assert seq.quantile_sequence(values[:20], 0.95, 0.05)[1] == math.inf  # too few for an upper bound
