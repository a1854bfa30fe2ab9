"""Upstream: point each request at the side that serves it, with that side's model name and key.

The incumbent gets the request byte for byte, except for the key when the proxy holds the OpenAI key itself
(``alv_live_`` keys configured). The candidate gets the body with the model it serves and its own key.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mitmproxy import http

from proxy.runtime import METADATA_KEY, FlowInfo, Runtime
from proxy.sides import incumbent_auth, side_request

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
