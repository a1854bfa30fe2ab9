"""The sim's request handling: route, authenticate, inject faults, validate, rate-limit, answer.

``SimApp(options)`` is the handler the HTTP server calls with each request; it returns a plan (a whole reply,
a stream, a hang, a drop) and never blocks. The two flavors differ only in their wire (``sim_wire``), their
error words (``sim_errors``) and their headers (``sim_flavors``).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend.sim.answers import SimAnswer, answer
from backend.sim.errors import (
    PARSE_ERROR,
    Problem,
    model_not_found,
    rate_limited,
    sglang_parse_error,
    simulated,
    validate_openai,
    validate_sglang,
)
from backend.sim.flavors import CHAT_PATH, JSON, Flavor, OpenAIFlavor, SGLangFlavor
from backend.sim.http import Drop, Hang, Headers, Plan, Reply, Request, Stream
from backend.sim.options import Fault, SimOptions, parse_fault
from backend.sim.tasks import TaskIndex, load_tasks
from backend.sim.wire import Meta, StreamShape

MAGIC_ERROR = "sim-error-"
MAGIC_FAULT = "sim-fault-"


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
        headers = {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-limit-tokens": str(self.tpm),
            "x-ratelimit-remaining-requests": str(max(0, math.floor(requests))),
            "x-ratelimit-remaining-tokens": str(max(0, math.floor(toks))),
            "x-ratelimit-reset-requests": go_duration((self.rpm - requests) * 60 / self.rpm),
            "x-ratelimit-reset-tokens": go_duration((self.tpm - toks) * 60 / self.tpm),
        }
        return over, wait, headers


def go_duration(seconds: float) -> str:
    """A reset time as OpenAI's headers write it (Go's duration style): ``6ms``, ``8.64s``, ``1m6.779s``."""
    millis = max(0, int(seconds * 1000))
    if millis < 1000:
        return f"{millis}ms"
    minutes, millis = divmod(millis, 60_000)
    text = f"{millis / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{text}" if minutes else text


class SimApp:
    """The request handler: ``plan = app(request)``."""

    def __init__(self, options: SimOptions, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        path = None if options.tasks_path is None else Path(options.tasks_path)
        self.tasks = TaskIndex.build(load_tasks(path))
        self.flavor: Flavor = OpenAIFlavor(options) if options.flavor == "openai" else SGLangFlavor(options)
        self.limiter = RateLimiter(options.rpm, options.tpm, clock)
        self.rng = random.Random(options.seed)
        self.default_fault = options.fault_spec
        self.requests_seen = 0  # every request handled: tests assert a side was (or was never) called

    def __call__(self, request: Request) -> Plan:
        self.requests_seen += 1
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
            forced = _status_header(request.headers.get("x-sim-fail"))
        except ValueError as exc:
            return self.flavor.error(Problem(400, str(exc)))
        body, parse_problem = self._parse(request.body)
        model = _model_name(body)
        fault = _model_fault(model) or fault
        if fault is not None and fault.kind in ("hang", "refuse"):
            return Hang() if fault.kind == "hang" else Drop()
        forced = forced or _magic_status(model)
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
        if model.startswith(MAGIC_FAULT) or (not model and self.flavor.name == "sglang"):
            return None
        if model not in self.options.models:
            if self.flavor.name == "sglang":
                return Problem(404, f"The model `{model}` does not exist.")
            return model_not_found(model)
        return None

    def respond(
        self, request: Request, body: dict[str, Any], model: str, key: str, fault: Fault | None
    ) -> Plan:
        headers = request.headers
        result = answer(
            body,
            self.tasks,
            seed=self.options.seed,
            disagree=self.options.disagree,
            item_id=headers.get("x-sim-item") or _metadata_item(body),
            force_disagree=_flag(headers.get("x-sim-disagree")),
        )
        refused, ratelimit = self._rate_limit(key, model, result)
        if refused is not None:
            return refused
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

    def _rate_limit(self, key: str, model: str, result: SimAnswer) -> tuple[Reply | None, dict[str, str]]:
        """OpenAI's per-key limit: a 429 when over it, and the ``x-ratelimit-*`` headers (openai flavor only)."""
        if self.flavor.name != "openai":
            return None, {}
        over, wait, headers = self.limiter.take(key, result.prompt_tokens + result.completion_tokens)
        if over is None:
            return None, headers
        limit = self.options.rpm if over == "requests" else self.options.tpm
        retry = (("retry-after", str(max(1, math.ceil(wait)))), *headers.items())
        return self.flavor.error(rate_limited(model, limit, over, wait), retry), headers

    def _stream(
        self,
        request: Request,
        body: dict[str, Any],
        result: SimAnswer,
        meta: Meta,
        ratelimit: dict[str, str],
        fault: Fault | None,
    ) -> Stream:
        headers = request.headers
        given = body.get("stream_options")
        options: dict[str, Any] = given if isinstance(given, dict) else {}
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
            events = [events[0], events[1][: len(events[1]) // 2] + b"\n\n", events[-1]]
        elif fault is not None and fault.kind == "error":
            events = [*events[: min(after, len(events) - 1)], self.flavor.stream_error()]
            events += [b"data: [DONE]\n\n"] if self.flavor.name == "sglang" else []
        stream_headers = self.flavor.headers(True, ttft, ratelimit)
        return Stream(200, stream_headers, tuple(events), ttft / 1000, interval, cut_after)


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else value


def _model_name(body: Any) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else ""


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


def _status_header(value: str | None) -> int | None:
    if value is None:
        return None
    status = _magic_status(MAGIC_ERROR + value.strip())
    if status is None:
        raise ValueError(f"x-sim-fail: {value!r}: use an HTTP error status from 400 to 599, e.g. 429")
    return status


def _magic_status(model: str) -> int | None:
    """The status a ``sim-error-NNN`` model name asks for."""
    text = model.removeprefix(MAGIC_ERROR) if model.startswith(MAGIC_ERROR) else ""
    return int(text) if text.isdigit() and 400 <= int(text) <= 599 else None


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
