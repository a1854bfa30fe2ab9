"""Metrics: Prometheus counters and histograms per side, fed by the response and error hooks.
Driven with mitmproxy's taddons/tflow."""

from __future__ import annotations

from mitmproxy.test import tutils
from prometheus_client import CollectorRegistry

from proxy.addons.metrics import Metrics
from proxy.runtime import Runtime
from tests.proxy.addons.flows import chat_flow, drive, routed


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_a_split_answer_is_counted_by_side_and_status_with_its_latency(runtime: Runtime) -> None:
    runtime.percent = 100
    registry = CollectorRegistry()
    metrics = Metrics(runtime, registry)
    flow = chat_flow()
    routed(runtime, flow)
    flow.response = tutils.tresp(status_code=200)
    drive(metrics, lambda: metrics.response(flow))
    assert sample(registry, "alveare_requests_total", side="candidate", status="2xx") == 1
    assert sample(registry, "alveare_latency_seconds_count", side="candidate") == 1
    assert runtime.counts["requests.candidate"] == 1


def test_pass_through_and_errors_have_their_own_labels(runtime: Runtime) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(runtime, registry)
    models = chat_flow(path="/v1/models", method="GET")
    routed(runtime, models)
    models.response = tutils.tresp(status_code=404)
    broken = chat_flow()
    routed(runtime, broken)
    drive(metrics, lambda: metrics.response(models), lambda: metrics.error(broken))
    assert sample(registry, "alveare_requests_total", side="passthrough", status="4xx") == 1
    assert sample(registry, "alveare_requests_total", side="incumbent", status="error") == 1
    assert sample(registry, "alveare_latency_seconds_count", side="passthrough") == 0


def test_failovers_and_live_counts_are_exported(runtime: Runtime) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(runtime, registry)
    runtime.counts["failovers"] += 2
    runtime.counts["mirror_dropped"] += 3
    runtime.percent = 50
    flow = chat_flow()
    routed(runtime, flow)
    flow.response = tutils.tresp(status_code=200)
    drive(metrics, lambda: metrics.response(flow), lambda: metrics.response(flow))
    assert sample(registry, "alveare_failovers_total") == 2  # counted once, however many answers follow
    assert sample(registry, "alveare_mirror_dropped") == 3
    assert sample(registry, "alveare_rollout_percent") == 50


def test_latency_buckets_are_cumulative_and_count_a_value_at_a_bound_in_that_bucket(runtime: Runtime) -> None:
    from proxy.addons.metrics import LATENCY_BUCKETS, _Histogram

    histogram = _Histogram()
    for value in (0.005, 0.0051, 0.3, 100.0):
        histogram.observe(value)
    buckets = dict(histogram.cumulative())
    assert buckets[repr(float(LATENCY_BUCKETS[0]))] == 1  # le="0.005" holds 0.005 itself
    assert buckets["0.01"] == 2 and buckets["0.5"] == 3 and buckets["60.0"] == 3 and buckets["+Inf"] == 4
    assert histogram.count == 4 and abs(histogram.sum - 100.3101) < 1e-9
