"""Copying a whole store to another (``alveare-migrate store migrate``): every table, by column name, in pages,
then the row counts compared. Both ends are brought to the current schema first (opening a store does that), so
an old SQLite file copies into a new PostgreSQL database. Rows are upserted by primary key: a copy run twice
leaves one of each. PostgreSQL's id sequences are moved past the copied ids, so new rollout entries follow them.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Table, func, select, text

from core import schema
from core.store import Store
from core.store_engine import StoreError
from core.store_shared import upsert

PAGE = 1000


def copy_store(
    source: Store, target: Store, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every table of ``source`` into ``target``; returns rows per table. Raises :class:`StoreError` if a
    table's count differs afterwards (the target held other rows too)."""
    copied: dict[str, int] = {}
    for table in schema.metadata.sorted_tables:
        copied[table.name] = _copy_table(source, target, table)
        if progress is not None:
            progress(table.name, copied[table.name])
    _advance_sequences(target)
    for table in schema.metadata.sorted_tables:
        have = _count(target, table)
        if have != copied[table.name]:
            raise StoreError(
                f"after the copy {target.display} holds {have} rows in {table.name}, {source.display} "
                f"{copied[table.name]}: copy into an empty database"
            )
    return copied


def _copy_table(source: Store, target: Store, table: Table) -> int:
    keys = [c.name for c in table.primary_key.columns]
    query = select(*table.c).order_by(*table.primary_key.columns)
    total = 0
    with source.engine.connect() as reader:
        result = reader.execution_options(yield_per=PAGE).execute(query).mappings()
        for page in result.partitions(PAGE):
            rows = [dict(r) for r in page]
            with target.engine.begin() as writer:
                upsert(writer, table, rows, keys)
            total += len(rows)
    return total


def _count(store: Store, table: Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _advance_sequences(target: Store) -> None:
    if target.dialect != "postgresql":
        return
    with target.engine.begin() as conn:
        for table in (schema.rollout, schema.rollout_decisions):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                )
            )
