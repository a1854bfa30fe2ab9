"""API keys for the apps that call the proxy: ``alv_live_...``, stored only as a keyed hash.

The stored value is HMAC-SHA256 of the key under a random pepper made once per store: a key holds 256 random
bits, so its hash cannot be turned back into it, and the pepper makes one store's hashes useless against
another's. A lookup is one indexed equality, fast enough to run per request. The plaintext exists once, in what :meth:`KeyStore.create` returns. :meth:`KeyStore.verify`
keeps a short cache, so a revoke made by another process takes effect within ``cache_ttl_s``. The proxy instead
calls :meth:`KeyStore.refresh` in the background every second: verifying then reads only that in-memory copy of
the active keys (no database call on the served path, and the last known keys while the store is down), and a
revoke made on any replica or host takes effect everywhere within the refresh interval.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import AlveareError
from core.store import Store

KEY_PREFIX = "alv_live_"

_COLUMNS = ("key_id", "name", "hint", "rpm", "tpm", "created", "revoked")


class UnknownKey(AlveareError, LookupError):
    """No key with that id."""


@dataclass(frozen=True)
class KeyRecord:
    """A key as stored (never its plaintext). ``hint`` shows the prefix and last four characters."""

    key_id: str
    name: str
    hint: str
    rpm: int
    tpm: int
    created: float
    revoked: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked is None


class KeyStore:
    def __init__(
        self,
        store: Store,
        *,
        cache_ttl_s: float = 5.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.cache_ttl_s = cache_ttl_s
        self.cache_size = cache_size
        self.clock = clock
        self._pepper = _pepper(store)
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}
        self._any_active: tuple[float, bool] | None = None
        self._snapshot: dict[str, KeyRecord] | None = None
        self._digests: dict[str, str] = {}  # plaintext -> HMAC: an app sends the same key on every request

    def refresh(self) -> None:
        """Load every active key (by hash) into memory; from then on :meth:`verify` reads only this copy."""
        self._snapshot = {str(row["key_hash"]): _record(row) for row in self.store.keys(active_only=True)}

    def hash(self, plaintext: str) -> str:
        return hmac.new(self._pepper, plaintext.encode(), hashlib.sha256).hexdigest()

    def create(self, name: str, rpm: int, tpm: int) -> tuple[KeyRecord, str]:
        """A new key: the record, and the plaintext to show once."""
        if not name.strip():
            raise ValueError("a key needs a name (the app that will use it), e.g. --name billing-service")
        if rpm < 1 or tpm < 1:
            raise ValueError(f"limits must be at least 1 (got rpm={rpm}, tpm={tpm})")
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        record = KeyRecord(
            key_id="key_" + secrets.token_hex(8),
            name=name.strip(),
            hint=f"{KEY_PREFIX}...{plaintext[-4:]}",
            rpm=rpm,
            tpm=tpm,
            created=time.time(),
        )
        self.store.insert_key({"key_hash": self.hash(plaintext), **_row(record)})
        self._forget_cache()
        return record, plaintext

    def verify(self, plaintext: str) -> KeyRecord | None:
        """The active key with this plaintext, or None (unknown, revoked, or not one of ours)."""
        if not plaintext.startswith(KEY_PREFIX) or not plaintext.isascii():
            return None  # ours are URL-safe base64: a non-ASCII token (even undecodable bytes) is never one
        digest = self._digests.get(plaintext)
        if digest is None:
            if len(self._digests) >= self.cache_size:
                self._digests.clear()
            digest = self._digests[plaintext] = self.hash(plaintext)
        if self._snapshot is not None:
            return self._snapshot.get(digest)
        now = self.clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = self.store.key_by_hash(digest)
        record = _record(row) if row else None
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[digest] = (now + self.cache_ttl_s, record)
        return record

    def list(self, *, include_revoked: bool = True) -> list[KeyRecord]:
        return [_record(r) for r in self.store.keys(active_only=not include_revoked)]

    def get(self, key_id: str) -> KeyRecord:
        rows = self.store.keys(key_id=key_id)
        if not rows:
            raise UnknownKey(f"no key {key_id!r}; see `alveare-migrate keys list` for the ids")
        return _record(rows[0])

    def revoke(self, key_id: str) -> KeyRecord:
        """Revoke a key (again is harmless); raises :class:`UnknownKey` if there is no such key."""
        self.store.revoke_key(key_id, time.time())
        self._forget_cache()
        return self.get(key_id)

    def any_active(self) -> bool:
        """Whether any key is active: if so the proxy requires one on every request."""
        if self._snapshot is not None:
            return bool(self._snapshot)
        now = self.clock()
        if self._any_active is not None and self._any_active[0] > now:
            return self._any_active[1]
        active = self.store.any_active_key()
        self._any_active = (now + self.cache_ttl_s, active)
        return active

    def _forget_cache(self) -> None:
        self._cache.clear()
        self._any_active = None
        if self._snapshot is not None:  # this process's own change is seen at once; other replicas within 1 s
            self.refresh()


def _pepper(store: Store) -> bytes:
    """The store's pepper, made on first use; an insert that ignores a clash keeps two first users (two
    replicas) from disagreeing."""
    return bytes.fromhex(store.secret("key_pepper", secrets.token_hex(32)))


def _row(record: KeyRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in _COLUMNS}


def _record(row: Mapping[str, Any]) -> KeyRecord:
    key_id, name, hint, rpm, tpm, created, revoked = (row[c] for c in _COLUMNS)
    return KeyRecord(
        str(key_id),
        str(name),
        str(hint),
        int(rpm),
        int(tpm),
        float(created),
        None if revoked is None else float(revoked),
    )
