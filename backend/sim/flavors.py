"""The two wires the sim speaks, behind one interface: error bodies, headers, ids, bodies and streams.

:class:`OpenAIFlavor` is api.openai.com (nested errors, ``x-request-id``, ``openai-*`` and rate-limit headers,
dated model snapshots, pretty-printed bodies); :class:`SGLangFlavor` is SGLang 0.5.x (flat errors with an int
``code``, ``{"error": "Unauthorized"}``, ``server: uvicorn``, no request id or limits, the model echoed).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from backend.sim.answers import SimAnswer
from backend.sim.errors import (
    NO_KEY,
    Problem,
    incorrect_key,
    model_not_found,
    openai_error_body,
    request_id,
    sglang_type,
    simulated,
)
from backend.sim.http import Headers, Reply, Request
from backend.sim.options import SimOptions
from backend.sim.wire import (
    Meta,
    StreamShape,
    compact,
    completion_id,
    openai_body,
    openai_events,
    openai_model,
    openai_models,
    sglang_body,
    sglang_error,
    sglang_events,
    sglang_models,
    sglang_stream_error,
    sse,
)

CHAT_PATH = "/v1/chat/completions"
# The dated snapshot OpenAI reports for each alias.
SNAPSHOTS = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4": "gpt-4-0613",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1": "gpt-4.1-2025-04-14",
}
JSON = "application/json"


class OpenAIFlavor:
    """api.openai.com: nested errors, ``x-request-id``, ``openai-*`` and rate-limit headers, dated models."""

    name = "openai"

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.fingerprints: dict[str, str | None] = {}

    def error(self, problem: Problem, extra: Headers = ()) -> Reply:
        payload = (json.dumps(openai_error_body(problem), indent=2) + "\n").encode()
        headers = (
            ("content-type", "application/json; charset=utf-8"),
            ("x-request-id", request_id()),
            *extra,
        )
        return Reply(problem.status, headers, payload)

    def unauthorized(self, key: str | None) -> Reply:
        return self.error(incorrect_key(key) if key else Problem(401, NO_KEY))

    def no_route(self, request: Request) -> Reply:
        return self.error(Problem(404, f"Invalid URL ({request.method} {request.path})"))

    def models(self) -> Reply:
        return Reply(200, (("content-type", JSON),), openai_models(self.options.models))

    def model(self, name: str) -> Reply:
        if name not in self.options.models:
            return self.error(model_not_found(name))
        return Reply(200, (("content-type", JSON),), openai_model(name))

    def meta(self, model: str) -> Meta:
        if model not in self.fingerprints:
            digest = hashlib.sha256(f"{self.options.seed}:{model}".encode()).hexdigest()
            self.fingerprints[model] = None if model == "gpt-4" else "fp_" + digest[:10]
        return Meta(completion_id(), int(time.time()), SNAPSHOTS.get(model, model), self.fingerprints[model])

    def body(self, result: SimAnswer, meta: Meta, request: dict[str, Any]) -> bytes:
        return openai_body(result, meta, logprobs=bool(request.get("logprobs")))

    def events(self, result: SimAnswer, meta: Meta, shape: StreamShape) -> list[bytes]:
        return openai_events(result, meta, shape)

    def stream_error(self) -> bytes:
        return sse(openai_error_body(simulated(500, "")))

    def headers(self, stream: bool, processing_ms: float, ratelimit: dict[str, str]) -> Headers:
        return (
            ("content-type", "text/event-stream; charset=utf-8" if stream else JSON),
            ("access-control-expose-headers", "X-Request-ID"),
            ("openai-processing-ms", str(int(processing_ms) + 1)),
            ("openai-version", "2020-10-01"),
            *ratelimit.items(),
            ("x-request-id", request_id()),
        )


class SGLangFlavor:
    """SGLang 0.5.x: flat errors with int ``code``, ``{"error": "Unauthorized"}``, no request id or limits."""

    name = "sglang"

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.created = int(time.time())

    def error(self, problem: Problem, extra: Headers = ()) -> Reply:
        body = sglang_error(problem.status, problem.message, sglang_type(problem.status))
        return Reply(problem.status, (("content-type", JSON), ("server", "uvicorn"), *extra), body)

    def unauthorized(self, key: str | None) -> Reply:
        return Reply(401, (("content-type", JSON), ("server", "uvicorn")), b'{"error":"Unauthorized"}')

    def no_route(self, request: Request) -> Reply:
        allowed = request.path in (CHAT_PATH, "/v1/models", "/health", "/health_generate")
        status, detail = (405, "Method Not Allowed") if allowed else (404, "Not Found")
        return Reply(status, (("content-type", JSON), ("server", "uvicorn")), compact({"detail": detail}))

    def models(self) -> Reply:
        return Reply(
            200,
            (("content-type", JSON), ("server", "uvicorn")),
            sglang_models(self.options.models, created=self.created),
        )

    def model(self, name: str) -> Reply:
        return self.no_route(Request("GET", "/v1/models/" + name, "", {}, b""))

    def meta(self, model: str) -> Meta:
        return Meta(uuid.uuid4().hex, int(time.time()), model)

    def body(self, result: SimAnswer, meta: Meta, request: dict[str, Any]) -> bytes:
        return sglang_body(result, meta)

    def events(self, result: SimAnswer, meta: Meta, shape: StreamShape) -> list[bytes]:
        return sglang_events(result, meta, shape)

    def stream_error(self) -> bytes:
        return sglang_stream_error(500, "Internal server error: simulated failure", "InternalServerError")

    def headers(self, stream: bool, processing_ms: float, ratelimit: dict[str, str]) -> Headers:
        return (
            ("content-type", "text/event-stream; charset=utf-8" if stream else JSON),
            ("server", "uvicorn"),
        )


Flavor = OpenAIFlavor | SGLangFlavor
