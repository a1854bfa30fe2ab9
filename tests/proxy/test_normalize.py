from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy import wire
from proxy.normalize import (
    GENERIC_MESSAGES,
    SGLANG_ONLY_KEYS,
    content_chunk_json,
    normalize_chunk,
    normalize_completion,
    normalize_error,
    normalize_stream_error,
    plain_completion_json,
    rewrite_model,
)
from tests.openapi_schema import validator
from tests.shared_paths import FIXTURES


def _validate(name: str, instance: Any) -> None:
    validator(name).validate(instance)


# --- errors ----------------------------------------------------------------------------------------------------


def _sglang(message: str, type_: str = "BadRequestError", code: int = 400, param: str | None = None) -> bytes:
    return json.dumps(
        {"object": "error", "message": message, "type": type_, "param": param, "code": code}
    ).encode()


UNAUTHORIZED = GENERIC_MESSAGES[401]
SERVER = GENERIC_MESSAGES[500]


@pytest.mark.parametrize(
    ("status", "body", "want_status", "want"),
    [
        # SGLang's flat error
        (400, _sglang("max_tokens must be positive"), 400,
         {"message": "max_tokens must be positive", "type": "invalid_request_error", "param": None, "code": None}),
        (400, _sglang("bad temperature", param="temperature"), 400,
         {"message": "bad temperature", "type": "invalid_request_error", "param": "temperature", "code": None}),
        # SGLang's mid-stream shape arriving as a whole body
        (400, json.dumps({"error": json.loads(_sglang("too long"))}).encode(), 400,
         {"message": "too long", "type": "invalid_request_error", "param": None, "code": None}),
        # API-key middleware
        (401, b'{"error": "Unauthorized"}', 401,
         {"message": UNAUTHORIZED, "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}),
        # unknown model (vLLM-style 404) and unknown LoRA adapter (SGLang 400)
        (404, _sglang("The model `qwen:nope` does not exist.", "NotFoundError", 404, "model"), 404,
         {"message": "The model `qwen:nope` does not exist or you do not have access to it.",
          "type": "invalid_request_error", "param": None, "code": "model_not_found"}),
        (400, _sglang("The following requested LoRA adapters are not loaded: nope\nLoaded adapters: dict_keys(['a'])."),
         404,
         {"message": "The model `nope` does not exist or you do not have access to it.",
          "type": "invalid_request_error", "param": None, "code": "model_not_found"}),
        (400, _sglang("The following requested LoRA adapters are not loaded: {'nope'}\nLoaded adapters: {'a'}."), 404,
         {"message": "The model `nope` does not exist or you do not have access to it.",
          "type": "invalid_request_error", "param": None, "code": "model_not_found"}),
        # rate limits and server errors
        (429, _sglang("queue full", "TooManyRequests", 429), 429,
         {"message": "queue full", "type": "requests", "param": None, "code": "rate_limit_exceeded"}),
        (429, b"slow down", 429,
         {"message": GENERIC_MESSAGES[429], "type": "requests", "param": None, "code": "rate_limit_exceeded"}),
        (500, _sglang("Internal server error: CUDA out of memory", "InternalServerError", 500), 500,
         {"message": SERVER, "type": "server_error", "param": None, "code": None}),
        (501, _sglang("does not support streaming requests", "NotImplementedError", 501), 500,
         {"message": SERVER, "type": "server_error", "param": None, "code": None}),
        (503, b"<html>Service Unavailable</html>", 503,
         {"message": GENERIC_MESSAGES[503], "type": "server_error", "param": None, "code": None}),
        (502, b"", 502, {"message": GENERIC_MESSAGES[502], "type": "server_error", "param": None, "code": None}),
        # FastAPI's own rejections
        (422, b'{"detail": [{"loc": ["body", "messages"], "msg": "Field required", "type": "missing"}]}', 400,
         {"message": "Field required", "type": "invalid_request_error", "param": None, "code": None}),
        (404, b'{"detail": "Not Found"}', 404,
         {"message": "Not Found", "type": "invalid_request_error", "param": None, "code": "model_not_found"}),
        (418, b"teapot", 400, {"message": GENERIC_MESSAGES[400], "type": "invalid_request_error", "param": None, "code": None}),
        (400, b"\xff\xfe", 400, {"message": GENERIC_MESSAGES[400], "type": "invalid_request_error", "param": None, "code": None}),
        (400, b"[1, 2]", 400, {"message": GENERIC_MESSAGES[400], "type": "invalid_request_error", "param": None, "code": None}),
        # already OpenAI's: kept, with type/code as strings or null
        (400, wire.error_bytes("Invalid 'messages[0].role'", param="messages[0].role", code="unsupported_value"), 400,
         {"message": "Invalid 'messages[0].role'", "type": "invalid_request_error", "param": "messages[0].role",
          "code": "unsupported_value"}),
        (400, b'{"error": {"message": "x", "type": "invalid_request_error", "param": null, "code": 1234}}', 400,
         {"message": "x", "type": "invalid_request_error", "param": None, "code": "1234"}),
        (429, b'{"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}',
         429, {"message": "Rate limit reached for requests", "type": "requests", "param": None, "code": "rate_limit_exceeded"}),
        (429, b'{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}',
         429, {"message": "You exceeded your current quota", "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}),
    ],
)  # fmt: skip
def test_normalize_error(status: int, body: bytes, want_status: int, want: dict[str, Any]) -> None:
    got_status, got = normalize_error(status, body)
    assert got_status == want_status
    assert got == wire.error_bytes(
        want["message"], status=want_status, type=want["type"], param=want["param"], code=want["code"]
    )
    parsed = json.loads(got)
    assert parsed == {"error": want}
    _validate("ErrorResponse", parsed)


def test_unknown_model_names_the_requested_model_not_the_candidate() -> None:
    body = _sglang(
        "The following requested LoRA adapters are not loaded: classify-v3\nLoaded adapters: {'x'}."
    )
    status, got = normalize_error(400, body, requested_model="gpt-4o-mini")
    assert status == 404
    assert b"classify-v3" not in got and b"Loaded adapters" not in got
    assert json.loads(got)["error"]["message"] == (
        "The model `gpt-4o-mini` does not exist or you do not have access to it."
    )


def test_recorded_openai_errors_pass_through_unchanged() -> None:
    cassette = yaml.safe_load((FIXTURES / "otel-openai-v2/test_chat_completion_404.yaml").read_text())
    response = cassette["interactions"][0]["response"]
    body = response["body"]["string"].encode()
    status, got = normalize_error(response["status"]["code"], body)
    assert status == 404
    assert json.loads(got) == json.loads(body)


@settings(deadline=None)  # the first example compiles OpenAI's schema (run alone: ~0.4 s)
@given(st.integers(min_value=100, max_value=999), st.binary(max_size=80))
def test_any_error_becomes_a_valid_openai_error(status: int, body: bytes) -> None:
    got_status, got = normalize_error(status, body)
    assert got_status in {400, 401, 403, 404, 405, 409, 413, 429, 500, 502, 503, 504}
    parsed = json.loads(got)
    _validate("ErrorResponse", parsed)
    assert (parsed["error"]["type"] == "server_error") == (got_status >= 500)


_json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=10)


@settings(deadline=None)  # as above
@given(
    st.integers(min_value=400, max_value=599),
    st.dictionaries(
        st.sampled_from(["object", "message", "type", "param", "code", "error", "detail"]), _json_leaf
    ),
)
def test_any_json_error_becomes_a_valid_openai_error(status: int, body: dict[str, Any]) -> None:
    _, got = normalize_error(status, json.dumps(body).encode())
    _validate("ErrorResponse", json.loads(got))


@pytest.mark.parametrize(
    ("payload", "want"),
    [
        ({"error": json.loads(_sglang("prompt too long"))},
         {"message": "prompt too long", "type": "invalid_request_error", "param": None, "code": None}),
        (json.loads(_sglang("prompt too long")),
         {"message": "prompt too long", "type": "invalid_request_error", "param": None, "code": None}),
        ({"error": json.loads(_sglang("Internal server error: boom", "InternalServerError", 500))},
         {"message": SERVER, "type": "server_error", "param": None, "code": None}),
        ({"error": {"message": "boom", "type": "InternalServerError"}},
         {"message": SERVER, "type": "server_error", "param": None, "code": None}),
        ({"error": {"message": "x", "type": "server_error", "param": None, "code": None}},
         {"message": SERVER, "type": "server_error", "param": None, "code": None}),
        ({"error": "Unauthorized"},
         {"message": SERVER, "type": "server_error", "param": None, "code": None}),
    ],
)  # fmt: skip
def test_normalize_stream_error(payload: dict[str, Any], want: dict[str, Any]) -> None:
    got = normalize_stream_error(payload)
    assert got == {"error": want}
    _validate("ErrorResponse", got)


# --- completions -----------------------------------------------------------------------------------------------

SGLANG_USAGE = {
    "prompt_tokens": 21,
    "total_tokens": 30,
    "completion_tokens": 9,
    "prompt_tokens_details": None,
    "reasoning_tokens": 0,
}
# OpenAI always sends both detail objects (otel-openai-v2/test_chat_completion_with_content.yaml).
PROMPT_DETAILS = {"cached_tokens": 0, "audio_tokens": 0}
COMPLETION_DETAILS = {
    "reasoning_tokens": 0,
    "audio_tokens": 0,
    "accepted_prediction_tokens": 0,
    "rejected_prediction_tokens": 0,
}
OPENAI_USAGE = {
    "prompt_tokens": 21,
    "completion_tokens": 9,
    "total_tokens": 30,
    "prompt_tokens_details": PROMPT_DETAILS,
    "completion_tokens_details": COMPLETION_DETAILS,
}


def _sglang_completion(**message: Any) -> dict[str, Any]:
    return {
        "id": "5d3b1c7e2f8a4e0f9d6c3b2a1e0f9d8c",
        "object": "chat.completion",
        "created": 1750000000,
        "model": "qwen:classify",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "positive", "reasoning_content": None, "tool_calls": None, **message},
                "logprobs": None,
                "finish_reason": "stop",
                "matched_stop": 151645,
            }
        ],
        "usage": dict(SGLANG_USAGE),
        "metadata": {"weight_version": "default"},
    }  # fmt: skip


