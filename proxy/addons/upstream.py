"""Upstream: point each request at the side that serves it, with that side's model name and key.

The incumbent gets the request byte for byte, except for the key when the proxy holds the OpenAI key itself
(``alv_live_`` keys configured). The candidate gets the body with the model it serves and its own key.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from mitmproxy import http

from core.pair import Side
from proxy.runtime import METADATA_KEY, FlowInfo, Runtime

UPSTREAM_HEADER = "x-alveare-upstream"


def retarget(flow: http.HTTPFlow, url: str) -> None:
    parts = urlsplit(url)
    flow.request.scheme = parts.scheme
    flow.request.host = parts.hostname or "127.0.0.1"
    flow.request.port = parts.port or (443 if parts.scheme == "https" else 80)
    flow.request.headers["host"] = parts.netloc
    prefix = parts.path.rstrip("/")
    if prefix and not flow.request.path.startswith(prefix + "/"):
        flow.request.path = prefix + flow.request.path


def side_request(runtime: Runtime, info: FlowInfo, side: Side) -> tuple[str, dict[str, str], bytes]:
    """URL path prefix, auth header and body for sending ``info``'s request to ``side`` (served or mirrored)."""
    config = runtime.config
    if side == "candidate":
        assert info.target is not None
        body = json.dumps({**info.body, "model": info.target.candidate_model}).encode()
        key = runtime.candidate_key
        return config.candidate.url, ({"authorization": f"Bearer {key}"} if key else {}), body
    return config.incumbent.url, incumbent_auth(runtime, info), info.raw_body


def incumbent_auth(runtime: Runtime, info: FlowInfo) -> dict[str, str]:
    if info.key is not None:  # the app holds our key; the OpenAI key stays in the proxy
        return {"authorization": f"Bearer {runtime.incumbent_key}"} if runtime.incumbent_key else {}
    return {"authorization": info.client_auth} if info.client_auth else {}


class Upstream:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def request(self, flow: http.HTTPFlow) -> None:
        info: FlowInfo = flow.metadata[METADATA_KEY]
        if flow.response is not None:
            return
        info.client_auth = flow.request.headers.get("authorization")
        info.client_headers = list(flow.request.headers.items(multi=True))
        if not info.split or info.side == "incumbent":
            self.to_incumbent(flow, info)
            return
        url, auth, body = side_request(self.runtime, info, "candidate")
        retarget(flow, url)
        flow.request.headers.pop("authorization", None)
        flow.request.headers.update(auth)
        flow.request.content = body

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        if info is not None and info.split and flow.response is not None:
            flow.response.headers[UPSTREAM_HEADER] = info.side

    def response(self, flow: http.HTTPFlow) -> None:
        self.responseheaders(flow)  # also for answers made by an addon (failover, rejections)

    def to_incumbent(self, flow: http.HTTPFlow, info: FlowInfo) -> None:
        retarget(flow, self.runtime.config.incumbent.url)
        if info.key is not None:
            flow.request.headers.pop("authorization", None)
            flow.request.headers.update(incumbent_auth(self.runtime, info))
