"""How many chat completions a second the sim answers on one core (it must never be a benchmark's bottleneck).

Starts ``alveare-migrate sim`` pinned to one core (``taskset -c CPU``), then drives it from this process
(pinned to another core) with N concurrent keep-alive HTTP/1.1 clients on asyncio, each sending the same
``/v1/chat/completions`` request back to back, and prints requests per second::

    .venv/bin/python bench/sim_throughput.py                       # openai, non-streaming
    .venv/bin/python bench/sim_throughput.py --stream --flavor sglang
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def start_sim(flavor: str, cpu: int | None) -> tuple[subprocess.Popen[str], int]:
    command = [
        sys.executable,
        "-c",
        "from migrate_cli.main import cli; cli()",
        "sim",
        "--flavor",
        flavor,
        "--port",
        "0",
    ]
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise SystemExit(f"sim did not start: {line!r}")
    return process, int(line.rsplit(":", 1)[1])


def request_bytes(port: int, stream: bool) -> bytes:
    body: dict[str, object] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Say this is a test"}],
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    data = json.dumps(body).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer sk-bench\r\n"
        f"content-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


class Client(asyncio.Protocol):
    """Sends ``request``, waits for the whole response (content-length or chunked), repeats until ``deadline``."""

    def __init__(self, request: bytes, deadline: float, done: asyncio.Future[int]) -> None:
        self.request, self.deadline, self.done = request, deadline, done
        self.buffer = bytearray()
        self.count = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self._complete():
            self.count += 1
            if time.perf_counter() >= self.deadline:
                if not self.done.done():
                    self.done.set_result(self.count)
                assert self.transport is not None
                self.transport.close()
                return
            assert self.transport is not None
            self.transport.write(self.request)

    def _complete(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buffer[:end]).lower()
        if b"transfer-encoding: chunked" in head:
            last = self.buffer.find(b"\r\n0\r\n\r\n", end)
            if last < 0:
                return False
            del self.buffer[: last + 7]
            return True
        start = head.index(b"content-length:") + 15
        length = int(head[start : head.index(b"\r\n", start) if b"\r\n" in head[start:] else len(head)])
        if len(self.buffer) < end + 4 + length:
            return False
        del self.buffer[: end + 4 + length]
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.count)


async def drive(port: int, request: bytes, connections: int, seconds: float) -> int:
    loop = asyncio.get_running_loop()
    deadline = time.perf_counter() + seconds
    futures: list[asyncio.Future[int]] = [loop.create_future() for _ in range(connections)]
    for future in futures:
        await loop.create_connection(functools.partial(Client, request, deadline, future), "127.0.0.1", port)
    counts = await asyncio.gather(*futures)
    return sum(counts)


def run(coroutine: Coroutine[Any, Any, int]) -> int:
    """Runs on uvloop when it is installed (the client must not be the bottleneck)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    result: int = uvloop.run(coroutine)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure the sim's requests/s on one core.")
    parser.add_argument("--flavor", choices=("openai", "sglang"), default="openai")
    parser.add_argument("--stream", action="store_true", help="streamed answers (SSE) instead of whole ones")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sim-cpu", type=int, default=0, help="core the sim is pinned to")
    parser.add_argument("--client-cpu", type=int, default=1, help="core this load generator is pinned to")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > args.client_cpu:
        os.sched_setaffinity(0, {args.client_cpu})
    process, port = start_sim(args.flavor, args.sim_cpu)
    try:
        request = request_bytes(port, args.stream)
        run(drive(port, request, args.connections, 1.0))  # warm-up
        total = run(drive(port, request, args.connections, args.seconds))
    finally:
        process.terminate()
        process.wait(10)
    kind = "streamed" if args.stream else "whole"
    print(
        f"sim {args.flavor} ({kind} answers, sim pinned to cpu {args.sim_cpu}, {args.connections} keep-alive "
        f"connections): {total / args.seconds:,.0f} requests/s"
    )


if __name__ == "__main__":
    main()