def test_normalize_plain_completion() -> None:
    got = normalize_completion(_sglang_completion(), "gpt-4o-mini")
    assert re.fullmatch(r"chatcmpl-[A-Za-z0-9]{29}", got["id"]), "SGLang's bare hex id becomes OpenAI's shape"
    assert got == {
        "id": got["id"],
        "object": "chat.completion",
        "created": 1750000000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "positive", "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": OPENAI_USAGE,
        "service_tier": "default",
        "system_fingerprint": None,
    }
    assert list(got) == [
        "id", "object", "created", "model", "choices", "usage", "service_tier", "system_fingerprint"
    ]  # fmt: skip
    assert list(got["usage"]) == list(OPENAI_USAGE)
    _validate("CreateChatCompletionResponse", got)


def test_normalize_tool_call_completion() -> None:
    call = {
        "id": "call_0",
        "index": 0,
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
    }
    obj = _sglang_completion(content="", tool_calls=[call])
    obj["choices"][0]["finish_reason"] = "tool_calls"
    got = normalize_completion(obj, "gpt-4.1-mini")
    message = got["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
            }
        ],
        "refusal": None,
        "annotations": [],
    }
    assert list(message) == ["role", "content", "tool_calls", "refusal", "annotations"]
    _validate("CreateChatCompletionResponse", got)


