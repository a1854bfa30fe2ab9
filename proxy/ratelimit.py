"""Per-key request and token limits, answered the way OpenAI answers them.

Each key has two buckets, requests and tokens, each holding up to its per-minute limit and refilling
continuously at ``limit / 60`` per second (OpenAI's limits behave this way: one request of 10,000 per day
resets in ``8.64s``). A request takes one request and its estimated tokens; :meth:`RateLimiter.record_tokens`
then charges (or refunds) the difference once the real usage is known, so a bucket may run into debt that
later requests wait out. Pure: the caller passes the clock, nothing here does I/O. Not thread-safe; the proxy
calls it from its event loop.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Protocol

from proxy.wire import ratelimit_headers

WINDOW_S = 60.0


class Limits(Protocol):
    """Anything with per-minute ``rpm`` and ``tpm`` (``core.config.LimitsSettings``, ``proxy.keys.KeyRecord``)."""

    @property
    def rpm(self) -> int: ...

    @property
    def tpm(self) -> int: ...


# limit, remaining and seconds to full, of the requests bucket then the tokens bucket
Figures = tuple[int, int, float, int, int, float]


@dataclass(frozen=True)
class Admission:
    """``headers`` are the six ``x-ratelimit-*`` headers to send either way (written from ``figures`` on first
    use: the incumbent's answers in pass-through never carry ours); ``retry_after_s`` is 0 when allowed.
    ``reason`` names the exhausted limit (``requests``, ``tokens``, ``too_large``) when refused."""

    allowed: bool
    figures: Figures
    retry_after_s: float = 0.0
    reason: str = ""

    @functools.cached_property
    def headers(self) -> dict[str, str]:
        requests, left_requests, requests_s, tokens, left_tokens, tokens_s = self.figures
        return ratelimit_headers(
            limit_requests=requests,
            remaining_requests=left_requests,
            reset_requests_s=requests_s,
            limit_tokens=tokens,
            remaining_tokens=left_tokens,
            reset_tokens_s=tokens_s,
        )


@dataclass
class _Bucket:
    """``level`` may go below zero (debt from usage above the estimate); ``capacity`` is the latest limit."""

    capacity: float
    level: float
    ts: float

    def refill(self, now: float, capacity: float | None = None) -> None:
        if capacity is not None:
            self.capacity = float(capacity)
        elapsed = max(0.0, now - self.ts)
        self.level = min(self.capacity, self.level + elapsed * self.capacity / WINDOW_S)
        self.ts = max(self.ts, now)

    def wait_for(self, amount: float) -> float:
        """Seconds until the bucket holds ``amount``."""
        return max(0.0, (amount - self.level) * WINDOW_S / self.capacity)

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.level))


@dataclass
class _KeyState:
    requests: _Bucket
    tokens: _Bucket


@dataclass
class RateLimiter:
    _keys: dict[str, _KeyState] = field(default_factory=dict)

    def check(self, key_id: str, now: float, limits: Limits, tokens: int = 0) -> Admission:
        """Admit one request estimated at ``tokens`` tokens, or refuse it with how long to wait.

        A request larger than the whole token limit can never pass: it is refused as ``too_large`` (OpenAI
        answers 429 however long the client waits) with at least a second's retry-after, so that clients
        retrying on 429 do not hammer the proxy.
        """
        state = self._state(key_id, now, limits)
        if tokens > limits.tpm:
            return _refuse(state, limits, "too_large", max(1.0, state.tokens.wait_for(limits.tpm)))
        wait_requests = state.requests.wait_for(1)
        wait_tokens = state.tokens.wait_for(tokens)
        if wait_requests > 0 or wait_tokens > 0:
            reason = "requests" if wait_requests >= wait_tokens else "tokens"
            return _refuse(state, limits, reason, max(wait_requests, wait_tokens))
        state.requests.level -= 1
        state.tokens.level -= max(0, tokens)
        return Admission(True, _figures(state, limits))

    def record_tokens(self, key_id: str, now: float, tokens: int) -> None:
        """Charge ``tokens`` more to the key: actual usage minus what :meth:`check` charged (negative refunds)."""
        state = self._keys.get(key_id)
        if state is not None:
            state.tokens.refill(now)
            state.tokens.level = min(state.tokens.capacity, state.tokens.level - tokens)

    def forget(self, key_id: str) -> None:
        """Drop a key's buckets (a revoked key), so the limiter's memory follows the live keys."""
        self._keys.pop(key_id, None)

    def _state(self, key_id: str, now: float, limits: Limits) -> _KeyState:
        state = self._keys.get(key_id)
        if state is None:
            state = _KeyState(_Bucket(limits.rpm, limits.rpm, now), _Bucket(limits.tpm, limits.tpm, now))
            self._keys[key_id] = state
        state.requests.refill(now, limits.rpm)
        state.tokens.refill(now, limits.tpm)
        return state


def _refuse(state: _KeyState, limits: Limits, reason: str, wait: float) -> Admission:
    return Admission(False, _figures(state, limits), retry_after_s=wait, reason=reason)


def _figures(state: _KeyState, limits: Limits) -> Figures:
    requests, tokens = state.requests, state.tokens
    return (
        limits.rpm,
        requests.remaining,
        requests.wait_for(limits.rpm),
        limits.tpm,
        tokens.remaining,
        tokens.wait_for(limits.tpm),
    )
