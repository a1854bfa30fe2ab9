"""Fixed-sample mode (`report --fixed-sample`) is valid at alpha for one look: Wilson and Newcombe were not
(single-look false PASS 0.055-0.070 at the margin in bench/verdict_calibration.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from evaluator import stats
from evaluator.bounds import mean_interval, paired_bounds

ALPHA = 0.05


def test_clopper_pearson_matches_the_exact_binomial_interval() -> None:
    # Newcombe (1998) Stat Med 17:857, Table II, 81/263: exact 0.2527 to 0.3676.
    lower, upper = stats.clopper_pearson_interval(81, 263, 0.95)
    assert (round(lower, 4), round(upper, 4)) == (0.2527, 0.3676)
    reference = sps.binomtest(7, 40).proportion_ci(0.9, "exact")
    assert stats.clopper_pearson_interval(7, 40, 0.9) == pytest.approx((reference.low, reference.high))
    assert stats.clopper_pearson_interval(0, 10, 0.9)[0] == 0.0
    assert stats.clopper_pearson_interval(10, 10, 0.9)[1] == 1.0


@pytest.mark.parametrize(("edge", "n"), [(0.85, 100), (0.92, 500), (0.95, 1000)])
def test_binary_gate_false_pass_at_the_margin_is_at_most_alpha_exactly(edge: float, n: int) -> None:
    """Every count x at n, weighted by its exact binomial probability when the truth is the margin's edge.
    Wilson gave 0.055 (0.85, n=100) and 0.054 (0.92, n=500)."""
    pmf = sps.binom.pmf(np.arange(n + 1), n, edge)
    passes = [
        mean_interval(np.r_[np.ones(x), np.zeros(n - x)], ALPHA, sequential=False)[0] > edge
        for x in range(n + 1)
    ]
    assert float(pmf[passes].sum()) <= ALPHA


def test_paired_error_gate_false_pass_at_the_margin_is_at_most_alpha() -> None:
    """Incumbent errors 1%, candidate 2% (worse by exactly the 1-point margin), one look at 500 pairs.
    Newcombe's paired interval PASSed about 7% of such runs; the betting bound for n = 500 is valid."""
    rng, runs, n, margin = np.random.default_rng(3), 1500, 500, 0.01
    passed = 0
    for _ in range(runs):
        inc_ok, cand_ok = rng.random(n) >= 0.01, rng.random(n) >= 0.02
        pairs = list(zip(inc_ok.tolist(), cand_ok.tolist(), strict=True))
        passed += paired_bounds(pairs, ALPHA, sequential=False, flip=True).lower > -margin
    assert passed / runs <= ALPHA


def test_paired_fixed_sample_bound_brackets_the_effect_and_keeps_newcombe_for_reference() -> None:
    rows = [(True, True)] * 990 + [(False, True)] * 6 + [(True, False)] * 4
    pairs = [rows[i] for i in np.random.default_rng(1).permutation(len(rows))]
    fixed = paired_bounds(pairs, ALPHA, sequential=False, flip=True)
    assert fixed.effect == pytest.approx(0.002)
    assert -0.01 < fixed.lower < fixed.effect < fixed.upper < 0.015
    assert fixed.method == "betting confidence interval for n = 1000 on the paired difference"
    assert "newcombe_paired" in fixed.extra
