"""InterceptScope: in intercept mode, only flows to the configured hosts run our addon chain.

mitmproxy's ``allow_hosts`` keeps every other HTTPS host in an undecrypted tunnel, but a plain-HTTP request sent
through the proxy (``HTTP_PROXY``) still arrives as a flow; it must be forwarded as it came, not routed to the
incumbent. The decision is made once, on the request's original host, and kept on the flow, because the chain
then retargets the request to the incumbent's address.
"""

from __future__ import annotations

from typing import Any

from proxy.addons.chain import Chain
from proxy.intercept import in_scope

SCOPE_KEY = "alveare.intercepted"


class InterceptScope:
    def __init__(self, chain: Chain, hosts: tuple[str, ...]) -> None:
        self.chain = chain
        self.hosts = hosts

    def requestheaders(self, flow: Any) -> None:
        if in_scope(flow.request.host, self.hosts):
            flow.metadata[SCOPE_KEY] = True
            self.chain.requestheaders(flow)

    def request(self, flow: Any) -> Any:
        if flow.metadata.get(SCOPE_KEY):
            return self.chain.request(flow)  # what answers the flow, if anything (Chain.request)
        return None

    def responseheaders(self, flow: Any) -> None:
        if flow.metadata.get(SCOPE_KEY):
            self.chain.responseheaders(flow)

    def response(self, flow: Any) -> None:
        if flow.metadata.get(SCOPE_KEY):
            self.chain.response(flow)

    def error(self, flow: Any) -> None:
        if flow.metadata.get(SCOPE_KEY):
            self.chain.error(flow)

    # Connection hooks concern only connections our flows opened (the chain keys them by its own flows).
    def server_connected(self, data: Any) -> None:
        self.chain.server_connected(data)

    def server_disconnected(self, data: Any) -> None:
        self.chain.server_disconnected(data)

    async def server_connect(self, data: Any) -> None:
        await self.chain.server_connect(data)

    async def running(self) -> None:
        await self.chain.running()

    async def done(self) -> None:
        await self.chain.done()
