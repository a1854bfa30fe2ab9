"""The conformance checker: its pure validators (``core.wire_shapes``) on OpenAI-shaped and deviant
samples, then the whole suite against the sim in both flavors (through the real CLI)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from backend import conformance as c
from core import wire_shapes as w
from migrate_cli.check import check, format_table
from tests.openapi_schema import validator

COMPLETION: dict[str, Any] = {  # trimmed from the recorded gpt-4o-mini exchange
    "id": "chatcmpl-ASYMQRl3A3DXL9FWCK9tnGRcKIO7q",
    "object": "chat.completion",
    "created": 1731368630,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "This is a test.", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    "system_fingerprint": "fp_0ba0d124f1",
}
OPENAI_HEADERS = {
    "x-request-id": "req_58cff97afd0e7c0bba910ccf0b044a6f",
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-limit-tokens": "200000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-remaining-tokens": "199977",
    "x-ratelimit-reset-requests": "8.64s",
    "x-ratelimit-reset-tokens": "6ms",
}


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with the dotted ``path`` set to ``value`` (or removed when value is ...)."""
    copy: dict[str, Any] = json.loads(json.dumps(base))
    *parents, last = path.split(".")
    node = copy
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return copy


def test_a_recorded_openai_completion_has_no_problems() -> None:
    assert w.completion_problems(COMPLETION) == []


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("object", "text_completion", "body.object is 'text_completion', expected 'chat.completion'"),
        ("created", "1731368630", 'body.created is string "1731368630", expected integer'),
        ("created", True, "body.created is boolean true, expected integer"),
        ("id", ..., "body.id missing"),
        ("choices.0.finish_reason", "eos", "choices[0].finish_reason 'eos' is not one of OpenAI's"),
        ("choices.0.message.role", ..., "choices[0].message.role missing"),
        ("choices.0.message.content", 3, "choices[0].message.content is integer 3, expected string or null"),
        ("choices.0.index", None, "choices[0].index is null null, expected integer"),
    ],
)
def test_completion_deviations_are_named_and_break_openais_schema(
    path: str, value: Any, problem: str
) -> None:
    body = _with(COMPLETION, path, value)
    assert w.completion_problems(body) == [problem]
    assert not validator("CreateChatCompletionResponse").is_valid(body)


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [  # beyond the schema: OpenAI always sends usage, and our cost accounting reads it
        ("usage", ..., "body.usage is null null, expected object"),
        ("usage.total_tokens", 99, "body.usage.total_tokens != prompt_tokens + completion_tokens"),
    ],
)
def test_usage_is_required(path: str, value: Any, problem: str) -> None:
    assert w.completion_problems(_with(COMPLETION, path, value)) == [problem]


def test_extra_fields_and_absent_nullable_keys_are_fine() -> None:
    body = _with(COMPLETION, "choices.0.matched_stop", 151645)
    body = _with(body, "choices.0.message.reasoning_content", None)
    body = _with(body, "choices.0.message.tool_calls", None)
    body = _with(body, "choices.0.message.refusal", ...)
    body = _with(body, "choices.0.logprobs", ...)
    assert w.completion_problems(_with(body, "metadata", {"weight_version": "default"})) == []


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        ({"error": {"message": "m", "type": "invalid_request_error", "param": None, "code": "x"}}, []),
        ({"error": {"message": "m", "type": "server_error", "param": "messages", "code": None}}, []),
        ({"error": "Unauthorized"}, ['error is string "Unauthorized", expected object']),
        (
            {"object": "error", "message": "m", "type": "BadRequestError", "param": None, "code": 400},
            [
                'body is flat {object, message, type, param, code}, expected {"error": {...}}',
                "body.code is integer 400, expected string or null",
            ],
        ),
        (
            {"error": {"message": "m", "type": "BadRequestError", "param": None, "code": 400}},
            ["error.code is integer 400, expected string or null"],
        ),
        ({"error": {"message": "m", "type": "t"}}, ["error.param missing", "error.code missing"]),
    ],
)
def test_error_bodies_agree_with_openais_schema(body: object, problems: list[str]) -> None:
    assert w.error_body_problems(body) == problems
    assert validator("ErrorResponse").is_valid(body) == (not problems)


