"""The store: recorded pairs, the append-only rollout history, and what the replicas share.

SQLite (``sqlite:///path``, the embedded default) or PostgreSQL (``postgresql://user@host:port/db``) through
SQLAlchemy Core; tables are declared once in :mod:`core.schema` and changed only by the Alembic migrations in
``core/migrations`` (:mod:`core.store_migrate`), applied when a store is opened. Every statement names its columns.
Other packages use the typed methods here and in :class:`core.store_shared.SharedState` (keys, lease, decisions,
judge verdicts), never SQL. The proxy's recorder worker, the rollout controller and ``alveare-migrate status`` on
any host can share one store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, and_, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from core import schema
from core.pair import Pair, answer_from_json, answer_to_json
from core.store_engine import IMMEDIATE, StoreError, first_line, make_engine, parse_store_url
from core.store_migrate import ensure_current
from core.store_shared import SharedState, upsert

__all__ = ["LIVE", "RolloutEntry", "Store", "StoreError", "pair_from_row", "parse_store_url"]

LIVE = "live"
PAIR_COLUMNS = tuple(c.name for c in schema.pairs.c)


@dataclass(frozen=True)
class RolloutEntry:
    id: int
    ts: float
    percent: float
    actor: str
    reason: str
    forced: bool
    evidence: dict[str, Any] | None


class Store(SharedState):
    def __init__(self, target: Path | str) -> None:
        url = f"sqlite:///{target}" if isinstance(target, Path) else target
        parsed = parse_store_url(url)
        self.path = parsed.sqlite_path
        self.display = parsed.display
        self.dialect = parsed.dialect
        self.engine = make_engine(parsed)
        try:
            ensure_current(self.engine, self.display)
        except StoreError:
            self.engine.dispose()
            raise
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise StoreError(
                f"cannot open store {self.display}: {first_line(exc)}; {_hint(parsed.dialect)}"
            ) from None

    @classmethod
    def open(cls, url: str) -> Store:
        return cls(url)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One transaction that writes; on SQLite it takes the write lock first (``BEGIN IMMEDIATE``)."""
        with self.engine.connect() as conn:
            conn.execution_options(**{IMMEDIATE: True})
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()

    # --- pairs -------------------------------------------------------------------------------------------

    def write_pairs(self, pairs: Iterable[Pair]) -> int:
        """Insert or replace by ``pair_id``: a batch written twice (a retry after an outage) is stored once."""
        rows = [pair_row(p) for p in pairs]
        if rows:
            with self._write() as conn:
                upsert(conn, schema.pairs, rows, ("pair_id",))
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
        query = select(*schema.pairs.c).where(*pair_filter(since, task, model, source))
        with self._read() as conn:
            for row in conn.execute(query.order_by(schema.pairs.c.ts)).mappings():
                yield pair_from_row(row)

    def pair_rows(
        self,
        *,
        after: tuple[float, str] | None,
        since: float | None,
        model: str | None,
        source: str | None,
        limit: int,
    ) -> list[Mapping[str, Any]]:
        """One page of raw pair rows in (ts, pair_id) order after ``after``, for readers that decode them
        tolerantly (a row that is not a readable pair must not stop a report)."""
        p = schema.pairs.c
        clauses = pair_filter(since, None, model, source)
        if after is not None:
            clauses.append(or_(p.ts > after[0], and_(p.ts == after[0], p.pair_id > after[1])))
        query = select(*schema.pairs.c).where(*clauses).order_by(p.ts, p.pair_id).limit(limit)
        with self._read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def count_pairs(
        self,
        *,
        since: float | None = None,
        task: str | None = None,
        model: str | None = None,
        source: str | None = LIVE,
        with_candidate: bool = False,
    ) -> int:
        clauses = pair_filter(since, task, model, source)
        if with_candidate:
            clauses.append(schema.pairs.c.candidate.is_not(None))
        with self._read() as conn:
            return int(
                conn.execute(select(func.count()).select_from(schema.pairs).where(*clauses)).scalar_one()
            )

    def pair_summary(self) -> list[dict[str, Any]]:
        """Live pairs by served side: how many, how many have both answers, the latest timestamp."""
        p = schema.pairs.c
        both = func.sum(and_(p.incumbent.is_not(None), p.candidate.is_not(None)).cast(Integer))
        query = (
            select(
                p.served_side, func.count().label("n"), both.label("both"), func.max(p.ts).label("last_ts")
            )
            .where(p.source == LIVE)
            .group_by(p.served_side)
        )
        with self._read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def pair_tasks(self, source: str = LIVE) -> list[str]:
        query = select(schema.pairs.c.task).where(schema.pairs.c.source == source).distinct()
        with self._read() as conn:
            return sorted(str(t) for t in conn.execute(query).scalars() if t)

    def pair_ids(self, source: str) -> set[str]:
        query = select(schema.pairs.c.pair_id).where(schema.pairs.c.source == source)
        with self._read() as conn:
            return {str(i) for i in conn.execute(query).scalars()}

    def delete_pairs(self, pair_ids: Iterable[str], *, source: str) -> None:
        ids = list(pair_ids)
        p = schema.pairs
        with self._write() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                conn.execute(p.delete().where(p.c.pair_id.in_(chunk), p.c.source == source))

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
        values = {"ts": ts, "percent": percent, "actor": actor, "reason": reason, "forced": int(forced)}
        with self._write() as conn:
            result = conn.execute(schema.rollout.insert().values(**values, evidence=evidence_json))
            row_id = int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
        return RolloutEntry(row_id, ts, percent, actor, reason, forced, evidence)

    def rollout_history(self, limit: int | None = None) -> list[RolloutEntry]:
        query = select(*schema.rollout.c).order_by(schema.rollout.c.id.desc())
        if limit:
            query = query.limit(int(limit))
        with self._read() as conn:
            rows = list(conn.execute(query).mappings())
        return [_rollout_entry(r) for r in reversed(rows)]

    def current_rollout(self) -> RolloutEntry | None:
        history = self.rollout_history(limit=1)
        return history[-1] if history else None

    def current_percent(self) -> float:
        entry = self.current_rollout()
        return entry.percent if entry else 0.0


