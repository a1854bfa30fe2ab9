"""Metrics: Prometheus counters and histograms per side, served on the admin port's ``/metrics``."""

from __future__ import annotations

import time
from typing import Any

from mitmproxy import http
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from proxy.routing import is_responses_path
from proxy.runtime import METADATA_KEY, FlowInfo, Runtime

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self, runtime: Runtime, registry: CollectorRegistry, queue_depth: object = None) -> None:
        self.runtime = runtime
        self.requests = Counter(
            "alveare_requests",
            "Requests answered, by side and status class",
            ["side", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "alveare_latency_seconds",
            "Total latency of split requests",
            ["side"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.ttft = Histogram(
            "alveare_ttft_seconds",
            "Time to first byte of split requests",
            ["side"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.failovers = Counter(
            "alveare_failovers", "Candidate failures served by the incumbent", registry=registry
        )
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
        self._failovers_seen = 0
        self._children: dict[
            tuple[str, ...], Any
        ] = {}  # labelled children: labels() costs a lock and a lookup

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        key = (str(id(metric)), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def response(self, flow: http.HTTPFlow) -> None:
        self._observe(flow, str(flow.response.status_code // 100) + "xx" if flow.response else "error")

    def error(self, flow: http.HTTPFlow) -> None:
        self._observe(flow, "error")

    def _observe(self, flow: http.HTTPFlow, status: str) -> None:
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        side = info.side if info is not None and info.split else "passthrough"
        self.runtime.counts[f"requests.{side}"] += 1
        if side == "passthrough" and is_responses_path(flow.request.path):
            self.runtime.counts["passthrough.responses"] += 1
        self._child(self.requests, side, status).inc()
        if info is not None and info.split:
            self._child(self.latency, side).observe(time.perf_counter() - info.started)
            leg = info.served
            if leg is not None and leg.first_byte is not None:
                self._child(self.ttft, side).observe(leg.first_byte - info.started)
        new = self.runtime.counts["failovers"] - self._failovers_seen
        if new > 0:
            self.failovers.inc(new)
            self._failovers_seen += new
