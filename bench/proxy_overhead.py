"""What the splitting proxy adds to a chat completion, against direct calls and nginx, measured in one run.

Scenarios, each driven with the same load: ``direct`` (the incumbent sim), ``nginx`` (a reverse proxy to the
same sim: the floor, when nginx is installed), and the proxy (split 50%, recording on) with the mirror at 0% and
at 100%. Per scenario: non-streamed p50/p99 and req/s at 1, 16 and 64 keep-alive connections (raw asyncio
client), req/s at 64 connections from ``wrk`` (when installed), and the streamed time to the first ``data:``
chunk at concurrency 1. Prints a table with the added p50 and the ratios to direct, then the four targets::

    .venv/bin/python bench/proxy_overhead.py            # ~1.5 minutes
    .venv/bin/python bench/proxy_overhead.py --quick --json /tmp/overhead.json

Layout on a 2-core machine: the proxy (or nginx) alone on cpu 0; both sims, this load generator and wrk on
cpu 1. The sims answer at once (streams pace their events 1 ms apart), so what is measured is the proxy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _load

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from migrate_cli.main import cli; cli()"]
STREAM_HEADERS = {"x-sim-chunk-interval-ms": "1"}  # a stream whose first chunk comes well before its last
CANDIDATE_MODEL = "qwen:classify"
SPLIT_PERCENT = 50.0


@dataclass(frozen=True)
class Plan:
    seconds: float
    warmup: float
    concurrencies: tuple[int, ...] = (1, 16, 64)
    proxy_cpu: int | None = 0
    load_cpu: int | None = 1


@dataclass(frozen=True)
class Row:
    scenario: str
    load: str  # "c=16" (asyncio client) or "wrk c=64"
    connections: int
    p50_ms: float
    p99_ms: float
    rps: float
    requests: int
    bad: int
    side_p50_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamRow:
    scenario: str
    ttft_p50_ms: float
    ttft_p99_ms: float
    total_p50_ms: float
    requests: int
    bad: int
    served: dict[str, int] = field(default_factory=dict)
    side_ttft_p50_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    streams: list[StreamRow] = field(default_factory=list)
    proxy_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def row(self, scenario: str, load: str) -> Row | None:
        return next((r for r in self.rows if r.scenario == scenario and r.load == load), None)

    def stream(self, scenario: str) -> StreamRow | None:
        return next((s for s in self.streams if s.scenario == scenario), None)


# --- processes ----------------------------------------------------------------------------------------------


def pinned(command: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if cpu is not None and shutil.which("taskset") else command


def wait_line(process: subprocess.Popen[bytes], log: Path, pattern: str, timeout: float) -> re.Match[str]:
    """Wait for a line of ``log`` (the process's stdout) to match ``pattern``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text(encoding="utf-8", errors="replace"))
        if match:
            return match
        if process.poll() is not None:
            break
        time.sleep(0.05)
    stop(process)
    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
    raise SystemExit(f"{log.name}: no line matching {pattern!r} within {timeout:g}s:\n{tail}")


def stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextmanager
def started(command: list[str], log: Path, pattern: str) -> Iterator[re.Match[str]]:
    with log.open("wb") as out:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield wait_line(process, log, pattern, 30.0)
    finally:
        stop(process)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def proxy_config(tmp: Path) -> Path:
    path = tmp / "alveare.yaml"
    path.write_text(
        "models: {gpt-4o-mini: classify}\n"
        f'specialists: {{classify: "{CANDIDATE_MODEL}"}}\n'
        "limits: {rpm: 1000000000, tpm: 1000000000000}\n",  # the bench must not meet the rate limiter
        encoding="utf-8",
    )
    return path


def proxy_command(tmp: Path, name: str, incumbent: str, candidate: str, mirror: str) -> tuple[list[str], str]:
    from core.store import Store

    store_url = f"sqlite:///{tmp / name}.sqlite"
    store = Store.open(store_url)
    store.append_rollout(SPLIT_PERCENT, actor="bench", reason="bench")
    store.close()
    command = [
        *CLI,
        "proxy",
        "--listen=127.0.0.1:0",
        "--admin-listen=127.0.0.1:0",
        f"--store={store_url}",
        f"--incumbent-url={incumbent}",
        f"--candidate-url={candidate}",
        f"--mirror={mirror}",
        f"--config={proxy_config(tmp)}",
    ]
    return command, store_url


NGINX_CONF = """worker_processes 1;
master_process off;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  upstream sim {{ server 127.0.0.1:{upstream}; keepalive 128; keepalive_requests 10000000; }}
  server {{
    listen 127.0.0.1:{port};
    keepalive_requests 10000000;
    location / {{
      proxy_pass http://sim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout:g}s")


@contextmanager
def nginx(binary: str, tmp: Path, upstream: int, cpu: int | None) -> Iterator[int]:
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, upstream=upstream, port=port), encoding="utf-8")
    command = pinned([binary, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "nginx-error.log")], cpu)
    with (tmp / "nginx.out").open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        yield port
    finally:
        stop(process, 10)


def healthz(admin_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(admin_url + "/healthz", timeout=5) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


# --- measuring ----------------------------------------------------------------------------------------------


def p50_by_side(sample: _load.Sample) -> dict[str, float]:
    return {side: round(_load.percentile(v, 50), 3) for side, v in sorted(sample.by_upstream.items())}


def measure_target(
    results: Results,
    scenario: str,
    port: int,
    plan: Plan,
    model: str,
    full: bool = True,
    before_wrk: Callable[[], None] | None = None,
) -> None:
    """Every load of the plan against 127.0.0.1:``port``; ``full=False``: concurrency 1 and the stream only.

    wrk runs last: it hangs up with requests in flight when its time is up, and the proxy counts such client
    disconnects as candidate failures (its circuit breaker opens and the candidate serves nothing for 30 s).
    """
    whole = _load.chat_bodies(stream=False, model=model)
    streamed = _load.chat_bodies(stream=True, model=model)
    _load.measure("127.0.0.1", port, whole, 16, plan.warmup)  # warm-up: pools, lazy imports
    for connections in plan.concurrencies if full else (1,):
        sample = _load.measure("127.0.0.1", port, whole, connections, plan.seconds)
        results.rows.append(
            Row(
                scenario,
                f"c={connections}",
                connections,
                _load.percentile(sample.latencies_ms, 50),
                _load.percentile(sample.latencies_ms, 99),
                sample.rps,
                sample.count,
                sample.bad,
                p50_by_side(sample),
            )
        )
    sample = _load.measure("127.0.0.1", port, streamed, 1, plan.seconds, STREAM_HEADERS)
    results.streams.append(
        StreamRow(
            scenario,
            _load.percentile(sample.ttfts_ms, 50),
            _load.percentile(sample.ttfts_ms, 99),
            _load.percentile(sample.latencies_ms, 50),
            sample.count,
            sample.bad + sample.count - len(sample.ttfts_ms),
            {side: len(v) for side, v in sorted(sample.by_upstream.items())},
            {side: round(_load.percentile(v, 50), 3) for side, v in sorted(sample.ttft_by_upstream.items())},
        )
    )
    if before_wrk is not None:
        before_wrk()
    if full and _load.wrk_available():
        top = max(plan.concurrencies)
        out = _load.run_wrk(f"http://127.0.0.1:{port}", whole, top, plan.seconds, plan.load_cpu)
        results.rows.append(
            Row(scenario, f"wrk c={top}", top, out.p50_ms, out.p99_ms, out.rps, out.requests, out.bad)
        )
    print(f"  measured {scenario}", file=sys.stderr, flush=True)


def measure_proxy(
    results: Results, tmp: Path, plan: Plan, scenario: str, urls: tuple[str, str], mirror: str
) -> None:
    from core.store import Store

    command, store_url = proxy_command(tmp, scenario.replace(" ", "-").replace("%", ""), *urls, mirror)
    pattern = r"listening on http://[^:]+:(\d+) \(admin (http://[^)]+)\)"
    with started(pinned(command, plan.proxy_cpu), tmp / f"{scenario}.log".replace(" ", "-"), pattern) as m:
        admin = m.group(2)
        before: dict[str, Any] = {}
        measure_target(
            results,
            scenario,
            int(m.group(1)),
            plan,
            "gpt-4o-mini",
            before_wrk=lambda: before.update(healthz(admin)),
        )
        status = healthz(admin)
        if before:
            status["failovers_before_wrk"] = before["failovers"]
    store = Store.open(store_url)
    status["pairs_in_store"] = store.count_pairs()
    store.close()
    results.proxy_stats[scenario] = status


def run(plan: Plan, tmp: Path) -> Results:
    results = Results()
    sim = pinned([*CLI, "sim", "--port", "0", "--flavor"], plan.load_cpu)
    pattern = r"listening on (http://[\d.]+:(\d+))"
    with (
        started([*sim, "openai"], tmp / "sim-openai.log", pattern) as incumbent,
        started([*sim, "sglang"], tmp / "sim-sglang.log", pattern) as candidate,
    ):
        measure_target(results, "direct", int(incumbent.group(2)), plan, "gpt-4o-mini")
        measure_target(
            results, "direct candidate", int(candidate.group(2)), plan, CANDIDATE_MODEL, full=False
        )
        binary = nginx_binary()
        if binary is None:
            results.notes.append("nginx: not installed")
        else:
            with nginx(binary, tmp, int(incumbent.group(2)), plan.proxy_cpu) as port:
                measure_target(results, "nginx", port, plan, "gpt-4o-mini")
        urls = (incumbent.group(1), candidate.group(1))
        measure_proxy(results, tmp, plan, "proxy mirror 0%", urls, "0")
        measure_proxy(results, tmp, plan, "proxy mirror 100%", urls, "1")
    if not _load.wrk_available():
        results.notes.append("wrk: not installed (req/s from the asyncio client only)")
    return results


# --- report -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    limit: float
    passed: bool
    detail: str


def targets(results: Results) -> list[Target]:
    out: list[Target] = []
    direct, proxy0, proxy1 = (
        results.row(s, "c=1") for s in ("direct", "proxy mirror 0%", "proxy mirror 100%")
    )
    if direct and proxy0:
        added = proxy0.p50_ms - direct.p50_ms
        detail = f"proxy {proxy0.p50_ms:.3f} vs direct {direct.p50_ms:.3f} ms"
        out.append(Target("p50 added at concurrency 1 <= 1 ms", added, 1.0, added <= 1.0, detail))
    rates = [(r.rps, r.load) for r in results.rows if r.scenario == "proxy mirror 0%"]
    if rates:
        best, load = max(rates)
        out.append(
            Target(">= 1,000 req/s per proxy process", best, 1000.0, best >= 1000.0, f"best at {load}")
        )
    if proxy0 and proxy1:
        added = proxy1.p50_ms - proxy0.p50_ms
        detail = f"mirror 100% {proxy1.p50_ms:.3f} vs 0% {proxy0.p50_ms:.3f} ms at c=1"
        out.append(Target("mirror adds <= 0.5 ms p50 to the served side", added, 0.5, added <= 0.5, detail))
    sdirect, sproxy = results.stream("direct"), results.stream("proxy mirror 0%")
    if sdirect and sproxy:
        added = sproxy.ttft_p50_ms - sdirect.ttft_p50_ms
        detail = f"proxy {sproxy.ttft_p50_ms:.3f} vs direct {sdirect.ttft_p50_ms:.3f} ms"
        out.append(Target("stream TTFT p50 within 1.5 ms of direct", added, 1.5, added <= 1.5, detail))
    return out


def table(results: Results) -> list[str]:
    head = (
        f"{'scenario':<20}{'load':<10}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'+p50 ms':>9}"
        f"{'p50 x':>8}{'req/s x':>9}{'bad':>6}  p50 by served side"
    )
    lines = [head, "-" * len(head)]
    for row in results.rows:
        base = results.row("direct", row.load)
        added = f"{row.p50_ms - base.p50_ms:+.3f}" if base else "-"
        ratio = f"{row.p50_ms / base.p50_ms:.2f}" if base and base.p50_ms > 0 else "-"
        rps_ratio = f"{row.rps / base.rps:.2f}" if base and base.rps > 0 else "-"
        sides = " ".join(f"{side} {ms:.3f}" for side, ms in row.side_p50_ms.items())
        lines.append(
            f"{row.scenario:<20}{row.load:<10}{row.p50_ms:>9.3f}{row.p99_ms:>9.3f}{row.rps:>9,.0f}"
            f"{added:>9}{ratio:>8}{rps_ratio:>9}{row.bad:>6}  {sides}"
        )
    lines += [
        "",
        f"{'stream (c=1)':<20}{'TTFT p50':>10}{'TTFT p99':>10}{'+TTFT p50':>11}{'total p50':>11}{'n':>7}"
        "  served by (n, TTFT p50)",
    ]
    base_stream = results.stream("direct")
    for s in results.streams:
        added = f"{s.ttft_p50_ms - base_stream.ttft_p50_ms:+.3f}" if base_stream else "-"
        lines.append(
            f"{s.scenario:<20}{s.ttft_p50_ms:>10.3f}{s.ttft_p99_ms:>10.3f}{added:>11}{s.total_p50_ms:>11.3f}"
            f"{s.requests:>7}  "
            + " ".join(f"{side} {n} {s.side_ttft_p50_ms.get(side, 0):.3f}" for side, n in s.served.items())
        )
    return lines


def stats_lines(results: Results) -> list[str]:
    keys = (
        "requests",
        "pairs",
        "pairs_in_store",
        "mirrored",
        "mirror_dropped",
        "record_dropped",
        "failovers_before_wrk",
        "failovers",
        "circuit",
    )
    return [
        f"{scenario}: " + ", ".join(f"{k} {status.get(k)}" for k in keys if k in status)
        for scenario, status in results.proxy_stats.items()
    ]


def layout(plan: Plan) -> str:
    if plan.proxy_cpu is None:
        return f"layout: unpinned ({os.cpu_count()} cores)"
    return (
        f"layout: proxy / nginx pinned to cpu {plan.proxy_cpu}; both sims, the asyncio load generator and wrk "
        f"pinned to cpu {plan.load_cpu}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}"
    )


def report(results: Results, plan: Plan) -> list[Target]:
    print(layout(plan))
    print(f"{plan.seconds:g} s per measurement; split {SPLIT_PERCENT:g}%, recording on; times in ms\n")
    print("\n".join(table(results)))
    print("\nproxy counters: " + "; ".join(stats_lines(results)))
    for note in results.notes:
        print(note)
    found = targets(results)
    print("\ntargets (measured in this run):")
    for t in found:
        print(f"  {'PASS' if t.passed else 'MISS'}  {t.name}: {t.value:,.3f} (limit {t.limit:g}); {t.detail}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Measure the proxy's overhead against direct calls and nginx."
    )
    parser.add_argument("--quick", action="store_true", help="1 s per measurement instead of 3")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per measurement")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures here")
    args = parser.parse_args()
    seconds = args.seconds or (1.0 if args.quick else 3.0)
    two_cores = (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")
    plan = Plan(
        seconds, min(1.0, seconds / 2), proxy_cpu=0 if two_cores else None, load_cpu=1 if two_cores else None
    )
    if plan.load_cpu is not None:
        os.sched_setaffinity(0, {plan.load_cpu})
    started_at = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="alveare-bench-") as tmp:
        results = run(plan, Path(tmp))
    found = report(results, plan)
    print(f"\nwhole run: {time.monotonic() - started_at:.0f} s")
    if args.json is not None:
        data = {
            "layout": layout(plan),
            "seconds_per_measurement": plan.seconds,
            "rows": [asdict(r) for r in results.rows],
            "streams": [asdict(s) for s in results.streams],
            "proxy_stats": results.proxy_stats,
            "targets": [asdict(t) for t in found],
            "notes": results.notes,
        }
        args.json.write_text(json.dumps(data, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
