"""Per-test PostgreSQL databases and Redis key prefixes on the servers CI starts (never mocks)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import redis
from sqlalchemy.engine import make_url


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """CREATE DATABASE alveare_test_<hex>, yield its URL, then DROP it (closing whatever still uses it)."""
    name = f"alveare_test_{uuid.uuid4().hex[:12]}"
    admin = make_url(admin_url)
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def redis_namespace(url: str) -> Iterator[str]:
    prefix = f"alveare-test-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
