"""Normalize: make the candidate's answer indistinguishable on the wire from OpenAI's.

Error bodies become ``{"error": {...}}`` with OpenAI's status and content type and never name the candidate's
model; each SSE chunk and completion gets a ``chatcmpl-`` id, the model name the incumbent answers with for the
requested alias (learned from its answers), a fingerprint, and loses SGLang-only fields; and the headers OpenAI always sends (``x-request-id``,
``openai-version``, ``openai-processing-ms``, ``x-ratelimit-*``) are present. Incumbent answers are not touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mitmproxy import http

from proxy import wire
from proxy.fields import header, set_headers
from proxy.framing import error_event
from proxy.normalize import (
    content_chunk_json,
    normalize_chunk,
    normalize_completion,
    normalize_error,
    normalize_stream_error,
    plain_completion_json,
)
from proxy.runtime import METADATA_KEY, FlowInfo, Runtime
from proxy.sse import SSEEvents, event_data

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
MALFORMED_EVENT_MESSAGE = "The model sent a malformed stream event. Please retry your request."


ERROR_CONTENT_TYPE = "application/json; charset=utf-8"
# Headers the candidate's server adds that OpenAI's answers never carry (``server: uvicorn`` tells who served).
CANDIDATE_ONLY_HEADERS = ("server",)


@dataclass(frozen=True)
class Echo:
    """How a candidate's answer names itself to the app: the model the app asked for (as the incumbent writes
    it: its dated snapshot once seen), the fingerprint, and the candidate model whose name must not show."""

    requested_model: str
    model: str
    fingerprint: str
    candidate_model: str = ""

    @classmethod
    def of(cls, runtime: Runtime, info: FlowInfo) -> Echo:
        alias, candidate = info.requested_model, info.target.candidate_model if info.target else ""
        snapshots = runtime.snapshots
        return cls(alias, snapshots.model(alias), snapshots.fingerprint(alias, candidate), candidate)


class CandidateStream:
    """A ``flow.response.stream`` callable: rewrites each SSE event as it passes, holding only partial events."""

    def __init__(self, echo: Echo | str, include_usage: bool, info: FlowInfo | None = None) -> None:
        self.echo = echo if isinstance(echo, Echo) else Echo(echo, echo, "", "")
        self.include_usage = include_usage
        self.info = info  # told when an event had to be replaced, for the record
        self.events = SSEEvents()
        self.chunk_id = wire.new_completion_id()  # one id for every chunk, as OpenAI's streams have

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
            obj = wire.loads(payload)
        except (ValueError, RecursionError):
            obj = None
        if not isinstance(obj, dict):  # the SDK would fail on it: say what happened the way OpenAI would
            if self.info is not None:
                self.info.upstream_error = "candidate: malformed stream event"
            return error_event(MALFORMED_EVENT_MESSAGE)
        echo = self.echo
        if "error" in obj or obj.get("object") == "error":
            obj = normalize_stream_error(
                obj, requested_model=echo.requested_model, candidate_model=echo.candidate_model
            )
        else:
            fingerprint = echo.fingerprint or None
            usage = self.include_usage
            fast = content_chunk_json(
                obj, echo.model, include_usage=usage, fingerprint=fingerprint, chunk_id=self.chunk_id
            )
            if fast is not None:
                return b"data: " + fast + b"\n\n"
            obj = normalize_chunk(
                obj, echo.model, include_usage=usage, fingerprint=fingerprint, chunk_id=self.chunk_id
            )
        return b"data: " + wire.dumps(obj) + b"\n\n"


class IncumbentTap:
    """A pass-through ``flow.response.stream`` for the incumbent's streamed answers: learns its model name and
    fingerprint from the first chunk (see :mod:`proxy.snapshots`)."""

    def __init__(self, runtime: Runtime, alias: str) -> None:
        self.runtime, self.alias, self.learned = runtime, alias, False

    def __call__(self, data: bytes) -> bytes:
        if not self.learned and data:
            self.runtime.snapshots.learn(self.alias, data)
            self.learned = True
        return data


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
        """A candidate's stream gets OpenAI's headers now, as they go out before its events; a whole answer
        gets them with its body, in one rewrite of the fields (:meth:`response`)."""
        info = self._applies(flow)
        response = flow.response
        if info is None or response is None:
            self._learn_streamed(flow)
            return
        is_sse = "text/event-stream" in header(response.headers, b"content-type")
        if response.status_code < 400 and is_sse:
            self._set_headers(response, info, {"content-type": SSE_CONTENT_TYPE})
            response.stream = CandidateStream(Echo.of(self.runtime, info), info.include_usage, info)
        elif response.stream:  # streamed for another reason: its headers cannot wait for the body
            self._set_headers(response, info)

    def response(self, flow: http.HTTPFlow) -> None:
        info = self._applies(flow)
        if info is None or flow.response is None or flow.response.stream:
            self._learn(flow)
            return
        response = flow.response
        echo = Echo.of(self.runtime, info)
        if response.status_code >= 400:
            status, body = normalize_error(
                response.status_code,
                response.raw_content or b"",
                requested_model=echo.requested_model,
                candidate_model=echo.candidate_model,
            )
            response.status_code = status
            self._set_body(response, info, body, {"content-type": ERROR_CONTENT_TYPE})
            return
        try:
            obj = wire.loads(response.raw_content or b"")
        except ValueError:
            obj = None  # a malformed answer reaches the client as it came; the recording marks it
        if isinstance(obj, dict):
            fingerprint = echo.fingerprint
            plain = plain_completion_json(obj, echo.model, fingerprint=fingerprint)
            if plain is None:
                plain = wire.dumps(normalize_completion(obj, echo.model, fingerprint=fingerprint))
            self._set_body(response, info, plain)
        else:
            self._set_headers(response, info)

    def _learn_streamed(self, flow: http.HTTPFlow) -> None:
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        response = flow.response
        if info is None or not info.split or response is None or response.status_code != 200:
            return
        sse = "text/event-stream" in header(response.headers, b"content-type")
        if sse and not response.stream and not header(response.headers, b"content-encoding"):
            response.stream = IncumbentTap(self.runtime, info.requested_model)

    def _learn(self, flow: http.HTTPFlow) -> None:
        """The incumbent's whole answer to a split request: remember what it calls the model."""
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        response = flow.response
        if info is None or not info.split or response is None or response.stream:
            return
        if response.status_code == 200 and info.side == "incumbent":
            encoded = header(response.headers, b"content-encoding") not in ("", "identity")
            body = response.get_content(strict=False) if encoded else response.raw_content
            self.runtime.snapshots.learn(info.requested_model, body or b"")

    def _set_body(
        self, response: http.Response, info: FlowInfo, body: bytes, values: dict[str, str] | None = None
    ) -> None:
        """The answer's body replaced by ``body``, with OpenAI's headers and ``values``, in one rewrite."""
        if header(response.headers, b"content-encoding") not in ("", "identity"):
            self._set_headers(response, info, values)
            response.content = body  # mitmproxy's setter encodes it and sets the length
            return
        response.raw_content = body
        extra = dict(values or {})
        if not header(response.headers, b"transfer-encoding"):
            extra["content-length"] = str(len(body))
        self._set_headers(response, info, extra)

    def _set_headers(
        self, response: http.Response, info: FlowInfo, values: dict[str, str] | None = None
    ) -> None:
        """OpenAI's headers on a candidate's answer (and ``values``), without the candidate's own."""
        headers = response.headers
        new = {
            "openai-processing-ms": str(round((time.perf_counter() - info.started) * 1000)),
            "access-control-expose-headers": "X-Request-ID",
            **info.ratelimit_headers,
            **(values or {}),
        }
        if not header(headers, b"x-request-id"):
            new["x-request-id"] = wire.new_request_id()
        if not header(headers, b"openai-version"):
            new["openai-version"] = "2020-10-01"
        set_headers(headers, new, drop=CANDIDATE_ONLY_HEADERS)
