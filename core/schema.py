"""Every table the store holds, declared once with SQLAlchemy Core (the schema's one owner).

The migrations in ``core/migrations/versions`` create and change these tables; the code reads and writes them
through :class:`core.store.Store` by column name. Timestamps are epoch seconds (``REAL`` / ``double precision``)
and JSON is kept as text, so SQLite and PostgreSQL hold the same values.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)

metadata = MetaData()

pairs = Table(
    "pairs",
    metadata,
    Column("pair_id", Text, primary_key=True),
    Column("ts", Double, nullable=False),
    Column("key_hash", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("target_model", Text, nullable=False),
    Column("task", Text, nullable=False),
    Column("request", Text, nullable=False),
    Column("served_side", Text, nullable=False),
    Column("percent", Double, nullable=False),
    Column("failover", Integer, nullable=False),
    Column("incumbent", Text),
    Column("candidate", Text),
    Column("meta", Text, nullable=False),
    Column("source", Text, nullable=False, server_default=text("'live'")),
    Index("pairs_ts", "ts"),
)

rollout = Table(
    "rollout",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Double, nullable=False),
    Column("percent", Double, nullable=False),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("forced", Integer, nullable=False, server_default=text("0")),
    Column("evidence", Text),
)

# One row per live proxy, rewritten every second: the replicas `status` lists.
proxy_status = Table(
    "proxy_status",
    metadata,
    Column("instance", Text, primary_key=True),
    Column("ts", Double, nullable=False),
    Column("status", Text, nullable=False),
    Column("host", Text, nullable=False, server_default=text("''")),
    Column("version", Text, nullable=False, server_default=text("''")),
    Column("requests", Integer, nullable=False, server_default=text("0")),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("hint", Text, nullable=False),
    Column("rpm", Integer, nullable=False),
    Column("tpm", Integer, nullable=False),
    Column("created", Double, nullable=False),
    Column("revoked", Double),
)

store_secrets = Table(
    "store_secrets",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

rollout_lease = Table(
    "rollout_lease",
    metadata,
    Column("name", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("expires", Double, nullable=False),
)

rollout_decisions = Table(
    "rollout_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Double, nullable=False),
    Column("owner", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("percent_from", Double, nullable=False),
    Column("percent_to", Double, nullable=False),
    Column("reason", Text, nullable=False),
    Column("evidence", Text),
)

judge_verdicts = Table(
    "judge_verdicts",
    metadata,
    Column("pair_id", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("prompt_version", Integer, nullable=False),
    Column("incumbent_first", Text, nullable=False),
    Column("candidate_first", Text, nullable=False),
    Column("score", Double, nullable=False),
    Column("ts", Double, nullable=False),
    PrimaryKeyConstraint("pair_id", "model", "prompt_version"),
)
