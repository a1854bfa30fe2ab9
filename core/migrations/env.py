"""Alembic's entry point: runs on the connection :func:`core.store_migrate.upgrade` hands it (never a URL),
inside the transaction that holds the migration lock."""

from __future__ import annotations

from alembic import context

from core.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
