"""The split, the live rollout, the mirror and the recording, through the real proxy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai

from core.store import Store

MESSAGES = [{"role": "user", "content": "Classify: my parcel never arrived, contact me at ann@example.com"}]


def ask(client: openai.OpenAI, user: str, **kwargs: Any) -> str:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, user=user, **kwargs
    )
    return str(raw.headers["x-alveare-upstream"])


def test_split_is_sticky_and_monotone_through_the_proxy(proxy_factory: Any, sim_process: Any) -> None:
    proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), percent=30)
    client = proxy.client()
    users = [f"user-{i}" for i in range(200)]
    first = {u: ask(client, u) for u in users}
    share = sum(side == "candidate" for side in first.values()) / len(users)
    assert 0.2 <= share <= 0.4
    assert all(ask(client, u) == first[u] for u in users[:50])  # sticky
    proxy.set_percent(50)
    after = {u: ask(client, u) for u in users}
    assert all(after[u] == "candidate" for u in users if first[u] == "candidate")  # nobody moved back
    assert sum(side == "candidate" for side in after.values()) > sum(
        side == "candidate" for side in first.values()
    )


def test_mirror_records_both_answers_as_one_pair(proxy_factory: Any, sim_process: Any) -> None:
    proxy = proxy_factory(
        sim_process("openai"), sim_process("sglang", disagree=0.0), percent=50, mirror__rate=1.0
    )
    client = proxy.client()
    for i in range(10):
        ask(client, f"m-{i}", stream=bool(i % 2))
    pairs = proxy.pairs(expected=10)
    assert len(pairs) == 10
    assert len({p.pair_id for p in pairs}) == 10
    for pair in pairs:
        assert pair.complete and pair.incumbent is not None and pair.candidate is not None
        assert pair.incumbent.ok and pair.candidate.ok, pair
        assert pair.incumbent.content and pair.candidate.content
        assert (
            pair.task == "classify" and pair.target_model == "qwen:classify" and pair.model == "gpt-4o-mini"
        )
        assert pair.served is not None and pair.served.ttft_ms is not None
        assert "m-" not in pair.key_hash  # the stickiness key is stored hashed
    assert {p.served_side for p in pairs} == {"incumbent", "candidate"}


def test_recording_never_stores_keys_and_can_redact(proxy_factory: Any, sim_process: Any) -> None:
    proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), percent=100, record__redact_pii=True)
    ask(proxy.client(api_key="sk-secret-client-key"), "r-1")
    pair = proxy.pairs(expected=1)[0]
    text = json.dumps(pair.request)
    assert "ann@example.com" not in text and "[EMAIL]" in text
    raw_db = Path(proxy.store.path).read_bytes() + Path(str(proxy.store.path) + "-wal").read_bytes()
    assert b"sk-secret-client-key" not in raw_db and b"sk-incumbent-secret" not in raw_db


def test_status_and_metrics_on_the_admin_port(proxy_factory: Any, sim_process: Any) -> None:
    proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), percent=100)
    ask(proxy.client(), "s-1")
    health = httpx.get(proxy.admin_url + "/healthz").json()
    assert health["status"] == "ok" and health["percent"] == 100 and health["circuit"] == "closed"
    metrics = httpx.get(proxy.admin_url + "/metrics").text
    assert 'alveare_requests_total{side="candidate",status="2xx"} 1.0' in metrics
    assert "alveare_ttft_seconds_bucket" in metrics and "alveare_record_dropped" in metrics
    deadline = time.monotonic() + 5
    while not any(s["requests"]["candidate"] for s in proxy.store.statuses().values()):
        assert time.monotonic() < deadline, "the proxy's status row never showed the request"
        time.sleep(0.1)
    (status,) = proxy.store.statuses().values()
    assert status["percent"] == 100 and status["circuit"] == "closed"


def test_sigterm_under_load_records_every_served_request(tmp_path: Path, sim_process: Any) -> None:
    store_url = f"sqlite:///{tmp_path / 'load.sqlite'}"
    incumbent, candidate = sim_process("openai"), sim_process("sglang", latency_ms=20)
    Store.open(store_url).append_rollout(50, actor="test", reason="load")
    stderr = (tmp_path / "proxy.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "migrate_cli",
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--store",
            store_url,
            "--incumbent-url",
            incumbent,
            "--candidate-url",
            candidate,
            "--mirror",
            "0.3",
            "--config",
            str(_model_map(tmp_path)),
        ],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    with proc, stderr:
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            assert "listening on" in line, line + (tmp_path / "proxy.log").read_text()
            url = line.split("listening on ")[1].split()[0]
            served = _load_until_sigterm(url, proc)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert served > 20
    assert Store.open(store_url).count_pairs() == served


def _model_map(tmp_path: Path) -> Path:
    path = tmp_path / "alveare.yaml"
    path.write_text("models: {gpt-4o-mini: classify}\nspecialists: {classify: 'qwen:classify'}\n")
    return path


def _load_until_sigterm(url: str, proc: subprocess.Popen[str]) -> int:
    served = 0
    lock = threading.Lock()
    stop = threading.Event()

    def worker(n: int) -> None:
        nonlocal served
        with openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0, timeout=10) as client:
            for i in range(400):
                if stop.is_set():
                    return
                try:
                    ask(client, f"load-{n}-{i}")
                except openai.APIError:
                    return  # the proxy is shutting down: this one was not served
                with lock:
                    served += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(20)
    return served