def _hint(dialect: str) -> str:
    if dialect == "sqlite":
        return "check the path and its permissions"
    return "check that PostgreSQL runs there and the URL's user, host, port and database"


def pair_filter(
    since: float | None, task: str | None, model: str | None, source: str | None = LIVE
) -> list[ColumnElement[bool]]:
    p = schema.pairs.c
    clauses: list[ColumnElement[bool]] = []
    for column, value, op in ((p.ts, since, "ge"), (p.task, task, "eq"), (p.model, model, "eq")):
        if value is not None:
            clauses.append(column >= value if op == "ge" else column == value)
    if source is not None:
        clauses.append(p.source == source)
    return clauses


def pair_row(p: Pair) -> dict[str, Any]:
    return {
        "pair_id": p.pair_id,
        "ts": p.ts,
        "key_hash": p.key_hash,
        "model": p.model,
        "target_model": p.target_model,
        "task": p.task,
        "request": json.dumps(p.request, separators=(",", ":")),
        "served_side": p.served_side,
        "percent": p.percent,
        "failover": int(p.failover),
        "incumbent": answer_to_json(p.incumbent),
        "candidate": answer_to_json(p.candidate),
        "meta": json.dumps(p.meta, separators=(",", ":")),
        "source": p.source,
    }


def pair_from_row(row: Mapping[Any, Any]) -> Pair:
    return Pair(
        pair_id=row["pair_id"],
        ts=row["ts"],
        key_hash=row["key_hash"],
        model=row["model"],
        target_model=row["target_model"],
        task=row["task"],
        request=json.loads(row["request"]),
        served_side=row["served_side"],
        percent=row["percent"],
        failover=bool(row["failover"]),
        incumbent=answer_from_json(row["incumbent"]),
        candidate=answer_from_json(row["candidate"]),
        meta=json.loads(row["meta"]),
        source="replay" if row.get("source") == "replay" else "live",
    )


def _rollout_entry(row: Mapping[Any, Any]) -> RolloutEntry:
    evidence = json.loads(row["evidence"]) if row["evidence"] else None
    return RolloutEntry(
        int(row["id"]), row["ts"], row["percent"], row["actor"], row["reason"], bool(row["forced"]), evidence
    )
