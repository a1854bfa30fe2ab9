"""cost_summary: the incumbent's token cost at the observed volume against the candidate's monthly cost."""

from __future__ import annotations

import pytest

from core.config import CandidateCostSettings, PriceSettings
from core.pair import Pair
from evaluator.cost import HOURS_PER_MONTH, cost_summary
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