def test_non_null_reasoning_is_kept() -> None:
    got = normalize_completion(_sglang_completion(reasoning_content="thinking..."), "m")
    message = got["choices"][0]["message"]
    assert message["reasoning_content"] == "thinking..."
    assert list(message) == ["role", "content", "reasoning_content", "refusal", "annotations"]


@pytest.mark.parametrize(
    ("sglang", "openai"),
    [
        (None, None),
        ({"prompt_tokens": 3, "completion_tokens": None, "total_tokens": 3},
         {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3,
          "prompt_tokens_details": PROMPT_DETAILS, "completion_tokens_details": COMPLETION_DETAILS}),
        ({"prompt_tokens": 3, "completion_tokens": 4},
         {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
          "prompt_tokens_details": PROMPT_DETAILS, "completion_tokens_details": COMPLETION_DETAILS}),
        ({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "prompt_tokens_details": {"cached_tokens": 2}},
         {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
          "prompt_tokens_details": {"cached_tokens": 2, "audio_tokens": 0}, "completion_tokens_details": COMPLETION_DETAILS}),
        ({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "reasoning_tokens": 2},
         {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "prompt_tokens_details": PROMPT_DETAILS,
          "completion_tokens_details": {**COMPLETION_DETAILS, "reasoning_tokens": 2}}),
        # given details win over SGLang's top-level reasoning_tokens
        ({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "reasoning_tokens": 2,
          "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 1}},
         {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "prompt_tokens_details": PROMPT_DETAILS,
          "completion_tokens_details": {**COMPLETION_DETAILS, "reasoning_tokens": 3, "audio_tokens": 1}}),
    ],
)  # fmt: skip
def test_usage(sglang: dict[str, Any] | None, openai: dict[str, Any] | None) -> None:
    obj = _sglang_completion()
    obj["usage"] = sglang
    got = normalize_completion(obj, "m")
    assert got.get("usage") == openai
    _validate("CreateChatCompletionResponse", got)


def test_sglang_only_keys_are_gone_and_logprobs_complete() -> None:
    obj = _sglang_completion()
    token = {"token": "pos", "logprob": -0.01, "bytes": [112, 111, 115], "top_logprobs": []}
    choice = obj["choices"][0]
    choice.update(
        logprobs={"content": [token]}, hidden_states=[0.1], meta_info={"x": 1}, finish_reason="abort"
    )
    obj["sglext"] = {"routed_experts": "x"}
    got = normalize_completion(obj, "m")
    levels = {
        "completion": got,
        "choice": got["choices"][0],
        "message": got["choices"][0]["message"],
        "usage": got["usage"],
    }
    for level, keys in SGLANG_ONLY_KEYS.items():
        assert not keys & set(levels[level]), level
    # Nowhere else either, but for OpenAI's own completion_tokens_details.reasoning_tokens.
    text = json.dumps(got)
    for key in set().union(*SGLANG_ONLY_KEYS.values()) - {"reasoning_tokens"}:
        assert f'"{key}"' not in text
    assert text.count('"reasoning_tokens"') == 1
    assert got["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    assert got["choices"][0]["logprobs"] == {"content": [token], "refusal": None}
    assert got["choices"][0]["finish_reason"] == "stop"
    _validate("CreateChatCompletionResponse", got)
    assert obj["choices"][0]["matched_stop"] == 151645  # the input is not changed


def test_existing_openai_completion_survives_normalisation() -> None:
    """An answer that is already OpenAI's (the sim in OpenAI mode) comes out unchanged but for the model."""
    openai = {
        "id": "chatcmpl-AbMH70fQA9lMPIClvBPyBSjqJBm9F",
        "object": "chat.completion",
        "created": 1733467125,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi.", "refusal": None, "annotations": []}, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 12, "total_tokens": 24,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
        "service_tier": "default",
        "system_fingerprint": "fp_0705bf87c0",
    }  # fmt: skip
    got = normalize_completion(copy.deepcopy(openai), "gpt-4o-mini")
    assert got == {**openai, "model": "gpt-4o-mini"}
    assert list(got) == list(openai)


# --- chunks ----------------------------------------------------------------------------------------------------


def _sglang_chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish, "matched_stop": None}
    return {
        "id": "abc",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "qwen:x",
        "choices": [choice],
        "usage": None,
        **extra,
    }


@pytest.mark.parametrize(
    ("delta", "want"),
    [
        ({"role": "assistant", "content": "", "reasoning_content": None, "tool_calls": None},
         {"role": "assistant", "content": "", "refusal": None}),
        ({"role": "assistant"}, {"role": "assistant", "content": None, "refusal": None}),
        ({"role": None, "content": "Hel", "reasoning_content": None, "tool_calls": None}, {"content": "Hel"}),
        ({"content": None, "reasoning_content": None, "tool_calls": None}, {}),
        ({"content": None, "reasoning_content": "hmm"}, {"reasoning_content": "hmm"}),
        ({"tool_calls": [{"id": "call_1", "index": 0, "type": "function", "function": {"name": "f", "arguments": ""}}]},
         {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
        ({"tool_calls": [{"id": None, "index": 0, "type": "function", "function": {"name": None, "arguments": "{\"a\""}}]},
         {"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\""}}]}),
        ({"tool_calls": []}, {}),
    ],
)  # fmt: skip
def test_chunk_deltas(delta: dict[str, Any], want: dict[str, Any]) -> None:
    got = normalize_chunk(_sglang_chunk(delta), "gpt-4o-mini")
    assert got["choices"][0] == {"index": 0, "delta": want, "logprobs": None, "finish_reason": None}
    assert got["model"] == "gpt-4o-mini"
    assert "usage" not in got
    assert got["service_tier"] == "default"
    assert list(got) == ["id", "object", "created", "model", "service_tier", "system_fingerprint", "choices"]
    _validate("CreateChatCompletionStreamResponse", got)


