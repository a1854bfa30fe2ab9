"""The store: recorded pairs, the append-only rollout history, and live proxy status.

SQLite in WAL mode by default (``sqlite:///path/to/file.sqlite``). Every writer and reader opens its own
connection, so the proxy's recorder thread, the rollout controller and ``alveare-migrate status`` can share one
file. Other modules add their own tables with :meth:`Store.ensure_schema`.

Upgrades happen in place when a store is opened (:data:`UPGRADES`): a column a newer release added to an
existing table is added to an older file, with its default, so stores recorded before keep working.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import AlveareError
from core.pair import Pair, answer_from_json, answer_to_json

SCHEMA = """
CREATE TABLE IF NOT EXISTS pairs (
    pair_id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    key_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    target_model TEXT NOT NULL,
    task TEXT NOT NULL,
    request TEXT NOT NULL,
    served_side TEXT NOT NULL,
    percent REAL NOT NULL,
    failover INTEGER NOT NULL,
    incumbent TEXT,
    candidate TEXT,
    meta TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'live'
);
CREATE INDEX IF NOT EXISTS pairs_ts ON pairs (ts);
CREATE TABLE IF NOT EXISTS rollout (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    percent REAL NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    forced INTEGER NOT NULL DEFAULT 0,
    evidence TEXT
);
CREATE TABLE IF NOT EXISTS proxy_status (
    instance TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    status TEXT NOT NULL
);
"""


# (table, column, its definition): columns added after the first release, added to older files on open.
UPGRADES: tuple[tuple[str, str, str], ...] = (("pairs", "source", "TEXT NOT NULL DEFAULT 'live'"),)
PAIR_COLUMNS = 14
LIVE = "live"


class StoreError(AlveareError):
    """A store URL or file that cannot be used; the message says how to fix it."""


def parse_store_url(url: str) -> Path:
    """``sqlite:///relative/or/absolute/path`` -> Path. Other schemes are refused with the fix."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise StoreError(
            f"store URL {url!r} is not supported: use sqlite:///PATH (e.g. sqlite:///alveare.sqlite)"
        )
    path = url[len(prefix) :]
    if not path:
        raise StoreError("store URL has no path: use sqlite:///PATH (e.g. sqlite:///alveare.sqlite)")
    return Path(path)


