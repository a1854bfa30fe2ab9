"""Bringing a store's schema to the code's: Alembic's ``upgrade head`` under a lock, or a clear refusal.

Opening a store reads ``alembic_version`` (one cheap query); only a store behind the code is migrated. The
migration runs in one transaction that first takes a lock (``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite), then reads the version again: two replicas starting together migrate once, the second
waits and finds nothing left to do. A store stamped with a revision this code does not know was made by a newer
release and is refused: older code must not write into a schema it does not understand.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

from core.store_engine import IMMEDIATE, StoreError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The revisions in core/migrations/versions, oldest first (a test checks this list against Alembic's own).
REVISIONS = ("0001_baseline", "0002_replica_heartbeats")
HEAD = REVISIONS[-1]
LOCK_KEY = 7_212_467_501  # the PostgreSQL advisory lock id taken while migrating


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row.version_num)


def check_known(revision: str | None, display: str) -> None:
    if revision is not None and revision not in REVISIONS:
        raise StoreError(
            f"store {display} has schema {revision!r}, newer than this alveare-migrate knows (up to {HEAD!r}): "
            "upgrade alveare-migrate (pip install -U alveare-migrate) on this host"
        )


def ensure_current(engine: Engine, display: str) -> None:
    """Migrate the store to :data:`HEAD` if it is behind; refuse it if it is ahead."""
    with engine.connect() as conn:
        revision = current_revision(conn)
        conn.rollback()
    check_known(revision, display)
    if revision != HEAD:
        upgrade(engine, display)


def upgrade(engine: Engine, display: str) -> None:
    from alembic import command
    from alembic.config import Config

    with engine.connect() as conn:
        conn.execution_options(**{IMMEDIATE: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            revision = current_revision(conn)
            check_known(revision, display)
            if revision == HEAD:
                return
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
