from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.validate import (
    NOT_JSON_MESSAGE,
    ChatRequest,
    RequestError,
    is_json_content_type,
    json_type_name,
    validate_chat_request,
)

LIMIT = 1000
MESSAGES = [{"role": "user", "content": "hi"}]


def _ok(body: Any) -> bytes:
    return json.dumps(body).encode()


def _error(result: ChatRequest | RequestError) -> tuple[int, dict[str, Any]]:
    assert isinstance(result, RequestError), result
    assert result.body.endswith(b"}\n")
    parsed = json.loads(result.body)
    assert list(parsed) == ["error"]
    assert list(parsed["error"]) == ["message", "type", "param", "code"]
    return result.status, parsed["error"]


def test_valid_request() -> None:
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "user": "u1", "temperature": 0}
    result = validate_chat_request("POST", "application/json", _ok(body), LIMIT)
    assert result == ChatRequest(body=body, model="gpt-4o-mini", stream=False, include_usage=False, user="u1")


@pytest.mark.parametrize(
    ("extra", "stream", "include_usage"),
    [
        ({}, False, False),
        ({"stream": False}, False, False),
        ({"stream": None}, False, False),
        ({"stream": True}, True, False),
        ({"stream": True, "stream_options": None}, True, False),
        ({"stream": True, "stream_options": {}}, True, False),
        ({"stream": True, "stream_options": {"include_usage": True}}, True, True),
        ({"stream": True, "stream_options": {"include_usage": False}}, True, False),
        ({"stream": False, "stream_options": {"include_usage": True}}, False, False),
    ],
)
def test_stream_flags(extra: dict[str, Any], stream: bool, include_usage: bool) -> None:
    result = validate_chat_request(
        "POST", "application/json", _ok({"model": "m", "messages": MESSAGES, **extra}), LIMIT
    )
    assert isinstance(result, ChatRequest)
    assert (result.stream, result.include_usage, result.user) == (stream, include_usage, None)


