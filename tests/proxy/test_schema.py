"""Split requests are checked against OpenAI's CreateChatCompletionRequest and refused in OpenAI's words, at any
percent: the app gets the same 400 whichever side would have served it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from proxy import schema
from proxy.schema import SpecProblem, check_against_spec, shape, shape_facts

USER = [{"role": "user", "content": "Classify: charged twice"}]
ROLES = "'system', 'assistant', 'user', 'function', 'tool', and 'developer'"

CASES: list[tuple[dict[str, Any], SpecProblem]] = [
    (
        {"messages": [{"role": "robot", "content": "x"}]},
        SpecProblem(
            f"Invalid value: 'robot'. Supported values are: {ROLES}.", "messages[0].role", "invalid_value"
        ),
    ),
    (
        {"messages": USER, "n": 0},
        SpecProblem(
            "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.",
            "n",
            "integer_below_min_value",
        ),
    ),
    (
        {"messages": USER, "stream_options": {"include_usage": True}},
        SpecProblem(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options"
        ),
    ),
    (
        {"messages": [{"role": "user"}]},
        SpecProblem(
            "Missing required parameter: 'messages[0].content'.",
            "messages[0].content",
            "missing_required_parameter",
        ),
    ),
    (
        {"messages": USER, "temperature": 3},
        SpecProblem(
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3 instead.",
            "temperature",
            "decimal_above_max_value",
        ),
    ),
    (
        {"messages": USER, "n": "two"},
        SpecProblem(
            "Invalid type for 'n': expected an integer, but got a string instead.", "n", "invalid_type"
        ),
    ),
    (
        {"messages": USER, "response_format": {"type": "xml"}},
        SpecProblem(
            "Invalid value: 'xml'. Supported values are: 'json_object', 'json_schema', and 'text'.",
            "response_format.type",
            "invalid_value",
        ),
    ),
    (
        {"messages": USER, "tools": [{"type": "function"}]},
        SpecProblem(
            "Missing required parameter: 'tools[0].function'.",
            "tools[0].function",
            "missing_required_parameter",
        ),
    ),
    (
        {"messages": USER, "stop": ["a", "b", "c", "d", "e"]},
        SpecProblem(
            "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length 5 "
            "instead.",
            "stop",
            "array_above_max_length",
        ),
    ),
]


@pytest.mark.parametrize(("body", "problem"), CASES)
def test_openais_words_for_what_its_schema_refuses(body: dict[str, Any], problem: SpecProblem) -> None:
    assert check_against_spec({"model": "gpt-4o-mini", **body}) == problem


@pytest.mark.parametrize(
    "body",
    [
        {"messages": USER},
        {
            "messages": USER,
            "stream": True,
            "stream_options": {"include_usage": True},
            "n": 1,
            "temperature": 0.2,
        },
        {
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
                {"role": "user", "content": "hi", "name": "ann"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": "auto",
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"type": "object"}},
            },
            "metadata": {"sim_item": "a"},
            "top_k": 5,  # SGLang's own extras are not OpenAI's business (the schema allows unknown keys)
        },
    ],
)
def test_requests_openai_accepts_pass(body: dict[str, Any]) -> None:
    assert check_against_spec({"model": "gpt-4o-mini", **body}) is None


BASE = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "a short question"}],
    "temperature": 0.5,
    "n": 1,
    "safety_identifier": "user-1234",
    "logprobs": False,
}
# Each differs from BASE where the schema looks, so none may borrow BASE's cached verdict.
SAME_LOOK_OTHER_VERDICT: list[dict[str, Any]] = [
    {**BASE, "messages": [{"role": "robot", "content": "a short question"}]},  # not one of the enum values
    {**BASE, "temperature": 2.5},  # past a bound
    {**BASE, "n": 1.5},  # not integral
    {**BASE, "logprobs": 1},  # a number where a boolean goes
    {**BASE, "safety_identifier": "u" * 65},  # past a length limit
    {**BASE, "messages": [{"role": "user", "content": ["a short question"]}]},  # a list where text goes
]


def test_a_valid_shape_is_validated_once_and_never_lends_its_verdict() -> None:
    facts = shape_facts()
    assert facts is not None  # the shipped schema uses only keywords a shape can tell: the cache is on
    schema._VALID_SHAPES.clear()
    assert check_against_spec(BASE) is None
    assert shape(BASE, facts) in schema._VALID_SHAPES
    longer = {**BASE, "messages": [{"role": "user", "content": "another question, much longer " * 40}]}
    assert shape(longer, facts) != shape(BASE, facts)  # over the 64-character limit: a different shape
    same = {**BASE, "messages": [{"role": "user", "content": "a different one"}], "temperature": 0.7}
    assert shape(same, facts) == shape(BASE, facts) and check_against_spec(same) is None
    for body in SAME_LOOK_OTHER_VERDICT:
        assert shape(body, facts) != shape(BASE, facts)
        assert check_against_spec(body) is not None, body


@pytest.mark.parametrize("percent", [0, 100])
@pytest.mark.parametrize("body", [case[0] for case in CASES[:3]], ids=["robot", "n0", "stream_options"])
def test_the_proxy_refuses_them_as_the_incumbent_does(
    proxy_factory: Any, sim_process: Any, percent: int, body: dict[str, Any]
) -> None:
    incumbent = sim_process("openai")
    proxy = proxy_factory(incumbent, sim_process("sglang"), percent=percent)
    request = {"model": "gpt-4o-mini", **body}
    headers = {"authorization": "Bearer sk-test"}
    direct = httpx.post(incumbent + "/v1/chat/completions", json=request, headers=headers, timeout=20)
    through = httpx.post(proxy.url + "/v1/chat/completions", json=request, headers=headers, timeout=20)
    assert direct.status_code == through.status_code == 400
    assert through.json() == direct.json()
    assert through.headers["content-type"] == "application/json; charset=utf-8"
