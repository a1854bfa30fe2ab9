"""The store on SQLite and PostgreSQL: one schema owner (Alembic), in-place upgrade of a release-0.1 file, upserts
that make a retried batch count once, the shared lease, and one-line refusals of bad, unreachable or newer stores."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from core.store import Store, StoreError
from core.store_migrate import HEAD, MIGRATIONS, REVISIONS
from migrate_cli.main import cli
from tests.evaluator.factory import ok, pair

RELEASE_SCHEMA = Path(__file__).resolve().parent.parent / "data" / "stores" / "release_0_1_schema.sql"
RELEASE_ROWS = {
    "pairs": [
        ("p1", 1.0, "kh", "gpt-4o-mini", "qwen", "classify", '{"messages":[]}', "incumbent", 0.0, 0,
         '{"status":200,"body":{"id":"x"},"latency_ms":1.0,"ttft_ms":null,"error":null}', None, "{}", "live"),
        ("p2", 2.0, "kh", "gpt-4o-mini", "qwen", "classify", "{}", "candidate", 10.0, 1, None,
         '{"status":200,"body":null,"latency_ms":2.0,"ttft_ms":1.0,"error":null}', '{"failover_reason":"x"}',
         "live"),
        ("r1", 3.0, "", "gpt-4o-mini", "qwen", "classify", "{}", "candidate", 0.0, 0, None, None, "{}", "replay"),
    ],
    "rollout": [(1, 1.0, 10.0, "cli", "start", 0, None), (2, 2.0, 0.0, "cli", "stop", 1, '{"why":"x"}')],
    "proxy_status": [("host:1:abc", 5.0, '{"percent":10}')],
    "api_keys": [("key_1", "app", "hash1", "alv_live_...abcd", 60, 1000, 1.0, None),
                 ("key_2", "old", "hash2", "alv_live_...efgh", 60, 1000, 1.0, 2.0)],
    "store_secrets": [("key_pepper", "00" * 32)],
    "rollout_lease": [("rollout-controller", "host:2:def", 9.0)],
    "rollout_decisions": [(1, 1.0, "host:2:def", "hold", 10.0, 10.0, "waiting", None)],
    "judge_verdicts": [("p1", "judge", 1, "A", "B", 0.5, 1.0)],
}  # fmt: skip


def release_store(path: Path) -> None:
    """A store as release 0.1 left it: its tables made by its own DDL, a row or more in each."""
    with sqlite3.connect(path) as conn:
        conn.executescript(RELEASE_SCHEMA.read_text())
        for table, rows in RELEASE_ROWS.items():
            conn.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)


def table_rows(path: Path, table: str, width: int) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return [row[:width] for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1")]


def test_a_release_store_upgrades_in_place_and_every_row_survives(tmp_path: Path) -> None:
    path = tmp_path / "release.sqlite"
    release_store(path)
    store = Store(path)
    for table, rows in RELEASE_ROWS.items():
        assert table_rows(path, table, len(rows[0])) == sorted(rows), table
    assert [p.pair_id for p in store.iter_pairs()] == ["p1", "p2"]
    assert [p.pair_id for p in store.iter_pairs(source="replay")] == ["r1"]
    assert [e.reason for e in store.rollout_history()] == ["start", "stop"]
    assert [k["key_id"] for k in store.keys(active_only=True)] == ["key_1"]
    assert store.secret("key_pepper", "ff") == "00" * 32
    assert dict(store.verdict_scores(1, "judge")) == {"p1": 0.5}
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD
    store.close()
    Store(path).close()  # opening again changes nothing
    assert table_rows(path, "pairs", 14) == sorted(RELEASE_ROWS["pairs"])


def test_a_store_older_than_the_source_column_gains_it(tmp_path: Path) -> None:
    path = tmp_path / "older.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            RELEASE_SCHEMA.read_text().replace(",\n    source TEXT NOT NULL DEFAULT 'live'", "")
        )
        conn.execute(
            "INSERT INTO pairs VALUES ('old',1.0,'k','m','t','classify','{}','incumbent',0,0,NULL,NULL,'{}')"
        )
    store = Store(path)
    (old,) = store.iter_pairs()
    assert old.pair_id == "old" and old.source == "live"


def test_the_listed_revisions_are_alembics(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(MIGRATIONS))
    assert scripts.get_heads() == [HEAD]
    assert [s.revision for s in reversed(list(scripts.walk_revisions()))] == list(REVISIONS)


def test_pairs_rollout_keys_and_verdicts_round_trip(store_url: str) -> None:
    store = Store.open(store_url)
    one = pair(ok("a"), ok("b"), task="classify")
    assert store.write_pairs([one]) == 1
    store.write_pairs([one, replace(one, pair_id="r", source="replay")])  # a retried batch: stored once
    assert store.count_pairs() == 1 and store.count_pairs(source=None) == 2
    assert store.count_pairs(with_candidate=True) == 1
    assert [p.pair_id for p in store.iter_pairs()] == [one.pair_id]
    assert store.pair_tasks() == ["classify"] and store.pair_ids("replay") == {"r"}
    store.delete_pairs(["r"], source="replay")
    assert store.count_pairs(source=None) == 1
    assert store.append_rollout(10, actor="t", reason="go", evidence={"n": 1}).id >= 1
    assert store.current_percent() == 10 and store.rollout_history()[-1].evidence == {"n": 1}
    store.put_status("r1", {"percent": 10}, host="h", version="v", requests=3)
    assert store.statuses()["r1"] | {"ts": 0} == {
        "percent": 10,
        "ts": 0,
        "host": "h",
        "version": "v",
        "served": 3,
    }
    assert store.secret("s", "first") == "first" and store.secret("s", "second") == "first"
    store.save_verdicts([{"pair_id": "p", "model": "m", "prompt_version": 1, "incumbent_first": "A",
                          "candidate_first": "B", "score": 0.25, "ts": 1.0}])  # fmt: skip
    assert dict(store.verdict_scores(1, None)) == {"p": 0.25}
    store.close()


def test_the_lease_has_one_holder_until_it_expires(store_url: str) -> None:
    store = Store.open(store_url)
    assert store.take_lease("l", "a", 10, now=100) == ("a", 110)
    assert store.take_lease("l", "b", 10, now=105) == ("a", 110)  # held: b is told who holds it
    assert store.take_lease("l", "a", 10, now=106) == ("a", 116)  # renewed by its holder
    assert store.take_lease("l", "b", 10, now=117) == ("b", 127)  # expired: b takes it
    store.release_lease("l", "a")  # not a's any more: nothing happens
    assert store.lease_count() == 1
    store.close()


def test_two_replicas_opening_a_new_database_at_once_migrate_it_once(postgres_url: str) -> None:
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            Store.open(postgres_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    store = Store.open(postgres_url)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
    store.close()


def test_a_store_from_a_newer_release_is_refused_in_one_line(store_url: str) -> None:
    store = Store.open(store_url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    store.close()
    with pytest.raises(StoreError, match="newer than this alveare-migrate"):
        Store.open(store_url)
    result = CliRunner().invoke(cli, ["status", "--store", store_url])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "0099_from_the_future" in result.output


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://db/x", "is not supported"),
        ("sqlite:///", "has no path"),
        ("postgresql://postgres@127.0.0.1:1/nowhere", "check that PostgreSQL runs there"),
        ("postgresql://postgres@127.0.0.1:5432/no_such_database_here", "does not exist"),
        ("postgresql://postgres@127.0.0.1:5432", "names no database"),
    ],
)
def test_a_bad_or_unreachable_store_url_is_one_line_and_exit_2(url: str, says: str) -> None:
    result = CliRunner().invoke(cli, ["status", "--store", url])
    assert result.exit_code == 2, result.output
    assert says in result.output and result.output.count("\n") == 1
    assert "Traceback" not in result.output