def test_chunk_usage_only_when_asked() -> None:
    usage_chunk = _sglang_chunk({}, usage=dict(SGLANG_USAGE))
    usage_chunk["choices"] = []
    plain = normalize_chunk(_sglang_chunk({"content": "x"}), "m", include_usage=True)
    last = normalize_chunk(usage_chunk, "m", include_usage=True)
    assert plain["usage"] is None
    assert last["usage"] == OPENAI_USAGE and last["choices"] == []
    assert "usage" not in normalize_chunk(usage_chunk, "m", include_usage=False)
    assert list(plain)[-1] == "usage"
    for chunk in (plain, last):
        _validate("CreateChatCompletionStreamResponse", chunk)


def test_finish_chunk() -> None:
    got = normalize_chunk(_sglang_chunk({"content": None}, "length"), "m")
    assert got["choices"] == [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}]
    got = normalize_chunk(_sglang_chunk({}, "abort"), "m")
    assert got["choices"][0]["finish_reason"] == "stop"


def test_openai_chunks_survive_normalisation() -> None:
    chunk = {
        "id": "chatcmpl-Dx0Xq5Xx9rHB2ehcHZCRDsnuymUXc", "object": "chat.completion.chunk", "created": 1782955818,
        "model": "gpt-4o-mini-2024-07-18", "service_tier": "default", "system_fingerprint": "fp_d0469e1700",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None}, "logprobs": None, "finish_reason": None}],
        "usage": None, "obfuscation": "HM7mrUsjk",
    }  # fmt: skip
    got = normalize_chunk(copy.deepcopy(chunk), "gpt-4o-mini", include_usage=True)
    assert got == {**chunk, "model": "gpt-4o-mini"}
    assert list(got) == list(chunk)
    _validate("CreateChatCompletionStreamResponse", got)


