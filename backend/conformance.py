"""Wire-conformance suite: does an endpoint answer chat completions exactly as OpenAI does?

It drives the endpoint with the official ``openai`` SDK, the client our users' apps use, and checks both what
the SDK sees (parsed objects, exception classes) and what the SDK tolerates but apps reading raw JSON or headers
would not (body shapes, ``x-request-id``, ``x-ratelimit-*``). Each check is one row: PASS, FAIL, or SKIP when a
failure cannot be provoked on this endpoint (only ``backend.sim.server`` and our proxy in front of it honour the
429/5xx trigger; ``strict`` turns those SKIPs into FAILs).

What the wire must look like (the pure validators) lives in ``core.wire_shapes``; this module is the I/O:
one SDK client whose transport notes every response, and the checks that drive it.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

import httpx
import jsonschema
import openai
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from core.wire_shapes import (
    arguments_problems,
    chunk_choices,
    completion_problems,
    error_body_problems,
    json_type,
    parse_sse,
    preview,
    ratelimit_problems,
    request_id_problem,
    stream_problems,
    stream_tool_problems,
    stream_usage_problems,
)

Status = Literal["PASS", "FAIL", "SKIP"]

SIM_FAIL_HEADER = "x-sim-fail"  # backend.sim.server answers with this status when a request carries it,
SIM_FAIL_MODEL = "sim-error-{status}"  # or names this model (for proxies that route by model name)
_MAX_BODY = 16 * 1024 * 1024
_MAX_PROBLEMS = 6


@dataclass(frozen=True)
class CheckResult:
    """One row of the suite's table."""

    check: str
    status: Status
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "status": self.status, "detail": self.detail}


def normalize_base_url(base_url: str) -> str:
    """``http://host:port`` (what ``sim`` prints) means ``http://host:port/v1``; any other path is kept."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base URL {base_url!r} is not http(s)://host[:port][/path]")
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


# ---------------------------------------------------------------- I/O: the SDK against the endpoint


class _Failed(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _NotTriggerable(Exception):
    """The endpoint did not produce the status a check needs; not its fault unless ``strict``."""


def _require(problems: list[str]) -> None:
    if problems:
        raise _Failed(problems)


@dataclass(frozen=True)
class Exchange:
    """What the transport saw of one response: enough for the header checks."""

    method: str
    path: str
    status: int
    headers: httpx.Headers


class _BoundedStream(httpx.SyncByteStream):
    """A response body that gives up past the call's deadline or size cap, so a trickling endpoint can't hang us."""

    def __init__(self, inner: httpx.SyncByteStream, request: httpx.Request, deadline: float) -> None:
        self._inner, self._request, self._deadline = inner, request, deadline

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        for chunk in self._inner:
            size += len(chunk)
            if time.monotonic() > self._deadline:
                raise httpx.ReadTimeout("the answer did not complete within --timeout", request=self._request)
            if size > _MAX_BODY:
                raise httpx.ReadError(f"body over {_MAX_BODY} bytes", request=self._request)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _RecordingTransport(httpx.BaseTransport):
    """The real transport, noting every response and bounding each call's total time."""

    def __init__(self, timeout: float) -> None:
        self._inner = httpx.HTTPTransport()
        self._timeout = timeout
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self._timeout
        response = self._inner.handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _BoundedStream(response.stream, request, deadline)
        self.exchanges.append(
            Exchange(request.method, request.url.path, response.status_code, response.headers)
        )
        return response

    def close(self) -> None:
        self._inner.close()


@dataclass
class _Session:
    model: str
    strict: bool
    client: openai.OpenAI
    transport: _RecordingTransport
    http: httpx.Client

    def close(self) -> None:
        self.http.close()


def _open_session(base_url: str, api_key: str, model: str, timeout: float, strict: bool) -> _Session:
    transport = _RecordingTransport(timeout)
    http = httpx.Client(transport=transport, timeout=timeout)
    client = openai.OpenAI(
        base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout, http_client=http
    )
    return _Session(model, strict, client, transport, http)


_SAY: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say this is a test"}]
_WEATHER_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
_ASK_WEATHER: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is the weather in Paris now? Use the get_weather tool."}
]
_CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
    "additionalProperties": False,
}
_ASK_CITY: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Name the capital of France and its country, as JSON."}
]


