from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.ratelimit import RateLimiter
from proxy.wire import parse_reset


@dataclass(frozen=True)
class Limits:
    rpm: int
    tpm: int


def remaining(headers: dict[str, str]) -> tuple[int, int]:
    return int(headers["x-ratelimit-remaining-requests"]), int(headers["x-ratelimit-remaining-tokens"])


def resets(headers: dict[str, str]) -> tuple[float, float]:
    return parse_reset(headers["x-ratelimit-reset-requests"]), parse_reset(
        headers["x-ratelimit-reset-tokens"]
    )


def test_the_six_openai_headers_with_limits() -> None:
    decision = RateLimiter().check("k", 0.0, Limits(rpm=10_000, tpm=200_000), tokens=23)
    assert decision.allowed and decision.retry_after_s == 0
    assert decision.headers == {
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-limit-tokens": "200000",
        "x-ratelimit-remaining-requests": "9999",
        "x-ratelimit-remaining-tokens": "199977",
        "x-ratelimit-reset-requests": "6ms",  # one request of 10,000/min comes back in 6 ms
        "x-ratelimit-reset-tokens": "6ms",  # 23 tokens of 200,000/min: 6.9 ms, truncated as in the recording
    }


def test_remaining_decreases_per_request_and_reset_grows() -> None:
    limiter = RateLimiter()
    limits = Limits(rpm=60, tpm=6000)
    seen = [limiter.check("k", 100.0, limits, tokens=100).headers for _ in range(3)]
    assert [remaining(h) for h in seen] == [(59, 5900), (58, 5800), (57, 5700)]
    assert [resets(h) for h in seen] == [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]
    assert seen[2]["x-ratelimit-reset-requests"] == "3s"


def test_buckets_refill_continuously() -> None:
    limiter = RateLimiter()
    limits = Limits(rpm=60, tpm=6000)
    for _ in range(30):
        limiter.check("k", 0.0, limits, tokens=100)
    assert remaining(limiter.check("k", 0.0, limits).headers) == (29, 3000)
    # 10 s later a sixth of the minute's allowance is back (less the request that asks)
    assert remaining(limiter.check("k", 10.0, limits).headers) == (38, 4000)
    after = limiter.check("k", 200.0, limits)
    assert remaining(after.headers) == (59, 6000)
    assert resets(after.headers) == (1.0, 0.0)


def test_over_the_request_limit_is_refused_with_retry_after() -> None:
    limiter = RateLimiter()
    limits = Limits(rpm=2, tpm=1000)
    assert limiter.check("k", 0.0, limits).allowed
    assert limiter.check("k", 0.0, limits).allowed
    refused = limiter.check("k", 0.0, limits)
    assert not refused.allowed and refused.reason == "requests"
    assert refused.retry_after_s == pytest.approx(30.0)
    assert remaining(refused.headers) == (0, 1000)
    assert refused.headers["x-ratelimit-reset-requests"] == "1m0s"
    assert not limiter.check("k", 29.9, limits).allowed
    assert limiter.check("k", 30.0, limits).allowed


def test_over_the_token_limit_is_refused_until_enough_tokens_are_back() -> None:
    limiter = RateLimiter()
    limits = Limits(rpm=100, tpm=600)
    assert limiter.check("k", 0.0, limits, tokens=500).allowed
    refused = limiter.check("k", 0.0, limits, tokens=200)
    assert not refused.allowed and refused.reason == "tokens"
    assert refused.retry_after_s == pytest.approx(10.0)  # 100 more tokens at 10 per second
    assert remaining(refused.headers) == (99, 100)  # a refused request takes nothing
    assert limiter.check("k", 10.0, limits, tokens=200).allowed


def test_a_request_larger_than_the_limit_can_never_pass() -> None:
    refused = RateLimiter().check("k", 0.0, Limits(rpm=10, tpm=100), tokens=101)
    assert not refused.allowed and refused.reason == "too_large"
    assert refused.retry_after_s == 1.0 and remaining(refused.headers) == (10, 100)


def test_record_tokens_charges_actual_usage_and_refunds() -> None:
    limiter = RateLimiter()
    limits = Limits(rpm=100, tpm=600)
    limiter.check("k", 0.0, limits, tokens=100)
    limiter.record_tokens("k", 0.0, 700)  # the answer was long: 800 in all, 200 over the limit
    refused = limiter.check("k", 0.0, limits, tokens=1)
    assert not refused.allowed and remaining(refused.headers)[1] == 0
    assert refused.retry_after_s == pytest.approx(20.1)  # the 200-token debt, then one token
    assert resets(refused.headers)[1] == pytest.approx(80.0, abs=0.5)
    limiter.record_tokens("k", 0.0, -10_000)  # refunds never exceed the limit
    assert remaining(limiter.check("k", 0.0, limits).headers)[1] == 600
    limiter.record_tokens("unknown-key", 0.0, 5)  # nothing to charge yet: ignored


def test_keys_are_independent_and_forget_drops_state() -> None:
    limiter = RateLimiter()
    limits = Limits(rpm=1, tpm=100)
    assert limiter.check("a", 0.0, limits).allowed
    assert not limiter.check("a", 0.0, limits).allowed
    assert limiter.check("b", 0.0, limits).allowed
    limiter.forget("a")
    assert limiter.check("a", 0.0, limits).allowed


def test_lowering_a_keys_limit_takes_effect() -> None:
    limiter = RateLimiter()
    limiter.check("k", 0.0, Limits(rpm=100, tpm=1000))
    headers = limiter.check("k", 0.0, Limits(rpm=5, tpm=50)).headers
    assert remaining(headers) == (4, 50)


operation = st.one_of(
    st.tuples(st.just("check"), st.sampled_from([0.0, 0.0, 0.01, 0.5, 7.3, 30.0]), st.integers(0, 1500)),
    st.tuples(st.just("record"), st.floats(0, 30), st.integers(-500, 3000)),
)


@settings(max_examples=200, deadline=None)
@given(
    rpm=st.integers(1, 500),
    tpm=st.integers(1, 2000),
    ops=st.lists(operation, max_size=40),
)
def test_remaining_stays_in_range_and_resets_when_it_says(
    rpm: int, tpm: int, ops: list[tuple[str, float, int]]
) -> None:
    limiter = RateLimiter()
    limits = Limits(rpm, tpm)
    now = 0.0
    previous: tuple[int, int] | None = None
    for kind, dt, tokens in ops:
        now += dt
        if kind == "record":
            limiter.record_tokens("k", now, tokens)
            previous = None
            continue
        decision = limiter.check("k", now, limits, tokens)
        left = remaining(decision.headers)
        assert 0 <= left[0] <= rpm and 0 <= left[1] <= tpm
        assert all(r >= 0 for r in resets(decision.headers))
        assert decision.allowed == (decision.retry_after_s == 0) and decision.retry_after_s >= 0
        if decision.allowed and dt == 0 and previous is not None:
            assert left[0] == previous[0] - 1
        previous = left
    # read the reset times, wait that long (plus OpenAI's rounding), and the key is whole again
    probe = limiter.check("k", now, limits, 0)
    wait = max(resets(probe.headers)) + 1.0
    if not probe.allowed:
        wait = max(wait, probe.retry_after_s + 1.0)
    after = limiter.check("k", now + wait, limits, 0)
    assert after.allowed
    assert remaining(after.headers) == (rpm - 1, tpm)
