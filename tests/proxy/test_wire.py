"""OpenAI's wire formats: error objects, ids, and rate-limit reset durations as the recordings show them."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.wire import (
    error_bytes,
    error_object,
    format_reset,
    new_completion_id,
    new_request_id,
    parse_reset,
    ratelimit_headers,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.006, "6ms"),
        (0.0117, "11ms"),
        (8.64, "8.64s"),
        (1, "1s"),
        (66.779, "1m6.779s"),
        (360, "6m0s"),
        (3723, "1h2m3s"),
        (0, "0ms"),
        (-3, "0ms"),
    ],
)
def test_format_reset_matches_openais_recorded_values(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


@given(st.floats(min_value=0, max_value=100_000, allow_nan=False))
def test_parse_reset_inverts_format_reset_to_the_millisecond(seconds: float) -> None:
    assert abs(parse_reset(format_reset(seconds)) - seconds) < 0.001 + 1e-9


@pytest.mark.parametrize("text", ["5", "1x", "ms", "1.5"])
def test_parse_reset_rejects_non_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_reset(text)


@pytest.mark.parametrize(
    ("status", "type_", "code"),
    [
        (400, "invalid_request_error", None),
        (401, "invalid_request_error", "invalid_api_key"),
        (404, "invalid_request_error", "model_not_found"),
        (429, "requests", "rate_limit_exceeded"),
        (500, "server_error", None),
        (503, "server_error", None),
    ],
)
def test_error_object_has_all_four_keys(status: int, type_: str, code: str | None) -> None:
    body = error_object("boom", status=status)
    assert body == {"error": {"message": "boom", "type": type_, "param": None, "code": code}}
    raw = error_bytes("boom", status=status, param="messages")
    assert raw.endswith(b"}\n") and raw.startswith(b'{\n    "error"')
    assert json.loads(raw)["error"]["param"] == "messages"


def test_ids_and_headers_look_like_openais() -> None:
    assert re.fullmatch(r"req_[0-9a-f]{32}", new_request_id())
    assert re.fullmatch(r"chatcmpl-[A-Za-z0-9]{29}", new_completion_id())
    headers = ratelimit_headers(
        limit_requests=10_000,
        remaining_requests=9_999,
        reset_requests_s=8.64,
        limit_tokens=200_000,
        remaining_tokens=-5,
        reset_tokens_s=0.006,
    )
    assert headers == {
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-limit-tokens": "200000",
        "x-ratelimit-remaining-requests": "9999",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-requests": "8.64s",
        "x-ratelimit-reset-tokens": "6ms",
    }
