"""Replica heartbeats: which host and version each live proxy is, and how many requests it served.

Revision ID: 0002_replica_heartbeats
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_replica_heartbeats"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proxy_status") as batch:
        batch.add_column(sa.Column("host", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("version", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("requests", sa.Integer, nullable=False, server_default="0"))
