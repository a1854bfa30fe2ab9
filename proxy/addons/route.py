"""Route: decide, per request, whether it is split and which side serves it.

Only ``POST /v1/chat/completions`` with a mapped model is split; everything else goes to the incumbent untouched.
Bad split requests are answered here with OpenAI's 4xx body, before any upstream is called.
"""

from __future__ import annotations

import logging

from mitmproxy import http

from proxy import assign, wire
from proxy.fields import header
from proxy.runtime import METADATA_KEY, FlowInfo, Runtime, flow_info
from proxy.schema import check_against_spec, fast_check
from proxy.validate import RequestError, validate_chat_request

log = logging.getLogger(__name__)
CHAT_PATH = "/v1/chat/completions"


def is_chat_path(path: str) -> bool:
    return path.split("?", 1)[0].rstrip("/") == CHAT_PATH


def is_chat(flow: http.HTTPFlow) -> bool:
    """Whether ``flow`` asks for a chat completion: its path judged once (after ``Front`` spelled it the
    canonical way) and kept with the flow's state, as the hooks after it ask again."""
    info = flow_info(flow)
    chat = info.chat
    if chat is None:
        chat = info.chat = is_chat_path(flow.request.path)
    return chat


def error_response(status: int, body: bytes, headers: dict[str, str] | None = None) -> http.Response:
    """An error the proxy answers itself, with the headers OpenAI puts on every answer."""
    base = {
        "content-type": "application/json; charset=utf-8",
        "x-request-id": wire.new_request_id(),
        "openai-version": "2020-10-01",
    }
    return http.Response.make(status, body, {**base, **(headers or {})})


def reply_error(flow: http.HTTPFlow, error: RequestError) -> None:
    flow.response = error_response(error.status, error.body)


class Route:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        fast_check()  # compile OpenAI's request schema now, not on the first request

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if not is_chat(flow):
            return
        length = header(flow.request.headers, b"content-length")
        if length.isdigit() and int(length) > self.runtime.config.max_body_bytes:
            limit = self.runtime.config.max_body_bytes
            message = f"Request body too large: the limit is {limit} bytes."
            reply_error(flow, RequestError(413, wire.error_bytes(message, status=413)))

    def request(self, flow: http.HTTPFlow) -> None:
        info: FlowInfo = flow.metadata[METADATA_KEY]
        if flow.response is not None or not is_chat(flow):
            return
        checked = validate_chat_request(
            flow.request.method,
            header(flow.request.headers, b"content-type"),
            flow.request.raw_content or b"",
            self.runtime.config.max_body_bytes,
        )
        if isinstance(checked, RequestError):
            self.runtime.counts["rejected"] += 1
            reply_error(flow, checked)
            return
        info.body, info.raw_body = checked.body, flow.request.raw_content or b""
        info.requested_model, info.stream, info.include_usage = (
            checked.model,
            checked.stream,
            checked.include_usage,
        )
        info.target = self.runtime.model_map.resolve(checked.model)
        if info.target is None:
            return
        refused = check_against_spec(checked.body)  # split requests: OpenAI's refusals whichever side serves
        if refused is not None:
            info.target = None
            self.runtime.counts["rejected"] += 1
            body = wire.error_bytes(refused.message, status=400, param=refused.param, code=refused.code)
            reply_error(flow, RequestError(400, body))
            return
        self._assign(flow, info)

    def _assign(self, flow: http.HTTPFlow, info: FlowInfo) -> None:
        salt = self.runtime.config.salt
        info.stickiness = assign.stickiness_key(info.body, flow.request.headers)
        info.key_hash = assign.key_hash(salt, info.stickiness)
        info.percent = self.runtime.percent
        info.side = assign.choose_side(assign.bucket(salt, info.stickiness), info.percent)
        if info.side == "candidate" and not self.runtime.circuit.allow():
            info.side = "incumbent"
            info.failover, info.failover_reason = True, "circuit open"
            self.runtime.counts["failovers"] += 1