def _json_of(response: httpx.Response, where: str) -> object:
    try:
        return response.json()
    except ValueError:
        raise _Failed([f"{where} is not JSON: {response.text[:60]!r}"]) from None


def _content_type_problems(response: httpx.Response, expected: str) -> list[str]:
    got = response.headers.get("content-type", "")
    return [] if got.split(";")[0].strip() == expected else [f"content-type {got!r}, expected {expected}"]


def _complete(s: _Session, **kwargs: Any) -> dict[str, Any]:
    """One non-streamed call: the raw body checked against the schema and parsed by the SDK."""
    raw = s.client.chat.completions.with_raw_response.create(model=s.model, **kwargs)
    body = _json_of(raw.http_response, "body")
    _require(_content_type_problems(raw.http_response, "application/json") + completion_problems(body))
    raw.parse()
    return cast(dict[str, Any], body)


def _stream(s: _Session, **kwargs: Any) -> list[object]:
    """One streamed call: the raw SSE checked, then the same bytes read by the SDK's own stream."""
    raw = s.client.chat.completions.with_raw_response.create(model=s.model, stream=True, **kwargs)
    raw.http_response.read()
    chunks, problems = parse_sse(raw.http_response.content)
    _require(
        _content_type_problems(raw.http_response, "text/event-stream") + problems + stream_problems(chunks)
    )
    sdk_chunks = list(raw.parse())
    if len(sdk_chunks) != len(chunks):
        raise _Failed([f"the SDK read {len(sdk_chunks)} chunks, the stream has {len(chunks)}"])
    return chunks


def _first_choice(body: dict[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], body["choices"][0])


def check_non_stream(s: _Session) -> str:
    body = _complete(s, messages=_SAY)
    usage = body["usage"]
    return (
        f"chat.completion, finish_reason {_first_choice(body)['finish_reason']}, "
        f"usage {usage['prompt_tokens']}+{usage['completion_tokens']}={usage['total_tokens']}"
    )


def check_stream(s: _Session) -> str:
    chunks = _stream(s, messages=_SAY)
    text = "".join(c["delta"].get("content") or "" for c in chunk_choices(chunks))
    _require([] if text else ["the deltas carry no content"])
    return f"{len(chunks)} chunks, [DONE], {len(text)} characters of content"


def check_stream_usage(s: _Session) -> str:
    chunks = _stream(s, messages=_SAY, stream_options={"include_usage": True})
    _require(stream_usage_problems(chunks))
    usage = cast(dict[str, Any], chunks[-1])["usage"]
    return f"usage null on {len(chunks) - 1} chunks, last chunk choices [] with total_tokens {usage['total_tokens']}"


def check_tools(s: _Session) -> str:
    body = _complete(s, messages=_ASK_WEATHER, tools=[_WEATHER_TOOL])
    choice = _first_choice(body)
    calls = choice["message"].get("tool_calls") or []
    problems = [] if calls else ["no tool_calls in the message"]
    if choice["finish_reason"] != "tool_calls":
        problems.append(f"finish_reason {choice['finish_reason']!r}, expected 'tool_calls'")
    for i, call in enumerate(calls):
        problems += arguments_problems(call["function"]["arguments"], f"tool_calls[{i}].function.arguments")
    _require(problems)
    return f"{len(calls)} tool call(s): {calls[0]['function']['name']}({calls[0]['function']['arguments']})"


def check_stream_tools(s: _Session) -> str:
    chunks = _stream(s, messages=_ASK_WEATHER, tools=[_WEATHER_TOOL])
    calls, problems = stream_tool_problems(chunks)
    _require(problems)
    first = calls[0]
    return f"{len(calls)} call(s) from {len(chunks)} chunks: {first['name']}({first['arguments']})"


def check_json_mode(s: _Session) -> str:
    body = _complete(s, messages=_ASK_CITY, response_format={"type": "json_object"})
    content = _first_choice(body)["message"]["content"]
    value = _json_content(content)
    _require([] if isinstance(value, dict) else [f"content is a JSON {json_type(value)}, expected object"])
    return f"content is a JSON object with keys {sorted(cast(dict[str, Any], value))}"