def test_rewrite_model() -> None:
    obj = {"id": "x", "model": "gpt-4o-mini-2024-07-18", "choices": []}
    got = rewrite_model(obj, "gpt-4o-mini")
    assert got == {"id": "x", "model": "gpt-4o-mini", "choices": []}
    assert list(got) == list(obj)
    assert obj["model"] == "gpt-4o-mini-2024-07-18"
    assert rewrite_model({"error": {}}, "m") == {"error": {}}


# --- the direct writer of plain content chunks -------------------------------------------------------------

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.text(max_size=6),
    st.just({}),
    st.just([]),
    st.just("stop"),
)
_DELETE = object()
_KEYS = {  # per level: the keys SGLang sends, and some it might
    "chunk": [
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "system_fingerprint",
        "service_tier",
        "x",
    ],
    "choice": ["index", "delta", "logprobs", "finish_reason", "matched_stop", "text"],
    "delta": ["role", "content", "reasoning_content", "tool_calls", "refusal"],
}
_change = st.tuples(
    st.sampled_from(sorted(_KEYS)),
    st.integers(0, 8),
    st.one_of(st.just(_DELETE), _VALUES, st.lists(st.just({"index": 0, "delta": {}}), max_size=2)),
)


@st.composite
def _chunk(draw: st.DrawFn) -> dict[str, Any]:
    """SGLang's content chunk (random text, time, index), with up to three keys changed, added or removed."""
    delta = {
        "role": None,
        "content": draw(st.text(max_size=20)),
        "reasoning_content": None,
        "tool_calls": None,
    }
    choice = {"index": draw(st.integers(0, 3)), "delta": delta, "logprobs": None, "finish_reason": None}
    choice["matched_stop"] = None
    chunk = {
        "id": "0f1e2d",
        "object": "chat.completion.chunk",
        "created": draw(st.integers(0, 2**40)),
        "model": "qwen:classify",
        "choices": [choice],
        "usage": None,
    }
    for level, position, value in draw(st.lists(_change, max_size=3)):
        target = {"chunk": chunk, "choice": choice, "delta": delta}[level]
        key = _KEYS[level][position % len(_KEYS[level])]
        if value is _DELETE:
            target.pop(key, None)
        else:
            target[key] = value
    return chunk


