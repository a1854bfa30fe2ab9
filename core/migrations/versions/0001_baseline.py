"""Baseline: the tables of release 0.1.0, made here if missing, so a store from before Alembic upgrades in place.

Release 0.1.0 created its tables lazily (``CREATE TABLE IF NOT EXISTS`` from several modules) and added
``pairs.source`` to older files on open; this revision does the same once, then Alembic owns the schema.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> dict[str, list[SchemaItem]]:
    text, real, integer = sa.Text, sa.Double, sa.Integer
    return {
        "pairs": [
            sa.Column("pair_id", text, primary_key=True),
            sa.Column("ts", real, nullable=False),
            sa.Column("key_hash", text, nullable=False),
            sa.Column("model", text, nullable=False),
            sa.Column("target_model", text, nullable=False),
            sa.Column("task", text, nullable=False),
            sa.Column("request", text, nullable=False),
            sa.Column("served_side", text, nullable=False),
            sa.Column("percent", real, nullable=False),
            sa.Column("failover", integer, nullable=False),
            sa.Column("incumbent", text),
            sa.Column("candidate", text),
            sa.Column("meta", text, nullable=False),
            sa.Column("source", text, nullable=False, server_default=sa.text("'live'")),
        ],
        "rollout": [
            sa.Column("id", integer, primary_key=True, autoincrement=True),
            sa.Column("ts", real, nullable=False),
            sa.Column("percent", real, nullable=False),
            sa.Column("actor", text, nullable=False),
            sa.Column("reason", text, nullable=False),
            sa.Column("forced", integer, nullable=False, server_default=sa.text("0")),
            sa.Column("evidence", text),
        ],
        "proxy_status": [
            sa.Column("instance", text, primary_key=True),
            sa.Column("ts", real, nullable=False),
            sa.Column("status", text, nullable=False),
        ],
        "api_keys": [
            sa.Column("key_id", text, primary_key=True),
            sa.Column("name", text, nullable=False),
            sa.Column("key_hash", text, nullable=False, unique=True),
            sa.Column("hint", text, nullable=False),
            sa.Column("rpm", integer, nullable=False),
            sa.Column("tpm", integer, nullable=False),
            sa.Column("created", real, nullable=False),
            sa.Column("revoked", real),
        ],
        "store_secrets": [
            sa.Column("name", text, primary_key=True),
            sa.Column("value", text, nullable=False),
        ],
        "rollout_lease": [
            sa.Column("name", text, primary_key=True),
            sa.Column("owner", text, nullable=False),
            sa.Column("expires", real, nullable=False),
        ],
        "rollout_decisions": [
            sa.Column("id", integer, primary_key=True, autoincrement=True),
            sa.Column("ts", real, nullable=False),
            sa.Column("owner", text, nullable=False),
            sa.Column("action", text, nullable=False),
            sa.Column("percent_from", real, nullable=False),
            sa.Column("percent_to", real, nullable=False),
            sa.Column("reason", text, nullable=False),
            sa.Column("evidence", text),
        ],
        "judge_verdicts": [
            sa.Column("pair_id", text, nullable=False),
            sa.Column("model", text, nullable=False),
            sa.Column("prompt_version", integer, nullable=False),
            sa.Column("incumbent_first", text, nullable=False),
            sa.Column("candidate_first", text, nullable=False),
            sa.Column("score", real, nullable=False),
            sa.Column("ts", real, nullable=False),
            sa.PrimaryKeyConstraint("pair_id", "model", "prompt_version"),
        ],
    }


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, items in _tables().items():
        if name not in existing:
            op.create_table(name, *items)
    if "pairs" in existing:
        columns = {c["name"] for c in inspector.get_columns("pairs")}
        if "source" not in columns:
            op.add_column("pairs", sa.Column("source", sa.Text, nullable=False, server_default="live"))
    indexes = {i["name"] for i in inspector.get_indexes("pairs")} if "pairs" in existing else set()
    if "pairs_ts" not in indexes:
        op.create_index("pairs_ts", "pairs", ["ts"])
