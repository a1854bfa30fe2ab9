"""The recorder never blocks the served path: its worker process parses and writes; a worker that falls behind
makes the proxy drop rows and count them; close() flushes the rest; a proxy that dies loses nothing that
reached the worker."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from core.config import RecordSettings
from core.store import Store
from proxy.recorder import Recorder
from proxy.routing import Target
from proxy.runtime import FlowInfo, Leg

ROOT = Path(__file__).resolve().parents[2]


def finished_flow(n: int) -> FlowInfo:
    info = FlowInfo(
        pair_id=f"p{n}", started=0.0, requested_model="gpt-4o-mini", body={"model": "gpt-4o-mini"}
    )
    info.target = Target("qwen:classify", "classify")
    info.served = Leg(side="incumbent", status=200, chunks=[b'{"choices":[]}'], started=0.0, finished=0.001)
    return info


def test_overflow_drops_and_counts_without_blocking_then_close_flushes(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store.open(f"sqlite:///{path}")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database: the worker's batch waits
    counts: Counter[str] = Counter()
    # a batch per pair: the worker reports more often than the status inbox holds before close() reads it
    settings = RecordSettings(queue_size=5, batch_size=1, flush_interval_s=0.001)
    recorder = Recorder(f"sqlite:///{path}", settings, counts)
    started = time.monotonic()
    submitted = 5_000  # more than the socket to the worker holds
    accepted = sum(recorder.submit(finished_flow(n)) for n in range(submitted))
    assert time.monotonic() - started < 2.0  # submitting never waited for the worker or the store
    assert 0 < accepted < submitted and counts["record_dropped"] == submitted - accepted
    blocker.execute("COMMIT")
    blocker.close()
    recorder.close()
    assert store.count_pairs() == accepted == recorder.written
    assert counts["record_dropped"] == submitted - accepted and not recorder.process.is_alive()


def test_the_worker_reads_the_request_as_the_app_sent_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    info = finished_flow(1)
    info.raw_body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "caf\xc3\xa9"}]}'
    recorder = Recorder(url, RecordSettings(flush_interval_s=0.01), Counter())
    assert recorder.submit(info)
    recorder.close()
    (pair,) = Store.open(url).iter_pairs()
    assert pair.request["messages"][0]["content"] == "café" and pair.task == "classify"


DIES = """
import os, signal, sys, time
from collections import Counter
from core.config import RecordSettings
from proxy.recorder import Recorder
from tests.proxy.test_recorder import finished_flow
recorder = Recorder(sys.argv[1], RecordSettings(flush_interval_s=0.05), Counter())
for n in range(20):
    recorder.submit(finished_flow(n))
print(recorder.process.pid, flush=True)
time.sleep(0.2)  # the frames have reached the worker's socket
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_proxy_loses_nothing_that_reached_the_worker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    Store.open(url).close()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DIES), url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    worker = int(done.stdout.split()[0])
    for _ in range(200):  # bounded: the worker sees the socket's end, writes, exits
        if Store.open(url).count_pairs() == 20 and not _alive(worker):
            break
        time.sleep(0.05)
    assert Store.open(url).count_pairs() == 20
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:  # a zombie has exited
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
