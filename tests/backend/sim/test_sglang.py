"""The sglang-flavor sim answers as SGLang 0.5.x does, quirks included (flat errors, nulls everywhere)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from tests.backend.sim.test_fixture_replay import sse_events
from tests.backend.sim.test_server import HELLO, WEATHER_TOOL, post

SimFactory = Callable[..., str]
QWEN: dict[str, Any] = {**HELLO, "model": "qwen:classify"}
DELTA_KEYS = {"role", "content", "reasoning_content", "tool_calls"}
CHOICE_KEYS = {"index", "delta", "logprobs", "finish_reason", "matched_stop"}
USAGE = {"prompt_tokens", "total_tokens", "completion_tokens", "prompt_tokens_details", "reasoning_tokens"}


@pytest.fixture
def sim(sim_server: SimFactory) -> str:
    return sim_server("sglang")


def test_whole_answer_shape(sim: str) -> None:
    response = post(sim, QWEN)
    body = response.json()
    assert response.headers["content-type"] == "application/json"
    assert response.headers["server"] == "uvicorn"
    assert not {"x-request-id", "openai-version", "x-ratelimit-limit-requests"} & set(response.headers)
    assert set(body) == {"id", "object", "created", "model", "choices", "usage", "metadata"}
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"]) and body["model"] == "qwen:classify"
    assert body["metadata"] == {"weight_version": "default"}
    choice = body["choices"][0]
    assert set(choice) == {"index", "message", "logprobs", "finish_reason", "matched_stop"}
    assert choice["matched_stop"] == 151645 and choice["finish_reason"] == "stop"
    assert choice["message"]["reasoning_content"] is None and choice["message"]["tool_calls"] is None
    assert set(body["usage"]) == USAGE and body["usage"]["prompt_tokens_details"] is None
    assert b'": ' not in response.content  # compact JSON (ORJSONResponse)


def test_stream_shape(sim: str) -> None:
    plain = sse_events(post(sim, {**QWEN, "stream": True}).text)
    assert all(e["usage"] is None for e in plain) and all(
        e["object"] == "chat.completion.chunk" for e in plain
    )
    for event in plain:
        assert set(event["choices"][0]) == CHOICE_KEYS and set(event["choices"][0]["delta"]) == DELTA_KEYS
    assert plain[0]["choices"][0]["delta"] == {
        "role": "assistant",
        "content": "",
        "reasoning_content": None,
        "tool_calls": None,
    }
    finish = plain[-1]["choices"][0]
    assert finish["delta"] == dict.fromkeys(DELTA_KEYS) and finish["finish_reason"] == "stop"
    assert finish["matched_stop"] == 151645
    text = "".join(e["choices"][0]["delta"]["content"] or "" for e in plain)
    assert text == post(sim, QWEN).json()["choices"][0]["message"]["content"]
    with_usage = post(sim, {**QWEN, "stream": True, "stream_options": {"include_usage": True}})
    assert with_usage.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert with_usage.text.endswith("data: [DONE]\n\n")
    last = sse_events(with_usage.text)[-1]
    assert last["choices"] == [] and set(last["usage"]) == USAGE


def test_tool_calls_stream_as_sglang_deltas(sim: str) -> None:
    body = {**QWEN, "tools": [WEATHER_TOOL]}
    whole = post(sim, body).json()["choices"][0]
    assert whole["finish_reason"] == "tool_calls" and whole["message"]["content"] is None
    calls = whole["message"]["tool_calls"]
    assert all(set(c) == {"id", "index", "type", "function"} for c in calls)
    events = sse_events(post(sim, {**body, "stream": True}).text)
    tool_deltas = [d for e in events for d in e["choices"][0]["delta"]["tool_calls"] or []]
    assert tool_deltas[0]["id"] == calls[0]["id"] and tool_deltas[0]["function"]["arguments"] == ""
    assert all(
        d["id"] is None and d["function"]["name"] is None
        for d in tool_deltas[1:]
        if d["function"]["arguments"]
    )
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("request_body", "headers", "status", "error_type"),
    [
        ({"model": "qwen"}, {}, 400, "BadRequestError"),
        ({**QWEN, "model": "llama"}, {}, 404, "NotFoundError"),
        (QWEN, {"x-sim-fail": "500"}, 500, "InternalServerError"),
        (QWEN, {"x-sim-fail": "503"}, 503, "ServiceUnavailableError"),
        ({**QWEN, "model": "sim-error-400"}, {}, 400, "BadRequestError"),
    ],
)
def test_flat_errors(
    sim: str, request_body: Any, headers: dict[str, str], status: int, error_type: str
) -> None:
    response = post(sim, request_body, headers)
    body = response.json()
    assert response.status_code == status
    assert set(body) == {"object", "message", "type", "param", "code"}
    assert (body["object"], body["type"], body["param"], body["code"]) == ("error", error_type, None, status)


def test_malformed_json_is_a_flat_400(sim: str) -> None:
    response = httpx.post(sim + "/v1/chat/completions", content=b"{oops", timeout=10)
    assert (
        response.status_code == 400
        and response.json()["code"] == 400
        and "JSON decode error" in response.json()["message"]
    )


def test_unauthorized_and_open_health(sim_server: SimFactory) -> None:
    url = sim_server("sglang", require_key="sk-sglang")
    denied = post(url, QWEN, {"authorization": "Bearer wrong"})
    assert (denied.status_code, denied.json()) == (401, {"error": "Unauthorized"})
    assert post(url, QWEN, {"authorization": "Bearer sk-sglang"}).status_code == 200
    for path in ("/health", "/health_generate"):
        response = httpx.get(url + path)
        assert (response.status_code, response.content) == (200, b"")


def test_mid_stream_error_then_done(sim: str) -> None:
    text = post(sim, {**QWEN, "stream": True}, {"x-sim-fault": "error:2"}).text
    blocks = [b for b in text.split("\n\n") if b]
    assert len(blocks) == 4 and blocks[-1] == "data: [DONE]"
    error = json.loads(blocks[2].removeprefix("data: "))["error"]
    assert error == {
        "object": "error",
        "message": error["message"],
        "type": "InternalServerError",
        "param": None,
        "code": 500,
    }


def test_models_list_served_models_and_adapters(sim_server: SimFactory) -> None:
    url = sim_server("sglang", models=("qwen", "qwen:classify", "qwen:extract"))
    cards = httpx.get(url + "/v1/models").json()["data"]
    assert [(c["id"], c["parent"]) for c in cards] == [
        ("qwen", None),
        ("classify", "qwen"),
        ("extract", "qwen"),
    ]
    assert all(c["owned_by"] == "sglang" and c["object"] == "model" for c in cards)
    assert cards[0]["max_model_len"] == 32768


def test_answers_are_flavor_independent_and_sdk_readable(sim: str, sim_server: SimFactory) -> None:
    openai_url = sim_server("openai")
    sglang_text = post(sim, QWEN).json()["choices"][0]["message"]["content"]
    assert post(openai_url, QWEN).json()["choices"][0]["message"]["content"] == sglang_text
    with openai.OpenAI(base_url=sim + "/v1", api_key="x", max_retries=0) as sdk:
        completion = sdk.chat.completions.create(**QWEN)
        streamed = "".join(
            c.choices[0].delta.content or ""
            for c in sdk.chat.completions.create(**QWEN, stream=True)
            if c.choices
        )
    assert completion.choices[0].message.content == streamed == sglang_text
