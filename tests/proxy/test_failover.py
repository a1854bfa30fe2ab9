"""Failover and the circuit breaker, under each injected fault: the client never sees the candidate fail."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

MESSAGES = [{"role": "user", "content": "Classify: my card was charged twice"}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def served_by(raw: Any) -> str:
    return str(raw.headers["x-alveare-upstream"])


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "fault",
    ["sim-fault-hang", "sim-fault-refuse", "sim-error-500", "sim-error-503"],
    ids=["hang", "reset", "500", "503"],
)
def test_candidate_fault_is_replaced_by_incumbent(
    proxy_factory: Any, sim_process: Any, fault: str, stream: bool
) -> None:
    """The fault is the candidate's alone: the model it is sent is the sim's magic name for that fault (a
    header would reach the incumbent too, which gets the app's headers)."""
    incumbent, candidate = sim_process("openai"), sim_process("sglang")
    proxy = proxy_factory(
        incumbent, candidate, percent=100, failover__first_byte_timeout_s=0.5, models={"gpt-4o-mini": fault}
    )
    client = proxy.client()
    started = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=stream
    )
    answer = raw.parse()
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
    else:
        text = answer.choices[0].message.content or ""
    assert text, "the client got a normal answer"
    assert served_by(raw) == "incumbent"
    assert time.monotonic() - started < 10
    pair = proxy.pairs(expected=1)[0]
    assert pair.failover and pair.served_side == "incumbent"
    assert pair.candidate is not None and not pair.candidate.ok
    assert pair.incumbent is not None and pair.incumbent.ok
    assert proxy.server.runtime.counts["failovers"] == 1


def test_refused_candidate_fails_over(proxy_factory: Any, sim_process: Any) -> None:
    incumbent = sim_process("openai")
    proxy = proxy_factory(incumbent, f"http://127.0.0.1:{free_port()}", percent=100)
    raw = proxy.client().chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.parse().choices[0].message.content
    assert served_by(raw) == "incumbent"
    assert proxy.pairs(expected=1)[0].failover


def test_circuit_opens_then_recovers(proxy_factory: Any, sim_process: Any) -> None:
    incumbent = sim_process("openai")
    port = free_port()
    proxy = proxy_factory(
        incumbent,
        f"http://127.0.0.1:{port}",
        percent=100,
        failover__circuit_failures=2,
        failover__circuit_reset_s=0.5,
    )
    client = proxy.client()
    for _ in range(4):
        assert served_by(
            client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
        ) == ("incumbent")
    runtime = proxy.server.runtime
    assert runtime.circuit.state == "open"
    pairs = proxy.pairs(expected=4)
    assert sum(1 for p in pairs if p.meta.get("failover_reason") == "circuit open") == 2
    sim_process("sglang", port=port)  # the candidate comes back
    time.sleep(0.6)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert served_by(raw) == "candidate"
    assert runtime.circuit.state == "closed"


def test_every_5xx_on_kept_alive_connections_fails_over(proxy_factory: Any, sim_process: Any) -> None:
    """Many requests per connection, a third of them answered 5xx by the candidate: none reaches the app.

    (mitmproxy runs hooks as tasks, so a read for the next answer can begin before the last one is done; the
    next answer's status line must be checked all the same.)"""
    candidate = sim_process("sglang", fresh=True, error_rate=0.3, seed=7)
    proxy = proxy_factory(sim_process("openai"), candidate, percent=100, failover__circuit_failures=10_000)
    served: list[str] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        client = proxy.client()
        for i in range(25):
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=MESSAGES, user=f"w{worker}-{i}", stream=i % 2 == 0
            )
            answer = raw.parse()
            text = (
                "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
                if i % 2 == 0
                else answer.choices[0].message.content
            )
            assert text
            with lock:
                served.append(served_by(raw))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(served) == 100
    failovers = proxy.server.runtime.counts["failovers"]
    assert served.count("incumbent") == failovers and 15 <= failovers <= 45
    pairs = proxy.pairs(expected=100)
    assert sum(p.failover for p in pairs) == failovers


def test_a_candidate_silent_on_a_kept_alive_connection_fails_over_in_time(
    proxy_factory: Any, sim_process: Any
) -> None:
    """The second request reuses the candidate connection the first one left idle: its first-byte deadline
    counts all the same (the idle read is given that deadline when the request starts)."""
    proxy = proxy_factory(
        sim_process("openai"),
        sim_process("sglang"),
        percent=100,
        failover__first_byte_timeout_s=0.5,
        models={"gpt-4o-mini": "classify", "gpt-4o": "sim-fault-hang"},
    )
    client = proxy.client()
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert served_by(first) == "candidate" and first.parse().choices[0].message.content
    started = time.monotonic()
    second = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert served_by(second) == "incumbent" and second.parse().choices[0].message.content
    assert 0.5 <= time.monotonic() - started < 5
    assert proxy.server.runtime.counts["failovers"] == 1