@settings(max_examples=300)
@given(_chunk(), st.booleans(), st.one_of(st.none(), st.just("fp_0123456789")))
def test_content_chunks_written_directly_are_the_normalized_bytes(
    chunk: dict[str, Any], include_usage: bool, fingerprint: str | None
) -> None:
    kwargs: dict[str, Any] = {"include_usage": include_usage, "fingerprint": fingerprint}
    fast = content_chunk_json(copy.deepcopy(chunk), "gpt-4o-mini", chunk_id="chatcmpl-X", **kwargs)
    if fast is not None:
        slow = normalize_chunk(copy.deepcopy(chunk), "gpt-4o-mini", chunk_id="chatcmpl-X", **kwargs)
        assert fast == wire.dumps(slow)


def test_sglang_content_chunks_take_the_direct_way() -> None:
    piece = {"role": None, "content": 'Hé "ok"', "reasoning_content": None, "tool_calls": None}
    chunk = {
        "id": "7d2c",
        "object": "chat.completion.chunk",
        "created": 1733000000,
        "model": "qwen:classify",
        "choices": [
            {"index": 0, "delta": piece, "logprobs": None, "finish_reason": None, "matched_stop": None}
        ],
        "usage": None,
    }
    for include_usage in (False, True):
        kwargs: dict[str, Any] = {
            "include_usage": include_usage,
            "fingerprint": "fp_1",
            "chunk_id": "chatcmpl-Y",
        }
        fast = content_chunk_json(copy.deepcopy(chunk), "gpt-4o-mini", **kwargs)
        assert fast is not None and fast == wire.dumps(
            normalize_chunk(copy.deepcopy(chunk), "gpt-4o-mini", **kwargs)
        )
        _validate("CreateChatCompletionStreamResponse", json.loads(fast))
    first = copy.deepcopy(chunk)
    first["choices"][0]["delta"]["role"] = "assistant"  # the first delta spells out role, content, refusal
    last = copy.deepcopy(chunk)
    last["choices"][0]["finish_reason"] = "stop"
    for other in (first, last):
        assert (
            content_chunk_json(other, "gpt-4o-mini", include_usage=False, fingerprint=None, chunk_id="c")
            is None
        )


# --- the direct writer of plain completions ----------------------------------------------------------------

