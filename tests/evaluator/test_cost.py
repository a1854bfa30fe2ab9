"""cost_summary: the incumbent's token cost at the observed volume against the candidate's monthly cost."""

from __future__ import annotations

import pytest

from core.config import CandidateCostSettings, PriceSettings
from core.pair import Pair
from evaluator.cost import (
    DEFAULT_THROUGHPUT,
    HOURS_PER_MONTH,
    Throughput,
    cost_summary,
    gpus_needed,
    peak_rate,
    what_if,
)
from tests.evaluator.factory import ok, pair

PRICING = {"gpt-4o-mini": PriceSettings(input_per_1m=0.15, output_per_1m=0.60)}
PER_REQUEST = (1000 * 0.15 + 500 * 0.60) / 1_000_000  # 0.00045 USD


def _pairs() -> list[Pair]:
    usage = {"prompt_tokens": 1000, "completion_tokens": 500}
    return [
        pair(ok("a", **usage), ok("a"), ts=0.0),
        pair(ok("a", **usage), None, ts=3600.0),
        pair(None, ok("a", **usage), ts=5400.0),  # served by the candidate: priced from its token counts
        pair(ok("a", **usage), ok("a"), ts=7200.0, model="gpt-4o"),  # no price entry
    ]


def test_cost_summary_arithmetic() -> None:
    summary = cost_summary(_pairs(), PRICING, CandidateCostSettings(usd_per_gpu_hour=2.0, gpus=1))
    assert summary.requests == 4 and summary.priced_requests == 3 and summary.estimated_requests == 1
    assert summary.unpriced_models == ("gpt-4o",)
    assert summary.window_s == 7200.0
    assert summary.requests_per_month == pytest.approx(4 / 7200 * HOURS_PER_MONTH * 3600)  # 1,460
    assert summary.incumbent_cost_usd == pytest.approx(3 * PER_REQUEST)
    assert summary.incumbent_cost_per_request == pytest.approx(PER_REQUEST)
    assert summary.incumbent_monthly_usd == pytest.approx(1460 * PER_REQUEST)
    assert summary.candidate_monthly_usd == pytest.approx(2.0 * HOURS_PER_MONTH)
    assert summary.monthly_saving_usd == pytest.approx(1460 * PER_REQUEST - 1460.0)
    assert summary.breakeven_requests_per_month == pytest.approx(1460.0 / PER_REQUEST)
    assert summary.prompt_tokens == 3000 and summary.completion_tokens == 1500


def test_flat_monthly_cost_wins_and_missing_data_is_none() -> None:
    flat = cost_summary(
        _pairs(), PRICING, CandidateCostSettings(usd_per_gpu_hour=2.0, gpus=4, flat_monthly_usd=100.0)
    )
    assert flat.candidate_monthly_usd == 100.0
    empty = cost_summary([], PRICING, None)
    assert empty.requests == 0 and empty.requests_per_month is None and empty.monthly_saving_usd is None
    assert (
        cost_summary(_pairs()[:1], PRICING, CandidateCostSettings()).requests_per_month is None
    )  # no window yet


def test_a_window_under_an_hour_is_never_projected() -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 500}
    short = cost_summary(
        [pair(ok("a", **usage), None, ts=0.0), pair(ok("a", **usage), None, ts=3599.0)],
        PRICING,
        CandidateCostSettings(usd_per_gpu_hour=2.0),
    )
    assert short.requests_per_month is None and short.incumbent_monthly_usd is None
    assert short.incumbent_cost_usd == pytest.approx(2 * PER_REQUEST)  # the window itself is still priced


# The seed's calculator tiers, by hand: 500 tokens a request (250 in, 250 out) at $0.002 per 1K tokens is
# $0.001 a request; a month is 730 h = 2,628,000 s; an 8B replica does 3,000 tokens/s on one GPU at $2.50/h,
# so one GPU costs 730 x 2.50 = $1,825 a month; the peak is 3x the mean, plus 30% headroom.
SEED_TIERS = [
    # requests, incumbent $, mean tok/s = N x 500 / 2,628,000, GPUs, saving $
    (10_000, 10.0, 1.9026, 1, -1815.0),
    (100_000, 100.0, 19.026, 1, -1725.0),
    (500_000, 500.0, 95.129, 1, -1325.0),
    (2_000_000, 2000.0, 380.52, 1, 175.0),
]


@pytest.mark.parametrize(("requests", "incumbent", "mean", "gpus", "saving"), SEED_TIERS)
def test_what_if_matches_the_hand_computed_seed_tiers(
    requests: int, incumbent: float, mean: float, gpus: int, saving: float
) -> None:
    row = what_if(
        requests,
        tokens_in=250,
        tokens_out=250,
        price=PriceSettings(input_per_1m=2.0, output_per_1m=2.0),
        throughput=DEFAULT_THROUGHPUT["8b"],
        usd_per_gpu_hour=2.5,
        headroom=0.3,
        peak_to_mean=3.0,
    )
    assert row.incumbent_monthly_usd == pytest.approx(incumbent)
    assert row.mean_tokens_s == pytest.approx(mean, rel=1e-3)
    assert row.peak_tokens_s == pytest.approx(3 * mean, rel=1e-3)
    assert row.gpus == gpus and row.candidate_monthly_usd == pytest.approx(1825.0)
    assert row.monthly_saving_usd == pytest.approx(saving)


@pytest.mark.parametrize(
    ("peak", "headroom", "expected"),
    [(0.0, 0.3, 1), (2300.0, 0.3, 1), (2308.0, 0.3, 2), (6000.0, 0.0, 2), (6001.0, 0.0, 3)],
)
def test_gpus_are_whole_replicas_for_the_peak_with_headroom(
    peak: float, headroom: float, expected: int
) -> None:
    assert gpus_needed(peak, Throughput(3000.0, 1, "test"), headroom) == expected
    assert gpus_needed(peak, Throughput(3000.0, 2, "test"), headroom) == 2 * expected


def test_peak_is_the_busiest_minute() -> None:
    events = [(0.0, 600), (30.0, 600), (70.0, 60), (130.0, 6000), (179.0, 0)]
    assert peak_rate(events) == pytest.approx(6000 / 60)
    assert peak_rate([(0.0, 100), (10.0, 100)]) == pytest.approx(20.0)  # under a minute: the whole window
    assert peak_rate([]) is None
