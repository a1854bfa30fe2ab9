"""`alveare-migrate store migrate`: an SQLite store copied into PostgreSQL, every table, counts verified; the
copy then works as the store (new rollout entries follow the copied ones); `report` reads it with SELECT only."""

from __future__ import annotations

from pathlib import Path

import psycopg
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from core.store import Store
from migrate_cli.main import cli
from proxy.keys import KeyStore
from tests.evaluator.factory import classify_pairs


def test_an_sqlite_store_moves_to_postgresql_whole(tmp_path: Path, postgres_url: str) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    source = Store.open(sqlite_url)
    source.write_pairs(classify_pairs(agree=300, disagree=10))
    source.append_rollout(10, actor="cli", reason="start")
    source.append_rollout(50, actor="cli", reason="more")
    record, plaintext = KeyStore(source).create("app", rpm=10, tpm=100)
    source.close()

    result = CliRunner().invoke(cli, ["store", "migrate", "--from", sqlite_url, "--to", postgres_url])
    assert result.exit_code == 0, result.output
    assert "  pairs: 310 rows" in result.output and "counts verified" in result.output

    copy = Store.open(postgres_url)
    assert copy.count_pairs() == 310 and copy.current_percent() == 50
    assert KeyStore(copy).verify(plaintext) == record  # the pepper came along
    assert copy.append_rollout(100, actor="cli", reason="done").id == 3
    copy.close()
    again = CliRunner().invoke(cli, ["store", "migrate", "--from", sqlite_url, "--to", postgres_url])
    assert again.exit_code == 2 and "copy into an empty database" in again.output  # 3 rollout rows there now


def test_report_reads_a_postgresql_store_with_a_select_only_role(tmp_path: Path, postgres_url: str) -> None:
    store = Store.open(postgres_url)
    store.write_pairs(classify_pairs(agree=400, disagree=0))
    store.close()
    url = make_url(postgres_url)
    role = f"reader_{url.database}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
    try:
        reader = url.set(username=role).render_as_string(hide_password=False)
        result = CliRunner().invoke(
            cli, ["report", "--store", reader, "--format", "json", "--out", str(tmp_path)]
        )
        assert result.exit_code in (0, 1, 3), result.output
        assert (tmp_path / "parity.json").is_file()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"')
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_the_same_store_twice_is_refused() -> None:
    result = CliRunner().invoke(
        cli, ["store", "migrate", "--from", "sqlite:///a.sqlite", "--to", "sqlite:///a.sqlite"]
    )
    assert result.exit_code == 2 and "name the same store" in result.output
