"""What every replica reads and writes through the store besides pairs: live-proxy heartbeats, app keys and
the store's secret, the controller's lease and decision log, and the judge's cached verdicts.

A mixin of :class:`core.store.Store` (which provides ``engine``, ``_read`` and ``_write``), kept apart so each
module stays one concept. Writes that two replicas may race are single upserts (``ON CONFLICT``), the same
statement on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Table, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from core import schema

HEARTBEAT_MAX_AGE_S = 30.0


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    *,
    update: bool = True,
) -> None:
    """Insert ``rows``; on a clash of ``keys`` replace the other columns (or keep the old row: ``update=False``)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table)
    if update:
        changes = {c.name: statement.excluded[c.name] for c in table.c if c.name not in keys}
        conn.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changes), list(rows))
    else:
        conn.execute(statement.on_conflict_do_nothing(index_elements=list(keys)), list(rows))


class SharedState:
    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    # --- live proxies ---------------------------------------------------------------------------------

    def put_status(
        self,
        instance: str,
        status: Mapping[str, Any],
        *,
        host: str = "",
        version: str = "",
        requests: int = 0,
    ) -> None:
        row = {
            "instance": instance,
            "ts": time.time(),
            "status": json.dumps(status, default=str),
            "host": host,
            "version": version,
            "requests": requests,
        }
        with self._write() as conn:
            upsert(conn, schema.proxy_status, [row], ("instance",))

    def statuses(self, max_age_s: float = HEARTBEAT_MAX_AGE_S) -> dict[str, dict[str, Any]]:
        """Each proxy seen in the last ``max_age_s``: its status plus ``ts`` (last seen), host, version, requests."""
        s = schema.proxy_status.c
        query = select(s.instance, s.ts, s.status, s.host, s.version, s.requests).where(
            s.ts >= time.time() - max_age_s
        )
        with self._read() as conn:
            rows = list(conn.execute(query).mappings())
        return {
            r["instance"]: {
                **json.loads(r["status"]),
                "ts": r["ts"],
                "host": r["host"],
                "version": r["version"],
                "served": r["requests"],
            }
            for r in rows
        }

    # --- app keys -------------------------------------------------------------------------------------

    def insert_key(self, row: Mapping[str, Any]) -> None:
        with self._write() as conn:
            conn.execute(schema.api_keys.insert().values(**row))

    def keys(self, *, key_id: str | None = None, active_only: bool = False) -> list[dict[str, Any]]:
        """Key rows (hash included) in creation order, optionally one id or the active ones only."""
        k = schema.api_keys.c
        query = select(*schema.api_keys.c).order_by(k.created)
        if key_id is not None:
            query = query.where(k.key_id == key_id)
        if active_only:
            query = query.where(k.revoked.is_(None))
        with self._read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def key_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        k = schema.api_keys.c
        query = select(*schema.api_keys.c).where(k.key_hash == key_hash, k.revoked.is_(None))
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else dict(row)

    def revoke_key(self, key_id: str, ts: float) -> None:
        k = schema.api_keys
        with self._write() as conn:
            conn.execute(k.update().where(k.c.key_id == key_id, k.c.revoked.is_(None)).values(revoked=ts))

    def any_active_key(self) -> bool:
        query = select(schema.api_keys.c.key_id).where(schema.api_keys.c.revoked.is_(None)).limit(1)
        with self._read() as conn:
            return conn.execute(query).first() is not None

    def secret(self, name: str, default: str) -> str:
        """The store's secret ``name``, set to ``default`` by whoever asks first (every replica then agrees)."""
        with self._write() as conn:
            upsert(conn, schema.store_secrets, [{"name": name, "value": default}], ("name",), update=False)
            value = conn.execute(
                select(schema.store_secrets.c.value).where(schema.store_secrets.c.name == name)
            ).scalar_one()
        return str(value)

    # --- the controller's lease and decisions ---------------------------------------------------------

    def take_lease(self, name: str, owner: str, ttl_s: float, now: float) -> tuple[str, float]:
        """Take or renew lease ``name`` for ``owner`` unless another live owner holds it; returns the holder
        afterwards. One upsert: two controllers on two hosts cannot both take it."""
        lease = schema.rollout_lease
        statement = (postgresql.insert if self._dialect_name() == "postgresql" else sqlite.insert)(lease)
        statement = statement.values(name=name, owner=owner, expires=now + ttl_s)
        statement = statement.on_conflict_do_update(
            index_elements=["name"],
            set_={"owner": statement.excluded.owner, "expires": statement.excluded.expires},
            where=or_(lease.c.owner == owner, lease.c.expires <= now),
        )
        with self._write() as conn:
            conn.execute(statement)
            row = conn.execute(select(lease.c.owner, lease.c.expires).where(lease.c.name == name)).one()
        return str(row.owner), float(row.expires)

    def release_lease(self, name: str, owner: str) -> None:
        lease = schema.rollout_lease
        with self._write() as conn:
            conn.execute(lease.delete().where(lease.c.name == name, lease.c.owner == owner))

    def lease_count(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(schema.rollout_lease)).scalar_one())

    def append_decision(self, row: Mapping[str, Any]) -> None:
        with self._write() as conn:
            conn.execute(schema.rollout_decisions.insert().values(**row))

    def decisions(self, limit: int | None) -> list[dict[str, Any]]:
        """The latest ``limit`` decisions (None: all), oldest first."""
        d = schema.rollout_decisions.c
        query = select(d.ts, d.owner, d.action, d.percent_from, d.percent_to, d.reason, d.evidence)
        query = query.order_by(d.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        return list(reversed(rows))

    # --- the judge's cache ----------------------------------------------------------------------------

    def save_verdicts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            with self._write() as conn:
                upsert(conn, schema.judge_verdicts, rows, ("pair_id", "model", "prompt_version"))

    def verdict_scores(self, prompt_version: int, model: str | None) -> Iterator[tuple[str, float]]:
        """(pair id, score) of cached verdicts, oldest first (so the newest wins when put in a dict)."""
        v = schema.judge_verdicts.c
        query = select(v.pair_id, v.score).where(v.prompt_version == prompt_version)
        if model is not None:
            query = query.where(v.model == model)
        with self._read() as conn:
            rows = list(conn.execute(query.order_by(v.ts)))
        return ((str(r.pair_id), float(r.score)) for r in rows)

    def _dialect_name(self) -> str:
        engine = getattr(self, "engine")  # noqa: B009  # provided by Store
        return str(engine.dialect.name)
