"""A bounded soak of the real `alveare-migrate proxy` process: under steady load its resident memory and open file
descriptors level off. Measured from /proc after a warm-up, over rounds of equal load; the slopes go in
docs/reliability.md. Loopback only, a fixed number of rounds."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from tests.reliability.test_shutdown import Load, start_proxy

ROUND_S = 3.0
ROUNDS = 5
# The warm-up: the served requests and the mirror's copies share one pool of upstream connections (proxy.direct),
# which grows to the load's peak concurrency over the first rounds (seen: 48 fds after one round, 54 after two,
# then 54 to the end), then stays: a leak keeps growing with the requests served after it.
WARM_ROUNDS = 2


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_memory_and_descriptors_level_off_under_steady_load(tmp_path: Path, sim_process: Any) -> None:
    proc, url, _ = start_proxy(tmp_path, sim_process("openai"), sim_process("sglang", latency_ms=5))
    samples: list[tuple[int, int, int]] = []  # (requests served so far, RSS KiB, open fds)
    with proc:
        try:
            with Load(url, workers=8) as load:
                for _ in range(ROUNDS):
                    time.sleep(ROUND_S)
                    samples.append((len(load.served), rss_kib(proc.pid), open_fds(proc.pid)))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    warm, rest = samples[WARM_ROUNDS - 1], samples[WARM_ROUNDS:]
    last = rest[-1]
    served = last[0] - warm[0]
    rss_growth_kib = last[1] - warm[1]
    print(
        f"soak: {served} requests after warm-up; RSS {warm[1]} -> {last[1]} KiB; fds {warm[2]} -> {last[2]}"
    )
    assert served > 300 and load.failed == 0
    # a leak of even 1 KiB a request would show as > `served` KiB here; allow allocator noise only
    assert rss_growth_kib < max(8_192, served // 4), samples
    assert last[2] - warm[2] <= 4, samples  # descriptors: the same keep-alive connections, no creep