def check_json_schema(s: _Session) -> str:
    schema_format = {
        "type": "json_schema",
        "json_schema": {"name": "city", "strict": True, "schema": _CITY_SCHEMA},
    }
    body = _complete(s, messages=_ASK_CITY, response_format=schema_format)
    value = _json_content(_first_choice(body)["message"]["content"])
    errors = [e.message for e in jsonschema.Draft202012Validator(_CITY_SCHEMA).iter_errors(value)]
    _require([f"content does not match the schema: {e}" for e in errors])
    return f"content matches the schema: {preview(value)}"


def _json_content(content: object) -> object:
    if not isinstance(content, str):
        raise _Failed([f"message.content is {json_type(content)}, expected a JSON string"])
    try:
        return json.loads(content)
    except ValueError:
        raise _Failed([f"message.content is not JSON: {content[:60]!r}"]) from None


# The exception the SDK raises for each status OpenAI answers with (503 is an InternalServerError too).
ERROR_CLASSES: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    404: openai.NotFoundError,
    429: openai.RateLimitError,
    500: openai.InternalServerError,
    503: openai.InternalServerError,
}


def _provoke(s: _Session, status: int) -> None:
    """Send the request that makes OpenAI answer ``status``: a real fault, or the sim's trigger for 429/5xx."""
    if status == 400:  # OpenAI: 400 "Missing required parameter: 'messages'."
        s.client.chat.completions.create(model=s.model, messages=cast(Any, openai.omit))
    elif status == 401:
        wrong = s.client.with_options(api_key="sk-alveare-check-wrong-" + secrets.token_hex(8))
        wrong.chat.completions.create(model=s.model, messages=_SAY)
    elif status == 404:
        model = "alveare-check-no-such-model-" + secrets.token_hex(4)
        s.client.chat.completions.create(model=model, messages=_SAY)
    else:
        _trigger(s, status)


def _trigger(s: _Session, status: int) -> None:
    """The sim's trigger: the header with the usual model, then (if that did not work) the magic model too."""
    headers = {SIM_FAIL_HEADER: str(status)}
    try:
        s.client.chat.completions.create(model=s.model, messages=_SAY, extra_headers=headers)
    except openai.APIStatusError as e:
        if e.status_code == status:
            raise
    model = SIM_FAIL_MODEL.format(status=status)
    s.client.chat.completions.create(model=model, messages=_SAY, extra_headers=headers)


def _untriggerable(status: int) -> str | None:
    """Why not getting ``status`` is the endpoint's choice rather than a fault (-> SKIP unless strict)."""
    if status in (429, 500, 503):
        model = SIM_FAIL_MODEL.format(status=status)
        return f"the endpoint ignores the {SIM_FAIL_HEADER} header and the {model} model"
    return {401: "the endpoint accepts any key", 404: "the endpoint serves any model name"}.get(status)


def check_error(s: _Session, status: int) -> str:
    """The SDK raises the exception OpenAI's answer would give, and the body is OpenAI's error object."""
    expected = ERROR_CLASSES[status]
    try:
        _provoke(s, status)
    except openai.APIStatusError as e:
        return _error_detail(e, status, expected)
    if why := _untriggerable(status):
        raise _NotTriggerable(f"answered 200: {why}")
    raise _Failed([f"answered 200, expected {status} {expected.__name__}"])


def _error_detail(e: openai.APIStatusError, status: int, expected: type[openai.APIStatusError]) -> str:
    got = f"{e.status_code} {type(e).__name__}"
    if e.status_code != status and status in (429, 500, 503):
        raise _NotTriggerable(f"answered {got}: {_untriggerable(status)}")
    problems = [] if e.status_code == status else [f"answered {got}, expected {status} {expected.__name__}"]
    if type(e) is not expected:
        problems.append(f"the SDK raised {type(e).__name__}, expected {expected.__name__}")
    response = e.response
    problems += _content_type_problems(response, "application/json")
    problems += error_body_problems(_json_of(response, "error body"))
    _require(problems)
    error = response.json()["error"]
    return f"{got}, type {error['type']!r}, code {error['code']!r}"


def check_request_id(s: _Session) -> str:
    """Every response the suite got, errors included, carries OpenAI's request id."""
    seen = s.transport.exchanges
    _require(_across_responses([_listed(request_id_problem(x.headers)) for x in seen], "responses"))
    return f"req_<32 hex> on all {len(seen)} responses"


