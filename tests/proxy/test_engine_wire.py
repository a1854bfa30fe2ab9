"""The proxy on the wire: the official SDK gets the same results through the proxy as direct, whichever side
served. Real sim processes on 127.0.0.1 play OpenAI (incumbent) and SGLang (candidate)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.openapi_schema import validator

MESSAGES = [{"role": "user", "content": "Say this is a test"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["location"],
        },
    },
}


@pytest.fixture
def sides(sim_process: Any) -> tuple[str, str, str]:
    """(incumbent URL, candidate URL, a direct OpenAI-flavor URL to compare with)."""
    incumbent = sim_process("openai")
    candidate = sim_process("sglang")
    return incumbent, candidate, incumbent


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and types, not contents."""
    if isinstance(value, dict):
        return {
            k: shape(v) for k, v in sorted(value.items()) if k not in {"id", "created", "system_fingerprint"}
        }
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


@pytest.mark.parametrize("percent", [0, 100])
def test_non_stream_matches_direct(proxy_factory: Any, sides: tuple[str, str, str], percent: int) -> None:
    incumbent, candidate, direct = sides
    proxy = proxy_factory(incumbent, candidate, percent=percent)
    raw = proxy.client().chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    through = raw.parse()
    with openai.OpenAI(base_url=direct + "/v1", api_key="k") as direct_client:
        expected = direct_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.headers["x-alveare-upstream"] == ("candidate" if percent else "incumbent")
    assert raw.headers["x-request-id"].startswith("req_")
    assert all(
        f"x-ratelimit-{h}" in raw.headers for h in ("limit-requests", "remaining-tokens", "reset-tokens")
    )
    body = json.loads(raw.http_response.content)
    validator("CreateChatCompletionResponse").validate(body)
    assert "matched_stop" not in json.dumps(body)
    assert shape(through.model_dump()) == shape(expected.model_dump())
    if percent:
        assert through.model == "gpt-4o-mini"  # the name the client asked for, not the specialist's
    assert through.choices[0].message.content


@pytest.mark.parametrize("percent", [0, 100])
def test_stream_with_usage(proxy_factory: Any, sides: tuple[str, str, str], percent: int) -> None:
    incumbent, candidate, _ = sides
    proxy = proxy_factory(incumbent, candidate, percent=percent)
    stream = proxy.client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    schema = validator("CreateChatCompletionStreamResponse")
    for chunk in chunks:
        schema.validate(chunk.model_dump(exclude_unset=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    pairs = proxy.pairs(expected=1)
    assert pairs[0].served is not None and pairs[0].served.content == text
    assert pairs[0].served.usage["total_tokens"] == chunks[-1].usage.total_tokens


@pytest.mark.parametrize("percent", [0, 100])
def test_streamed_tool_calls(proxy_factory: Any, sides: tuple[str, str, str], percent: int) -> None:
    incumbent, candidate, _ = sides
    proxy = proxy_factory(incumbent, candidate, percent=percent)
    stream = proxy.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "What's the weather in Seattle?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    chunks = list(stream)
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas and deltas[0].id and deltas[0].function and deltas[0].function.name == "get_current_weather"
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function and d.index == 0)
    assert "location" in json.loads(arguments)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    recorded = proxy.pairs(expected=1)[0].served
    assert recorded is not None and recorded.tool_calls[0]["function"]["arguments"] == arguments
    assert len(recorded.tool_calls) == len({d.index for d in deltas})


@pytest.mark.parametrize("percent", [0, 100])
def test_json_mode(proxy_factory: Any, sides: tuple[str, str, str], percent: int) -> None:
    incumbent, candidate, _ = sides
    proxy = proxy_factory(incumbent, candidate, percent=percent)
    answer = proxy.client().chat.completions.create(
        model="gpt-4.1-mini",
        messages=[{"role": "user", "content": "Extract the order id from: order ORD-1 was late."}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(answer.choices[0].message.content or ""), dict)


ERRORS = [
    (400, openai.BadRequestError),
    (401, openai.AuthenticationError),
    (404, openai.NotFoundError),
    (429, openai.RateLimitError),
]


@pytest.mark.parametrize("percent", [0, 100])
@pytest.mark.parametrize(("status", "exception"), ERRORS)
def test_error_statuses_raise_the_same_exception(
    proxy_factory: Any, sides: tuple[str, str, str], percent: int, status: int, exception: type[Exception]
) -> None:
    incumbent, candidate, _ = sides
    proxy = proxy_factory(incumbent, candidate, percent=percent)
    with pytest.raises(exception) as caught:
        proxy.client().chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-sim-fail": str(status)}
        )
    error = caught.value
    assert isinstance(error, openai.APIStatusError) and error.status_code == status
    body = error.response.json()
    validator("ErrorResponse").validate(body)
    assert isinstance(body["error"]["type"], str)
    assert error.response.headers["x-alveare-upstream"] == ("candidate" if percent else "incumbent")


def test_passthrough_is_untouched(proxy_factory: Any, sides: tuple[str, str, str]) -> None:
    incumbent, candidate, _ = sides
    proxy = proxy_factory(incumbent, candidate, percent=100)
    direct = httpx.get(incumbent + "/v1/models", headers={"authorization": "Bearer k"})
    through = httpx.get(proxy.url + "/v1/models", headers={"authorization": "Bearer k"})
    assert through.status_code == direct.status_code == 200
    assert through.content == direct.content
    assert "x-alveare-upstream" not in through.headers
    unmapped = proxy.client().chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert unmapped.headers.get("x-alveare-upstream") is None  # not split: frontier calls stay on OpenAI
    assert proxy.pairs() == []


BAD_REQUESTS = [
    ("POST", {"content-type": "application/json"}, b"{not json", 400),
    ("POST", {"content-type": "application/json"}, b'{"messages": []}', 400),
    ("POST", {"content-type": "application/json"}, b'{"model": "gpt-4o-mini"}', 400),
    ("POST", {"content-type": "text/plain"}, b"hello", 400),
    ("GET", {}, b"", 405),
    (
        "POST",
        {"content-type": "application/json"},
        b'{"model": "gpt-4o-mini", "messages": "' + b"x" * 20000 + b'"}',
        413,
    ),
]


@pytest.mark.parametrize(("method", "headers", "body", "status"), BAD_REQUESTS)
def test_bad_input_is_answered_by_the_proxy(
    proxy_factory: Any, tmp_path: Any, method: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    dead = "http://127.0.0.1:9"  # nothing listens there: an upstream call would show as a 502
    proxy = proxy_factory(dead, dead, percent=50, max_body_bytes=10_000)
    response = httpx.request(method, proxy.url + "/v1/chat/completions", headers=headers, content=body)
    assert response.status_code == status
    validator("ErrorResponse").validate(response.json())
    assert proxy.server.runtime.counts["rejected"] >= 1 or status == 413
