"""Cost arithmetic, pure: what the incumbent costs at the observed volume against the candidate's fixed cost.

The incumbent's cost per request comes from its recorded token usage and the price table (USD per 1M tokens,
keyed by the model name the client asked for). Requests the incumbent did not answer (served by the
candidate, not mirrored) are priced from the candidate's token counts at the incumbent's price: what they
would have cost. The volume is the number of recorded requests over the recorded time window, projected to a
month of 730 hours, but only from a window of at least :data:`MIN_PROJECTION_S` (an hour): seconds of traffic
say nothing about a month, so a shorter window gives no projection. The candidate costs ``flat_monthly_usd``
when given (a flat contract), else ``usd_per_gpu_hour * gpus * 730``. ``alveare-migrate savings`` reuses
:func:`cost_summary`.

Capacity: GPUs are sized for the peak, not the mean. :class:`TrafficTally` measures each task's mean and peak
tokens/s (peak: the busiest :data:`PEAK_BUCKET_S` bucket); :func:`gpus_needed` turns a peak into whole replicas
of a server at a per-replica throughput (:data:`DEFAULT_THROUGHPUT` per model size, or a measured one) with
headroom; :func:`what_if` answers "N requests a month of X in / Y out tokens" the same way.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from core.pair import Answer, Pair

HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600.0
MIN_PROJECTION_S = 3600.0  # a recorded window shorter than this is never projected to a month
PEAK_BUCKET_S = 60.0


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
        per_month = self.requests / window * SECONDS_PER_MONTH if window >= MIN_PROJECTION_S else None
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


# --- capacity --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    """What one replica of a server sustains: tokens/s (prompt + completion) on ``gpus`` GPUs; and why."""

    tokens_per_s: float
    gpus: int
    basis: str


_ANCHOR = (
    "SGLang 0.5.6, Llama-3.1-8B-Instruct BF16 on 1x A100-SXM4-40GB: 3,160 tokens/s best offline throughput "
    "(AccelMark suite C submission #39, FreedomIntelligence/AccelMark)"
)
# Per model size: one measured anchor, and the others scaled from it by weight size (decoding is bound by
# reading the weights, so tokens/s per GPU falls about in proportion to parameters), on 80 GB GPUs with the
# tensor-parallel size SGLang's cookbook gives (70B: --tp 2). Estimates: measure yours with
# `python -m sglang.bench_serving` against the real server and pass the figure (savings --gpu-tokens-per-s).
DEFAULT_THROUGHPUT: dict[str, Throughput] = {
    "3b": Throughput(8_000.0, 1, "the 8B figure x 8/3 weight size; " + _ANCHOR),
    "8b": Throughput(3_000.0, 1, _ANCHOR + ", rounded down"),
    "14b": Throughput(1_700.0, 1, "the 8B figure x 8/14 weight size; " + _ANCHOR),
    "32b": Throughput(1_500.0, 2, "the 8B figure x 8/32 x 2 GPUs (64 GB of BF16 weights); " + _ANCHOR),
    "70b": Throughput(
        680.0, 2, "the 8B figure x 8/70 x 2 GPUs (SGLang cookbook: Llama 3.1 70B on --tp 2); " + _ANCHOR
    ),
}


def gpus_needed(peak_tokens_s: float, throughput: Throughput, headroom: float) -> int:
    """Whole replicas for ``peak * (1 + headroom)``, at least one, times the GPUs each replica takes."""
    replicas = max(1, math.ceil(peak_tokens_s * (1 + headroom) / throughput.tokens_per_s - 1e-9))
    return replicas * throughput.gpus


def gpu_monthly_usd(gpus: int, usd_per_gpu_hour: float) -> float:
    """GPUs x hours x price: the servers run all month whatever the traffic."""
    return gpus * HOURS_PER_MONTH * usd_per_gpu_hour


@dataclass(frozen=True)
class TaskTraffic:
    task: str
    requests: int
    tokens: int
    window_s: float
    mean_tokens_s: float | None  # None for a window of no length
    peak_tokens_s: float | None
    unmetered: int = 0  # requests without token counts: not in ``tokens``


def peak_rate(events: Iterable[tuple[float, int]], bucket_s: float = PEAK_BUCKET_S) -> float | None:
    """Tokens/s of the busiest ``bucket_s`` bucket (from the first event); a shorter window is one bucket."""
    items = sorted(events)
    if not items:
        return None
    first, last = items[0][0], items[-1][0]
    if last - first < bucket_s:
        return sum(n for _, n in items) / max(last - first, 1.0)
    buckets: dict[int, int] = defaultdict(int)
    for ts, tokens in items:
        buckets[int((ts - first) // bucket_s)] += tokens
    return max(buckets.values()) / bucket_s


class TrafficTally:
    """Tokens over time per task, from the pairs' recorded usage (the incumbent's, else the candidate's)."""

    def __init__(self) -> None:
        self.events: dict[str, list[tuple[float, int]]] = defaultdict(list)
        self.unmetered: dict[str, int] = defaultdict(
            int
        )  # requests with no token counts (a stream without usage)

    def add(self, pair: Pair) -> None:
        usage = _usage(pair.incumbent) or _usage(pair.candidate) or {}
        counts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens")]
        tokens = sum(v for v in counts if isinstance(v, int))
        task = pair.task or "(unmapped)"
        self.events[task].append((pair.ts, tokens))
        if not any(isinstance(v, int) for v in counts):
            self.unmetered[task] += 1

    def tasks(self) -> list[TaskTraffic]:
        """One row per task, then ``all`` (the tasks together: specialists on one server share its GPUs)."""
        rows = [traffic(t, events, self.unmetered[t]) for t, events in sorted(self.events.items())]
        everything = [e for events in self.events.values() for e in events]
        unmetered = sum(self.unmetered.values())
        return [*rows, traffic("all", everything, unmetered)] if rows else []


def traffic(task: str, events: list[tuple[float, int]], unmetered: int = 0) -> TaskTraffic:
    times = [ts for ts, _ in events]
    window = max(times) - min(times) if times else 0.0
    tokens = sum(n for _, n in events)
    return TaskTraffic(
        task=task,
        requests=len(events),
        tokens=tokens,
        window_s=window,
        mean_tokens_s=tokens / window if window > 0 else None,
        peak_tokens_s=peak_rate(events),
        unmetered=unmetered,
    )


@dataclass(frozen=True)
class WhatIf:
    """One "requests a month" scenario, incumbent against GPUs sized for its peak."""

    requests_per_month: float
    incumbent_monthly_usd: float
    mean_tokens_s: float
    peak_tokens_s: float
    gpus: int
    candidate_monthly_usd: float
    monthly_saving_usd: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def what_if(
    requests_per_month: float,
    *,
    tokens_in: int,
    tokens_out: int,
    price: PriceLike,
    throughput: Throughput,
    usd_per_gpu_hour: float,
    headroom: float,
    peak_to_mean: float,
) -> WhatIf:
    """The incumbent at its token prices against enough GPUs for the peak (``peak_to_mean`` x the mean)."""
    per_request = (tokens_in * price.input_per_1m + tokens_out * price.output_per_1m) / 1_000_000
    incumbent = requests_per_month * per_request
    mean = requests_per_month * (tokens_in + tokens_out) / SECONDS_PER_MONTH
    gpus = gpus_needed(mean * peak_to_mean, throughput, headroom)
    candidate = gpu_monthly_usd(gpus, usd_per_gpu_hour)
    return WhatIf(
        requests_per_month, incumbent, mean, mean * peak_to_mean, gpus, candidate, incumbent - candidate
    )