@pytest.mark.parametrize(
    ("method", "content_type", "body", "status", "message", "param", "code"),
    [
        ("GET", "application/json", _ok({"model": "m", "messages": MESSAGES}), 405,
         "Invalid method for URL (GET /v1/chat/completions)", None, None),
        ("put", "application/json", b"", 405, "Invalid method for URL (PUT /v1/chat/completions)", None, None),
        ("POST", "application/json", b"x" * (LIMIT + 1), 413,
         f"Request body too large: {LIMIT + 1} bytes; the limit is {LIMIT} bytes.", None, None),
        ("POST", "text/plain", _ok({"model": "m", "messages": MESSAGES}), 400, NOT_JSON_MESSAGE, None, None),
        ("POST", None, _ok({"model": "m", "messages": MESSAGES}), 400, NOT_JSON_MESSAGE, None, None),
        ("POST", "application/x-www-form-urlencoded", b"model=m", 400, NOT_JSON_MESSAGE, None, None),
        ("POST", "application/json", b"{", 400, NOT_JSON_MESSAGE, None, None),
        ("POST", "application/json", b"", 400, NOT_JSON_MESSAGE, None, None),
        ("POST", "application/json", b'{"model": "m", "temperature": NaN}', 400, NOT_JSON_MESSAGE, None, None),
        ("POST", "application/json", '{"model": "é"}'.encode("latin-1"), 400, NOT_JSON_MESSAGE, None, None),
        ("POST", "application/json", b"\xef\xbb\xbf{}", 400, NOT_JSON_MESSAGE, None, None),
        ("POST", "application/json", b"[]", 400, NOT_JSON_MESSAGE, None, None),
        ("POST", "application/json", b'"model"', 400, NOT_JSON_MESSAGE, None, None),
        ("POST", "application/json", b"null", 400, NOT_JSON_MESSAGE, None, None),
        ("POST", "application/json", _ok({"messages": MESSAGES}), 400, "you must provide a model parameter", None, None),
        ("POST", "application/json", _ok({}), 400, "you must provide a model parameter", None, None),
        ("POST", "application/json", _ok({"model": "", "messages": MESSAGES}), 400,
         "you must provide a model parameter", None, None),
        ("POST", "application/json", _ok({"model": None, "messages": MESSAGES}), 400,
         "you must provide a model parameter", None, None),
        ("POST", "application/json", _ok({"model": 4, "messages": MESSAGES}), 400,
         "Invalid type for 'model': expected a string, but got an integer instead.", "model", "invalid_type"),
        ("POST", "application/json", _ok({"model": "m"}), 400,
         "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"),
        ("POST", "application/json", _ok({"model": "m", "messages": None}), 400,
         "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"),
        ("POST", "application/json", _ok({"model": "m", "messages": []}), 400,
         "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
         "messages", "empty_array"),
        ("POST", "application/json", _ok({"model": "m", "messages": "hi"}), 400,
         "Invalid type for 'messages': expected an array, but got a string instead.", "messages", "invalid_type"),
        ("POST", "application/json", _ok({"model": "m", "messages": {"role": "user"}}), 400,
         "Invalid type for 'messages': expected an array, but got an object instead.", "messages", "invalid_type"),
        ("POST", "application/json", _ok({"model": "m", "messages": MESSAGES, "stream": "true"}), 400,
         "Invalid type for 'stream': expected a boolean, but got a string instead.", "stream", "invalid_type"),
        ("POST", "application/json", _ok({"model": "m", "messages": MESSAGES, "stream": 1}), 400,
         "Invalid type for 'stream': expected a boolean, but got an integer instead.", "stream", "invalid_type"),
        ("POST", "application/json", _ok({"model": "m", "messages": MESSAGES, "stream": True, "stream_options": []}), 400,
         "Invalid type for 'stream_options': expected an object, but got an array instead.", "stream_options",
         "invalid_type"),
        ("POST", "application/json", _ok({"model": "m", "messages": MESSAGES, "user": 7.5}), 400,
         "Invalid type for 'user': expected a string, but got a decimal instead.", "user", "invalid_type"),
    ],
)  # fmt: skip
def test_rejections(
    method: str,
    content_type: str | None,
    body: bytes,
    status: int,
    message: str,
    param: str | None,
    code: str | None,
) -> None:
    got_status, error = _error(validate_chat_request(method, content_type, body, LIMIT))
    assert got_status == status
    assert error == {"message": message, "type": "invalid_request_error", "param": param, "code": code}


def test_body_at_the_limit_is_accepted() -> None:
    body = _ok({"model": "m", "messages": MESSAGES})
    assert isinstance(validate_chat_request("POST", "application/json", body, len(body)), ChatRequest)
    assert _error(validate_chat_request("POST", "application/json", body, len(body) - 1))[0] == 413


@pytest.mark.parametrize(
    ("content_type", "is_json"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        ("application/vnd.api+json", True),
        ("text/json", False),
        ("text/plain", False),
        ("multipart/form-data; boundary=x", False),
        ("", False),
        (None, False),
    ],
)
def test_is_json_content_type(content_type: str | None, is_json: bool) -> None:
    assert is_json_content_type(content_type) is is_json


@pytest.mark.parametrize(
    ("value", "name"),
    [(None, "null"), (True, "a boolean"), (3, "an integer"), (3.5, "a decimal"), ("x", "a string"), ([], "an array"), ({}, "an object")],
)  # fmt: skip
def test_json_type_name(value: Any, name: str) -> None:
    assert json_type_name(value) == name


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@given(
    st.dictionaries(st.sampled_from(["model", "messages", "stream", "stream_options", "user", "n"]), _json)
)
def test_any_json_object_gets_a_request_or_an_openai_400(body: dict[str, Any]) -> None:
    result = validate_chat_request("POST", "application/json", _ok(body), 10_000_000)
    if isinstance(result, ChatRequest):
        assert result.body == body
        assert isinstance(result.model, str) and result.model
        assert isinstance(body["messages"], list) and body["messages"]
        assert result.stream is (body.get("stream") is True)
    else:
        status, error = _error(result)
        assert status == 400
        assert error["type"] == "invalid_request_error"


@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    result = validate_chat_request("POST", "application/json", body, 10_000)
    assert isinstance(result, ChatRequest | RequestError)
