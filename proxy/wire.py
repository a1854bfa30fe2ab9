"""OpenAI's wire format, as pure functions: error objects, request ids, rate-limit header values.

Shared by the proxy (which must answer exactly as OpenAI does) and the stand-in upstream (``backend.sim.server``).
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

import orjson

# The `type` OpenAI puts in the error object for each status it uses on /v1/chat/completions.
ERROR_TYPE_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",  # or "tokens": OpenAI names the exhausted limit
    500: "server_error",
    502: "server_error",
    503: "server_error",
    504: "server_error",
}
# Fallback `code` for each status when the origin gave none we can keep.
ERROR_CODE_BY_STATUS: dict[int, str | None] = {
    401: "invalid_api_key",
    404: "model_not_found",
    429: "rate_limit_exceeded",
}


def error_object(
    message: str,
    *,
    status: int = 400,
    type: str | None = None,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}`` (all four keys, always)."""
    return {
        "error": {
            "message": message,
            "type": type
            or ERROR_TYPE_BY_STATUS.get(status, "invalid_request_error" if status < 500 else "server_error"),
            "param": param,
            "code": code if code is not None else ERROR_CODE_BY_STATUS.get(status),
        }
    }


def error_bytes(message: str, *, status: int = 400, **fields: str | None) -> bytes:
    """The error body as OpenAI sends it: indented by four spaces, with a trailing newline."""
    return (json.dumps(error_object(message, status=status, **fields), indent=4) + "\n").encode()


BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_BASE62_OF_BYTE = bytes(ord(BASE62[b % 62]) for b in range(256))


def new_request_id() -> str:
    """``req_`` and 32 hex digits, as OpenAI's ``x-request-id``."""
    return "req_" + secrets.token_hex(16)


def new_completion_id() -> str:
    """``chatcmpl-`` and 29 base62 characters, as OpenAI's completion ids: each character from one random byte
    (this runs for every candidate answer; the byte's slight lean towards the first 8 characters leaves ~172 bits
    of entropy, an id still never repeats)."""
    return "chatcmpl-" + os.urandom(29).translate(_BASE62_OF_BYTE).decode("ascii")


def format_reset(seconds: float) -> str:
    """A reset duration the way OpenAI writes it in ``x-ratelimit-reset-*`` (Go's duration style, as recorded:
    ``6ms``, ``8.64s``, ``1m6.779s``, ``6m0s``): whole milliseconds (truncated) under a second, otherwise seconds
    with up to three decimals after any whole minutes and hours."""
    millis = max(0, int(seconds * 1000))
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def parse_reset(text: str) -> float:
    """Inverse of :func:`format_reset` (accepts any Go-style duration such as ``1h2m3.5s`` or ``250ms``)."""
    total = 0.0
    number = ""
    i = 0
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not number:
            raise ValueError(f"not a duration: {text!r}")
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    if number:
        raise ValueError(f"duration without unit: {text!r}")
    return total


def ratelimit_headers(
    *,
    limit_requests: int,
    remaining_requests: int,
    reset_requests_s: float,
    limit_tokens: int,
    remaining_tokens: int,
    reset_tokens_s: float,
) -> dict[str, str]:
    """The six ``x-ratelimit-*`` headers, in OpenAI's formats."""
    return {
        "x-ratelimit-limit-requests": str(limit_requests),
        "x-ratelimit-limit-tokens": str(limit_tokens),
        "x-ratelimit-remaining-requests": str(max(0, remaining_requests)),
        "x-ratelimit-remaining-tokens": str(max(0, remaining_tokens)),
        "x-ratelimit-reset-requests": format_reset(reset_requests_s),
        "x-ratelimit-reset-tokens": format_reset(reset_tokens_s),
    }


def loads(data: bytes | str) -> Any:
    """JSON as ``json.loads`` reads it, at orjson's speed: what orjson refuses (``NaN``, a lone surrogate, an
    integer past 64 bits) is read by the standard library, so nothing parses differently."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dumps(obj: Any) -> bytes:
    """Compact JSON (UTF-8, ``","`` and ``":"``) at orjson's speed; what orjson cannot write (an integer past 64
    bits, a lone surrogate, NaN) is written by the standard library."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