def check_ratelimit(s: _Session) -> str:
    """Every successful response carries the six x-ratelimit-* headers in OpenAI's formats."""
    ok = [x for x in s.transport.exchanges if 200 <= x.status < 300]
    _require(_across_responses([ratelimit_problems(x.headers) for x in ok], "successful responses"))
    return f"six x-ratelimit-* headers on all {len(ok)} successful responses"


def _listed(problem: str | None) -> list[str]:
    return [] if problem is None else [problem]


def _across_responses(per_response: list[list[str]], what: str) -> list[str]:
    """Each distinct header problem once, with how many of the responses have it."""
    if not per_response:
        return [f"no {what} to inspect"]
    counts: dict[str, int] = {}
    for problems in per_response:
        for problem in problems:
            counts[problem] = counts.get(problem, 0) + 1
    return [f"{n} of {len(per_response)} {what}: {p}" for p, n in counts.items()]


def _first_problems(problems: list[str]) -> str:
    unique = list(dict.fromkeys(problems))
    more = f" (+{len(unique) - _MAX_PROBLEMS} more)" if len(unique) > _MAX_PROBLEMS else ""
    return "; ".join(unique[:_MAX_PROBLEMS]) + more


Check = Callable[[_Session], str]
CHECKS: tuple[tuple[str, Check], ...] = (
    ("non-stream", check_non_stream),
    ("stream", check_stream),
    ("stream-usage", check_stream_usage),
    ("tools", check_tools),
    ("stream-tools", check_stream_tools),
    ("json-mode", check_json_mode),
    ("json-schema", check_json_schema),
    *((f"error-{status}", partial(check_error, status=status)) for status in ERROR_CLASSES),
    ("x-request-id", check_request_id),  # these two read the responses of all the checks above
    ("x-ratelimit", check_ratelimit),
)
CHECK_NAMES: tuple[str, ...] = tuple(name for name, _ in CHECKS)


def run_checks(
    base_url: str, api_key: str, model: str, *, timeout: float = 30.0, strict: bool = False
) -> list[CheckResult]:
    """Run the whole suite against ``base_url`` (``http://host:port`` means ``.../v1``); one result per check.

    Every call is bounded by ``timeout`` seconds. If the first check finds the endpoint silent, the key
    refused or the model unknown, the rest are reported as FAIL without being run: they could only repeat it.
    """
    session = _open_session(normalize_base_url(base_url), api_key, model, timeout, strict)
    try:
        results: list[CheckResult] = []
        for name, check in CHECKS:
            result, blocker = _run_one(name, check, session)
            results.append(result)
            if blocker and len(results) == 1:
                detail = f"not run: {blocker} ({result.detail})"
                return results + [CheckResult(n, "FAIL", detail) for n in CHECK_NAMES[1:]]
        return results
    finally:
        session.close()


def _run_one(name: str, check: Check, session: _Session) -> tuple[CheckResult, str | None]:
    """The check's row, and what blocks every other check if this failure does."""
    try:
        return CheckResult(name, "PASS", check(session)), None
    except _Failed as e:
        return CheckResult(name, "FAIL", _first_problems(e.problems)), None
    except _NotTriggerable as e:
        status: Status = "FAIL" if session.strict else "SKIP"
        return CheckResult(name, status, f"not triggerable: {e}"), None
    except openai.APIStatusError as e:
        blocker = _BLOCKERS.get(e.status_code)
        return CheckResult(name, "FAIL", _status_detail(e)), blocker and blocker.format(model=session.model)
    except (openai.APIConnectionError, httpx.TransportError) as e:
        return CheckResult(name, "FAIL", f"{type(e).__name__}: {e}"), "the endpoint did not answer"
    except (openai.OpenAIError, httpx.HTTPError, ValueError, KeyError, TypeError) as e:
        return CheckResult(name, "FAIL", f"{type(e).__name__}: {e}"), None


_BLOCKERS = {
    401: "the endpoint refused the key; pass the right --api-key",
    403: "the endpoint refused the key; pass the right --api-key",
    404: "the endpoint does not serve model {model!r}; pass one it serves with --model",
}


def _status_detail(e: openai.APIStatusError) -> str:
    """``401 AuthenticationError: <the error's own message>``."""
    body = e.body
    message = body.get("message") if isinstance(body, dict) else None
    text = message if isinstance(message, str) else e.message
    return f"{e.status_code} {type(e).__name__}: {text[:120]}"
