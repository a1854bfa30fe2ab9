"""Replays every recorded OpenAI chat-completions exchange against the openai-flavor sim.

Each fixture request is sent with the official ``openai`` SDK; the SDK's reading of the sim's answer must
have the same structure as its reading of the recorded answer (keys and value types at every level, object
types, tool-call shapes, finish reasons, usage fields; ids, timestamps, text and model aside). Raw bodies,
stream chunks and error bodies are also validated against OpenAI's OpenAPI schemas.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.cassettes import Interaction, chat_interactions, sse_events
from tests.openapi_schema import errors as schema_errors

RIGHT_KEY = "sk-sim-right-key-0001"
WRONG_KEY = "sk-wrong-key-for-the-sim"
# Keys the sim sends (as api.openai.com does today) that older recordings lack.
NEWER_KEYS = frozenset({"service_tier", "obfuscation", "annotations", "refusal"})
# Recorded 400s that depend on one retired model's rules: replayed with the sim's forced-status header.
FORCED = {"test_openai_o1_mini_system_role[developer].yaml": {"x-sim-fail": "400"}}
EXCHANGES = chat_interactions()


def test_fixture_set_is_what_we_expect() -> None:
    statuses = sorted(e.status for e in EXCHANGES)
    assert len(EXCHANGES) >= 14
    assert {200, 400, 401, 404} <= set(statuses)
    assert sum(e.stream for e in EXCHANGES) >= 5


# --- structure comparison ------------------------------------------------------------------------------------


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return "null" if value is None else type(value).__name__


def assert_same_shape(sim: Any, recorded: Any, path: str = "$") -> None:
    """Same keys (the sim may add NEWER_KEYS), same value types, recursively; lists: every element alike."""
    if isinstance(recorded, dict):
        assert isinstance(sim, dict), f"{path}: sim has {type(sim).__name__}, recorded an object"
        missing = set(recorded) - set(sim)
        extra = set(sim) - set(recorded) - NEWER_KEYS
        assert not missing and not extra, f"{path}: sim lacks {sorted(missing)}, adds {sorted(extra)}"
        for key in recorded:
            assert_same_shape(sim[key], recorded[key], f"{path}.{key}")
    elif isinstance(recorded, list):
        assert isinstance(sim, list), f"{path}: sim has {type(sim).__name__}, recorded an array"
        assert bool(sim) == bool(recorded), f"{path}: sim has {len(sim)} items, recorded {len(recorded)}"
        for number, item in enumerate(sim):
            assert_same_shape(item, recorded[0], f"{path}[{number}]")
        for number, item in enumerate(recorded):
            assert_same_shape(sim[0], item, f"{path}[{number}]")
    else:
        assert shape(sim) == shape(recorded), f"{path}: sim has {shape(sim)}, recorded {shape(recorded)}"


def stream_vocabulary(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """What a stream is made of, independent of how many chunks it has."""
    top: set[str] = set()
    choice: set[str] = set()
    delta: set[str] = set()
    tool_deltas: set[str] = set()
    finishes: dict[int, str] = {}
    usage = [shape(c["usage"]) for c in chunks if c.get("usage")]
    for chunk in chunks:
        top |= set(chunk)
        for item in chunk.get("choices") or []:
            choice |= set(item)
            delta |= set(item["delta"])
            for call in item["delta"].get("tool_calls") or []:
                tool_deltas.add(json.dumps(shape(call), sort_keys=True))
            if item.get("finish_reason"):
                finishes[item["index"]] = item["finish_reason"]
    return {
        "top": top,
        "choice": choice,
        "delta": delta,
        "tools": tool_deltas,
        "finish": finishes,
        "usage": usage,
    }


def assert_same_stream(sim: list[dict[str, Any]], recorded: list[dict[str, Any]]) -> None:
    ours, theirs = stream_vocabulary(sim), stream_vocabulary(recorded)
    for part in ("top", "delta"):
        assert theirs[part] <= ours[part] and ours[part] - theirs[part] <= NEWER_KEYS, (
            part,
            ours[part],
            theirs[part],
        )
    for part in ("choice", "tools", "finish", "usage"):
        assert ours[part] == theirs[part], (part, ours[part], theirs[part])
    assert sim[0]["choices"][0]["delta"]["role"] == "assistant"
    assert (sim[-1]["choices"] == []) == (recorded[-1]["choices"] == [])
    assert_same_shape(accumulate(sim), accumulate(recorded), "$(accumulated)")


def accumulate(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The completion the SDK's stream helper assembles from the chunks."""
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for chunk in chunks:
        list(state.handle_chunk(ChatCompletionChunk.model_validate(chunk)))
    final = state.get_final_completion().model_dump(exclude_unset=True)
    final.pop("usage", None) if not any(c.get("usage") for c in chunks) else None
    return final


