"""Normalize: make the candidate's answer indistinguishable on the wire from OpenAI's.

Error bodies become ``{"error": {...}}`` with OpenAI's status, each SSE chunk and completion gets the requested
model name and loses SGLang-only fields, and the headers OpenAI always sends (``x-request-id``,
``openai-version``, ``openai-processing-ms``, ``x-ratelimit-*``) are present. Incumbent answers are not touched.
"""

from __future__ import annotations

import json
import time

from mitmproxy import http

from proxy import wire
from proxy.framing import error_event
from proxy.normalize import normalize_chunk, normalize_completion, normalize_error, normalize_stream_error
from proxy.runtime import METADATA_KEY, FlowInfo, Runtime
from proxy.sse import SSEEvents, event_data

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
MALFORMED_EVENT_MESSAGE = "The model sent a malformed stream event. Please retry your request."


class CandidateStream:
    """A ``flow.response.stream`` callable: rewrites each SSE event as it passes, holding only partial events."""

    def __init__(self, requested_model: str, include_usage: bool, info: FlowInfo | None = None) -> None:
        self.requested_model = requested_model
        self.include_usage = include_usage
        self.info = info  # told when an event had to be replaced, for the record
        self.events = SSEEvents()

    def __call__(self, data: bytes) -> bytes:
        if not data:
            rest = self.events.flush()
            return self._convert(rest) if rest.strip() else rest
        return b"".join(self._convert(event) for event in self.events.feed(data))

    def _convert(self, event: bytes) -> bytes:
        payload = event_data(event)
        if payload is None or payload.strip() == b"[DONE]":
            return event
        try:
            obj = json.loads(payload)
        except (ValueError, RecursionError):
            obj = None
        if not isinstance(obj, dict):  # the SDK would fail on it: say what happened the way OpenAI would
            if self.info is not None:
                self.info.upstream_error = "candidate: malformed stream event"
            return error_event(MALFORMED_EVENT_MESSAGE)
        if "error" in obj or obj.get("object") == "error":
            obj = normalize_stream_error(obj)
        else:
            obj = normalize_chunk(obj, self.requested_model, include_usage=self.include_usage)
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


class Normalize:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @staticmethod
    def _applies(flow: http.HTTPFlow) -> FlowInfo | None:
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        if info is None or not info.split or info.side != "candidate":
            return None
        return info

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        info = self._applies(flow)
        if info is None or flow.response is None:
            return
        response = flow.response
        self._openai_headers(response, info)
        is_sse = "text/event-stream" in response.headers.get("content-type", "")
        if response.status_code < 400 and is_sse:
            response.headers["content-type"] = SSE_CONTENT_TYPE
            response.stream = CandidateStream(info.requested_model, info.include_usage, info)

    def response(self, flow: http.HTTPFlow) -> None:
        info = self._applies(flow)
        if info is None or flow.response is None or flow.response.stream:
            return
        response = flow.response
        if response.status_code >= 400:
            status, body = normalize_error(response.status_code, response.raw_content or b"")
            response.status_code = status
            response.headers["content-type"] = "application/json"
            response.content = body
            return
        try:
            obj = json.loads(response.raw_content or b"")
        except ValueError:
            return  # a malformed answer reaches the client as it came; the recording marks it
        if isinstance(obj, dict):
            response.content = json.dumps(normalize_completion(obj, info.requested_model)).encode()

    def _openai_headers(self, response: http.Response, info: FlowInfo) -> None:
        headers = response.headers
        if "x-request-id" not in headers:
            headers["x-request-id"] = wire.new_request_id()
        headers.setdefault("openai-version", "2020-10-01")
        headers["openai-processing-ms"] = str(round((time.perf_counter() - info.started) * 1000))
        headers["access-control-expose-headers"] = "X-Request-ID"
        headers.update(info.ratelimit_headers)
