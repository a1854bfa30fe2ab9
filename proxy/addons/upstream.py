"""Upstream: point each request at the side that serves it, with that side's model name and key.

The incumbent gets the request byte for byte, except for the key when the proxy holds the OpenAI key itself
(``alv_live_`` keys configured). The candidate gets the body with the model it serves and its own key.
"""

from __future__ import annotations

from mitmproxy import http

from proxy.direct import Destination
from proxy.fields import header, replace_body, set_headers
from proxy.runtime import METADATA_KEY, FlowInfo, Runtime
from proxy.sides import incumbent_auth, side_request

UPSTREAM_HEADER = "x-alveare-upstream"


def retarget(
    flow: http.HTTPFlow, url: str, headers: dict[str, str] | None = None, drop: tuple[str, ...] = ()
) -> None:
    """Point ``flow`` at ``url``, with ``headers`` set and ``drop`` removed (one rewrite of the fields)."""
    to = Destination.of(url)
    request = flow.request
    # mitmproxy's scheme/host/port setters each rewrite the Host header; it is written once below instead
    request.data.scheme, request.data.host, request.data.port = to.scheme.encode(), to.host, to.port
    if request.data.authority:  # an absolute-form request line names the upstream too
        request.authority = to.netloc
    set_headers(request.headers, {"host": to.netloc, **(headers or {})}, drop)
    if to.prefix and not request.path.startswith(to.prefix + "/"):
        request.path = to.prefix + request.path


class Upstream:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def request(self, flow: http.HTTPFlow) -> None:
        info: FlowInfo = flow.metadata[METADATA_KEY]
        if flow.response is not None:
            return
        info.client_fields = flow.request.headers.fields
        auth = header(flow.request.headers, b"authorization", "")
        info.client_auth = auth or None
        if not info.split or info.side == "incumbent":
            to_incumbent(self.runtime, flow, info)
            return
        url, key, body = side_request(self.runtime, info, "candidate")
        info.client_path = flow.request.path  # for a failover to the incumbent
        retarget(flow, url, key, drop=() if key else ("authorization",))
        replace_body(flow.request, body)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        response = flow.response
        if info is None or not info.split or response is None:
            return
        if header(response.headers, UPSTREAM_HEADER.encode()) != info.side:
            set_headers(response.headers, {UPSTREAM_HEADER: info.side})

    def response(self, flow: http.HTTPFlow) -> None:
        self.responseheaders(flow)  # also for answers made by an addon (failover, rejections)


def to_incumbent(runtime: Runtime, flow: http.HTTPFlow, info: FlowInfo) -> None:
    """Point ``flow`` (with the app's headers) at the incumbent: the app's own key, or ours for an app key."""
    if info.key is None:
        retarget(flow, runtime.config.incumbent.url)
        return
    key = incumbent_auth(runtime, info)
    retarget(flow, runtime.config.incumbent.url, key, drop=() if key else ("authorization",))
