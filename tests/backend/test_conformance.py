"""The conformance checker: its pure validators on OpenAI-shaped and deviant samples, then the whole suite
against the sim in both flavors (through the real CLI)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from backend import conformance as c
from migrate_cli.check import check, format_table

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
    copy = json.loads(json.dumps(base))
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
    assert c.completion_problems(COMPLETION) == []


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("object", "text_completion", "body.object is 'text_completion', expected 'chat.completion'"),
        ("created", "1731368630", 'body.created is string "1731368630", expected integer'),
        ("created", True, "body.created is boolean true, expected integer"),
        ("id", ..., "body.id missing"),
        ("choices.0.finish_reason", "eos", "choices[0].finish_reason 'eos' is not one of OpenAI's"),
        ("choices.0.message.refusal", ..., "choices[0].message.refusal missing"),
        ("choices.0.message.content", 3, "choices[0].message.content is integer 3, expected string or null"),
        ("choices.0.logprobs", ..., "choices[0].logprobs missing"),
        ("usage", ..., "body.usage is null null, expected object"),
        ("usage.total_tokens", 99, "body.usage.total_tokens != prompt_tokens + completion_tokens"),
    ],
)
def test_completion_deviations_are_named(path: str, value: Any, problem: str) -> None:
    assert c.completion_problems(_with(COMPLETION, path, value)) == [problem]


def test_extra_fields_are_fine() -> None:
    body = _with(COMPLETION, "choices.0.matched_stop", 151645)
    body = _with(body, "choices.0.message.reasoning_content", None)
    assert c.completion_problems(_with(body, "metadata", {"weight_version": "default"})) == []


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        ({"error": {"message": "m", "type": "invalid_request_error", "param": None, "code": "x"}}, []),
        ({"error": {"message": "m", "type": "server_error", "param": "messages", "code": None}}, []),
        ({"error": "Unauthorized"}, ['error is string "Unauthorized", expected object']),
        (
            {"object": "error", "message": "m", "type": "BadRequestError", "param": None, "code": 400},
            [
                'body is {"object": "error", "message": "m", "type": "BadRequestError", "param": null, "code": 400}, '
                'expected {"error": {...}}'
            ],
        ),
        (
            {"error": {"message": "m", "type": "BadRequestError", "param": None, "code": 400}},
            ["error.code is integer 400, expected string or null"],
        ),
        ({"error": {"message": "m", "type": "t"}}, ["error.param missing", "error.code missing"]),
    ],
)
def test_error_bodies(body: object, problems: list[str]) -> None:
    assert c.error_body_problems(body) == problems


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
    chunks, problems = c.parse_sse(
        _sse(_chunk({"content": "hi"}), _chunk({}, "stop")).replace(b"\n", b"\r\n")
    )
    assert (len(chunks), problems, c.stream_problems(chunks)) == (2, [], [])
    assert c.parse_sse(_sse(_chunk({}, "stop"), done=False))[1] == ["stream did not end with 'data: [DONE]'"]
    assert c.parse_sse(b"data: {nope\n\ndata: [DONE]\n\n")[1] == ["event 0 is not JSON: '{nope'"]
    assert c.stream_problems([_chunk({}), _chunk({}, "stop", id="other")]) == ["chunks carry 2 different ids"]
    assert c.stream_problems([_chunk({"content": "x"})]) == ["no chunk carries a finish_reason"]


def test_stream_usage() -> None:
    good = [_chunk({"content": "a"}, usage=None), _chunk({}, "stop", usage=None), USAGE_CHUNK]
    assert c.stream_usage_problems(good) == []
    assert c.stream_usage_problems([_chunk({"content": "a"}), USAGE_CHUNK]) == [
        "chunk[0] has no usage key, expected usage: null"
    ]
    assert c.stream_usage_problems(good[:2])[0].startswith("last chunk is {")


def _tool_delta(index: int, **fields: Any) -> dict[str, Any]:
    return _chunk({"tool_calls": [{"index": index, **fields}]})


def test_stream_tools_as_openai_sends_them() -> None:
    first = _tool_delta(0, id="call_1", type="function", function={"name": "get_weather", "arguments": ""})
    frags = [_tool_delta(0, function={"arguments": part}) for part in ('{"ci', 'ty": "Paris"}')]
    calls, problems = c.stream_tool_problems([first, *frags, _chunk({}, "tool_calls")])
    assert problems == []
    assert calls == {0: {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}}


def test_stream_tools_deviations() -> None:
    whole = _tool_delta(0, id="call_1", type="function", function={"name": "f", "arguments": '{"a": 1}'})
    repeat = _tool_delta(0, id="call_1", function={"name": "f", "arguments": ""})
    _, problems = c.stream_tool_problems([whole, repeat, _chunk({}, "stop")])
    assert problems == [
        'first delta of call 0 has arguments "{\\"a\\": 1}", expected ""',
        "later delta of call 0 repeats id (the SDK would concatenate it)",
        "later delta of call 0 repeats name (the SDK would concatenate it)",
        "finish_reason(s) ['stop'], expected ['tool_calls']",
    ]
    assert "no tool_calls deltas" in c.stream_tool_problems([_chunk({}, "tool_calls")])[1]


def test_headers() -> None:
    assert c.request_id_problem(OPENAI_HEADERS) is None
    assert c.request_id_problem({}) == "no x-request-id"
    assert c.request_id_problem({"x-request-id": "55f4f12fef392b7fbc0c647e97a8e6b2"}) is not None
    assert c.ratelimit_problems(OPENAI_HEADERS) == []
    assert c.ratelimit_problems({}) == [
        "missing x-ratelimit-limit-requests, x-ratelimit-limit-tokens, x-ratelimit-remaining-requests, "
        "x-ratelimit-remaining-tokens, x-ratelimit-reset-requests, x-ratelimit-reset-tokens"
    ]
    odd = OPENAI_HEADERS | {"x-ratelimit-reset-tokens": "6", "x-ratelimit-remaining-requests": "10001"}
    assert c.ratelimit_problems(odd) == [
        "x-ratelimit-reset-tokens: '6' is not a duration",
        "remaining requests 10001 > limit 10000",
    ]


@pytest.mark.parametrize("text", ["6ms", "8.64s", "1m6.779s", "6m0s", "1h2m3s", "0s", "2m"])
def test_durations_openai_writes(text: str) -> None:
    assert c.ratelimit_problems(OPENAI_HEADERS | {"x-ratelimit-reset-requests": text}) == []


@pytest.mark.parametrize("text", ["", "6", "s", "1.5m", "-1s", "6 ms"])
def test_not_durations(text: str) -> None:
    assert c.ratelimit_problems(OPENAI_HEADERS | {"x-ratelimit-reset-requests": text}) != []


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
    results = c.run_checks("http://127.0.0.1:9", "k", "m", timeout=2)
    assert [r.check for r in results] == list(c.CHECK_NAMES)
    assert {r.status for r in results} == {"FAIL"}
    assert results[1].detail.startswith("not run: http://127.0.0.1:9 did not answer")


def test_cli_rejects_a_bad_url() -> None:
    result = CliRunner().invoke(check, ["--base-url", "127.0.0.1:8000"])
    assert result.exit_code == 2
    assert "is not http(s)://host[:port][/path]" in result.output
