"""Metrics: Prometheus counters and histograms per side, served on the admin port's ``/metrics``."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator

from mitmproxy import http
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from proxy.routing import is_responses_path
from proxy.runtime import METADATA_KEY, FlowInfo, Runtime

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _Histogram:
    """One label set's buckets, sum and count: plain numbers, rendered by :class:`_Collector` when scraped."""

    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one: above every bound (+Inf)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.buckets[bisect_left(LATENCY_BUCKETS, value)] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        total = 0
        for bound, n in zip((*LATENCY_BUCKETS, float("inf")), self.buckets, strict=True):
            total += n
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
        return out


class _Collector:
    """Renders the per-request counters and histograms at scrape time: the served path pays for a few integer
    additions, not for prometheus_client's locks and bucket walks."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        requests = CounterMetricFamily(
            "alveare_requests", "Requests answered, by side and status class", labels=["side", "status"]
        )
        for (side, status), n in sorted(m.requests.items()):
            requests.add_metric([side, status], n)
        yield requests
        yield CounterMetricFamily(
            "alveare_failovers",
            "Candidate failures served by the incumbent",
            value=m.runtime.counts["failovers"],
        )
        for name, text, histograms in (
            ("alveare_latency_seconds", "Total latency of split requests", m.latency),
            ("alveare_ttft_seconds", "Time to first byte of split requests", m.ttft),
        ):
            family = HistogramMetricFamily(name, text, labels=["side"])
            for side, histogram in sorted(histograms.items()):
                family.add_metric([side], histogram.cumulative(), histogram.sum)
            yield family


class Metrics:
    def __init__(self, runtime: Runtime, registry: CollectorRegistry, queue_depth: object = None) -> None:
        self.runtime = runtime
        self.requests: dict[tuple[str, str], int] = {}
        self.latency: dict[str, _Histogram] = {}
        self.ttft: dict[str, _Histogram] = {}
        registry.register(_Collector(self))
        self.percent = Gauge("alveare_rollout_percent", "Current candidate share", registry=registry)
        self.percent.set_function(lambda: runtime.percent)
        counts = runtime.counts
        for name, key in (
            ("alveare_record_queue_depth", "record_queue"),
            ("alveare_record_dropped", "record_dropped"),
            ("alveare_mirror_dropped", "mirror_dropped"),
            ("alveare_mirrored", "mirrored"),
            ("alveare_rejected", "rejected"),
            ("alveare_hook_errors", "hook_errors"),
            ("alveare_upstream_errors", "upstream_errors"),
            ("alveare_limits_local_fallback", "limits_local_fallback"),
        ):
            gauge = Gauge(name, f"Live value of {key}", registry=registry)
            gauge.set_function(lambda key=key: counts[key])  # type: ignore[misc]

    def response(self, flow: http.HTTPFlow) -> None:
        self._observe(flow, str(flow.response.status_code // 100) + "xx" if flow.response else "error")

    def error(self, flow: http.HTTPFlow) -> None:
        self._observe(flow, "error")

    def _observe(self, flow: http.HTTPFlow, status: str) -> None:
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        side = info.side if info is not None and info.split else "passthrough"
        counts = self.runtime.counts
        counts[f"requests.{side}"] += 1
        if side == "passthrough" and is_responses_path(flow.request.path):
            counts["passthrough.responses"] += 1
        key = (side, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        if info is not None and info.split:
            _histogram(self.latency, side).observe(time.perf_counter() - info.started)
            leg = info.served
            if leg is not None and leg.first_byte is not None:
                _histogram(self.ttft, side).observe(leg.first_byte - info.started)


def _histogram(histograms: dict[str, _Histogram], side: str) -> _Histogram:
    histogram = histograms.get(side)
    if histogram is None:
        histogram = histograms[side] = _Histogram()
    return histogram
