"""Per-key limits shared by every replica through Redis, without Redis on the served path.

Each key has one global token bucket per limit in Redis (requests and tokens, refilled at ``limit / 60`` per
second, allowed to run into debt). Replicas do not admit from it directly: every ``interval_s`` a background
thread, in one pipelined round trip, hands back what is left of this replica's lease (its grant minus what it
admitted meanwhile, negative when real usage beat the estimate) and takes a new lease of the bucket's level divided
by the live replicas (counted in Redis every round). The served hook stays what
:class:`~proxy.ratelimit.RateLimiter` is, a synchronous check of local buckets, whose level is the lease and which
do not refill on their own while Redis answers: the leases out never exceed the bucket, so the replicas together
admit the shared budget. A key not leased yet starts from this replica's share of a full bucket. Only a burst is
divided: a replica that alone serves a key still gets its whole rate, as the others hand their leases back. The
``x-ratelimit-remaining-*`` headers show the shared level.

When Redis cannot be reached the buckets are local again (each replica admits the key's full limit, as without
Redis); ``counts["limits_local_fallback"]`` turns 1 and a log line says so, and both clear when Redis answers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import Counter
from typing import Any

import redis

from proxy.ratelimit import Admission, Limits, RateLimiter, _KeyState

log = logging.getLogger(__name__)
PRESENCE_S = 10.0  # a replica that has not synced for this long no longer counts as one
FALLBACK = "limits_local_fallback"

# KEYS: the bucket's hash. ARGV: capacity per minute, what this replica hands back (may be negative), replicas,
# this replica's previous lease. Returns {the new lease, the budget not yet spent: level plus all leases out}.
LEASE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local capacity = tonumber(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'level', 'ts', 'out')
local level = tonumber(state[1])
local ts = tonumber(state[2])
local out = tonumber(state[3]) or 0
if level == nil then level = capacity; ts = now end
level = math.min(capacity, level + math.max(0, now - ts) * capacity / 60 + tonumber(ARGV[2]))
local lease = math.max(0, level) / tonumber(ARGV[3])
level = level - lease
out = math.max(0, out - tonumber(ARGV[4]) + lease)
redis.call('HSET', KEYS[1], 'level', tostring(level), 'ts', tostring(now), 'out', tostring(out))
redis.call('EXPIRE', KEYS[1], 120)
return {tostring(lease), tostring(level + out)}
"""

Pair = list[float]  # [requests, tokens]


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
        self.script = self.client.register_script(LEASE_SCRIPT)
        self.replica = replica
        self.prefix = prefix
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self.interval_s = interval_s
        self.healthy = True
        self.rounds = 0
        self.replicas_seen = 1
        self._limits: dict[str, tuple[int, int]] = {}
        self._spent: dict[str, Pair] = {}  # admitted since the last round, per key
        self._leases: dict[str, Pair] = {}  # the lease of the last round (what the local bucket was set to)
        self._left: dict[str, Pair] = {}  # the shared budget not yet spent, as of the last round
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
        if key_id not in self._keys and self.replicas_seen > 1:
            state = super()._state(
                key_id, now, limits
            )  # not leased yet: this replica's share of a full bucket
            state.requests.level = limits.rpm / self.replicas_seen
            state.tokens.level = limits.tpm / self.replicas_seen
        decision = super().check(key_id, now, limits, tokens)
        with self._lock:
            if self._limits.get(key_id) != (limits.rpm, limits.tpm):
                self._limits[key_id] = (limits.rpm, limits.tpm)
                self._wake.set()  # a new key: lease now, not at the next tick
            spent = self._spent.setdefault(key_id, [0.0, 0.0])
            if decision.allowed:
                spent[0] += 1
                spent[1] += max(0, tokens)
            left = self._left.get(key_id) if self.healthy else None
            if left is not None:
                decision.headers["x-ratelimit-remaining-requests"] = _remaining(left[0] - spent[0])
                decision.headers["x-ratelimit-remaining-tokens"] = _remaining(left[1] - spent[1])
        return decision

    def record_tokens(self, key_id: str, now: float, tokens: int) -> None:
        super().record_tokens(key_id, now, tokens)
        with self._lock:
            self._spent.setdefault(key_id, [0.0, 0.0])[1] += tokens

    def _state(self, key_id: str, now: float, limits: Limits) -> _KeyState:
        """While leased from Redis, a local bucket only spends its lease: the refill happens in Redis."""
        state = self._keys.get(key_id)
        if state is None or not self.healthy or key_id not in self._leases:
            return super()._state(key_id, now, limits)
        state.requests.capacity, state.tokens.capacity = float(limits.rpm), float(limits.tpm)
        state.requests.ts = state.tokens.ts = max(state.requests.ts, now)
        return state

    # --- the background rounds ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            self.sync_once()

    def sync_once(self) -> bool:
        """One round trip: hand back what is left of each lease, take new ones. False (and local buckets) if
        Redis is unreachable."""
        with self._lock:
            limits = dict(self._limits)
            spent, self._spent = self._spent, {}
            leases = {k: self._leases.get(k, [0.0, 0.0]) for k in limits}
        try:
            results = self._round(limits, leases, spent)
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
        self, limits: dict[str, tuple[int, int]], leases: dict[str, Pair], spent: dict[str, Pair]
    ) -> dict[str, tuple[Pair, Pair]]:
        pipe = self.client.pipeline(transaction=False)
        presence, now = f"{self.prefix}:limits:replicas", time.time()
        pipe.zadd(presence, {self.replica: now})
        pipe.zremrangebyscore(presence, "-inf", now - PRESENCE_S)
        pipe.zcard(presence)
        pipe.expire(presence, int(PRESENCE_S * 6))
        replies: list[Any] = pipe.execute()
        replicas = self.replicas_seen = max(1, int(replies[2]))
        order = list(limits)
        for key_id in order:
            rpm, tpm = limits[key_id]
            lease, used = leases[key_id], spent.get(key_id, [0.0, 0.0])
            for i, (kind, capacity) in enumerate((("requests", rpm), ("tokens", tpm))):
                args = [capacity, lease[i] - used[i], replicas, lease[i]]
                self.script(keys=[f"{self.prefix}:limits:{key_id}:{kind}"], args=args, client=pipe)
        replies = pipe.execute()
        results: dict[str, tuple[Pair, Pair]] = {}
        for i, key_id in enumerate(order):
            (lease_r, left_r), (lease_t, left_t) = replies[2 * i], replies[2 * i + 1]
            results[key_id] = ([float(lease_r), float(lease_t)], [float(left_r), float(left_t)])
        return results

    def _apply(self, results: dict[str, tuple[Pair, Pair]]) -> None:
        """On the hook's thread: each local bucket holds its new lease, less what it admitted since the round
        began (that is charged against this lease at the next round)."""
        with self._lock:
            for key_id, (lease, left) in results.items():
                self._leases[key_id], self._left[key_id] = lease, left
                state = self._keys.get(key_id)
                if state is None:
                    continue
                spent = self._spent.get(key_id, [0.0, 0.0])
                state.requests.level = lease[0] - spent[0]
                state.tokens.level = lease[1] - spent[1]

    def _degraded(self, exc: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            self._leases.clear()  # the buckets refill locally again, from where they are
            self._left.clear()
            for state in self._keys.values():
                state.requests.ts = state.tokens.ts = now
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
