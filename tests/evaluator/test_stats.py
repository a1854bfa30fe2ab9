"""Fixed-sample statistics against published numbers and reference implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from evaluator import stats


def test_wilson_interval_newcombe_81_of_263() -> None:
    # Newcombe (1998) Stat Med 17:857, Table II: 81/263, Wilson score 0.2553 to 0.3662.
    lower, upper = stats.wilson_interval(81, 263, 0.95)
    assert (round(lower, 4), round(upper, 4)) == (0.2553, 0.3662)


def test_wilson_interval_edges() -> None:
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    lower, upper = stats.wilson_interval(10, 10, 0.95)
    assert upper == 1.0 and round(lower, 4) == 0.7225  # z^2 / (n + z^2) away from 1


def test_newcombe_independent_fagerland_epinephrine() -> None:
    # Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables", ch. 4 (Perondi 2004):
    # 7/34 vs 1/34, Newcombe hybrid score: estimate 0.1765, 95% CI 0.0189 to 0.3404.
    lower, upper = stats.newcombe_independent(7, 34, 1, 34, 0.95)
    assert (round(lower, 4), round(upper, 4)) == (0.0189, 0.3404)


def test_newcombe_paired_fagerland_chapter_8() -> None:
    # Same book, ch. 8, paired table [[59, 6], [16, 80]]: -0.0621, 95% CI -0.1186 to -0.0046.
    lower, upper = stats.newcombe_paired(59, 6, 16, 80, 0.95)
    assert (round(lower, 4), round(upper, 4)) == (-0.1186, -0.0046)


def test_mcnemar_exact_published_and_by_hand() -> None:
    # Bentur et al. 2009 in Fagerland ch. 8: discordant 1 and 7, exact conditional McNemar P = 0.0703.
    assert round(stats.mcnemar_exact_p(1, 7), 4) == 0.0703
    # b=12, c=2: 2 * (1 + 14 + 91) / 2^14
    assert stats.mcnemar_exact_p(12, 2) == pytest.approx(212 / 16384)
    assert stats.mcnemar_exact_p(0, 0) == 1.0


def test_fisher_exact_fagerland_chapter_4() -> None:
    # Ritland et al. 2007 in Fagerland ch. 4: [[0, 16], [15, 57]], Fisher exact test P = 0.06287.
    assert round(stats.fisher_exact_p([[0, 16], [15, 57]]), 5) == 0.06287
    # Fisher's tea-tasting table: two-sided P = 34/70.
    assert stats.fisher_exact_p([[3, 1], [1, 3]]) == pytest.approx(34 / 70)


def test_hodges_lehmann_small_sample_by_hand() -> None:
    # x - y differences: {1-0, 2-0, 3-0, 9-0, 1-1, 2-1, 3-1, 9-1} = {1,2,3,9,0,1,2,8}: median of 8 = (2+2)/2.
    assert stats.hodges_lehmann([1, 2, 3, 9], [0, 1]) == 2.0
    assert stats.hodges_lehmann([10, 20, 30], [0]) == 20.0  # odd count: the middle difference


def test_mwu_null_distribution_matches_scipy_exact() -> None:
    cdf = stats._mwu_null_cdf(6, 8)
    rng = np.random.default_rng(1)
    for _ in range(5):
        ranks = rng.permutation(14).astype(float)
        x, y = ranks[:6], ranks[6:]
        u = int(np.sum(np.subtract.outer(x, y) > 0))
        expected = sps.mannwhitneyu(x, y, alternative="less", method="exact").pvalue  # P(U <= u)
        assert cdf[u] == pytest.approx(expected, rel=1e-9)
    # P(U <= 0) = 1 / C(14, 6); the distribution is symmetric around mn / 2
    assert cdf[0] == pytest.approx(1 / math.comb(14, 6))
    assert cdf[47] == pytest.approx(1 - cdf[0])


def test_hodges_lehmann_interval_is_the_mann_whitney_inversion() -> None:
    """Just inside the interval scipy's exact test does not reject at 5%; just outside it does."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 1, 12), rng.normal(0.7, 1, 9)
    shift, lower, upper = stats.hodges_lehmann_interval(x, y, 0.95)
    assert lower < shift < upper

    def p_value(delta: float) -> float:
        return float(sps.mannwhitneyu(x - delta, y, method="exact").pvalue)

    eps = 1e-9
    assert p_value(lower - eps) < 0.05 <= p_value(lower + eps)
    assert p_value(upper + eps) < 0.05 <= p_value(upper - eps)


def test_hodges_lehmann_interval_too_small_is_unbounded() -> None:
    shift, lower, upper = stats.hodges_lehmann_interval([1.0, 2.0], [0.0], 0.95)
    assert shift == 1.5 and lower == -math.inf and upper == math.inf


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.data())
def test_pairwise_kth_bisection_matches_brute_force(m: int, n: int, data: st.DataObject) -> None:
    rng = np.random.default_rng(m * 100 + n)
    x, y = rng.lognormal(6, 0.5, m).round(1), rng.lognormal(6, 0.5, n).round(1)  # with ties
    k = data.draw(st.integers(1, m * n))
    brute = float(np.sort(np.subtract.outer(x, y).ravel())[k - 1])
    old = stats.PAIRWISE_BRUTE_MAX
    stats.PAIRWISE_BRUTE_MAX = 0  # force the bisection path
    try:
        assert stats.pairwise_difference_kth(x, y, k) == brute
    finally:
        stats.PAIRWISE_BRUTE_MAX = old


def test_quantile_interval_order_statistics() -> None:
    # n = 20, q = 0.5, 95%: the classic distribution-free interval is (x_(6), x_(15)).
    values = np.arange(1.0, 21.0)
    assert stats.quantile_interval(values, 0.5, 0.95) == (6.0, 15.0)
    # too few observations for an upper bound on the 95th percentile
    assert stats.quantile_interval(values, 0.95, 0.95)[1] == math.inf


def test_bootstrap_bca_brackets_the_mean_and_handles_constant_data() -> None:
    rng = np.random.default_rng(0)
    values = rng.beta(8, 2, 200)
    lower, upper = stats.bootstrap_mean_interval(values, 0.9)
    assert lower < values.mean() < upper
    t_half = sps.t.ppf(0.95, 199) * values.std(ddof=1) / math.sqrt(200)
    assert upper - lower == pytest.approx(2 * t_half, rel=0.25)
    assert stats.bootstrap_mean_interval(np.ones(50)) == (1.0, 1.0)


def test_needed_n_normal_closed_form() -> None:
    # ((z_0.95 + z_0.8) * 0.5 / 0.1)^2 = (2.4865 * 5)^2 = 154.6 -> 155
    assert stats.needed_n_normal(0.1, 0.5, 0.05, 0.8) == 155
    assert stats.needed_n_normal(-0.01, 0.5, 0.05) is None