def _sse(*events: object, done: bool = True) -> bytes:
    lines = [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events]
    return b"".join(lines) + (b"data: [DONE]\n\n" if done else b"")


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [choice],
    } | extra


USAGE_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "choices": [],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def test_sse_framing() -> None:
    chunks, problems = w.parse_sse(
        _sse(_chunk({"content": "hi"}), _chunk({}, "stop")).replace(b"\n", b"\r\n")
    )
    assert (len(chunks), problems, w.stream_problems(chunks)) == (2, [], [])
    assert w.parse_sse(_sse(_chunk({}, "stop"), done=False))[1] == ["stream did not end with 'data: [DONE]'"]
    assert w.parse_sse(b"data: {nope\n\ndata: [DONE]\n\n")[1] == ["event 0 is not JSON: '{nope'"]
    assert w.stream_problems([_chunk({}), _chunk({}, "stop", id="other")]) == ["chunks carry 2 different ids"]
    assert w.stream_problems([_chunk({"content": "x"})]) == ["no chunk carries a finish_reason"]
    bad = [_chunk({"content": "a"}), _chunk({"content": 1}), _chunk({"content": 2}, "stop")]
    assert w.stream_problems(bad) == [
        "chunk[*].choices[0].delta.content is integer 1, expected string or null (in 1 of 3 chunks, from #1)",
        "chunk[*].choices[0].delta.content is integer 2, expected string or null (in 1 of 3 chunks, from #2)",
    ]
    nulls = [_chunk({"content": "a", "tool_calls": None, "refusal": None}), _chunk({}, "stop")]
    assert w.stream_problems(nulls) == []
    flat = [_chunk({"tool_calls": {}}), _chunk({"tool_calls": {}}, "stop")]
    assert w.stream_problems(flat) == [
        "chunk[*].choices[0].delta.tool_calls is object {}, expected array or null (in 2 of 2 chunks, from #0)"
    ]


def test_stream_usage() -> None:
    good = [_chunk({"content": "a"}, usage=None), _chunk({}, "stop", usage=None), USAGE_CHUNK]
    assert w.stream_usage_problems(good) == []
    assert w.stream_usage_problems([_chunk({"content": "a"}), USAGE_CHUNK]) == []  # absent reads as null
    assert w.stream_usage_problems([_chunk({}, usage=USAGE_CHUNK["usage"]), *good]) == [
        "chunk[*].usage is object, expected null before the last chunk (in 1 of 3 chunks, from #0)"
    ]
    assert w.stream_usage_problems(good[:2])[0].startswith("last chunk is {")


def _tool_delta(index: int, **fields: Any) -> dict[str, Any]:
    return _chunk({"tool_calls": [{"index": index, **fields}]})


def test_stream_tools_as_openai_sends_them() -> None:
    first = _tool_delta(0, id="call_1", type="function", function={"name": "get_weather", "arguments": ""})
    frags = [_tool_delta(0, function={"arguments": part}) for part in ('{"ci', 'ty": "Paris"}')]
    calls, problems = w.stream_tool_problems([first, *frags, _chunk({}, "tool_calls")])
    assert problems == []
    assert calls == {0: {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}}


def test_stream_tools_deviations() -> None:
    whole = _tool_delta(0, id="call_1", type="function", function={"name": "f", "arguments": '{"a": 1}'})
    repeat = _tool_delta(0, id="call_1", function={"name": "f", "arguments": ""})
    _, problems = w.stream_tool_problems([whole, repeat, _chunk({}, "stop")])
    assert problems == [
        'first delta of call 0 has arguments "{\\"a\\": 1}", expected ""',
        "later delta of call 0 repeats id (the SDK would concatenate it)",
        "later delta of call 0 repeats name (the SDK would concatenate it)",
        "finish_reason(s) ['stop'], expected ['tool_calls']",
    ]
    assert "no tool_calls deltas" in w.stream_tool_problems([_chunk({}, "tool_calls")])[1]


