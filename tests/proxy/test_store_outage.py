"""PostgreSQL cut off for 30 s under load (through a TCP relay the test controls): every client request is still
answered, the rollout percent is served from the last known value, pairs wait in the spool on disk, and when the
database returns every split request served is recorded exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy.engine import make_url

from core.store import Store
from tests.relay import Relay

OUTAGE_S = 30.0
MESSAGES = [{"role": "user", "content": "Classify: where is my parcel?"}]


@pytest.fixture
def relay() -> Iterator[Relay]:
    relay = Relay(5432).start()
    yield relay
    relay.stop()


def ask(client: openai.OpenAI, n: int) -> None:
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user=f"user-{n}")
    assert answer.choices[0].message.content


def count(store: Store, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while (n := store.count_pairs()) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return n


def test_a_database_outage_loses_no_pair_and_fails_no_request(
    postgres_url: str, relay: Relay, proxy_factory: Any, sim_process: Any, tmp_path: Path
) -> None:
    through_relay = make_url(postgres_url).set(port=relay.port).render_as_string(hide_password=False)
    spool = tmp_path / "spool"
    proxy = proxy_factory(
        sim_process("openai"),
        sim_process("sglang"),
        percent=50,
        store=through_relay,
        record__spool_dir=str(spool),
    )
    direct = Store.open(postgres_url)
    client = proxy.client()
    for n in range(20):
        ask(client, n)
    assert count(direct, 20, 10) == 20

    relay.cut()
    served, started = 20, time.monotonic()
    while time.monotonic() - started < OUTAGE_S:
        ask(client, served)  # raises if any request failed
        served += 1
        time.sleep(0.1)
    runtime = proxy.server.runtime
    assert runtime.percent == 50  # the last known value
    assert runtime.counts["record_spooled"] > 0 and list(spool.glob("*.jsonl"))
    assert direct.count_pairs() == 20  # nothing reached the database meanwhile

    relay.restore()
    assert count(direct, served, 20) == served
    split = runtime.counts["requests.incumbent"] + runtime.counts["requests.candidate"]
    assert split == served
    pairs = list(direct.iter_pairs())
    assert len({p.pair_id for p in pairs}) == len(pairs) == served  # each exactly once
    assert {p.served_side for p in pairs} == {"incumbent", "candidate"}
    assert not list(spool.glob("*.jsonl"))
    print(f"{served - 20} requests served during a {OUTAGE_S:.0f}s outage; all {served} pairs recorded once")
    direct.close()
