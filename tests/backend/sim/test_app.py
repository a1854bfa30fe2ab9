"""SimApp as a pure handler (no sockets): it never crashes on odd input, and its rate limiter refills."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.sim.app import RateLimiter, SimApp
from backend.sim.http import Reply, Request, Stream
from backend.sim.options import SimOptions

APPS = {flavor: SimApp(SimOptions(flavor=flavor)) for flavor in ("openai", "sglang")}
SCALARS = st.none() | st.booleans() | st.integers(-3, 300) | st.text(max_size=12)
VALUES = st.recursive(
    SCALARS,
    lambda v: st.lists(v, max_size=3) | st.dictionaries(st.text(max_size=8), v, max_size=3),
    max_leaves=8,
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "tool", "assistant", "x"]), "content": VALUES}
)
BODIES = st.fixed_dictionaries(
    {"model": st.sampled_from(["gpt-4o-mini", "qwen", "nope", "sim-error-503"]) | VALUES},
    optional={
        "messages": st.lists(MESSAGE | VALUES, max_size=3) | VALUES,
        "stream": st.booleans(),
        "stream_options": VALUES,
        "n": st.integers(-1, 4) | VALUES,
        "tools": VALUES,
        "tool_choice": VALUES,
        "response_format": st.fixed_dictionaries(
            {"type": st.sampled_from(["json_schema", "json_object", "text"]), "json_schema": VALUES}
        )
        | VALUES,
        "stop": VALUES,
        "max_tokens": VALUES,
    },
)


def call(flavor: str, body: Any, headers: dict[str, str] | None = None) -> Reply | Stream:
    plan = APPS[flavor](Request("POST", "/v1/chat/completions", "", headers or {}, json.dumps(body).encode()))
    assert isinstance(plan, (Reply, Stream))
    return plan


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["openai", "sglang"]), BODIES)
def test_odd_bodies_get_an_answer_or_a_client_error_never_a_crash(flavor: str, body: dict[str, Any]) -> None:
    plan = call(flavor, body)
    assert plan.status in (200, 400, 404, 503)
    if isinstance(plan, Reply):
        parsed = json.loads(plan.body)
        if plan.status != 200 and flavor == "openai":
            assert set(parsed["error"]) == {"message", "type", "param", "code"}
        elif plan.status != 200:
            assert parsed["object"] == "error" and parsed["code"] == plan.status


def test_rate_limiter_refills_over_a_minute() -> None:
    now = [0.0]
    limiter = RateLimiter(rpm=60, tpm=1000, clock=lambda: now[0])
    assert [limiter.take("k", 10)[0] for _ in range(60)] == [None] * 60
    over, wait, headers = limiter.take("k", 10)
    assert over == "requests" and wait == pytest.approx(1.0)
    assert (
        headers["x-ratelimit-remaining-requests"] == "0" and headers["x-ratelimit-reset-requests"] == "1m0s"
    )
    now[0] = 1.0
    assert limiter.take("k", 10)[0] is None
    assert limiter.take("other", 2000)[0] == "tokens"
