"""``alveare-migrate store migrate``: copy a whole store (SQLite file or PostgreSQL) into another and verify it."""

from __future__ import annotations

import click

from migrate_cli.app import group


@group()
def store() -> None:
    """Manage the store itself: copy it to another database."""


@store.command(name="migrate")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="URL",
    help="The store to copy: sqlite:///PATH or postgresql://...",
)
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL",
    help="Where to copy it (an empty database): postgresql://...",
)
def migrate(*, source: str, target: str) -> None:
    """Copy every pair, rollout entry, key, lease, decision and cached verdict, then compare the row counts.

    The target is brought to the current schema first; the source is read only (an old SQLite file is upgraded
    in place when opened, as every command does)."""
    from core.store import Store
    from core.store_copy import copy_store
    from core.store_engine import StoreError, parse_store_url

    if parse_store_url(source).url == parse_store_url(target).url:
        raise StoreError("--from and --to name the same store: give the database to copy into as --to")
    src, dst = Store.open(source), Store.open(target)
    try:
        counts = copy_store(src, dst, progress=lambda table, n: click.echo(f"  {table}: {n} rows"))
    finally:
        src.close()
        dst.close()
    click.echo(f"copied {sum(counts.values())} rows from {src.display} to {dst.display}; counts verified")
