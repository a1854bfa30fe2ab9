"""Check a chat-completions request before any upstream sees it, answering bad ones as OpenAI would.

A request the proxy splits must fail the same way whichever side would have served it, so the checks OpenAI does
first (method, size, JSON, model, messages, stream) are done here, with OpenAI's messages, params and codes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from proxy import wire

# OpenAI's answer to a body that is not JSON (verbatim).
NOT_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have "
    "trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"
)
NO_MODEL_MESSAGE = "you must provide a model parameter"


@dataclass(frozen=True)
class ChatRequest:
    """A request that passed: the parsed body and the fields the proxy routes and records on."""

    body: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool
    user: str | None


@dataclass(frozen=True)
class RequestError:
    """The answer to send instead: status and OpenAI-shaped error bytes."""

    status: int
    body: bytes


def validate_chat_request(
    method: str, content_type: str | None, body: bytes, max_body_bytes: int
) -> ChatRequest | RequestError:
    """Parse and check one ``/v1/chat/completions`` request; the first problem found is the answer."""
    if method.upper() != "POST":
        return _error(f"Invalid method for URL ({method.upper()} /v1/chat/completions)", status=405)
    if len(body) > max_body_bytes:
        return _error(
            f"Request body too large: {len(body)} bytes; the limit is {max_body_bytes} bytes.", status=413
        )
    parsed = _parse_json(content_type, body)
    if not isinstance(parsed, dict):
        return _error(NOT_JSON_MESSAGE)
    return _check_fields(parsed)


def _parse_json(content_type: str | None, body: bytes) -> Any:
    """The decoded body, or None when it is not a UTF-8 JSON document sent as JSON."""
    if not is_json_content_type(content_type):
        return None
    try:
        return orjson.loads(body)  # strict as below (UTF-8, no NaN), several times faster
    except orjson.JSONDecodeError:
        pass  # what orjson cannot read (an integer past 64 bits, a lone surrogate, deep nesting) is judged here
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError, nesting deeper than we parse
        return None


def is_json_content_type(content_type: str | None) -> bool:
    """``application/json`` or any ``+json`` media type, parameters ignored."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_fields(body: dict[str, Any]) -> ChatRequest | RequestError:
    model, messages, stream = body.get("model"), body.get("messages"), body.get("stream")
    options, user = body.get("stream_options"), body.get("user")
    if (  # the usual request, every field of the right type: checked in one pass
        type(model) is str
        and model
        and type(messages) is list
        and messages
        and (stream is None or type(stream) is bool)
        and (options is None or type(options) is dict)
        and (user is None or type(user) is str)
    ):
        streamed = stream is True
        usage = streamed and options is not None and options.get("include_usage") is True
        return ChatRequest(body=body, model=model, stream=streamed, include_usage=usage, user=user)
    return _first_problem(body)


def _first_problem(body: dict[str, Any]) -> ChatRequest | RequestError:
    """The checks one at a time, in OpenAI's order: the first problem found is the answer."""
    model = body.get("model")
    if model is None or model == "":
        return _error(NO_MODEL_MESSAGE)
    for name, expected, allow_null in (
        ("model", str, False),
        ("messages", list, True),
        ("stream", bool, True),
        ("stream_options", dict, True),
        ("user", str, True),
    ):
        problem = _type_problem(body, name, expected, allow_null)
        if problem:
            return problem
    if body.get("messages") is None:
        return _error(
            "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    if not body["messages"]:
        return _error(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array "
            "instead.",
            param="messages",
            code="empty_array",
        )
    stream = body.get("stream") is True
    options = body.get("stream_options") or {}
    return ChatRequest(
        body=body,
        model=model,
        stream=stream,
        include_usage=stream and options.get("include_usage") is True,
        user=body.get("user"),
    )


def _type_problem(body: dict[str, Any], name: str, expected: type, allow_null: bool) -> RequestError | None:
    value = body.get(name)
    if value is None and (allow_null or name not in body):
        return None
    if isinstance(value, expected) and not (expected is not bool and isinstance(value, bool)):
        return None
    return _error(
        f"Invalid type for '{name}': expected {json_type_name(expected())}, but got {json_type_name(value)} "
        "instead.",
        param=name,
        code="invalid_type",
    )


def json_type_name(value: Any) -> str:
    """How OpenAI names a JSON value's type in its messages ("a string", "an array", "a decimal", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _error(
    message: str, *, status: int = 400, param: str | None = None, code: str | None = None
) -> RequestError:
    return RequestError(status, wire.error_bytes(message, status=status, param=param, code=code))
