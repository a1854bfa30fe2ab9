from __future__ import annotations

from pathlib import Path

import pytest

from core.store import Store
from proxy.keys import KEY_PREFIX, KeyStore, UnknownKey


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}")


def test_created_key_is_shown_once_and_stored_only_hashed(store: Store, tmp_path: Path) -> None:
    keys = KeyStore(store)
    record, plaintext = keys.create("billing", rpm=100, tpm=10_000)
    assert plaintext.startswith(KEY_PREFIX) and len(plaintext) > len(KEY_PREFIX) + 40
    assert record.hint == f"{KEY_PREFIX}...{plaintext[-4:]}"
    assert (record.name, record.rpm, record.tpm, record.active) == ("billing", 100, 10_000, True)
    rows = [tuple(row.values()) for row in store.keys()]  # noqa: SIM118  # Store.keys(), not a dict
    assert len(rows) == 1
    stored = [str(v) for v in rows[0]]
    assert plaintext not in stored and plaintext[len(KEY_PREFIX) :] not in stored
    assert keys.hash(plaintext) in stored and len(keys.hash(plaintext)) == 64
    store.close()
    for path in tmp_path.iterdir():  # not in the database file, nor its write-ahead log
        assert plaintext.encode() not in path.read_bytes()


def test_verify_finds_the_key_and_nothing_else(store: Store) -> None:
    keys = KeyStore(store)
    record, plaintext = keys.create("app", rpm=1, tpm=1)
    assert keys.verify(plaintext) == record
    assert keys.verify(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None
    assert keys.verify("sk-proj-not-ours") is None
    assert keys.verify("") is None
    assert KeyStore(store).verify(plaintext) == record  # the pepper lives in the store


def test_the_same_key_hashes_differently_in_another_store(tmp_path: Path) -> None:
    one = KeyStore(Store.open(f"sqlite:///{tmp_path / 'one.sqlite'}"))
    two = KeyStore(Store.open(f"sqlite:///{tmp_path / 'two.sqlite'}"))
    _, plaintext = one.create("app", rpm=1, tpm=1)
    assert one.hash(plaintext) != two.hash(plaintext)
    assert two.verify(plaintext) is None


def test_revoke_works_at_once_here_and_within_the_cache_time_elsewhere(store: Store) -> None:
    clock = Clock()
    proxy_side = KeyStore(store, cache_ttl_s=5.0, clock=clock)
    cli_side = KeyStore(store)
    record, plaintext = cli_side.create("app", rpm=1, tpm=1)
    assert proxy_side.verify(plaintext) == record and proxy_side.any_active()
    revoked = cli_side.revoke(record.key_id)
    assert not revoked.active and revoked.revoked is not None
    assert cli_side.verify(plaintext) is None
    assert proxy_side.verify(plaintext) == record  # cached, for at most cache_ttl_s
    clock.now = 5.01
    assert proxy_side.verify(plaintext) is None
    assert not proxy_side.any_active()
    assert cli_side.revoke(record.key_id) == revoked  # again is harmless


def test_revoking_an_unknown_key_raises(store: Store) -> None:
    with pytest.raises(UnknownKey):
        KeyStore(store).revoke("key_nope")


def test_list_and_any_active(store: Store) -> None:
    keys = KeyStore(store)
    assert keys.list() == [] and not keys.any_active()
    first, _ = keys.create("one", rpm=1, tpm=2)
    second, _ = keys.create("two", rpm=3, tpm=4)
    assert keys.any_active()
    keys.revoke(first.key_id)
    assert [r.key_id for r in keys.list()] == [first.key_id, second.key_id]
    assert [r.key_id for r in keys.list(include_revoked=False)] == [second.key_id]
    assert keys.any_active()
    keys.revoke(second.key_id)
    assert not keys.any_active()


@pytest.mark.parametrize(("name", "rpm", "tpm"), [(" ", 1, 1), ("app", 0, 1), ("app", 1, 0)])
def test_create_rejects_bad_input(store: Store, name: str, rpm: int, tpm: int) -> None:
    with pytest.raises(ValueError, match=r"name|at least 1"):
        KeyStore(store).create(name, rpm=rpm, tpm=tpm)


def test_verify_cache_stays_bounded(store: Store) -> None:
    keys = KeyStore(store, cache_size=3)
    _, plaintext = keys.create("app", rpm=1, tpm=1)
    for i in range(10):
        keys.verify(f"{KEY_PREFIX}guess{i}")
    assert len(keys._cache) <= 3
    assert keys.verify(plaintext) is not None
