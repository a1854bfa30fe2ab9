"""Auth: check the app's key and its rate limits before anything else happens.

With ``alv_live_`` keys in the store, only those keys pass (any other gets OpenAI's 401 body and no upstream
call) and the incumbent is called with the real OpenAI key from the proxy's environment. Without keys the proxy
is pass-through: the client's key goes to the incumbent. Either way every split request gets OpenAI's six
``x-ratelimit-*`` headers for its key, and a 429 ``rate_limit_exceeded`` with ``retry-after`` over the limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Callable

from mitmproxy import http
from mitmproxy.net import encoding

from proxy import wire
from proxy.addons.route import error_response, is_chat
from proxy.fields import header, set_headers
from proxy.keys import KeyStore
from proxy.ratelimit import Admission, RateLimiter
from proxy.ratelimit import Limits as RateLimits
from proxy.runtime import METADATA_KEY, FlowInfo, Runtime, flow_info

BYTES_PER_TOKEN = 4
DEFAULT_COMPLETION_TOKENS = 16


def bearer(flow: http.HTTPFlow) -> str:
    """The token of ``Authorization: Bearer ...``; the scheme is case-insensitive, as in every HTTP scheme."""
    return bearer_token(header(flow.request.headers, b"authorization"))


def bearer_token(header: str) -> str:
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else header.strip()


def estimate_tokens(raw_body: bytes) -> int:
    """What a request is charged before it runs, as OpenAI does: its prompt plus a completion allowance."""
    return len(raw_body) // BYTES_PER_TOKEN + DEFAULT_COMPLETION_TOKENS


def invalid_key_response(token: str) -> http.Response:
    shown = (token[:3] + "*" * 4 + token[-4:]) if len(token) > 8 else "*" * len(token)
    message = (
        f"Incorrect API key provided: {shown}. You can find your API key at "
        "https://platform.openai.com/account/api-keys."
    )
    return error_response(401, wire.error_bytes(message, status=401))


def rate_limited_response(decision: Admission, limits: RateLimits, name: str) -> http.Response:
    """OpenAI's 429: its message, ``retry-after`` (seconds) and ``retry-after-ms``, and the limit headers."""
    wait = wire.format_reset(decision.retry_after_s)
    if decision.reason == "too_large":
        message = (
            f"Request too large for {name} on tokens per min (TPM): Limit {limits.tpm}. "
            "The input or output tokens must be reduced in order to run successfully."
        )
    elif decision.reason == "tokens":
        message = f"Rate limit reached for {name} on tokens per min (TPM): Limit {limits.tpm}. Please try again in {wait}."
    else:
        message = f"Rate limit reached for {name} on requests per min (RPM): Limit {limits.rpm}. Please try again in {wait}."
    body = wire.error_bytes(message, status=429, type="requests", code="rate_limit_exceeded")
    retry = {
        "retry-after": str(max(1, math.ceil(decision.retry_after_s))),
        "retry-after-ms": str(max(1, math.ceil(decision.retry_after_s * 1000))),
    }
    return error_response(429, body, {**retry, **decision.headers})


class Auth:
    def __init__(
        self,
        runtime: Runtime,
        keys: KeyStore,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.keys = keys
        self.limiter = limiter or RateLimiter()
        self.clock = clock

    def request(self, flow: http.HTTPFlow) -> None:
        info = flow_info(flow)
        if flow.response is not None:
            return
        token = bearer(flow)
        if self.keys.any_active():
            info.key = self.keys.verify(token)
            if info.key is None:
                self.runtime.counts["rejected"] += 1
                flow.response = invalid_key_response(token)
                return
        elif not is_chat(flow):
            return  # pass-through mode: OpenAI limits the client's own key
        self._limit(flow, info, token)

    def _limit(self, flow: http.HTTPFlow, info: FlowInfo, token: str) -> None:
        limits: RateLimits
        if info.key is not None:
            limit_id, limits, name = info.key.key_id, info.key, f"key {info.key.name}"
        else:
            limit_id = (
                "client:"
                + hashlib.blake2b(token.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
            )
            limits, name = self.runtime.config.limits, "this key"
        tokens = estimate_tokens(flow.request.raw_content or b"")
        decision = self.limiter.check(limit_id, self.clock(), limits, tokens)
        info.admission = decision
        info.limit_id, info.charged_tokens = limit_id, tokens
        if not decision.allowed:
            self.runtime.counts["rate_limited"] += 1
            flow.response = rate_limited_response(decision, limits, name)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        response = flow.response
        if info is None or info.key is None or response is None or response is info.limits_written:
            return  # no app key, or written on this answer already (the response hook comes here again)
        set_headers(response.headers, info.ratelimit_headers)
        info.limits_written = response

    def response(self, flow: http.HTTPFlow) -> None:
        self.responseheaders(flow)
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        response = flow.response
        if (
            info is None
            or not info.limit_id
            or response is None
            or response.status_code >= 400
            or response.stream
        ):
            return
        # Charge what the answer really used, as OpenAI does, once the client has it (not on the served path).
        body, encoding = response.raw_content or b"", header(response.headers, b"content-encoding")
        asyncio.get_running_loop().call_soon(self._settle, info.limit_id, info.charged_tokens, body, encoding)

    def _settle(self, limit_id: str, charged: int, body: bytes, encoding: str) -> None:
        used = usage_tokens(body, encoding)
        if used is not None:
            self.limiter.record_tokens(limit_id, self.clock(), used - charged)


def usage_tokens(body: bytes, content_encoding: str = "") -> int | None:
    """``usage.total_tokens`` of a JSON answer, or None when it has none (or is not JSON)."""
    try:
        if content_encoding and content_encoding != "identity":
            decoded = encoding.decode(body, content_encoding)
            body = decoded.encode() if isinstance(decoded, str) else decoded
        usage = wire.loads(body).get("usage")
    except (ValueError, AttributeError):
        return None
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None
