"""Per-key limits shared by every replica through Redis, without Redis on the served path.

Each key has one global token bucket per limit in Redis (requests and tokens, refilled at ``limit / 60`` per
second, allowed to run into debt). The served hook stays what :class:`~proxy.ratelimit.RateLimiter` is: a
synchronous check of local buckets. A background thread, every ``interval_s``, pushes what this replica consumed
since the last round and reads back each bucket's level and how many replicas drew on it in the last
:data:`ACTIVE_S` seconds, all in one pipelined round trip (a Lua script per bucket, atomic in Redis). The local
bucket is then set to this replica's share of the global level, so the replicas together admit no more than the
shared budget (the overshoot is bounded by what one replica admits in its first round for a new key). The
``x-ratelimit-remaining-*`` headers show the shared level.

When Redis cannot be reached the buckets stay local (each replica admits the key's full limit, as without
Redis); ``counts["limits_local_fallback"]`` turns 1 and a log line says so, and both clear when Redis answers again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import redis

from proxy.ratelimit import Admission, Limits, RateLimiter

log = logging.getLogger(__name__)
ACTIVE_S = 2.0
FALLBACK = "limits_local_fallback"

# KEYS: bucket hash, active-replica zset. ARGV: capacity per minute, amount consumed, replica id, active window.
# Returns {level as text, replicas drawing on the bucket, this one included}.
BUCKET_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local capacity = tonumber(ARGV[1])
local used = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'level', 'ts')
local level = tonumber(state[1])
local ts = tonumber(state[2])
if level == nil then level = capacity; ts = now end
level = math.min(capacity, level + math.max(0, now - ts) * capacity / 60) - used
redis.call('HSET', KEYS[1], 'level', tostring(level), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 120)
if used ~= 0 then redis.call('ZADD', KEYS[2], now, ARGV[3]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[4]))
redis.call('EXPIRE', KEYS[2], 120)
local replicas = redis.call('ZCARD', KEYS[2])
if not redis.call('ZSCORE', KEYS[2], ARGV[3]) then replicas = replicas + 1 end
return {tostring(level), replicas}
"""


@dataclass
class _Shared:
    """What the last round learnt of one key: the global levels, and how many replicas share them."""

    requests: float
    tokens: float
    replicas: int


class SharedLimiter(RateLimiter):
    def __init__(
        self,
        url: str,
        *,
        replica: str,
        prefix: str = "alveare",
        counts: Counter[str] | None = None,
        interval_s: float = 0.05,
    ) -> None:
        super().__init__()
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.script = self.client.register_script(BUCKET_SCRIPT)
        self.replica = replica
        self.prefix = prefix
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self.interval_s = interval_s
        self.healthy = True
        self.rounds = 0
        self._limits: dict[str, tuple[int, int]] = {}
        self._pending: dict[str, list[float]] = {}
        self._shared: dict[str, _Shared] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="alveare-limits", daemon=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the background rounds; their results are applied on ``loop`` (the hook's thread)."""
        self._loop = loop
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.client.close()

    # --- the served path (event loop thread): local work only ------------------------------------------

    def check(self, key_id: str, now: float, limits: Limits, tokens: int = 0) -> Admission:
        decision = super().check(key_id, now, limits, tokens)
        with self._lock:
            if self._limits.get(key_id) != (limits.rpm, limits.tpm):
                self._limits[key_id] = (limits.rpm, limits.tpm)
                self._wake.set()  # a new key: learn its shared level now, not at the next tick
            pending = self._pending.setdefault(key_id, [0.0, 0.0])
            if decision.allowed:
                pending[0] += 1
                pending[1] += max(0, tokens)
            shared = self._shared.get(key_id) if self.healthy else None
            if shared is not None:
                decision.headers["x-ratelimit-remaining-requests"] = _remaining(shared.requests - pending[0])
                decision.headers["x-ratelimit-remaining-tokens"] = _remaining(shared.tokens - pending[1])
        return decision

    def record_tokens(self, key_id: str, now: float, tokens: int) -> None:
        super().record_tokens(key_id, now, tokens)
        with self._lock:
            self._pending.setdefault(key_id, [0.0, 0.0])[1] += tokens

    # --- the background rounds ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            self.sync_once()

    def sync_once(self) -> bool:
        """One round trip: push what was consumed, learn the shared levels. False (and local buckets) if Redis
        is unreachable."""
        with self._lock:
            limits = dict(self._limits)
            pushed, self._pending = self._pending, {}
        if not limits:
            return True
        try:
            results = self._round(limits, pushed)
        except redis.RedisError as exc:
            self._degraded(exc)
            return False
        self._recovered()
        self.rounds += 1
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._apply, results)
        else:
            self._apply(results)
        return True

    def _round(
        self, limits: dict[str, tuple[int, int]], pushed: dict[str, list[float]]
    ) -> dict[str, _Shared]:
        pipe = self.client.pipeline(transaction=False)
        order = list(limits)
        for key_id in order:
            rpm, tpm = limits[key_id]
            used = pushed.get(key_id, [0.0, 0.0])
            active = f"{self.prefix}:limits:{key_id}:replicas"
            for kind, capacity, amount in (("requests", rpm, used[0]), ("tokens", tpm, used[1])):
                keys = [f"{self.prefix}:limits:{key_id}:{kind}", active]
                self.script(keys=keys, args=[capacity, amount, self.replica, ACTIVE_S], client=pipe)
        replies: list[Any] = pipe.execute()
        results: dict[str, _Shared] = {}
        for i, key_id in enumerate(order):
            (requests, n_requests), (tokens, n_tokens) = replies[2 * i], replies[2 * i + 1]
            results[key_id] = _Shared(float(requests), float(tokens), max(1, int(n_requests), int(n_tokens)))
        return results

    def _apply(self, results: dict[str, _Shared]) -> None:
        """On the hook's thread: each local bucket becomes this replica's share of what is left globally, less
        what it admitted since the round began."""
        now = time.monotonic()
        with self._lock:
            self._shared.update(results)
            for key_id, shared in results.items():
                state = self._keys.get(key_id)
                pending = self._pending.get(key_id, [0.0, 0.0])
                if state is None:
                    continue
                state.requests.level = shared.requests / shared.replicas - pending[0]
                state.tokens.level = shared.tokens / shared.replicas - pending[1]
                state.requests.ts = max(state.requests.ts, now)
                state.tokens.ts = max(state.tokens.ts, now)

    def _degraded(self, exc: Exception) -> None:
        with self._lock:
            self._shared.clear()
        if self.healthy:
            log.warning("limits: Redis unreachable (%s); each replica now limits on its own", exc)
        self.healthy = False
        self.counts[FALLBACK] = 1

    def _recovered(self) -> None:
        if not self.healthy:
            log.warning("limits: Redis answers again; limits are shared across replicas")
        self.healthy = True
        self.counts[FALLBACK] = 0


def _remaining(level: float) -> str:
    return str(max(0, math.floor(level)))
