"""Route: which side serves, decided on the request alone. Driven with mitmproxy's taddons/tflow."""

from __future__ import annotations

import json

import pytest

from proxy.runtime import Runtime
from tests.proxy.addons.flows import chat_flow, routed


@pytest.mark.parametrize(("percent", "side"), [(0, "incumbent"), (100, "candidate")])
def test_route_assigns_mapped_chat_requests(runtime: Runtime, percent: float, side: str) -> None:
    runtime.percent = percent
    info = routed(runtime, flow := chat_flow())
    assert info.split and info.side == side and info.target is not None
    assert info.target.task == "classify" and info.requested_model == "gpt-4o-mini"
    assert flow.response is None


@pytest.mark.parametrize(
    ("body", "path", "method", "status"),
    [
        (b"{oops", "/v1/chat/completions", "POST", 400),
        (b'{"model": "gpt-4o-mini"}', "/v1/chat/completions", "POST", 400),
        (b"", "/v1/chat/completions", "GET", 405),
    ],
)
def test_route_rejects_bad_requests_itself(
    runtime: Runtime, body: bytes, path: str, method: str, status: int
) -> None:
    flow = chat_flow(body, path=path, method=method)
    routed(runtime, flow)
    assert flow.response is not None and flow.response.status_code == status
    assert json.loads(flow.response.content)["error"]["type"] == "invalid_request_error"
    assert flow.response.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/models", "/v1/files/abc"])
def test_route_leaves_other_paths_unsplit(runtime: Runtime, path: str) -> None:
    runtime.percent = 100
    info = routed(runtime, flow := chat_flow(path=path))
    assert not info.split and flow.response is None
