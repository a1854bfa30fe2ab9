"""Limits shared through the real Redis: replicas together admit the key's budget, not one each; headers count
the shared budget; an unreachable Redis leaves each replica limiting alone, said by a metric and a log line."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from proxy.limits_redis import FALLBACK, SharedLimiter
from tests.conftest import REDIS_TEST_URL
from tests.relay import Relay


@dataclass(frozen=True)
class Limits:
    rpm: int
    tpm: int


def replicas(prefix: str, n: int) -> list[SharedLimiter]:
    return [SharedLimiter(REDIS_TEST_URL, replica=f"r{i}", prefix=prefix) for i in range(n)]


def test_three_replicas_admit_the_shared_rpm_within_ten_percent(redis_prefix: str) -> None:
    limiters = replicas(redis_prefix, 3)
    limits = Limits(rpm=120, tpm=10_000_000)
    admitted = 0
    try:
        for _ in range(100):  # 100 rounds, each replica asked 3 times a round: far more than the budget
            for limiter in limiters:
                admitted += sum(
                    limiter.check("key_a", time.monotonic(), limits, 10).allowed for _ in range(3)
                )
            for limiter in limiters:
                assert limiter.sync_once()
    finally:
        for limiter in limiters:
            limiter.close()
    # the bucket refills 2 a second while the test runs; without Redis each replica would admit 120
    assert 0.9 * 120 <= admitted <= 1.1 * 120 + 2 * 5


def test_headers_count_the_shared_budget(redis_prefix: str) -> None:
    one, two = replicas(redis_prefix, 2)
    limits = Limits(rpm=1000, tpm=1_000_000)
    try:
        one.sync_once()
        two.sync_once()  # both live: each leases half the bucket
        for _ in range(10):
            assert one.check("k", time.monotonic(), limits, 5).allowed
        one.sync_once()
        two.check("k", time.monotonic(), limits, 5)
        two.sync_once()
        one.sync_once()
        headers = two.check("k", time.monotonic(), limits, 5).headers
        # 10 from one, 1 handed in and 1 not yet from two: the shared budget holds about 988
        assert 985 <= int(headers["x-ratelimit-remaining-requests"]) <= 989
        assert headers["x-ratelimit-limit-requests"] == "1000"
    finally:
        one.close()
        two.close()


def test_unreachable_redis_falls_back_to_local_buckets(caplog: pytest.LogCaptureFixture) -> None:
    counts: Counter[str] = Counter()
    limiter = SharedLimiter("redis://127.0.0.1:9/0", replica="r", counts=counts)
    limits = Limits(rpm=5, tpm=1000)
    try:
        with caplog.at_level(logging.WARNING, logger="proxy.limits_redis"):
            assert limiter.check("k", 0.0, limits, 1).allowed
            assert limiter.sync_once() is False
            assert limiter.sync_once() is False
        assert counts[FALLBACK] == 1
        assert [r.message for r in caplog.records if "Redis unreachable" in r.message][:1]
        assert len([r for r in caplog.records if "Redis unreachable" in r.message]) == 1  # said once
        assert sum(limiter.check("k", 0.0, limits, 1).allowed for _ in range(10)) == 4  # the local bucket
    finally:
        limiter.close()


def test_a_limits_store_that_is_not_redis_is_refused_in_one_line() -> None:
    from core.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"limits.store: 'http://x' is not a Redis URL; write redis://"):
        parse_config({"limits": {"store": "http://x"}}, source="test")


def test_a_proxy_whose_redis_goes_away_serves_on_with_local_limits(
    redis_prefix: str, proxy_factory: Any, sim_process: Any
) -> None:
    relay = Relay(6379).start()
    try:
        proxy = proxy_factory(
            sim_process("openai"),
            sim_process("sglang"),
            limits__store=f"redis://127.0.0.1:{relay.port}/0",
            limits__redis_prefix=redis_prefix,
        )
        client = proxy.client()
        messages = [{"role": "user", "content": "Classify: hello"}]
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        assert proxy.server.runtime.status()["limits"] == "shared"
        relay.cut()
        deadline = time.monotonic() + 5
        while proxy.server.runtime.counts[FALLBACK] != 1:
            assert time.monotonic() < deadline, "the fallback was not noticed within 5 s"
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)
            time.sleep(0.05)
        for _ in range(5):  # nothing fails meanwhile
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        assert proxy.server.runtime.status()["limits"] == "local"
        metrics = httpx.get(proxy.admin_url + "/metrics").text
        assert "alveare_limits_local_fallback 1.0" in metrics
        relay.restore()
        deadline = time.monotonic() + 5
        while proxy.server.runtime.counts[FALLBACK] != 0:
            assert time.monotonic() < deadline, "Redis's return was not noticed within 5 s"
            time.sleep(0.05)
    finally:
        relay.stop()
