"""What the sim says, as pure functions: determinism, tokens, tools, JSON, dataset answers and disagreement."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.sim.answers import (
    answer,
    count_tokens,
    disagreeing_answer,
    disagrees,
    prompt_tokens,
    request_digest,
)
from backend.sim.jsongen import instance
from backend.sim.tasks import CLASSIFY_LABELS, TaskIndex, load_tasks

TASKS = load_tasks()
INDEX = TaskIndex.build(TASKS)
HELLO: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Say this is a test"}],
}


def test_same_request_and_seed_same_answer() -> None:
    assert answer(HELLO, INDEX, seed=3) == answer(json.loads(json.dumps(HELLO)), INDEX, seed=3)
    assert answer(HELLO, INDEX, seed=3) != answer(HELLO, INDEX, seed=4)
    streamed = {**HELLO, "stream": True, "stream_options": {"include_usage": True}}
    assert answer(streamed, INDEX, seed=3) == answer(HELLO, INDEX, seed=3)
    reordered = {"messages": HELLO["messages"], "model": "gpt-4o-mini"}
    assert request_digest(reordered, 0) == request_digest(HELLO, 0)


def test_synthetic_text_has_realistic_length() -> None:
    lengths = [len((answer({**HELLO, "seed": s}, INDEX).choices[0].content or "").split()) for s in range(50)]
    assert min(lengths) >= 8 and max(lengths) <= 90
    assert len(set(lengths)) > 5


def test_token_counts() -> None:
    assert [count_tokens(t) for t in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]
    assert prompt_tokens(HELLO) == 3 + 4 + count_tokens("Say this is a test") == 12
    result = answer({**HELLO, "n": 2}, INDEX)
    assert result.completion_tokens == sum(count_tokens(c.content or "") for c in result.choices)


def test_stop_and_length() -> None:
    text = answer(HELLO, INDEX).choices[0].content or ""
    word = text.split()[3]
    stopped = answer({**HELLO, "stop": word}, INDEX).choices[0]
    assert (stopped.content, stopped.finish_reason, stopped.matched_stop) == (
        text[: text.index(word)],
        "stop",
        word,
    )
    cut = answer({**HELLO, "max_completion_tokens": 2}, INDEX).choices[0]
    assert (cut.content, cut.finish_reason) == (text[:8], "length")


SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {}, "additionalProperties": False},
    {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 9, "multipleOf": 2}}},
    {"type": "object", "properties": {"x": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}}},
    {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}, "minItems": 3}}},
    {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date"},
            "mail": {"type": "string", "format": "email"},
        },
    },
    {
        "type": "object",
        "properties": {"kind": {"const": "fixed"}, "mode": {"enum": ["a", "b"]}, "ok": {"type": "boolean"}},
    },
    {
        "type": "object",
        "properties": {
            "maybe": {"type": ["string", "null"]},
            "either": {"oneOf": [{"type": "integer"}, {"type": "null"}]},
        },
    },
    {
        "type": "object",
        "properties": {"node": {"$ref": "#/$defs/node"}},
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"name": {"type": "string", "minLength": 10}},
                "required": ["name"],
            }
        },
    },
    {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
        ]
    },
    {
        "type": "object",
        "properties": {
            "pair": {
                "type": "array",
                "prefixItems": [{"type": "string"}, {"type": "integer"}],
                "minItems": 2,
                "maxItems": 2,
            }
        },
    },
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_generated_json_validates(schema: dict[str, Any]) -> None:
    for seed in range(20):
        jsonschema.validate(instance(schema, random.Random(seed)), schema)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_tool_arguments_and_json_schema_answers_validate(schema: dict[str, Any]) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    for seed in range(5):
        result = answer({**HELLO, "tools": tools}, INDEX, seed=seed)
        for call in result.choices[0].tool_calls:
            jsonschema.validate(json.loads(call.arguments), schema)
        fmt = {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}
        jsonschema.validate(
            json.loads(answer({**HELLO, "response_format": fmt}, INDEX, seed=seed).choices[0].content or ""),
            schema,
        )


def test_parallel_tool_calls_false_gives_one_call() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": SCHEMAS[1]}}]
    counts = {len(answer({**HELLO, "tools": tools}, INDEX, seed=s).choices[0].tool_calls) for s in range(30)}
    assert counts == {1, 2}
    single = {
        len(
            answer({**HELLO, "tools": tools, "parallel_tool_calls": False}, INDEX, seed=s)
            .choices[0]
            .tool_calls
        )
        for s in range(30)
    }
    assert single == {1}


def test_dataset_prompt_gets_reference() -> None:
    for item in TASKS[::37]:
        result = answer(item.request_kwargs(), INDEX)
        assert result.item == item and result.choices[0].content == item.reference and not result.disagreed


def test_disagreement_rate_over_the_dataset() -> None:
    def share(rate: float, seed: int) -> float:
        return sum(disagrees(seed, i.id, rate) for i in TASKS) / len(TASKS)

    assert share(0.0, 0) == 0 and share(1.0, 0) == 1
    for rate in (0.1, 0.3, 0.5):
        assert abs(share(rate, 0) - rate) < 0.07
    assert all(disagrees(0, i.id, 0.5) for i in TASKS if disagrees(0, i.id, 0.2))  # monotone in the rate
    chosen = [i.id for i in TASKS if disagrees(1, i.id, 0.2)]
    assert (
        chosen
        == [i.id for i in TASKS if disagrees(1, i.id, 0.2)]
        != [i.id for i in TASKS if disagrees(2, i.id, 0.2)]
    )
    answered = [answer(i.request_kwargs(), INDEX, seed=1, disagree=0.2) for i in TASKS]
    assert [a.item.id for a in answered if a.disagreed and a.item] == chosen
    assert all((a.choices[0].content != a.item.reference) == a.disagreed for a in answered if a.item)


@pytest.mark.parametrize("item", [i for i in TASKS if i.task == "classify"][:20], ids=lambda i: i.id)
def test_disagreeing_label_is_another_valid_label(item: Any) -> None:
    wrong = disagreeing_answer(item, 0)
    assert wrong in CLASSIFY_LABELS and wrong != item.reference


@pytest.mark.parametrize("item", [i for i in TASKS if i.task == "extract"][:30], ids=lambda i: i.id)
def test_disagreeing_extraction_drops_or_changes_one_field(item: Any) -> None:
    reference, wrong = json.loads(item.reference), json.loads(disagreeing_answer(item, 0))
    differing = {k for k in reference if wrong.get(k, object()) != reference[k]}
    assert len(differing) == 1 and set(wrong) <= set(reference)


@pytest.mark.parametrize("item", [i for i in TASKS if i.task == "summarise"][:30], ids=lambda i: i.id)
def test_disagreeing_summary_changes_a_number_or_negates(item: Any) -> None:
    wrong = disagreeing_answer(item, 0)
    numbers = re.findall(r"\d+", item.reference)
    assert wrong != item.reference
    assert re.findall(r"\d+", wrong) != numbers or " not" in wrong or wrong.startswith("It is not true")


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=200), st.integers(min_value=0, max_value=2**31))
def test_any_prompt_gets_a_deterministic_answer(prompt: str, seed: int) -> None:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
    first = answer(request, INDEX, seed=seed)
    assert first == answer(request, INDEX, seed=seed)
    assert first.choices[0].content and first.prompt_tokens >= 7 + (len(prompt) + 3) // 4
