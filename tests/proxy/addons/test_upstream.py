"""Upstream: each request pointed at its side, with that side's model name and key. Driven with mitmproxy's taddons/tflow."""

from __future__ import annotations

import json

from proxy.addons.upstream import Upstream
from proxy.runtime import Runtime
from tests.proxy.addons.flows import chat_flow, drive, routed


def test_upstream_points_the_candidate_flow_at_the_candidate(runtime: Runtime) -> None:
    runtime.percent = 100
    flow = chat_flow()
    routed(runtime, flow)
    upstream = Upstream(runtime)
    drive(upstream, lambda: upstream.request(flow))
    assert (flow.request.scheme, flow.request.host, flow.request.port) == ("http", "10.0.0.5", 30000)
    assert flow.request.path == "/root/v1/chat/completions"
    assert flow.request.headers["authorization"] == "Bearer sg-key"
    assert json.loads(flow.request.content)["model"] == "qwen:classify"


def test_upstream_keeps_the_incumbent_request_byte_for_byte(runtime: Runtime) -> None:
    flow = chat_flow(raw := b'{"model":"gpt-4o-mini",  "messages":[{"role":"user","content":"hi"}]}')
    routed(runtime, flow)
    upstream = Upstream(runtime)
    drive(upstream, lambda: upstream.request(flow))
    assert (flow.request.scheme, flow.request.host, flow.request.port) == ("https", "api.openai.com", 443)
    assert flow.request.raw_content == raw
    assert flow.request.headers["authorization"] == "Bearer sk-client"  # pass-through mode
