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


def missing_services(postgres_url: str, redis_url: str) -> list[str]:
    """What the test suite needs and cannot reach, one line each with how to start it."""
    problems = []
    try:
        conninfo = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        problems.append(
            f"PostgreSQL at {postgres_url} does not answer ({str(exc).strip().splitlines()[0]}): start it with "
            "trust auth for user postgres (e.g. `docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust "
            "postgres:16`), or point ALVEARE_TEST_POSTGRES at one"
        )
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as exc:
        problems.append(
            f"Redis at {redis_url} does not answer ({exc}): start it (e.g. `docker run -d -p 6379:6379 redis:7`), "
            "or point ALVEARE_TEST_REDIS at one"
        )
    return problems


if __name__ == "__main__":
    import sys

    from tests.conftest import POSTGRES_ADMIN_URL, REDIS_TEST_URL

    found = missing_services(POSTGRES_ADMIN_URL, REDIS_TEST_URL)
    for line in found:
        print(f"missing: {line}", file=sys.stderr)
    if not found:
        print(f"PostgreSQL ({POSTGRES_ADMIN_URL}) and Redis ({REDIS_TEST_URL}) answer")
    sys.exit(1 if found else 0)
