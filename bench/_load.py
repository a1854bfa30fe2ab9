"""Load generators for the benchmarks: a raw asyncio HTTP/1.1 keep-alive client, and ``wrk`` when installed.

The client is a bare ``asyncio.Protocol`` (on uvloop when installed) so that it costs far less per request than
the servers it measures; httpx and the openai SDK cost more than the proxy itself. Each of N connections sends
``POST /v1/chat/completions`` back to back (closed loop), cycling through a pool of bodies that differ only in
their ``user`` field (so the proxy's sticky split sends some to each side), and records per request the latency
(send -> last byte), the time to the first SSE ``data:`` chunk, the status and the ``x-alveare-upstream`` header.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

CHAT_PATH = "/v1/chat/completions"
T = TypeVar("T")
UPSTREAM_HEADER = b"x-alveare-upstream"


def chat_bodies(*, stream: bool, users: int = 64, model: str = "gpt-4o-mini") -> list[bytes]:
    """``users`` small chat bodies, the same but for ``user`` (the proxy's stickiness key)."""
    bodies = []
    for number in range(users):
        body: dict[str, object] = {
            "model": model,
            "messages": [{"role": "user", "content": "Classify the sentiment: the food was great."}],
            "user": f"bench-user-{number:03d}",
        }
        if stream:
            body["stream"] = True
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


def http_requests(
    host: str,
    port: int,
    bodies: Sequence[bytes],
    headers: dict[str, str] | None = None,
    token: str = "sk-bench",
) -> list[bytes]:
    """Whole HTTP/1.1 keep-alive requests, one per body."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    out = []
    for body in bodies:
        head = (
            f"POST {CHAT_PATH} HTTP/1.1\r\nhost: {host}:{port}\r\nauthorization: Bearer {token}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
        )
        out.append(head.encode() + body)
    return out


@dataclass
class Sample:
    """What one measurement saw; times in milliseconds."""

    latencies_ms: list[float] = field(default_factory=list)
    ttfts_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    by_upstream: dict[str, list[float]] = field(default_factory=dict)  # x-alveare-upstream -> latencies
    ttft_by_upstream: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    broken: int = 0  # connections lost before their deadline

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def bad(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300) + self.broken


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


class _Connection(asyncio.Protocol):
    """One keep-alive connection sending requests back to back until ``deadline``, parsing each response by
    content-length or chunked framing."""

    def __init__(
        self,
        requests: Sequence[bytes],
        offset: int,
        deadline: float,
        sample: Sample,
        done: asyncio.Future[None],
    ) -> None:
        self.requests, self.index, self.deadline = requests, offset, deadline
        self.sample, self.done = sample, done
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.sent = 0.0
        self.first: float | None = None
        # a routed client (measure_routed): the connection each request goes out on, by the request's index
        self.routes: Sequence[asyncio.Transport] | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.length = -1
        self.chunked = False
        self.upstream = ""
        self.first = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self._send()

    def _send(self) -> None:
        if self.routes is not None:
            self.transport = self.routes[self.index % len(self.requests)]
        assert self.transport is not None
        request = self.requests[self.index % len(self.requests)]
        self.index += 1
        self.sent = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        while self._step(now):
            pass

    def _step(self, now: float) -> bool:
        if self.status == 0 and not self._head():
            return False
        if self.chunked:
            return self._chunks(now)
        if self.first is None and self.buffer:
            self.first = now
        if len(self.buffer) < self.length:
            return False
        del self.buffer[: self.length]
        return self._complete(now)

    def _head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = bytes(self.buffer[:end]).split(b"\r\n")
        del self.buffer[: end + 4]
        self.status = int(lines[0].split(b" ", 2)[1])
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                self.length = int(value)
            elif name == b"transfer-encoding":
                self.chunked = b"chunked" in value.lower()
            elif name == UPSTREAM_HEADER:
                self.upstream = value.strip().decode()
        if not self.chunked and self.length < 0:
            raise ValueError("response without content-length or chunked framing")
        return True

    def _chunks(self, now: float) -> bool:
        while True:
            eol = self.buffer.find(b"\r\n")
            if eol < 0:
                return False
            size = int(bytes(self.buffer[:eol]).split(b";", 1)[0], 16)
            if size == 0:
                if len(self.buffer) < eol + 4:
                    return False
                del self.buffer[: eol + 4]
                return self._complete(now)
            if len(self.buffer) < eol + 2 + size + 2:
                return False
            if self.first is None and b"data:" in self.buffer[eol + 2 : eol + 2 + size]:
                self.first = now
            del self.buffer[: eol + 2 + size + 2]

    def _complete(self, now: float) -> bool:
        sample = self.sample
        sample.latencies_ms.append((now - self.sent) * 1000)
        if self.first is not None:
            sample.ttfts_ms.append((self.first - self.sent) * 1000)
            if self.upstream:
                sample.ttft_by_upstream.setdefault(self.upstream, []).append(sample.ttfts_ms[-1])
        sample.statuses[self.status] += 1
        if self.upstream:
            sample.by_upstream.setdefault(self.upstream, []).append(sample.latencies_ms[-1])
        self._reset()
        if now >= self.deadline:
            if not self.done.done():
                self.done.set_result(None)
            assert self.transport is not None
            for transport in set(self.routes or (self.transport,)):
                transport.close()
            return False
        self._send()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.sample.broken += 1
            self.done.set_result(None)


async def _measure(
    host: str, port: int, requests: Sequence[bytes], connections: int, seconds: float
) -> Sample:
    loop = asyncio.get_running_loop()
    sample = Sample()
    futures: list[asyncio.Future[None]] = [loop.create_future() for _ in range(connections)]
    start = time.perf_counter()
    deadline = start + seconds
    for number, future in enumerate(futures):
        offset = number * 7  # connections start at different users
        factory = functools.partial(_Connection, requests, offset, deadline, sample, future)
        await loop.create_connection(factory, host, port)
    await asyncio.wait_for(asyncio.gather(*futures), seconds + 30)
    sample.seconds = time.perf_counter() - start
    return sample


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    result: T = uvloop.run(coroutine)
    return result


def measure(
    host: str,
    port: int,
    bodies: Sequence[bytes],
    connections: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    token: str = "sk-bench",
) -> Sample:
    """Closed-loop load from ``connections`` keep-alive connections for ``seconds``."""
    requests = http_requests(host, port, bodies, headers, token)
    return _run(_measure(host, port, requests, connections, seconds))


class _Routed(asyncio.Protocol):
    """One of a routed client's connections: what arrives goes to the client, which has one request in flight."""

    def __init__(self, client: _Connection) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.connection_lost(exc)


async def _measure_routed(
    host: str, ports: Sequence[int], requests: Sequence[bytes], routes: Sequence[int], seconds: float
) -> Sample:
    loop = asyncio.get_running_loop()
    sample = Sample()
    done: asyncio.Future[None] = loop.create_future()
    start = time.perf_counter()
    client = _Connection(requests, 0, start + seconds, sample, done)
    transports = []
    for port in ports:
        transport, _ = await loop.create_connection(functools.partial(_Routed, client), host, port)
        transports.append(cast(asyncio.Transport, transport))
    client.routes = [transports[route] for route in routes]
    client._send()
    await asyncio.wait_for(done, seconds + 30)
    sample.seconds = time.perf_counter() - start
    return sample


def measure_routed(
    host: str,
    ports: Sequence[int],
    bodies: Sequence[bytes],
    routes: Sequence[int],
    seconds: float,
    headers: dict[str, str] | None = None,
    token: str = "sk-bench",
) -> Sample:
    """One closed-loop client, one request at a time, that sends ``bodies[i]`` to ``ports[routes[i]]``, each port
    over a kept-alive connection of its own: calling several upstreams directly, as a proxy that splits does."""
    per_port = [http_requests(host, port, bodies, headers, token) for port in ports]
    requests = [per_port[route][number] for number, route in enumerate(routes)]
    return _run(_measure_routed(host, ports, requests, routes, seconds))


# --- idle streams -------------------------------------------------------------------------------------------


class _Holder(asyncio.Protocol):
    """One connection that sends a streamed request and holds still (noting when its first ``data:`` arrives:
    a server that buffers answers, as the bare engine does, holds the stream without passing it on)."""

    def __init__(self, request: bytes, first: asyncio.Future[None]) -> None:
        self.request, self.first = request, first
        self.transport: asyncio.BaseTransport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        cast(asyncio.Transport, transport).write(self.request)

    def data_received(self, data: bytes) -> None:
        if b"data:" in data and not self.first.done():
            self.first.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.first.done():
            self.first.set_result(None)


async def _hold(
    host: str, port: int, requests: Sequence[bytes], streams: int, read: Callable[[], int], timeout: float
) -> tuple[int, int]:
    loop = asyncio.get_running_loop()
    before = read()
    firsts: list[asyncio.Future[None]] = [loop.create_future() for _ in range(streams)]
    holders = []
    try:
        for number, first in enumerate(firsts):
            request = requests[number % len(requests)]
            _, holder = await loop.create_connection(functools.partial(_Holder, request, first), host, port)
            holders.append(holder)
        await asyncio.wait(firsts, timeout=timeout)  # a buffering server: the whole timeout
        await asyncio.sleep(0.5)  # whatever the first events left behind settles
        return sum(not holder.lost for holder in holders), read() - before
    finally:
        for holder in holders:
            if holder.transport is not None:
                holder.transport.close()
        await asyncio.sleep(0.2)


def hold_streams(
    host: str,
    port: int,
    bodies: Sequence[bytes],
    streams: int,
    read: Callable[[], int],
    headers: dict[str, str] | None = None,
    token: str = "sk-bench",
    timeout: float = 5.0,
) -> tuple[int, int]:
    """Open ``streams`` streamed requests at once and hold them once their first event came (or ``timeout``
    passed); returns how many are still open and how much ``read()`` (a server's RSS in bytes) grew meanwhile."""
    requests = http_requests(host, port, bodies, headers, token)
    return _run(_hold(host, port, requests, streams, read, timeout))


# --- wrk ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    bad: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"p50_us\\":%d,\\"p99_us\\":%d,\\"bad\\":%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def wrk_script(bodies: Sequence[bytes]) -> str:
    """A Lua script cycling through ``bodies`` (pre-formatted once per thread) and printing a JSON summary."""
    items = ",\n".join(f"[==[{body.decode()}]==]" for body in bodies)
    return (
        f"local bodies = {{\n{items}\n}}\nlocal reqs = {{}}\nlocal i = 0\n"
        "init = function(args)\n"
        '  local h = {["content-type"] = "application/json", ["authorization"] = "Bearer sk-bench"}\n'
        f'  for k, b in ipairs(bodies) do reqs[k] = wrk.format("POST", "{CHAT_PATH}", h, b) end\n'
        "end\n"
        "request = function()\n  i = i % #reqs + 1\n  return reqs[i]\nend\n" + WRK_DONE
    )


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str, bodies: Sequence[bytes], connections: int, seconds: float, cpu: int | None = None
) -> WrkResult:
    """``wrk -t1 -cN`` against ``url`` (pinned to ``cpu`` with taskset when given)."""
    with tempfile.TemporaryDirectory(prefix="alveare-wrk-") as tmp:
        script = Path(tmp) / "chat.lua"
        script.write_text(wrk_script(bodies), encoding="utf-8")
        duration = max(1, round(seconds))
        command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(script), url + CHAT_PATH]
        if cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(cpu), *command]
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 30, check=True
        ).stdout
    line = next((x for x in out.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {out[-500:]!r}")
    data = json.loads(line.removeprefix("WRKJSON "))
    return WrkResult(
        requests=int(data["requests"]),
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        bad=int(data["bad"]),
    )
