"""Chat flows for the addon tests, and a driver that runs hooks inside mitmproxy's test context (taddons) in an
event loop, as a real proxy would. No proxy, no network."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from mitmproxy import http
from mitmproxy.test import taddons, tflow, tutils

from proxy.addons.route import Route
from proxy.runtime import METADATA_KEY, FlowInfo, Runtime

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "user": "u1"}


def chat_flow(body: bytes | None = None, *, path: str = "/v1/chat/completions", method: str = "POST") -> Any:
    content = json.dumps(CHAT).encode() if body is None else body
    request = tutils.treq(
        method=method.encode(),
        path=path.encode(),
        content=content,
        headers=http.Headers(content_type="application/json", authorization="Bearer sk-client"),
    )
    return tflow.tflow(req=request)


def drive(addon: object, *steps: Callable[[], object]) -> None:
    """Run ``steps`` with ``addon`` loaded in mitmproxy's test context, inside an event loop as in a real proxy.

    taddons leaves its log handler on the root logger, bound to this loop; it is removed when the loop ends, so
    a later log line in another loop does not reach a closed one."""
    root = logging.getLogger()
    before = list(root.handlers)

    async def run() -> None:
        with taddons.context(addon):
            for step in steps:
                step()

    try:
        asyncio.run(run())
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)


def routed(runtime: Runtime, flow: Any) -> FlowInfo:
    route = Route(runtime)
    drive(route, lambda: route.requestheaders(flow), lambda: route.request(flow))
    info: FlowInfo = flow.metadata[METADATA_KEY]
    return info
