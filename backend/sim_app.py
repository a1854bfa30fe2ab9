"""The sim's request handling: route, authenticate, inject faults, validate, rate-limit, answer.

``SimApp(options)`` is the handler the HTTP server calls with each request; it returns a plan (a whole reply,
a stream, a hang, a drop) and never blocks. The two flavors differ only in their wire (``sim_wire``), their
error words (``sim_errors``) and their headers, which :class:`OpenAIFlavor` and :class:`SGLangFlavor` hold.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend.sim_answers import Answer, answer
from backend.sim_errors import (
    NO_KEY,
    PARSE_ERROR,
    Problem,
    incorrect_key,
    model_not_found,
    rate_limited,
    sglang_parse_error,
    sglang_type,
    simulated,
    validate_openai,
    validate_sglang,
)
from backend.sim_http import Drop, Hang, Headers, Plan, Reply, Request, Stream
from backend.sim_options import Fault, SimOptions, parse_fault
from backend.sim_wire import (
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
from backend.tasks import TaskIndex, load_tasks
from proxy.wire import error_object, new_request_id, ratelimit_headers

CHAT_PATH = "/v1/chat/completions"
MAGIC_ERROR = "sim-error-"
MAGIC_FAULT = "sim-fault-"
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


class RateLimiter:
    """Per-key buckets of requests and tokens per minute, refilled continuously (OpenAI's model of it)."""

    def __init__(self, rpm: int, tpm: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rpm, self.tpm, self.clock = rpm, tpm, clock
        self.levels: dict[str, tuple[float, float, float]] = {}

    def take(self, key: str, tokens: int) -> tuple[str | None, float, dict[str, str]]:
        """Spends one request and ``tokens``; returns (``"requests"``/``"tokens"`` if over the limit, else None,
        seconds until it would pass, the six ``x-ratelimit-*`` headers)."""
        now = self.clock()
        requests, toks, then = self.levels.get(key, (float(self.rpm), float(self.tpm), now))
        requests = min(self.rpm, requests + (now - then) * self.rpm / 60)
        toks = min(self.tpm, toks + (now - then) * self.tpm / 60)
        over: str | None = None
        wait = 0.0
        if requests < 1:
            over, wait = "requests", (1 - requests) * 60 / self.rpm
        elif toks < tokens:
            over, wait = "tokens", (min(tokens, self.tpm) - toks) * 60 / self.tpm
        else:
            requests, toks = requests - 1, toks - tokens
        self.levels[key] = (requests, toks, now)
        headers = ratelimit_headers(
            limit_requests=self.rpm,
            remaining_requests=math.floor(requests),
            reset_requests_s=(self.rpm - requests) * 60 / self.rpm,
            limit_tokens=self.tpm,
            remaining_tokens=math.floor(toks),
            reset_tokens_s=(self.tpm - toks) * 60 / self.tpm,
        )
        return over, wait, headers


class OpenAIFlavor:
    """api.openai.com: nested errors, ``x-request-id``, ``openai-*`` and rate-limit headers, dated models."""

    name = "openai"

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.fingerprints: dict[str, str | None] = {}

    def error(self, problem: Problem, extra: Headers = ()) -> Reply:
        body = error_object(problem.message, status=problem.status, type=problem.type, param=problem.param)
        body["error"]["code"] = problem.code
        payload = (json.dumps(body, indent=2) + "\n").encode()
        headers = (("content-type", "application/json; charset=utf-8"), ("x-request-id", new_request_id()), *extra)
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

    def body(self, result: Answer, meta: Meta, request: dict[str, Any]) -> bytes:
        return openai_body(result, meta, logprobs=bool(request.get("logprobs")))

    def events(self, result: Answer, meta: Meta, shape: StreamShape) -> list[bytes]:
        return openai_events(result, meta, shape)

    def stream_error(self) -> bytes:
        return sse(error_object(simulated(500, "").message, status=500))

    def headers(self, stream: bool, processing_ms: float, ratelimit: dict[str, str]) -> Headers:
        return (
            ("content-type", "text/event-stream; charset=utf-8" if stream else JSON),
            ("access-control-expose-headers", "X-Request-ID"),
            ("openai-processing-ms", str(int(processing_ms) + 1)),
            ("openai-version", "2020-10-01"),
            *ratelimit.items(),
            ("x-request-id", new_request_id()),
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
        return Reply(200, (("content-type", JSON), ("server", "uvicorn")), sglang_models(self.options.models, created=self.created))

    def model(self, name: str) -> Reply:
        return self.no_route(Request("GET", "/v1/models/" + name, "", {}, b""))

    def meta(self, model: str) -> Meta:
        return Meta(uuid.uuid4().hex, int(time.time()), model)

    def body(self, result: Answer, meta: Meta, request: dict[str, Any]) -> bytes:
        return sglang_body(result, meta)

    def events(self, result: Answer, meta: Meta, shape: StreamShape) -> list[bytes]:
        return sglang_events(result, meta, shape)

    def stream_error(self) -> bytes:
        return sglang_stream_error(500, "Internal server error: simulated failure", "InternalServerError")

    def headers(self, stream: bool, processing_ms: float, ratelimit: dict[str, str]) -> Headers:
        return (("content-type", "text/event-stream; charset=utf-8" if stream else JSON), ("server", "uvicorn"))


class SimApp:
    """The request handler: ``plan = app(request)``."""

    def __init__(self, options: SimOptions, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        path = None if options.tasks_path is None else Path(options.tasks_path)
        self.tasks = TaskIndex.build(load_tasks(path))
        self.flavor: OpenAIFlavor | SGLangFlavor = (
            OpenAIFlavor(options) if options.flavor == "openai" else SGLangFlavor(options)
        )
        self.limiter = RateLimiter(options.rpm, options.tpm, clock)
        self.rng = random.Random(options.seed)
        self.default_fault = options.fault_spec

    def __call__(self, request: Request) -> Plan:
        path = request.path.rstrip("/") or "/"
        if request.method == "GET" and path in ("/health", "/health_generate"):
            return Reply(200, (("content-type", JSON),) if self.flavor.name == "openai" else (), b"")
        key = _bearer(request.headers)
        if self.options.require_key is not None and key != self.options.require_key:
            return self.flavor.unauthorized(key)
        if request.method == "GET" and path == "/v1/models":
            return self.flavor.models()
        if request.method == "GET" and path.startswith("/v1/models/"):
            return self.flavor.model(path.removeprefix("/v1/models/"))
        if request.method == "POST" and path == CHAT_PATH:
            return self.chat(request, key or "")
        return self.flavor.no_route(request)

    def chat(self, request: Request, key: str) -> Plan:
        try:
            fault = _header_fault(request.headers) or self.default_fault
        except ValueError as exc:
            return self.flavor.error(Problem(400, str(exc), "x-sim-fault"))
        body, parse_problem = self._parse(request.body)
        model = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else ""
        fault = _model_fault(model) or fault
        if fault is not None and fault.kind in ("hang", "refuse"):
            return Hang() if fault.kind == "hang" else Drop()
        forced = _forced_status(request.headers.get("x-sim-fail"), model)
        if forced is not None:
            return self.failure(forced, model)
        if self.options.error_rate and self.rng.random() < self.options.error_rate:
            return self.failure(500 if self.rng.random() < 0.5 else 503, model)
        problem = parse_problem or self._check(body, model)
        if problem is not None:
            return self.flavor.error(problem)
        return self.respond(request, body, model or self.options.models[0], key, fault)

    def failure(self, status: int, model: str) -> Reply:
        if status == 401 and self.flavor.name == "sglang":
            return self.flavor.unauthorized(None)
        extra: Headers = (("retry-after", "1"),) if status in (429, 503) else ()
        return self.flavor.error(simulated(status, model or self.options.models[0]), extra)

    def _parse(self, raw: bytes) -> tuple[Any, Problem | None]:
        try:
            return json.loads(raw), None
        except (ValueError, UnicodeDecodeError) as exc:
            message = PARSE_ERROR if self.flavor.name == "openai" else sglang_parse_error(str(exc))
            return None, Problem(400, message)

    def _check(self, body: Any, model: str) -> Problem | None:
        validate = validate_openai if self.flavor.name == "openai" else validate_sglang
        problem = validate(body)
        if problem is not None:
            return problem
        if model.startswith(MAGIC_FAULT) or not model and self.flavor.name == "sglang":
            return None
        if model not in self.options.models:
            if self.flavor.name == "sglang":
                return Problem(404, f"The model `{model}` does not exist.")
            return model_not_found(model)
        return None

    def respond(self, request: Request, body: dict[str, Any], model: str, key: str, fault: Fault | None) -> Plan:
        headers = request.headers
        result = answer(
            body,
            self.tasks,
            seed=self.options.seed,
            disagree=self.options.disagree,
            item_id=headers.get("x-sim-item") or _metadata_item(body),
            force_disagree=_flag(headers.get("x-sim-disagree")),
        )
        ratelimit: dict[str, str] = {}
        if self.flavor.name == "openai":
            over, wait, ratelimit = self.limiter.take(key, result.prompt_tokens + result.completion_tokens)
            if over is not None:
                retry = (("retry-after", str(max(1, math.ceil(wait)))), *ratelimit.items())
                return self.flavor.error(rate_limited(model, self.options.rpm if over == "requests" else self.options.tpm, over, wait), retry)
        meta = self.flavor.meta(model)
        if body.get("stream"):
            return self._stream(request, body, result, meta, ratelimit, fault)
        latency = _ms(headers, "x-sim-latency-ms", self.options.latency_ms)
        if fault is not None and fault.kind == "error":
            return self.failure(500, model)
        payload = self.flavor.body(result, meta, body)
        reply_headers = self.flavor.headers(False, latency, ratelimit)
        if fault is not None and fault.kind == "malformed":
            return Reply(200, reply_headers, payload[: len(payload) // 2], latency / 1000)
        cut = len(payload) // 2 if fault is not None and fault.kind == "cut" else None
        return Reply(200, reply_headers, payload, latency / 1000, cut)

    def _stream(
        self,
        request: Request,
        body: dict[str, Any],
        result: Answer,
        meta: Meta,
        ratelimit: dict[str, str],
        fault: Fault | None,
    ) -> Stream:
        headers = request.headers
        options = body.get("stream_options") or {}
        pieces = int(_ms(headers, "x-sim-chunks", self.options.chunks))
        shape = StreamShape(
            include_usage=bool(options.get("include_usage")),
            obfuscate=options.get("include_obfuscation", True) is not False,
            logprobs=bool(body.get("logprobs")),
            pieces=pieces,
        )
        events = self.flavor.events(result, meta, shape)
        ttft = _ms(headers, "x-sim-ttft-ms", self.options.ttft_ms)
        interval = _ms(headers, "x-sim-chunk-interval-ms", self.options.chunk_interval_ms) / 1000
        after = fault.after if fault is not None and fault.after is not None else self.options.cut_after
        cut_after = None
        if fault is not None and fault.kind == "cut":
            cut_after = min(after, len(events) - 1)
        elif fault is not None and fault.kind == "malformed":
            events = events[:1] + [events[1][: len(events[1]) // 2] + b"\n\n"] + events[-1:]
        elif fault is not None and fault.kind == "error":
            events = events[: min(after, len(events) - 1)] + [self.flavor.stream_error()]
            events += [b"data: [DONE]\n\n"] if self.flavor.name == "sglang" else []
        stream_headers = self.flavor.headers(True, ttft, ratelimit)
        return Stream(200, stream_headers, tuple(events), ttft / 1000, interval, cut_after)


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else value


def _header_fault(headers: dict[str, str]) -> Fault | None:
    value = headers.get("x-sim-fault")
    return parse_fault(value, where="x-sim-fault") if value else None


def _model_fault(model: str) -> Fault | None:
    if not model.startswith(MAGIC_FAULT):
        return None
    try:
        return parse_fault(model.removeprefix(MAGIC_FAULT), where="model")
    except ValueError:
        return None


def _forced_status(header: str | None, model: str) -> int | None:
    text = header or (model.removeprefix(MAGIC_ERROR) if model.startswith(MAGIC_ERROR) else "")
    return int(text) if text.strip().isdigit() and 400 <= int(text) <= 599 else None


def _metadata_item(body: dict[str, Any]) -> str | None:
    metadata = body.get("metadata")
    item = metadata.get("sim_item") if isinstance(metadata, dict) else None
    return item if isinstance(item, str) else None


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def _ms(headers: dict[str, str], name: str, default: float) -> float:
    value = headers.get(name)
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default
