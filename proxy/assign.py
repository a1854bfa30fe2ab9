"""Sticky, monotone assignment of a request to the incumbent or the candidate.

``bucket = hash(salt, stickiness key) mod 10000``; the candidate serves iff ``bucket < percent * 100``. Raising
the percent only ever moves buckets from the incumbent to the candidate, and every replica with the same salt
decides the same way (the hash is BLAKE2b, not Python's randomised ``hash``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from core.pair import Side

BUCKETS = 10_000
SESSION_HEADER = "x-alveare-session"


def stickiness_key(body: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    """The request's ``user`` field, else the ``x-alveare-session`` header, else the client's API key."""
    user = body.get("user")
    if isinstance(user, str) and user:
        return "user:" + user
    session = headers.get(SESSION_HEADER)
    if session:
        return "session:" + session
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    return "key:" + (token.strip() if scheme.lower() == "bearer" else scheme)


def bucket(salt: str, key: str) -> int:
    digest = hashlib.blake2b(_bytes(key), key=salt.encode()[:64], digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def choose_side(bucket_: int, percent: float) -> Side:
    return "candidate" if bucket_ < round(percent * 100) else "incumbent"


def key_hash(salt: str, key: str) -> str:
    """What the store keeps instead of the raw key: a salted hash, enough to group a user's pairs."""
    return hashlib.blake2b(
        _bytes(key), key=b"alveare-record:" + salt.encode()[:48], digest_size=12
    ).hexdigest()


def _bytes(text: str) -> bytes:
    """Header values arrive as str with undecodable bytes kept as surrogates: hash the bytes as sent."""
    return text.encode("utf-8", "surrogateescape")
