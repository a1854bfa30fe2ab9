"""Replicas on PostgreSQL and Redis, measured side by side in one run against the same sims and load generator.

1. The served path: one proxy (split 50%, recording on) with its store in SQLite, then in PostgreSQL, then in
   PostgreSQL with its limits in Redis. The added p50 of each step is what the store and the shared limits cost a
   request (targets: PostgreSQL <= +0.05 ms over SQLite, Redis <= +0.15 ms over that).
2. Scale-out: one replica alone, then two replicas on one PostgreSQL database and one Redis, both driven by the
   same closed-loop generator with the same total connections (split evenly across the replicas). Target: two
   serve >= 1.4x one.

    .venv/bin/python bench/replicas.py                 # ~1.5 minutes
    .venv/bin/python bench/replicas.py --seconds 3 --json /tmp/replicas.json

Needs PostgreSQL (trust auth) and Redis as the tests do: ALVEARE_TEST_POSTGRES, ALVEARE_TEST_REDIS or the
defaults 127.0.0.1:5432 and 127.0.0.1:6379. Each run makes its own databases and Redis prefix and drops them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import _load
from proxy_overhead import CLI, SPLIT_PERCENT, pinned, proxy_config, started

POSTGRES = os.environ.get("ALVEARE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("ALVEARE_TEST_REDIS", "redis://127.0.0.1:6379/0")
PROXY_LINE = r"listening on http://[^:]+:(\d+) \(admin (http://[^)]+)\)"
SIM_LINE = r"listening on (http://[\d.]+:(\d+))"
ROUNDS = 5


@contextmanager
def postgres_database() -> Iterator[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(POSTGRES)
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"alveare_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepared_store(url: str) -> str:
    from core.store import Store

    store = Store.open(url)
    store.append_rollout(SPLIT_PERCENT, actor="bench", reason="bench")
    store.close()
    return url


def proxy(
    tmp: Path, name: str, store: str, urls: tuple[str, str], limits: str | None, cpu: int | None
) -> Any:
    command = [
        *CLI,
        "proxy",
        "--listen=127.0.0.1:0",
        "--admin-listen=127.0.0.1:0",
        f"--store={store}",
        f"--incumbent-url={urls[0]}",
        f"--candidate-url={urls[1]}",
        f"--config={proxy_config(tmp)}",
        f"--spool-dir={tmp / name}-spool",
    ]
    if limits:
        command.append(f"--limits-store={limits}")
    return started(pinned(command, cpu), tmp / f"{name}.log", PROXY_LINE)


def measure(ports: list[int], connections: int, seconds: float) -> dict[str, float]:
    """The same closed-loop load, ``connections`` in all, split evenly across ``ports``; one result."""
    bodies = _load.chat_bodies(stream=False)
    samples: list[_load.Sample] = []
    each = max(1, connections // len(ports))

    def drive(port: int) -> None:
        samples.append(_load.measure("127.0.0.1", port, bodies, each, seconds))

    for port in ports:  # warm-up: pools, lazy imports, the limits' first lease
        _load.measure("127.0.0.1", port, bodies, 4, 0.5)
    threads = [threading.Thread(target=drive, args=(port,)) for port in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = [v for s in samples for v in s.latencies_ms]
    return {
        "rps": sum(s.rps for s in samples),
        "p50_ms": _load.percentile(latencies, 50),
        "p99_ms": _load.percentile(latencies, 99),
        "requests": sum(s.count for s in samples),
        "bad": sum(s.bad for s in samples),
    }


def run(seconds: float, tmp: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"served_path": {}, "scale": {}}
    sim = pinned([*CLI, "sim", "--port", "0", "--flavor"], 1)
    prefix = f"alveare-bench-{uuid.uuid4().hex[:8]}"
    limits = REDIS
    with ExitStack() as stack:
        incumbent = stack.enter_context(started([*sim, "openai"], tmp / "sim-openai.log", SIM_LINE))
        candidate = stack.enter_context(started([*sim, "sglang"], tmp / "sim-sglang.log", SIM_LINE))
        urls = (incumbent.group(1), candidate.group(1))
        sqlite = prepared_store(f"sqlite:///{tmp / 'bench.sqlite'}")
        postgres = prepared_store(stack.enter_context(postgres_database()))
        os.environ["ALVEARE_LIMITS_REDIS_PREFIX"] = prefix
        results["served_path"] = served_path(tmp, urls, sqlite, postgres, limits, seconds)
        scaled = prepared_store(stack.enter_context(postgres_database()))
        with proxy(tmp, "one", scaled, urls, limits, None) as line:
            results["scale"]["1 replica"] = measure([int(line.group(1))], 32, seconds)
        print("  measured 1 replica", file=sys.stderr, flush=True)
        with (
            proxy(tmp, "a", scaled, urls, limits, None) as a,
            proxy(tmp, "b", scaled, urls, limits, None) as b,
        ):
            results["scale"]["2 replicas"] = measure([int(a.group(1)), int(b.group(1))], 32, seconds)
        print("  measured 2 replicas", file=sys.stderr, flush=True)
        _drop_prefix(prefix)
    return results


def served_path(
    tmp: Path, urls: tuple[str, str], sqlite: str, postgres: str, limits: str, seconds: float
) -> dict[str, dict[str, dict[str, float]]]:
    """The three set-ups run side by side (same cpu), measured in alternation, ROUNDS times each; per load the
    round with the median p50 is kept, so a burst of noise on this shared machine hits one round, not a set-up."""
    setups = (
        ("sqlite", sqlite, None),
        ("postgresql", postgres, None),
        ("postgresql+redis", postgres, limits),
    )
    rounds: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {"c=1": [], "c=16": []} for name, *_ in setups
    }
    with ExitStack() as stack:
        ports = {name: int(stack.enter_context(proxy(tmp, name, store, urls, redis_url, 0)).group(1))
                 for name, store, redis_url in setups}  # fmt: skip
        for _ in range(ROUNDS):
            for name, port in ports.items():
                for connections in (1, 16):
                    rounds[name][f"c={connections}"].append(measure([port], connections, seconds / ROUNDS))
        print("  measured the served path", file=sys.stderr, flush=True)
    return {
        name: {load: sorted(runs, key=lambda r: r["p50_ms"])[len(runs) // 2] for load, runs in loads.items()}
        for name, loads in rounds.items()
    }


def _drop_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def report(results: dict[str, Any]) -> list[str]:
    served = results["served_path"]
    lines = ["served path (one proxy, split 50%, recording on), p50 ms / req/s:"]
    for scenario, loads in served.items():
        cells = ", ".join(f"{load}: {r['p50_ms']:.3f} ms / {r['rps']:.0f} req/s" for load, r in loads.items())
        lines.append(f"  {scenario:<18} {cells}")
    for load in ("c=1", "c=16"):
        pg = served["postgresql"][load]["p50_ms"] - served["sqlite"][load]["p50_ms"]
        rd = served["postgresql+redis"][load]["p50_ms"] - served["postgresql"][load]["p50_ms"]
        lines.append(
            f"  {load}: PostgreSQL adds {pg:+.3f} ms p50 over SQLite (target <= +0.05); Redis limits add {rd:+.3f} ms (target <= +0.15)"
        )
    one, two = results["scale"]["1 replica"], results["scale"]["2 replicas"]
    lines.append(
        f"scale-out (PostgreSQL + Redis, 32 connections in all): 1 replica {one['rps']:.0f} req/s "
        f"(p50 {one['p50_ms']:.2f} ms), 2 replicas {two['rps']:.0f} req/s (p50 {two['p50_ms']:.2f} ms): "
        f"{two['rps'] / one['rps']:.2f}x (target >= 1.4x); bad answers {one['bad'] + two['bad']}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="Seconds per measurement.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alveare-bench-") as tmp:
        results = run(args.seconds, Path(tmp))
    print("\n".join(report(results)))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
