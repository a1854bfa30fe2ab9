"""Betting bounds (Waudby-Smith & Ramdas 2024): validity by simulation, tightness where the old bounds failed,
and the defects they fix (zero-width fixed-sample intervals, unpaired errors, failures hidden from latency)."""

from __future__ import annotations

import numpy as np
import pytest

from evaluator import METRICS, betting, evaluate_gates
from evaluator.bounds import mean_interval, one_sample_bounds
from evaluator.decide import decide
from evaluator.verdict import GateSpec, Verdict
from tests.evaluator.factory import error, ok, pair

F1_GATE = GateSpec("extract", "field_f1", margin=0.05)


def test_constant_scores_never_get_a_zero_width_fixed_sample_interval() -> None:
    """The old BCa bootstrap returned [0.95, 0.95] for 20 scores of 0.95: a PASS at the bound."""
    for n in (20, 50, 300):
        lower, upper, method = mean_interval(np.full(n, 0.95), 0.05, sequential=False)
        assert lower < 0.95 < upper and "betting" in method
        assert (
            decide(
                F1_GATE, METRICS["field_f1"], one_sample_bounds(np.full(n, 0.95), 1.0, 0.05, False)
            ).verdict
            is not Verdict.PASS
        )


@pytest.mark.parametrize("sequential", [True, False])
def test_near_constant_f1_exactly_at_the_bound_rarely_passes(sequential: bool) -> None:
    """The audit's case: F1 scores around 0.95 (the bound) passed 51% at n=20 and 20% at n=50 before."""
    rng = np.random.default_rng(3)
    passes = 0
    for _ in range(200):
        scores = 0.95 + rng.uniform(-0.01, 0.01, 50)
        bounds = one_sample_bounds(scores, 1.0, 0.05, sequential)
        passes += decide(F1_GATE, METRICS["field_f1"], bounds).verdict is Verdict.PASS
    assert passes / 200 <= 0.05


def test_betting_bound_covers_the_mean_at_every_look() -> None:
    """Time-uniform: across 300 runs of 1,000 Beta scores, the lower bound ever above the mean <= alpha."""
    rng = np.random.default_rng(5)
    crossed = 0
    for _ in range(300):
        data = rng.beta(8, 2, 1000)  # mean 0.8
        crossed += any(betting.excluded(data[:n], 0.8, 0.05) for n in range(50, 1001, 50))
    assert crossed / 300 <= 0.05


def test_betting_is_tight_for_rates_near_one() -> None:
    assert betting.lower_bound(np.ones(300), 0.05) > 0.98
    assert betting.upper_bound(np.zeros(300), 0.05) < 0.02
    lower, upper = betting.interval(np.r_[np.ones(95), np.zeros(5)], 0.05)
    assert lower < 0.95 < upper


def test_error_rate_is_compared_on_pairs() -> None:
    """Paired: the same requests fail on both sides, so only the discordant pairs carry evidence."""
    both_fail = [pair(error(503), error(503), task="classify") for _ in range(100)]
    both_ok = [pair(ok("Positive"), ok("Positive"), task="classify") for _ in range(3900)]
    pairs = [p for i in range(100) for p in (both_fail[i], *both_ok[39 * i : 39 * i + 39])]
    result = evaluate_gates(pairs, [GateSpec("*", "error_rate", margin=0.01)], coverage=False)[0]
    assert result.verdict is Verdict.PASS and result.estimate == 0.0
    assert result.extra["discordant"] == {"only_candidate": 0, "only_incumbent": 0}
    assert "paired" in result.method


def test_a_candidate_that_times_out_on_slow_requests_does_not_look_faster() -> None:
    """Failures count as the worst latency: 10% timeouts on the slow requests used to drop out of p95."""
    rng = np.random.default_rng(2)
    latencies = rng.lognormal(6.5, 0.4, 1000)
    slow = latencies > np.quantile(latencies, 0.9)
    pairs = [
        pair(ok("Positive", latency_ms=float(ms)),
             error(504, latency_ms=30_000.0, error="timeout") if is_slow else ok("Positive", latency_ms=float(ms)),
             task="classify")
        for ms, is_slow in zip(latencies, slow, strict=True)
    ]  # fmt: skip
    result = evaluate_gates(pairs, [GateSpec("*", "latency_p95", margin=250.0)], coverage=False)[0]
    assert result.verdict is not Verdict.PASS
    assert result.extra["candidate"] == float("inf")
