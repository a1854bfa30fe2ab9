"""The sim's bytes, as pure functions: pretty JSON, stream splitting, chunk layouts of both flavors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.sim.answers import ChoiceAnswer, SimAnswer, ToolCall
from backend.sim.wire import (
    DONE,
    Meta,
    StreamShape,
    completion_id,
    openai_body,
    openai_events,
    pretty,
    sglang_body,
    sglang_events,
    sglang_models,
    split_arguments,
    split_text,
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
META = Meta("chatcmpl-test", 1700000000, "gpt-4o-mini-2024-07-18", "fp_0123456789")
TEXT = SimAnswer((ChoiceAnswer(0, "Hello there, friend."),), prompt_tokens=12, completion_tokens=5)
TOOLS = SimAnswer(
    (
        ChoiceAnswer(
            0, None, (ToolCall("call_a", "f", '{"x": 1}'), ToolCall("call_b", "g", "{}")), "tool_calls"
        ),
    ),
    prompt_tokens=20,
    completion_tokens=9,
)


def parse(events: list[bytes]) -> list[dict[str, Any]]:
    assert events[-1] == DONE and all(e.startswith(b"data: ") and e.endswith(b"\n\n") for e in events)
    return [json.loads(e[6:]) for e in events[:-1]]


@given(JSON_VALUES)
def test_pretty_is_json_dumps_indent_2(value: Any) -> None:
    assert pretty(value) == json.dumps(value, indent=2, ensure_ascii=False)


@given(st.text(), st.integers(min_value=0, max_value=12))
def test_split_text_and_arguments_rejoin(text: str, pieces: int) -> None:
    assert "".join(split_text(text, pieces)) == text
    assert "".join(split_arguments(text, pieces)) == text
    if pieces and text:
        assert len(split_text(text, pieces)) <= pieces


def test_completion_ids_look_like_openais() -> None:
    ids = {completion_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 38 and i[9:].isalnum() for i in ids)


def test_openai_text_stream_layout() -> None:
    chunks = parse(openai_events(TEXT, META, StreamShape(include_usage=True)))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:4]] == ["Hello", " there,", " friend."]
    assert chunks[4]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert chunks[5]["choices"] == [] and chunks[5]["usage"]["total_tokens"] == 17
    assert all(c["usage"] is None for c in chunks[:5]) and all(c["obfuscation"] for c in chunks)
    assert list(chunks[0])[:6] == ["id", "object", "created", "model", "service_tier", "system_fingerprint"]
    bare = parse(openai_events(TEXT, META, StreamShape(include_usage=False, obfuscate=False)))
    assert all("usage" not in c and "obfuscation" not in c for c in bare) and len(bare) == 5


def test_openai_tool_stream_layout() -> None:
    deltas = [
        c["choices"][0]["delta"] for c in parse(openai_events(TOOLS, META, StreamShape(obfuscate=False)))
    ]
    start = {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}
    assert deltas[0] == {"role": "assistant", "content": None, "tool_calls": [start], "refusal": None}
    assert deltas[1] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]}
    assert deltas[3]["tool_calls"][0] == {
        "index": 1,
        "id": "call_b",
        "type": "function",
        "function": {"name": "g", "arguments": ""},
    }
    assert deltas[-1] == {}


def test_openai_body_and_logprobs() -> None:
    body = json.loads(openai_body(TEXT, META, logprobs=True))
    message = body["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": "Hello there, friend.",
        "refusal": None,
        "annotations": [],
    }
    assert [t["token"] for t in body["choices"][0]["logprobs"]["content"]] == ["Hello", " there,", " friend."]
    calls = json.loads(openai_body(TOOLS, META))["choices"][0]["message"]["tool_calls"]
    assert calls[1] == {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}}


def test_interleaved_choices() -> None:
    two = SimAnswer((ChoiceAnswer(0, "a b"), ChoiceAnswer(1, "c d")), 1, 2)
    indexes = [c["choices"][0]["index"] for c in parse(openai_events(two, META, StreamShape()))]
    assert indexes == [0, 1, 0, 1, 0, 1, 0, 1]


def test_sglang_layouts() -> None:
    body = json.loads(sglang_body(TOOLS, META))
    assert body["choices"][0]["message"]["tool_calls"][0] == {
        "id": "call_a",
        "index": 0,
        "type": "function",
        "function": {"name": "f", "arguments": '{"x": 1}'},
    }
    chunks = parse(sglang_events(TEXT, META, StreamShape(pieces=2)))
    assert len(chunks) == 4 and all(c["usage"] is None for c in chunks)
    assert chunks[-1]["choices"][0]["matched_stop"] == 151645


@pytest.mark.parametrize(
    ("models", "cards"),
    [
        (("qwen",), [("qwen", None)]),
        (("qwen:a", "qwen:b", "llama"), [("qwen", None), ("a", "qwen"), ("b", "qwen"), ("llama", None)]),
    ],
)
def test_sglang_models(models: tuple[str, ...], cards: list[tuple[str, str | None]]) -> None:
    data = json.loads(sglang_models(models, created=1))["data"]
    assert [(c["id"], c["parent"]) for c in data] == cards
