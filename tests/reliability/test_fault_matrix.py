"""The fault matrix: each upstream fault x stream/non-stream x split 0/50/100%, through the real proxy.

For each cell: what the client sees (status, who served, a complete answer, a clean OpenAI error event, an
OpenAI error body), how long it took, and whether the pair was recorded. ``python -m pytest
tests/reliability/test_fault_matrix.py -s`` prints the measured matrix (the one in docs/reliability.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from proxy import assign

TIMEOUT_S = 0.6  # first byte, idle and (x5) total, per side: small so the matrix runs in seconds
MESSAGES = [{"role": "user", "content": "Classify: where is my parcel?"}]
DEAD = "http://127.0.0.1:9"


def users_by_side(salt: str = "alveare") -> dict[str, str]:
    """A user that 50% puts on each side (assignment is a pure, salted hash)."""
    found: dict[str, str] = {}
    for n in range(200):
        user = f"user-{n}"
        side = assign.choose_side(assign.bucket(salt, "user:" + user), 50)
        found.setdefault(side, user)
    return found


@dataclass(frozen=True)
class Fault:
    side: str  # which upstream is faulty
    name: str
    sim: dict[str, Any]  # how the faulty sim is started (None: nothing listens)


CANDIDATE_FAULTS = [
    Fault("candidate", "refuse (reset at accept)", {"fault": "refuse"}),
    Fault("candidate", "reset inside the status line", {"fault": "reset:5"}),
    Fault("candidate", "reset after the status line", {"fault": "reset:20"}),
    Fault("candidate", "5xx", {"error_rate": 1.0}),
    Fault("candidate", "hang before headers", {"fault": "hang"}),
    Fault("candidate", "stall after headers", {"fault": "stall:1"}),
    Fault("candidate", "malformed JSON", {"fault": "malformed"}),
    Fault("candidate", "cut mid-body / mid-stream", {"fault": "cut:1"}),
    Fault("candidate", "slow trickle (within idle)", {"chunk_interval_ms": 100, "latency_ms": 300}),
]
INCUMBENT_FAULTS = [
    Fault("incumbent", "down", {}),
    Fault("incumbent", "5xx", {"error_rate": 1.0}),
    Fault("incumbent", "hang", {"fault": "hang"}),
]


@dataclass
class Seen:
    status: int
    served_by: str
    outcome: str  # "complete", "error event", "error body", "truncated"
    latency_ms: float
    recorded: bool
    reason: str  # what the pair's row says went wrong ("" when nothing did)


def expected(fault: Fault, stream: bool, assigned: str) -> tuple[int, str, str]:
    """(status, served_by, outcome) the client must see: the contract in docs/reliability.md."""
    healthy = ("complete", 200)
    if fault.side != assigned:
        return 200, assigned, "complete"
    if fault.side == "candidate":
        if fault.name.startswith("slow"):
            return healthy[1], "candidate", "complete"
        if stream and fault.name.startswith(("stall", "cut", "malformed")):
            return 200, "candidate", "error event"  # bytes already reached the client: end cleanly
        return 200, "incumbent", "complete"  # failed before the client saw a byte: failover
    status = {"down": 502, "5xx": 500, "hang": 504}[fault.name]
    return status, "incumbent", "error body"


def classify(response: httpx.Response, stream: bool) -> str:
    text = response.text
    if response.status_code >= 400:
        body = json.loads(text)
        assert set(body["error"]) == {"message", "type", "param", "code"}
        return "error body"
    if not stream:
        json.loads(text)["choices"][0]
        return "complete"
    events = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    if any('"error"' in e for e in events):
        assert text.endswith("\n\n")
        return "error event"
    return "complete" if events and events[-1] == "[DONE]" else "truncated"


def run_cell(proxy: Any, key: str, user: str, stream: bool, recorded_before: int) -> Seen:
    started = time.perf_counter()
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "user": user, "stream": stream}
    with httpx.Client(timeout=15) as client:
        response = client.post(
            proxy.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
        )
    latency = (time.perf_counter() - started) * 1000
    outcome = classify(response, stream)
    rows = proxy.pairs(recorded_before + 1, timeout=3)
    recorded = len(rows) > recorded_before
    latest = max(rows, key=lambda p: p.ts) if rows else None
    reason = "" if latest is None else _reason(latest)
    served_by = response.headers.get("x-alveare-upstream", "incumbent")
    return Seen(response.status_code, served_by, outcome, latency, recorded, reason)


def _reason(pair: Any) -> str:
    served = pair.incumbent if pair.served_side == "incumbent" else pair.candidate
    served_error = served.error if served is not None else None
    return str(pair.meta.get("upstream_error") or pair.meta.get("failover_reason") or served_error or "")


MATRIX: list[str] = []


@pytest.mark.parametrize("fault", CANDIDATE_FAULTS + INCUMBENT_FAULTS, ids=lambda f: f"{f.side}-{f.name}")
def test_fault_matrix(proxy_factory: Any, sim_server: Any, fault: Fault) -> None:
    healthy = {"incumbent": sim_server("openai"), "candidate": sim_server("sglang")}
    flavor = "openai" if fault.side == "incumbent" else "sglang"
    faulty = DEAD if fault.side == "incumbent" and not fault.sim else sim_server(flavor, **fault.sim)
    urls = {**healthy, fault.side: faulty}
    proxy = proxy_factory(
        urls["incumbent"],
        urls["candidate"],
        failover__first_byte_timeout_s=TIMEOUT_S,
        incumbent__idle_timeout_s=TIMEOUT_S,
        incumbent__timeout_s=TIMEOUT_S * 5,
        candidate__idle_timeout_s=TIMEOUT_S,
        candidate__timeout_s=TIMEOUT_S * 5,
        failover__circuit_failures=1000,
    )
    # App keys: the incumbent is then called with the proxy's own key, and no key check (a pass-through key is
    # first verified against the incumbent, which is down in one row) stands between the request and the split.
    _, key = proxy.server.keys.create("matrix", rpm=10_000, tpm=100_000_000)
    users = users_by_side()
    problems = []
    for percent in (0, 50, 100):
        if percent:
            proxy.set_percent(percent)
        for stream in (False, True):
            for assigned, user in users.items():
                if (percent == 0 and assigned == "candidate") or (percent == 100 and assigned == "incumbent"):
                    continue
                seen = run_cell(proxy, key, user, stream, len(proxy.pairs()))
                want = expected(fault, stream, assigned)
                status = seen.status // 100 * 100 if want[0] == 500 else seen.status  # 500 or 503
                got = (status, seen.served_by, seen.outcome)
                MATRIX.append(
                    f"| {fault.side} | {fault.name} | {'stream' if stream else 'whole'} | {percent}% -> {assigned} "
                    f"| {seen.status} from {seen.served_by}, {seen.outcome} | {seen.latency_ms:.0f} ms "
                    f"| {'yes' if seen.recorded else 'NO'}{': ' + seen.reason if seen.reason else ''} |"
                )
                failed_here = got != ("complete", 200) and (got[1], got[2]) != (assigned, "complete")
                if failed_here and seen.status != 500 and seen.status != 503 and not seen.reason:
                    problems.append(("no reason recorded", percent, stream, assigned, got))
                if got != want or not seen.recorded:
                    problems.append((percent, stream, assigned, want, got, seen.recorded))
                assert (
                    seen.latency_ms < TIMEOUT_S * 5 * 1000 + 3000
                )  # no client ever waits past the deadlines
    assert proxy.server.runtime.counts["hook_errors"] == 0
    assert not problems, problems
    assert_nothing_left(proxy)


def assert_nothing_left(proxy: Any) -> None:
    """Once every client has hung up, no flow, reader or in-flight entry is kept (no leak per fault)."""
    failover = next(a for a in proxy.server.master.addons.chain if type(a).__name__ == "Chain").members
    failover = next(a for a in failover if type(a).__name__ == "Failover")
    deadline = time.monotonic() + 5
    while failover.current or failover.readers or proxy.server.inflight.live:
        assert time.monotonic() < deadline, (failover.current, failover.readers, proxy.server.inflight.flows)
        time.sleep(0.05)


def teardown_module() -> None:
    if MATRIX:
        print("\n| faulty side | fault | answer | split -> served side | client sees | latency | recorded |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        print("\n".join(MATRIX))