@dataclass(frozen=True)
class RolloutEntry:
    id: int
    ts: float
    percent: float
    actor: str
    reason: str
    forced: bool
    evidence: dict[str, Any] | None


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.ensure_schema(SCHEMA)
        self._upgrade()

    @classmethod
    def open(cls, url: str) -> Store:
        return cls(parse_store_url(url))

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            except sqlite3.OperationalError as exc:
                raise StoreError(
                    f"cannot open store {self.path}: {exc}; check the path and its permissions"
                ) from exc
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn().execute(sql, tuple(params)).fetchall()

    def ensure_schema(self, sql: str) -> None:
        self._conn().executescript(sql)

    def _upgrade(self) -> None:
        """Add the columns of :data:`UPGRADES` that an older store lacks (another process may race us)."""
        for table, column, definition in UPGRADES:
            names = {row[1] for row in self.execute(f"PRAGMA table_info({table})")}
            if column in names:
                continue
            try:
                self.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):
                    raise StoreError(f"cannot upgrade store {self.path}: {exc}") from exc

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- pairs -------------------------------------------------------------------------------------------

    def write_pairs(self, pairs: Iterable[Pair]) -> int:
        rows = [_pair_row(p) for p in pairs]
        if rows:
            with self.transaction() as conn:
                conn.executemany(
                    f"INSERT OR REPLACE INTO pairs VALUES ({','.join('?' * PAIR_COLUMNS)})",
                    rows,
                )
        return len(rows)

    def iter_pairs(
        self,
        *,
        since: float | None = None,
        task: str | None = None,
        model: str | None = None,
        source: str | None = LIVE,
    ) -> Iterator[Pair]:
        """Pairs in time order; live traffic only unless ``source`` says ``replay`` (or None: both)."""
        where, params = _pair_filter(since, task, model, source)
        cursor = self._conn().execute(f"SELECT * FROM pairs{where} ORDER BY ts", params)
        for row in cursor:
            yield pair_from_row(row)

    def count_pairs(
        self,
        *,
        since: float | None = None,
        task: str | None = None,
        model: str | None = None,
        source: str | None = LIVE,
    ) -> int:
        where, params = _pair_filter(since, task, model, source)
        return int(self._conn().execute(f"SELECT count(*) FROM pairs{where}", params).fetchone()[0])

    # --- rollout history ------------------------------------------------------------------------------

    def append_rollout(
        self,
        percent: float,
        *,
        actor: str,
        reason: str,
        forced: bool = False,
        evidence: dict[str, Any] | None = None,
    ) -> RolloutEntry:
        if not 0 <= percent <= 100:
            raise StoreError(f"percent {percent} is out of range: give a number from 0 to 100")
        ts = time.time()
        evidence_json = None if evidence is None else json.dumps(evidence, default=str)
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO rollout (ts, percent, actor, reason, forced, evidence) VALUES (?,?,?,?,?,?)",
                (ts, percent, actor, reason, int(forced), evidence_json),
            )
            row_id = int(cursor.lastrowid or 0)
        return RolloutEntry(row_id, ts, percent, actor, reason, forced, evidence)

    def rollout_history(self, limit: int | None = None) -> list[RolloutEntry]:
        sql = "SELECT id, ts, percent, actor, reason, forced, evidence FROM rollout ORDER BY id DESC"
        rows = self.execute(sql + (f" LIMIT {int(limit)}" if limit else ""))
        return [_rollout_entry(r) for r in reversed(rows)]

    def current_rollout(self) -> RolloutEntry | None:
        history = self.rollout_history(limit=1)
        return history[-1] if history else None

    def current_percent(self) -> float:
        entry = self.current_rollout()
        return entry.percent if entry else 0.0

    # --- live proxy status --------------------------------------------------------------------------

    def put_status(self, instance: str, status: dict[str, Any]) -> None:
        self.execute(
            "INSERT OR REPLACE INTO proxy_status VALUES (?,?,?)", (instance, time.time(), json.dumps(status))
        )

    def statuses(self, max_age_s: float = 30.0) -> dict[str, dict[str, Any]]:
        rows = self.execute(
            "SELECT instance, ts, status FROM proxy_status WHERE ts >= ?", (time.time() - max_age_s,)
        )
        return {r[0]: {"ts": r[1], **json.loads(r[2])} for r in rows}


def _pair_filter(
    since: float | None, task: str | None, model: str | None, source: str | None = LIVE
) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    params: list[Any] = []
    filters = (("ts >= ?", since), ("task = ?", task), ("model = ?", model), ("source = ?", source))
    for clause, value in filters:
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _pair_row(p: Pair) -> tuple[Any, ...]:
    return (
        p.pair_id,
        p.ts,
        p.key_hash,
        p.model,
        p.target_model,
        p.task,
        json.dumps(p.request, separators=(",", ":")),
        p.served_side,
        p.percent,
        int(p.failover),
        answer_to_json(p.incumbent),
        answer_to_json(p.candidate),
        json.dumps(p.meta, separators=(",", ":")),
        p.source,
    )


def pair_from_row(row: tuple[Any, ...]) -> Pair:
    return Pair(
        pair_id=row[0],
        ts=row[1],
        key_hash=row[2],
        model=row[3],
        target_model=row[4],
        task=row[5],
        request=json.loads(row[6]),
        served_side=row[7],
        percent=row[8],
        failover=bool(row[9]),
        incumbent=answer_from_json(row[10]),
        candidate=answer_from_json(row[11]),
        meta=json.loads(row[12]),
        source=row[13] if len(row) > 13 and row[13] == "replay" else "live",
    )


def _rollout_entry(row: tuple[Any, ...]) -> RolloutEntry:
    evidence = json.loads(row[6]) if row[6] else None
    return RolloutEntry(row[0], row[1], row[2], row[3], row[4], bool(row[5]), evidence)