# --- replay --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sims(sim_process: Callable[..., str]) -> dict[str, str]:
    return {"open": sim_process("openai"), "keyed": sim_process("openai", require_key=RIGHT_KEY)}


def _target(exchange: Interaction, sims: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    if exchange.status == 401:
        return sims["keyed"], WRONG_KEY, {}
    return sims["open"], "sk-test", FORCED.get(exchange.name.split("/")[1].split("#")[0], {})


@pytest.mark.parametrize("exchange", EXCHANGES, ids=[e.name for e in EXCHANGES])
def test_sdk_reads_sim_like_recording(exchange: Interaction, sims: dict[str, str]) -> None:
    url, key, headers = _target(exchange, sims)
    with openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0) as client:
        if exchange.status >= 400:
            with pytest.raises(openai.APIStatusError) as raised:
                client.chat.completions.create(**exchange.request, extra_headers=headers)
            assert raised.value.status_code == exchange.status
            assert_same_shape(raised.value.body, exchange.response["error"])
            assert raised.value.request_id is not None and raised.value.request_id.startswith("req_")
        elif exchange.stream:
            chunks = [
                c.model_dump(exclude_unset=True) for c in client.chat.completions.create(**exchange.request)
            ]
            recorded_chunks = [
                ChatCompletionChunk.model_validate(e).model_dump(exclude_unset=True)
                for e in exchange.response
            ]
            assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
            assert_same_stream(chunks, recorded_chunks)
        else:
            completion = client.chat.completions.create(**exchange.request)
            recorded = ChatCompletion.model_validate(exchange.response).model_dump(exclude_unset=True)
            assert completion.object == "chat.completion"
            assert_same_shape(completion.model_dump(exclude_unset=True), recorded)


@pytest.mark.parametrize("exchange", EXCHANGES, ids=[e.name for e in EXCHANGES])
def test_sim_bodies_match_openapi_schemas(exchange: Interaction, sims: dict[str, str]) -> None:
    url, key, headers = _target(exchange, sims)
    headers = {"authorization": f"Bearer {key}", **headers}
    response = httpx.post(url + "/v1/chat/completions", json=exchange.request, headers=headers, timeout=10)
    assert response.status_code == exchange.status
    if exchange.status >= 400:
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert schema_errors("ErrorResponse", response.json()) == []
    elif exchange.stream:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.text.endswith("data: [DONE]\n\n")
        for chunk in sse_events(response.text):
            assert schema_errors("CreateChatCompletionStreamResponse", chunk) == []
    else:
        assert response.headers["content-type"] == "application/json"
        assert schema_errors("CreateChatCompletionResponse", response.json()) == []


@pytest.mark.parametrize("exchange", EXCHANGES, ids=[e.name for e in EXCHANGES])
def test_recordings_themselves_pass_the_schema_helper(exchange: Interaction) -> None:
    """The validator is only a fair judge if OpenAI's own recorded bodies pass it."""
    if exchange.status >= 400:
        assert schema_errors("ErrorResponse", exchange.response) == []
    elif exchange.stream:
        for chunk in exchange.response:
            assert schema_errors("CreateChatCompletionStreamResponse", chunk) == []
    else:
        assert schema_errors("CreateChatCompletionResponse", exchange.response) == []


def test_not_found_message_is_the_recorded_one(sims: dict[str, str]) -> None:
    recorded = next(e for e in EXCHANGES if e.status == 404)
    response = httpx.post(sims["open"] + "/v1/chat/completions", json=recorded.request, timeout=10)
    assert response.json() == recorded.response


def test_wrong_key_message_is_openais(sims: dict[str, str]) -> None:
    response = httpx.post(
        sims["keyed"] + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": "Bearer sk-wrong-api-key"},
        timeout=10,
    )
    error = response.json()["error"]
    assert response.status_code == 401
    assert error == {
        "message": "Incorrect API key provided: sk-wrong****-key. "
        "You can find your API key at https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