def test_headers() -> None:
    assert w.request_id_problem(OPENAI_HEADERS) is None
    assert w.request_id_problem({}) == "no x-request-id"
    assert w.request_id_problem({"x-request-id": "55f4f12fef392b7fbc0c647e97a8e6b2"}) is not None
    assert w.ratelimit_problems(OPENAI_HEADERS) == []
    assert w.ratelimit_problems({}) == [
        "missing x-ratelimit-limit-requests, x-ratelimit-limit-tokens, x-ratelimit-remaining-requests, "
        "x-ratelimit-remaining-tokens, x-ratelimit-reset-requests, x-ratelimit-reset-tokens"
    ]
    odd = OPENAI_HEADERS | {"x-ratelimit-reset-tokens": "6", "x-ratelimit-remaining-requests": "10001"}
    assert w.ratelimit_problems(odd) == [
        "x-ratelimit-reset-tokens: '6' is not a duration",
        "remaining requests 10001 > limit 10000",
    ]


@pytest.mark.parametrize("text", ["6ms", "8.64s", "1m6.779s", "6m0s", "1h2m3s", "0s", "2m"])
def test_durations_openai_writes(text: str) -> None:
    assert w.ratelimit_problems(OPENAI_HEADERS | {"x-ratelimit-reset-requests": text}) == []


@pytest.mark.parametrize("text", ["", "6", "s", "1.5m", "-1s", "6 ms"])
def test_not_durations(text: str) -> None:
    assert w.ratelimit_problems(OPENAI_HEADERS | {"x-ratelimit-reset-requests": text}) != []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1"),
        ("https://api.openai.com/v1/", "https://api.openai.com/v1"),
        ("http://h:1/openai/v1", "http://h:1/openai/v1"),
    ],
)
def test_normalize_base_url(url: str, expected: str) -> None:
    assert c.normalize_base_url(url) == expected


def test_table_format() -> None:
    rows = [
        c.CheckResult("non-stream", "PASS", "ok"),
        c.CheckResult("x-request-id", "FAIL", "no x-request-id"),
    ]
    assert format_table(rows).splitlines() == [
        "CHECK         STATUS  DETAIL",
        "non-stream    PASS    ok",
        "x-request-id  FAIL    no x-request-id",
        "2 checks: 1 passed, 1 failed, 0 skipped",
    ]


def test_unreachable_endpoint_fails_every_row_fast() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    results = c.run_checks(url, "k", "m", timeout=2)
    assert [r.check for r in results] == list(c.CHECK_NAMES)
    assert {r.status for r in results} == {"FAIL"}
    assert results[0].detail == "APIConnectionError: Connection error."
    assert results[1].detail == "not run: the endpoint did not answer (APIConnectionError: Connection error.)"


def test_a_refused_key_stops_the_suite_with_a_hint(sim_process: Callable[..., str]) -> None:
    url = sim_process("openai", require_key=KEY)
    result = CliRunner().invoke(check, ["--base-url", url, "--api-key", "sk-not-the-key", "--json"])
    assert result.exit_code == 1
    rows = json.loads(result.output)
    assert rows[0]["detail"].startswith(
        "401 AuthenticationError: Incorrect API key provided: sk-not-t****-key."
    )
    assert rows[1]["detail"].startswith(
        "not run: the endpoint refused the key; pass the right --api-key (401"
    )
    assert {row["status"] for row in rows} == {"FAIL"}


def test_cli_rejects_a_bad_url() -> None:
    result = CliRunner().invoke(check, ["--base-url", "127.0.0.1:8000"])
    assert result.exit_code == 2
    assert "is not http(s)://host[:port][/path]" in result.output


# ---------------------------------------------------------------- the whole suite, against real endpoints

KEY = "sk-conformance-test"
SGLANG_DEVIATIONS = {  # flat error bodies with int codes, {"error": "Unauthorized"}, no OpenAI headers
    "error-400",
    "error-401",
    "error-404",
    "error-429",
    "error-500",
    "error-503",
    "x-request-id",
    "x-ratelimit",
}


