"""Sticky, monotone assignment: pure functions, hammered with tables and Hypothesis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from proxy.assign import BUCKETS, bucket, choose_side, key_hash, stickiness_key


def test_stickiness_key_prefers_user_then_session_then_key() -> None:
    headers = {"x-alveare-session": "s1", "authorization": "Bearer sk-abc"}
    assert stickiness_key({"user": "u1"}, headers) == "user:u1"
    assert stickiness_key({}, headers) == "session:s1"
    assert stickiness_key({"user": ""}, {"authorization": "Bearer sk-abc"}) == "key:sk-abc"


def test_share_at_30_percent_over_2000_users_and_nobody_moves_back_at_50() -> None:
    users = [f"user:{i}" for i in range(2000)]
    at30 = {u: choose_side(bucket("salt", u), 30) for u in users}
    share = sum(side == "candidate" for side in at30.values()) / len(users)
    assert abs(share - 0.30) <= 0.03
    at50 = {u: choose_side(bucket("salt", u), 50) for u in users}
    assert all(at50[u] == "candidate" for u in users if at30[u] == "candidate")
    assert abs(sum(side == "candidate" for side in at50.values()) / len(users) - 0.5) <= 0.03


@given(st.text(min_size=1), st.text(max_size=20))
def test_bucket_is_stable_and_in_range(key: str, salt: str) -> None:
    assert bucket(salt, key) == bucket(salt, key)
    assert 0 <= bucket(salt, key) < BUCKETS


@given(st.text(min_size=1), st.floats(0, 100), st.floats(0, 100))
def test_raising_the_percent_never_moves_a_user_back(key: str, low: float, high: float) -> None:
    low, high = sorted((low, high))
    if choose_side(bucket("s", key), low) == "candidate":
        assert choose_side(bucket("s", key), high) == "candidate"


def test_edges_and_salt() -> None:
    assert choose_side(0, 0) == "incumbent"
    assert choose_side(BUCKETS - 1, 100) == "candidate"
    assert key_hash("a", "user:1") != key_hash("b", "user:1")
    assert "user" not in key_hash("a", "user:1")
    moved = sum(bucket("one", f"u{i}") != bucket("two", f"u{i}") for i in range(100))
    assert moved > 90  # another salt is another assignment
