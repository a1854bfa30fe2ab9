"""Cost arithmetic, pure: what the incumbent costs at the observed volume against the candidate's fixed cost.

The incumbent's cost per request comes from its recorded token usage and the price table (USD per 1M tokens,
keyed by the model name the client asked for). Requests the incumbent did not answer (served by the
candidate, not mirrored) are priced from the candidate's token counts at the incumbent's price: what they
would have cost. The volume is the number of recorded requests over the recorded time window, projected to a
month of 730 hours. The candidate costs ``flat_monthly_usd`` when given (a flat contract), else
``usd_per_gpu_hour * gpus * 730``. ``alveare-migrate savings`` reuses :func:`cost_summary`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from core.pair import Answer, Pair

HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600.0


class PriceLike(Protocol):
    @property
    def input_per_1m(self) -> float: ...
    @property
    def output_per_1m(self) -> float: ...


class CandidateCostLike(Protocol):
    @property
    def usd_per_gpu_hour(self) -> float | None: ...
    @property
    def gpus(self) -> int: ...
    @property
    def flat_monthly_usd(self) -> float | None: ...


@dataclass(frozen=True)
class CostSummary:
    requests: int
    window_s: float
    requests_per_month: float | None
    priced_requests: int  # requests with a price and token counts
    estimated_requests: int  # of those, priced from the candidate's token counts
    unpriced_models: tuple[str, ...]  # models asked for that have no price entry
    prompt_tokens: int
    completion_tokens: int
    incumbent_cost_usd: float  # of the priced requests in the window
    incumbent_cost_per_request: float | None
    incumbent_monthly_usd: float | None
    candidate_monthly_usd: float | None
    monthly_saving_usd: float | None
    breakeven_requests_per_month: float | None

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["unpriced_models"] = list(self.unpriced_models)
        return data


def candidate_monthly(candidate_cost: CandidateCostLike | None) -> float | None:
    if candidate_cost is None:
        return None
    if candidate_cost.flat_monthly_usd is not None:
        return float(candidate_cost.flat_monthly_usd)
    if candidate_cost.usd_per_gpu_hour is not None:
        return float(candidate_cost.usd_per_gpu_hour) * candidate_cost.gpus * HOURS_PER_MONTH
    return None


def request_cost(usage: Mapping[str, Any], price: PriceLike) -> tuple[float, int, int] | None:
    """(USD, prompt tokens, completion tokens) of one answer's usage, or None without token counts."""
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    usd = (prompt * price.input_per_1m + completion * price.output_per_1m) / 1_000_000
    return usd, prompt, completion


def _usage(answer: Answer | None) -> Mapping[str, Any] | None:
    return answer.usage if answer is not None and answer.ok and answer.usage else None


def cost_summary(
    pairs: Iterable[Pair], pricing: Mapping[str, PriceLike], candidate_cost: CandidateCostLike | None
) -> CostSummary:
    """The cost picture of ``pairs`` (one pass; see the module docstring for the arithmetic)."""
    tally = CostTally(pricing)
    for pair in pairs:
        tally.add(pair)
    return tally.summary(candidate_cost)


class CostTally:
    """The incremental form of :func:`cost_summary`, for callers that stream pairs once."""

    def __init__(self, pricing: Mapping[str, PriceLike]) -> None:
        self.pricing = pricing
        self.requests = self.priced = self.estimated = self.prompt_tokens = self.completion_tokens = 0
        self.total = 0.0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.unpriced: set[str] = set()

    def add(self, pair: Pair) -> None:
        self.requests += 1
        self.first_ts = pair.ts if self.first_ts is None else min(self.first_ts, pair.ts)
        self.last_ts = pair.ts if self.last_ts is None else max(self.last_ts, pair.ts)
        price = self.pricing.get(pair.model)
        if price is None:
            self.unpriced.add(pair.model)
            return
        usage, from_candidate = _usage(pair.incumbent), False
        if usage is None:
            usage, from_candidate = _usage(pair.candidate), True
        cost = request_cost(usage, price) if usage is not None else None
        if cost is None:
            return
        self.priced += 1
        self.estimated += int(from_candidate)
        self.total += cost[0]
        self.prompt_tokens += cost[1]
        self.completion_tokens += cost[2]

    def summary(self, candidate_cost: CandidateCostLike | None) -> CostSummary:
        window = (
            self.last_ts - self.first_ts if self.first_ts is not None and self.last_ts is not None else 0.0
        )
        per_month = self.requests / window * SECONDS_PER_MONTH if window > 0 else None
        per_request = self.total / self.priced if self.priced else None
        incumbent_monthly = (
            per_request * per_month if per_request is not None and per_month is not None else None
        )
        candidate = candidate_monthly(candidate_cost)
        saving = (
            incumbent_monthly - candidate if incumbent_monthly is not None and candidate is not None else None
        )
        return CostSummary(
            requests=self.requests,
            window_s=window,
            requests_per_month=per_month,
            priced_requests=self.priced,
            estimated_requests=self.estimated,
            unpriced_models=tuple(sorted(self.unpriced)),
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            incumbent_cost_usd=self.total,
            incumbent_cost_per_request=per_request,
            incumbent_monthly_usd=incumbent_monthly,
            candidate_monthly_usd=candidate,
            monthly_saving_usd=saving,
            breakeven_requests_per_month=candidate / per_request
            if candidate is not None and per_request
            else None,
        )
