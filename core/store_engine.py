"""Store URLs and engines: ``sqlite:///PATH`` (the embedded default) or ``postgresql://user@host:port/db``.

One place turns a URL into a SQLAlchemy engine with the settings each engine needs to be shared by several
processes: SQLite in WAL mode, with ``BEGIN IMMEDIATE`` for writes (a writer waits for the file instead of failing
half-way); PostgreSQL through psycopg 3 with a short connect timeout and pre-ping, so a database that went away is
noticed and reconnected. Driver errors met while opening become one-line :class:`StoreError` messages here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from core.errors import AlveareError

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
URL_HELP = "use sqlite:///PATH (e.g. sqlite:///alveare.sqlite) or postgresql://USER@HOST:PORT/DATABASE"
IMMEDIATE = "alveare_immediate"  # execution option: this SQLite transaction writes, take the lock up front


class StoreError(AlveareError):
    """A store URL or database that cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL: the SQLAlchemy URL, the SQLite file (None for PostgreSQL), and a printable form."""

    url: URL
    sqlite_path: Path | None
    display: str  # as the user wrote it, password hidden

    @property
    def dialect(self) -> str:
        return "sqlite" if self.sqlite_path is not None else "postgresql"


def parse_store_url(text: str) -> StoreURL:
    """``sqlite:///relative/or/absolute/path`` or ``postgresql://...``; anything else is refused with the fix."""
    if text.startswith(SQLITE_PREFIX):
        path = text[len(SQLITE_PREFIX) :]
        if not path:
            raise StoreError(f"store URL has no path: {URL_HELP}")
        return StoreURL(make_url("sqlite+pysqlite://").set(database=path), Path(path), text)
    try:
        url = make_url(text)
    except ArgumentError:
        raise StoreError(f"store URL {text!r} is not a URL: {URL_HELP}") from None
    if url.drivername not in POSTGRES_SCHEMES:
        raise StoreError(f"store URL {text!r} is not supported: {URL_HELP}")
    if not url.database:
        raise StoreError(f"store URL {url.render_as_string()!r} names no database: add /DATABASE at its end")
    return StoreURL(url.set(drivername="postgresql+psycopg"), None, url.render_as_string(hide_password=True))


def make_engine(target: StoreURL) -> Engine:
    if target.sqlite_path is not None:
        target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(target.url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        target.url,
        pool_pre_ping=True,
        pool_size=4,
        max_overflow=8,
        connect_args={"connect_timeout": 5, "application_name": "alveare-migrate"},
    )


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we send BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def first_line(exc: BaseException) -> str:
    """A driver error's first line, without SQLAlchemy's background link."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]