def test_the_openai_flavor_passes_every_check(sim_process: Callable[..., str]) -> None:
    url = sim_process("openai", require_key=KEY)
    result = CliRunner().invoke(check, ["--base-url", url, "--api-key", KEY, "--strict"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[:2] for line in lines[1:-1]] == [[name, "PASS"] for name in c.CHECK_NAMES]
    assert lines[-1] == "15 checks: 15 passed, 0 failed, 0 skipped"


def test_the_sglang_flavor_fails_exactly_its_known_deviations(sim_process: Callable[..., str]) -> None:
    url = sim_process("sglang", require_key=KEY)
    result = CliRunner().invoke(check, ["--base-url", url + "/v1", "--api-key", KEY, "--json"])
    assert result.exit_code == 1
    rows = {row["check"]: row for row in json.loads(result.output)}
    assert list(rows) == list(c.CHECK_NAMES)
    assert {name for name, row in rows.items() if row["status"] == "FAIL"} == SGLANG_DEVIATIONS
    assert {row["status"] for name, row in rows.items() if name not in SGLANG_DEVIATIONS} == {"PASS"}
    assert rows["error-401"]["detail"] == 'error is string "Unauthorized", expected object'
    assert rows["error-429"]["detail"] == (
        'body is flat {object, message, type, param, code}, expected {"error": {...}}; '
        "body.code is integer 429, expected string or null"
    )
    assert rows["x-request-id"]["detail"].endswith("responses: no x-request-id")


def test_a_hanging_endpoint_cannot_hang_the_checker(sim_process: Callable[..., str]) -> None:
    url = sim_process("openai", fault="hang")
    started = time.monotonic()
    results = c.run_checks(url, KEY, "gpt-4o-mini", timeout=1)
    assert time.monotonic() - started < 10
    assert [r.status for r in results] == ["FAIL"] * len(c.CHECK_NAMES)
    assert results[0].detail == "APITimeoutError: Request timed out."


def test_a_trickling_stream_is_cut_at_the_timeout(sim_process: Callable[..., str]) -> None:
    url = sim_process("openai", chunk_interval_ms=400)
    results = {r.check: r for r in c.run_checks(url, KEY, "gpt-4o-mini", timeout=2)}
    assert results["non-stream"].status == "PASS"
    for name in ("stream", "stream-usage", "stream-tools"):
        assert results[name].status == "FAIL"
        assert results[name].detail == "ReadTimeout: the answer did not complete within --timeout"


class _AlwaysCompletes(http.server.BaseHTTPRequestHandler):
    """An endpoint that answers every POST for model ``m`` with the same OpenAI completion, whole, and 404s
    other models: no key check, no triggers."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        status, answer = (200, COMPLETION) if request["model"] == "m" else (404, NOT_FOUND)
        body = json.dumps(answer).encode()
        self.send_response(status)
        for name, value in {**OPENAI_HEADERS, "content-type": "application/json"}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


NOT_FOUND = {
    "error": {"message": "no such model", "type": "invalid_request_error", "param": None, "code": None}
}


@pytest.fixture
def always_completes() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysCompletes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("strict", [False, True])
def test_errors_an_endpoint_cannot_produce_are_skipped_unless_strict(
    always_completes: str, strict: bool
) -> None:
    rows = {r.check: r for r in c.run_checks(always_completes, KEY, "m", timeout=5, strict=strict)}
    untriggerable = ("error-401", "error-429", "error-500", "error-503")
    assert {rows[name].status for name in untriggerable} == {"FAIL" if strict else "SKIP"}
    assert rows["error-401"].detail == "not triggerable: answered 200: the endpoint accepts any key"
    assert rows["error-429"].detail == (  # after the header got a 200, the magic model got a 404
        "not triggerable: answered 404 NotFoundError: "
        "the endpoint ignores the x-sim-fail header and the sim-error-429 model"
    )
    assert rows["error-400"].detail == "answered 200, expected 400 BadRequestError"
    assert rows["stream"].detail.startswith("content-type 'application/json', expected text/event-stream")
    passing = {name for name, row in rows.items() if row.status == "PASS"}
    assert passing == {"non-stream", "error-404", "x-request-id", "x-ratelimit"}
