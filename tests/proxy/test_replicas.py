"""Three proxy replicas on one PostgreSQL store and one Redis, as a Kubernetes Deployment runs them: the same user
lands on the same side whichever replica serves it, a rollout change and a key revocation reach every replica
within 2 s, a key's rpm holds across all of them within 10%, ``status`` lists the three, a second controller is
kept out, and every split request served is recorded exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from click.testing import CliRunner

from core.store import Store
from migrate_cli.main import cli
from policies.runner import Lease
from proxy.keys import KeyStore
from tests.conftest import REDIS_TEST_URL
from tests.proxy.replicas import Replica, replica_config, start_replica

MESSAGES = [{"role": "user", "content": "Classify: where is my parcel?"}]
PROPAGATION_S = 2.0


def wait_until(check: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``check()`` held; fails past ``timeout``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "not everywhere in time"
        time.sleep(0.02)
    return time.monotonic() - started


def served_side(client: openai.OpenAI, user: str) -> str:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES, user=user)
    return str(raw.headers["x-alveare-upstream"])


def accepted(replica: Replica, key: str) -> bool:
    response = httpx.get(replica.url + "/v1/models", headers={"authorization": f"Bearer {key}"}, timeout=10)
    return response.status_code == 200


@pytest.fixture
def replicas(
    postgres_url: str, redis_prefix: str, sim_process: Any, tmp_path: Path
) -> Iterator[list[Replica]]:
    """Three `alveare-migrate proxy` processes with the default poll intervals, one store, one Redis."""
    limits = {"store": REDIS_TEST_URL, "redis_prefix": redis_prefix}
    config = replica_config(
        tmp_path, sim_process("openai"), sim_process("sglang"), store=postgres_url, limits=limits
    )
    running: list[Replica] = []
    try:
        for i in range(3):
            running.append(start_replica(config, tmp_path / f"replica-{i}.log"))
        yield running
    finally:
        for replica in running:
            replica.stop()


@pytest.fixture
def ops(postgres_url: str) -> Iterator[Store]:
    """The operator's view of the store, as the CLI on another host has it."""
    store = Store.open(postgres_url)
    yield store
    store.close()


def test_three_replicas_share_one_store_and_one_redis(
    replicas: list[Replica], ops: Store, postgres_url: str
) -> None:
    keys = KeyStore(ops)
    _, app_key = keys.create("app", rpm=100_000, tpm=100_000_000)
    wait_until(lambda: all(accepted(r, app_key) for r in replicas), PROPAGATION_S)

    ops.append_rollout(50, actor="test", reason="half")
    took = wait_until(lambda: all(r.health()["percent"] == 50 for r in replicas), PROPAGATION_S)
    print(f"rollout change reached 3 replicas in {took:.2f}s")

    users = [f"user-{i}" for i in range(30)]
    clients = [openai.OpenAI(base_url=r.url + "/v1", api_key=app_key, max_retries=0) for r in replicas]
    sides = {u: [served_side(c, u) for c in clients] for u in users}
    for client in clients:
        client.close()
    assert all(len(set(seen)) == 1 for seen in sides.values()), sides
    assert {seen[0] for seen in sides.values()} == {"incumbent", "candidate"}

    record, doomed = keys.create("doomed", rpm=1000, tpm=1_000_000)
    wait_until(lambda: all(accepted(r, doomed) for r in replicas), PROPAGATION_S)
    keys.revoke(record.key_id)
    took = wait_until(lambda: not any(accepted(r, doomed) for r in replicas), PROPAGATION_S)
    print(f"revocation reached 3 replicas in {took:.2f}s")

    _, limited = keys.create("limited", rpm=60, tpm=1_000_000)
    wait_until(lambda: all(accepted(r, limited) for r in replicas[:1]), PROPAGATION_S)
    time.sleep(1.1)  # one more key refresh: every replica knows the key (probing each would spend its budget)
    started = time.monotonic()
    admitted = 0
    with httpx.Client() as client:
        for i in range(150):
            url = replicas[i % 3].url + "/v1/models"
            admitted += client.get(url, headers={"authorization": f"Bearer {limited}"}).status_code == 200
    refill = (time.monotonic() - started) * 60 / 60  # the bucket refills one request a second meanwhile
    print(
        f"3 replicas admitted {admitted} of 150 requests on a 60 rpm key in {time.monotonic() - started:.1f}s"
    )
    assert 0.9 * 60 <= admitted <= 1.1 * 60 + refill

    split_requests = len(users) * len(replicas)
    pairs = wait_pairs(ops, split_requests)
    assert len(pairs) == split_requests == len({p.pair_id for p in pairs})  # every one, exactly once

    time.sleep(1.2)  # one heartbeat after the traffic
    status = CliRunner().invoke(cli, ["status", "--store", postgres_url, "--json"])
    assert status.exit_code == 0, status.output
    proxies = json.loads(status.stdout)["proxies"]
    assert len(proxies) == 3
    for info in proxies.values():
        assert (
            info["host"] and info["version"] and info["served"] >= len(users) and info["limits"] == "shared"
        )

    assert Lease(ops, "controller-on-host-a", ttl_s=60).acquire() is None
    second = CliRunner().invoke(cli, ["rollout", "--auto", "--store", postgres_url, "--interval", "1s"])
    assert second.exit_code == 4, second.output
    assert "controller-on-host-a" in second.output


def wait_pairs(store: Store, expected: int) -> list[Any]:
    deadline = time.monotonic() + 10
    while True:
        pairs = list(store.iter_pairs())
        if len(pairs) >= expected or time.monotonic() > deadline:
            return pairs
        time.sleep(0.05)


def test_a_revoked_key_gets_openais_401_from_the_sdk_on_every_replica(
    replicas: list[Replica], ops: Store
) -> None:
    keys = KeyStore(ops)
    keys.create("other", rpm=100, tpm=100_000)
    record, plaintext = keys.create("app", rpm=100, tpm=100_000)
    wait_until(lambda: all(accepted(r, plaintext) for r in replicas), PROPAGATION_S)
    keys.revoke(record.key_id)
    wait_until(lambda: not any(accepted(r, plaintext) for r in replicas), PROPAGATION_S)
    for replica in replicas:
        client = openai.OpenAI(base_url=replica.url + "/v1", api_key=plaintext, max_retries=0)
        with client, pytest.raises(openai.AuthenticationError) as caught:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert caught.value.response.json()["error"]["code"] == "invalid_api_key"
