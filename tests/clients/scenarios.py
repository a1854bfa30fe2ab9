"""The client matrix's scenarios, driven with the official openai Python SDK; every other client's driver
(``node/matrix.mjs``, ...) prints the same JSON shape for the same scenarios.

Each scenario keeps what an app can observe and that must not depend on the side that served: text, finish
reason, model name, usage, tool calls (name and arguments), parsed structured output, the id's and fingerprint's
shape, and for errors the exception class, status, message, type, param, code and how many attempts the SDK made.
Per-response values (ids, timestamps, tool-call ids) are reduced to their shape.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai

MODEL = "gpt-4o-mini"
USER_TEXT = "Classify: I was charged twice for my order"
MESSAGES: list[Any] = [{"role": "user", "content": USER_TEXT}]
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
TICKET_SCHEMA: dict[str, Any] = {
    "name": "ticket",
    "strict": True,
    "schema": {
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": ["billing", "shipping", "other"]},
            "urgent": {"type": "boolean"},
        },
        "required": ["category", "urgent"],
        "additionalProperties": False,
    },
}
# scenario -> the request's error trigger: extra headers for the stand-ins, or a key
ERRORS: dict[str, dict[str, Any]] = {
    "error_400": {"extra_body": {"n": 0}},
    "error_401": {"api_key": "sk-wrong-matrix-key"},
    "error_404": {"headers": {"x-sim-fail": "404"}},
    "error_429": {"headers": {"x-sim-fail": "429"}},
}
SCENARIOS = ("chat", "stream_usage", "tools", "tools_stream", "structured", *ERRORS)


def shape(value: Any) -> str:
    """A per-response value reduced to its shape: ``chatcmpl-/38``, ``fp_/13``, ``null``."""
    if value is None:
        return "null"
    text = str(value)
    prefix = next((p for p in ("chatcmpl-", "fp_") if text.startswith(p)), "other")
    return f"{prefix}/{len(text)}"


def run_all(base_url: str, api_key: str, user: str) -> dict[str, Any]:
    return {name: run(name, base_url, api_key, f"{user}-{name}") for name in SCENARIOS}


def run(name: str, base_url: str, api_key: str, user: str) -> dict[str, Any]:
    attempts: list[str] = []
    trigger = ERRORS.get(name, {})
    http = httpx.Client(event_hooks={"request": [lambda request: attempts.append(request.url.path)]})
    client = openai.OpenAI(
        base_url=base_url,
        api_key=trigger.get("api_key", api_key),
        max_retries=1,
        timeout=30,
        http_client=http,
        default_headers=trigger.get("headers"),
    )
    try:
        with client:
            return _scenario(name, client, user, trigger)
    except openai.APIStatusError as exc:
        return {
            "class": type(exc).__name__,
            "status": exc.status_code,
            "body": exc.body,
            "type": exc.type,
            "param": exc.param,
            "code": exc.code,
            "attempts": len(attempts),
        }


def _scenario(name: str, client: openai.OpenAI, user: str, trigger: dict[str, Any]) -> dict[str, Any]:
    chat = client.chat.completions
    if name == "stream_usage":
        return _streamed(
            chat.create(
                model=MODEL, messages=MESSAGES, user=user, stream=True, stream_options={"include_usage": True}
            )
        )
    if name == "tools":
        return _completion(
            chat.create(
                model=MODEL,
                messages=_weather(),
                user=user,
                tools=[WEATHER_TOOL],
                parallel_tool_calls=False,
                tool_choice="required",
            )
        )
    if name == "tools_stream":
        stream = chat.create(
            model=MODEL,
            messages=_weather(),
            user=user,
            tools=[WEATHER_TOOL],
            parallel_tool_calls=False,
            tool_choice="required",
            stream=True,
        )
        return _streamed(stream)
    if name == "structured":
        parsed = chat.create(
            model=MODEL,
            messages=MESSAGES,
            user=user,
            response_format={"type": "json_schema", "json_schema": TICKET_SCHEMA},  # type: ignore[typeddict-item]
        )
        out = _completion(parsed)
        out["parsed"] = json.loads(parsed.choices[0].message.content or "null")
        return out
    return _completion(
        chat.create(model=MODEL, messages=MESSAGES, user=user, extra_body=trigger.get("extra_body"))
    )


def _weather() -> list[Any]:
    return [{"role": "user", "content": "What is the weather in Paris, in celsius?"}]


def _completion(answer: Any) -> dict[str, Any]:
    choice = answer.choices[0]
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls or []]
    return {
        "id": shape(answer.id),
        "model": answer.model,
        "fingerprint": shape(answer.system_fingerprint),
        "content": choice.message.content,
        "finish_reason": choice.finish_reason,
        "tool_calls": calls,
        "usage": answer.usage.model_dump() if answer.usage else None,
    }


def _streamed(stream: Any) -> dict[str, Any]:
    text, finish, usage, ids, models = "", None, None, set(), set()
    calls: dict[int, list[str]] = {}
    for chunk in stream:
        ids.add(shape(chunk.id))
        models.add(chunk.model)
        usage = chunk.usage.model_dump() if chunk.usage else usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                name_args = calls.setdefault(call.index, ["", ""])
                name_args[0] += (call.function.name or "") if call.function else ""
                name_args[1] += (call.function.arguments or "") if call.function else ""
    tool_calls = [(n, json.loads(a)) for n, a in calls.values()]
    return {
        "ids": sorted(ids),
        "models": sorted(models),
        "content": text,
        "finish_reason": finish,
        "tool_calls": tool_calls,
        "usage": usage,
    }