_COMPLETION_KEYS = {  # per level: the keys SGLang sends, and some it might
    "completion": ["id", "object", "created", "model", "choices", "usage", "metadata", "system_fingerprint", "x"],
    "choice": ["index", "message", "logprobs", "finish_reason", "matched_stop", "text"],
    "message": ["role", "content", "reasoning_content", "tool_calls", "refusal"],
    "usage": ["prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "reasoning_tokens"],
}  # fmt: skip
_completion_change = st.tuples(
    st.sampled_from(sorted(_COMPLETION_KEYS)),
    st.integers(0, 8),
    st.one_of(
        st.just(_DELETE),
        _VALUES,
        st.sampled_from(["length", "tool_calls", "abort", "assistant", "chatcmpl-Q"]),
    ),
)


@st.composite
def _completion(draw: st.DrawFn) -> dict[str, Any]:
    """SGLang's plain answer (random text, time, counts), with up to three keys changed, added or removed."""
    message = {
        "role": "assistant",
        "content": draw(st.text(max_size=20)),
        "reasoning_content": None,
        "tool_calls": None,
    }
    choice = {
        "index": draw(st.integers(0, 3)),
        "message": message,
        "logprobs": None,
        "finish_reason": draw(st.sampled_from(["stop", "length", None])),
        "matched_stop": 151645,
    }
    usage = {
        "prompt_tokens": draw(st.integers(0, 999)),
        "total_tokens": draw(st.integers(0, 999)),
        "completion_tokens": draw(st.integers(0, 999)),
        "prompt_tokens_details": None,
        "reasoning_tokens": 0,
    }
    completion = {
        "id": "chatcmpl-P",
        "object": "chat.completion",
        "created": draw(st.integers(0, 2**40)),
        "model": "qwen:classify",
        "choices": [choice],
        "usage": usage,
        "metadata": {"weight_version": "default"},
    }
    for level, position, value in draw(st.lists(_completion_change, max_size=3)):
        target = {"completion": completion, "choice": choice, "message": message, "usage": usage}[level]
        key = _COMPLETION_KEYS[level][position % len(_COMPLETION_KEYS[level])]
        if value is _DELETE:
            target.pop(key, None)
        else:
            target[key] = value
    return completion


def _same_id(body: bytes) -> bytes:
    """``body`` with its completion id written as one placeholder (a bare id gets a new random one each time)."""
    obj = json.loads(body)
    assert obj["id"].startswith("chatcmpl-")
    return wire.dumps({**obj, "id": "chatcmpl-same"})


@settings(max_examples=300)
@given(_completion(), st.one_of(st.none(), st.just("fp_0123456789")))
def test_plain_completions_written_directly_are_the_normalized_bytes(
    completion: dict[str, Any], fingerprint: str | None
) -> None:
    fast = plain_completion_json(copy.deepcopy(completion), "gpt-4o-mini", fingerprint=fingerprint)
    if fast is not None:
        slow = wire.dumps(
            normalize_completion(copy.deepcopy(completion), "gpt-4o-mini", fingerprint=fingerprint)
        )
        if completion.get("id") == "chatcmpl-P":
            assert fast == slow
        else:
            assert _same_id(fast) == _same_id(slow)


def test_sglang_plain_answers_take_the_direct_way() -> None:
    answer = json.loads(
        b'{"id":"5e4ea532910e4a13bf1a32f09f04794d","object":"chat.completion","created":1796227717,'
        b'"model":"qwen:classify","choices":[{"index":0,"message":{"role":"assistant","content":"Of course. '
        b'\\u00c9t\\u00e9 \\"ok\\"","reasoning_content":null,"tool_calls":null},"logprobs":null,"finish_reason":'
        b'"stop","matched_stop":151645}],"usage":{"prompt_tokens":18,"total_tokens":38,"completion_tokens":20,'
        b'"prompt_tokens_details":null,"reasoning_tokens":0},"metadata":{"weight_version":"default"}}'
    )  # as SGLang 0.5 writes it (the sim's sglang flavour)
    fast = plain_completion_json(copy.deepcopy(answer), "gpt-4o-mini-2024-07-18", fingerprint="fp_1")
    assert fast is not None
    slow = wire.dumps(
        normalize_completion(copy.deepcopy(answer), "gpt-4o-mini-2024-07-18", fingerprint="fp_1")
    )
    assert _same_id(fast) == _same_id(slow)
    _validate("CreateChatCompletionResponse", json.loads(fast))
    tools = copy.deepcopy(answer)
    tools["choices"][0]["message"]["tool_calls"] = [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]
    two = copy.deepcopy(answer)
    two["choices"].append(copy.deepcopy(two["choices"][0]))
    for other in (tools, two):
        assert plain_completion_json(other, "gpt-4o-mini", fingerprint=None) is None
