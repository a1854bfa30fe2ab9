"""What our addons add to a chat completion over the bare engine (mitmproxy as we embed it), measured in one run.

Baselines, each driven with the same load: ``direct`` (the incumbent sim, to turn latencies into "added") and
``engine`` (``bench/_engine.py``: the same embedded Master and options as ``proxy/engine.py`` builds, none of our
addons). The engine calls the incumbent alone; a configuration of ours that splits calls both sims, so its
latency is "added" over its own direct mix (each request sent straight to the sim its split picks, measured
at 1 connection with the engine and ours: :func:`direct_mix`). Then our proxy in several configurations
(split %, mirror rate, app keys on/off; recording always on).
Per target: p50/p99 at 1 keep-alive connection, req/s at 16 (and 64 with ``--c64``), streams/s and the time
to the first ``data:`` chunk of 50-event SSE streams at 16 connections, and the resident memory that 1,000
streams held open at once (each past its first event) add to the server; beside req/s at 16, the server's CPU time
per request (its /proc counters over the same slices: on a noisy machine steadier than req/s, which also moves
with what else runs). Prints each figure and ours / engine,
then the issue-15 targets for every configuration::

    .venv/bin/python bench/proxy_overhead.py             # ~2 minutes: one factor varied at a time
    .venv/bin/python bench/proxy_overhead.py --full --c64 --wrk --nginx   # split x mirror x keys, ~5 minutes
    .venv/bin/python bench/proxy_overhead.py --only "split 50%" --seconds 1 --json /tmp/overhead.json

Layout on a 2-core machine: the proxy (or engine, or nginx) alone on cpu 0; both sims, the load generators and
the proxy's recorder worker (a process of its own: parsing and writing pairs is off the served path) on cpu 1,
at idle priority (:func:`place_helpers`).
The sims answer at once (stream events back to back), so what is measured is the proxy.
"""

from __future__ import annotations

import argparse
import functools
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
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _load

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from migrate_cli.main import cli; cli()"]
ENGINE = [sys.executable, str(ROOT / "bench" / "_engine.py")]
STREAM_EVENTS = 50
STREAM_HEADERS = {"x-sim-chunks": str(STREAM_EVENTS), "x-sim-chunk-interval-ms": "0"}
IDLE_HEADERS = {"x-sim-chunks": "2", "x-sim-chunk-interval-ms": "60000"}  # one event, then a minute of quiet
CANDIDATE_MODEL = "qwen:classify"
W = 38  # the scenario column
ROUNDS = 3  # ABBA rounds per comparison
INCUMBENT_KEY = "sk-bench-incumbent"
SPLIT_PERCENT = 50.0  # the default configuration's split (bench/replicas.py uses it too)


@dataclass(frozen=True)
class Variant:
    """One configuration of our proxy."""

    split: float = SPLIT_PERCENT
    mirror: float = 0.0
    keys: bool = False

    @property
    def name(self) -> str:
        return (
            f"split {self.split:g}%"
            + (f" mirror {self.mirror * 100:g}%" if self.mirror else "")
            + (" keys" if self.keys else "")
        )


DEFAULT_VARIANTS = (Variant(50), Variant(0), Variant(100), Variant(50, 0.1), Variant(50, 0.0, True))
FULL_VARIANTS = tuple(Variant(s, m, k) for s in (0, 50, 100) for m in (0.0, 0.1) for k in (False, True))


@dataclass(frozen=True)
class Plan:
    seconds: float
    warmup: float
    variants: tuple[Variant, ...] = DEFAULT_VARIANTS
    c64: bool = False
    wrk: bool = False
    idle_streams: int = 1000
    proxy_cpu: int | None = 0
    load_cpu: int | None = 1


@dataclass
class Figures:
    """What one target measured; times in ms, ``added`` over ``direct`` in the same run."""

    scenario: str
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    rps16: float = float("nan")
    cpu16_us: float = float("nan")  # the server process's CPU time per request at c=16 (steadier than req/s)
    rps64: float = float("nan")
    wrk64: float = float("nan")
    sse_per_s: float = float("nan")
    ttfc_p50_ms: float = float("nan")
    rss_per_1k_kib: float = float("nan")  # resident memory per 1,000 concurrent idle streams
    bad: int = 0
    served: dict[str, int] = field(default_factory=dict)


@dataclass
class Results:
    figures: dict[str, Figures] = field(default_factory=dict)
    proxy_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


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


@dataclass(frozen=True)
class Started:
    """A started process: its pid and the line of its output that said it was ready."""

    pid: int
    match: re.Match[str]

    def group(self, n: int) -> str:
        return self.match.group(n)


@contextmanager
def started(
    command: list[str], log: Path, pattern: str, env: dict[str, str] | None = None
) -> Iterator[Started]:
    with log.open("wb") as out:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    try:
        yield Started(process.pid, wait_line(process, log, pattern, 30.0))
    finally:
        stop(process)


def descendants(pid: int) -> list[int]:
    """Every process started under ``pid`` (children, theirs, ...), read from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def place_helpers(proxy: Started, plan: Plan) -> None:
    """The proxy's helper processes (the recorder's worker and its fork server) run beside the load, not on the
    proxy's core: what they do is off the served path, as on any machine with a core to spare. That core is not
    spare here: the sims and the load generators, which a deployment runs on other machines, time every request
    on it. So the helpers run there at idle priority (``SCHED_IDLE``), on the time those leave. Otherwise a
    sim waking while the worker writes a batch waits out the worker's time slice, and that counts as ours:
    p99 added at c=1 for split 50% was 1.23-1.81x the engine's with normal priority, 0.68-1.01x with idle
    (three runs each). A worker that falls behind shows in the counters printed (``record_dropped``)."""
    if plan.load_cpu is None:
        return
    for pid in descendants(proxy.pid):
        with suppress(OSError):
            os.sched_setaffinity(pid, {plan.load_cpu})
            os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))


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


def proxy_command(tmp: Path, variant: Variant, incumbent: str, candidate: str) -> tuple[list[str], str, str]:
    """The command, the store URL, and the bearer token the clients send (an app key when ``variant.keys``)."""
    from core.store import Store
    from proxy.keys import KeyStore

    name = re.sub(r"[^a-z0-9]+", "-", variant.name)
    store_url = f"sqlite:///{tmp / name}.sqlite"
    store = Store.open(store_url)
    store.append_rollout(variant.split, actor="bench", reason="bench")
    token = "sk-bench"
    if variant.keys:
        token = KeyStore(store).create("bench", rpm=1_000_000_000, tpm=1_000_000_000_000)[1]
    store.close()
    command = [
        *CLI,
        "proxy",
        "--listen=127.0.0.1:0",
        "--admin-listen=127.0.0.1:0",
        f"--store={store_url}",
        f"--incumbent-url={incumbent}",
        f"--candidate-url={candidate}",
        f"--mirror={variant.mirror:g}",
        f"--config={proxy_config(tmp)}",
    ]
    return command, store_url, token


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


@dataclass(frozen=True)
class Target:
    scenario: str
    port: int
    token: str = "sk-bench"
    pid: int | None = None  # the server process, for its memory
    # a direct mix (c=1 only): each body to ports[routes[i]] (``port`` unused), as the split sends it
    routes: tuple[tuple[int, ...], tuple[int, ...]] | None = None


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def merged(samples: list[_load.Sample]) -> _load.Sample:
    out = _load.Sample()
    for sample in samples:
        out.latencies_ms += sample.latencies_ms
        out.ttfts_ms += sample.ttfts_ms
        out.statuses.update(sample.statuses)
        out.broken += sample.broken
        out.seconds += sample.seconds
        for side, values in sample.by_upstream.items():
            out.by_upstream.setdefault(side, []).extend(values)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (its own threads, not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def interleaved(
    targets: list[Target],
    seconds: float,
    load: Any,
    rounds: int = ROUNDS,
    cpu: dict[str, float] | None = None,
    **kwargs: Any,
) -> dict[str, _load.Sample]:
    """Each target measured in turn, then in the reverse order (ABBA), ``rounds`` times in short slices: targets
    compared this way see the same background load, which on a shared machine drifts more than they differ.
    ``cpu``: filled with each server's CPU seconds over its slices."""
    parts: dict[str, list[_load.Sample]] = {t.scenario: [] for t in targets}
    orders = [targets, targets[::-1]] * rounds if len(targets) > 1 else [targets]
    for order in orders:
        for t in order:
            part = seconds / len(orders)
            before = cpu_seconds(t.pid) if cpu is not None and t.pid is not None else 0.0
            if t.routes is not None:
                bodies, connections = load
                assert connections == 1, "a direct mix is measured at one connection"
                ports, routes = t.routes
                sample = _load.measure_routed(
                    "127.0.0.1", ports, bodies, routes, part, token=t.token, **kwargs
                )
            else:
                sample = _load.measure("127.0.0.1", t.port, *load, part, token=t.token, **kwargs)
            parts[t.scenario].append(sample)
            if cpu is not None and t.pid is not None:
                cpu[t.scenario] = cpu.get(t.scenario, 0.0) + cpu_seconds(t.pid) - before
    return {name: merged(samples) for name, samples in parts.items()}


def measure_targets(
    results: Results, targets: list[Target], plan: Plan, *, full: bool = True, c1_too: tuple[Target, ...] = ()
) -> None:
    """Every load of the plan against each target, interleaved; ``full=False``: concurrency 1 and streams only.
    ``c1_too``: targets measured at concurrency 1 only, interleaved with the others (a variant's direct mix).

    wrk runs last: it hangs up with requests in flight when its time is up, which the proxy counts as failures.
    """
    whole = _load.chat_bodies(stream=False)
    streamed = _load.chat_bodies(stream=True)
    for t in (*c1_too, *targets):
        results.figures[t.scenario] = Figures(t.scenario)
    for t in targets:
        _load.measure("127.0.0.1", t.port, whole, 16, plan.warmup, token=t.token)  # pools, lazy imports
    for name, one in interleaved([*c1_too, *targets], plan.seconds, (whole, 1)).items():
        f = results.figures[name]
        f.p50_ms = _load.percentile(one.latencies_ms, 50)
        f.p99_ms = _load.percentile(one.latencies_ms, 99)
        f.bad += one.bad
        f.served = {side: len(v) for side, v in sorted(one.by_upstream.items())}
    if full:
        cpu: dict[str, float] = {}
        for name, many in interleaved(targets, plan.seconds, (whole, 16), cpu=cpu).items():
            results.figures[name].rps16 = many.rps
            results.figures[name].bad += many.bad
            if name in cpu and many.count:
                results.figures[name].cpu16_us = cpu[name] / many.count * 1e6
        if plan.c64:
            for name, many in interleaved(targets, plan.seconds, (whole, 64)).items():
                results.figures[name].rps64 = many.rps
                results.figures[name].bad += many.bad
    for name, sse in interleaved(targets, plan.seconds, (streamed, 16), headers=STREAM_HEADERS).items():
        f = results.figures[name]
        f.sse_per_s = sse.rps
        f.ttfc_p50_ms = _load.percentile(sse.ttfts_ms, 50)
        f.bad += sse.bad + sse.count - len(sse.ttfts_ms)
    if full and plan.idle_streams:
        for t in targets:
            if t.pid is not None:
                opened, grown = _load.hold_streams(
                    "127.0.0.1",
                    t.port,
                    streamed,
                    plan.idle_streams,
                    functools.partial(rss_bytes, t.pid),
                    headers=IDLE_HEADERS,
                    token=t.token,
                )
                f = results.figures[t.scenario]
                f.bad += plan.idle_streams - opened
                f.rss_per_1k_kib = grown / 1024 * 1000 / max(1, opened)
    if full and plan.wrk and _load.wrk_available():
        for t in targets:
            if t.token == "sk-bench":
                wrk = _load.run_wrk(f"http://127.0.0.1:{t.port}", whole, 64, plan.seconds, plan.load_cpu)
                results.figures[t.scenario].wrk64 = wrk.rps
    print(f"  measured {', '.join(t.scenario for t in targets)}", file=sys.stderr, flush=True)


def engine_for(variant: Variant) -> str:
    return f"  engine (for {variant.name})"


def direct_for(name: str) -> str:
    return f"  direct (for {name})"


def is_ours(name: str) -> bool:
    """A configuration of our proxy (not a baseline row)."""
    return name not in ("direct", "nginx") and not name.startswith(("  engine", "  direct"))


def direct_mix(tmp: Path, variant: Variant, urls: tuple[str, str]) -> tuple[Target, ...]:
    """What calling the upstreams directly costs in ``variant``: each request to the side its split sends it
    to (the proxy's own sticky assignment), over a kept-alive connection per side. Latency our proxy adds is
    measured over this; the engine's, over calling the incumbent alone, which is all it calls. Requests that
    alternate between two stand-ins take longer than requests to one (each wakes another process on the
    shared core): without this, that time would count as ours. None when the split sends every request to
    the incumbent (plain ``direct`` is its mix)."""
    from core.config import load_config
    from proxy import assign

    salt = load_config(proxy_config(tmp)).salt
    routes = tuple(
        int(
            assign.choose_side(
                assign.bucket(salt, assign.stickiness_key(json.loads(body), {})), variant.split
            )
            == "candidate"
        )
        for body in _load.chat_bodies(stream=False)
    )
    if not any(routes):
        return ()
    ports = tuple(int(url.rsplit(":", 1)[1]) for url in urls)
    return (Target(direct_for(variant.name), 0, routes=(ports, routes)),)


def measure_proxy(
    results: Results, tmp: Path, plan: Plan, variant: Variant, urls: tuple[str, str], engine: tuple[int, int]
) -> None:
    """Our proxy in ``variant``, interleaved with the bare engine (its baseline)."""
    from core.store import Store

    command, store_url, token = proxy_command(tmp, variant, *urls)
    pattern = r"listening on http://[^:]+:(\d+) \(admin (http://[^)]+)\)"
    log = tmp / (re.sub(r"[^a-z0-9]+", "-", variant.name) + ".log")
    env = {"OPENAI_API_KEY": INCUMBENT_KEY}
    with started(pinned(command, plan.proxy_cpu), log, pattern, env) as m:
        place_helpers(m, plan)
        targets = [
            Target(engine_for(variant), engine[0], pid=engine[1]),
            Target(variant.name, int(m.group(1)), token, pid=m.pid),
        ]
        measure_targets(results, targets, plan, c1_too=direct_mix(tmp, variant, urls))
        status = healthz(m.group(2))
    store = Store.open(store_url)
    status["pairs_in_store"] = store.count_pairs()
    store.close()
    results.proxy_stats[variant.name] = status


def run(plan: Plan, tmp: Path, nginx_too: bool) -> Results:
    results = Results()
    sim = pinned([*CLI, "sim", "--port", "0", "--flavor"], plan.load_cpu)
    pattern = r"listening on (http://[\d.]+:(\d+))"
    with (
        started([*sim, "openai"], tmp / "sim-openai.log", pattern) as incumbent,
        started([*sim, "sglang"], tmp / "sim-sglang.log", pattern) as candidate,
    ):
        measure_targets(results, [Target("direct", int(incumbent.group(2)))], plan, full=False)
        binary = nginx_binary() if nginx_too else None
        if nginx_too and binary is None:
            results.notes.append("nginx: not installed")
        elif binary is not None:
            with nginx(binary, tmp, int(incumbent.group(2)), plan.proxy_cpu) as port:
                measure_targets(results, [Target("nginx", port)], plan)  # its workers' memory is not read
        engine = pinned([*ENGINE, "--incumbent-url", incumbent.group(1)], plan.proxy_cpu)
        for variant in plan.variants:  # a fresh engine each time, as each proxy is: their memory compares
            with started(engine, tmp / "engine.log", r"listening on http://[^:]+:(\d+)") as m:
                urls = (incumbent.group(1), candidate.group(1))
                measure_proxy(results, tmp, plan, variant, urls, (int(m.group(1)), m.pid))
    return results


# --- report -------------------------------------------------------------------------------------------------


TARGETS = (
    ("p50 added at c=1, ours/engine <= 1.15", "added_p50", 1.15, "max"),
    ("p99 added at c=1, ours/engine <= 2", "added_p99", 2.0, "max"),
    ("req/s at c=16, ours/engine >= 0.9", "rps16", 0.9, "min"),
    ("SSE streams/s at c=16, ours/engine >= 0.9", "sse_per_s", 0.9, "min"),
    ("TTFC p50 at c=16, ours - engine <= 0.3 ms", "ttfc_minus", 0.3, "max"),
)


def derived(results: Results, name: str) -> dict[str, float]:
    """Added latencies (over direct) and the figures compared with the engine."""
    f = results.figures[name]
    direct = results.figures.get(direct_for(name), results.figures["direct"])
    return {
        "added_p50": f.p50_ms - direct.p50_ms,
        "added_p99": f.p99_ms - direct.p99_ms,
        "rps16": f.rps16,
        "cpu16": f.cpu16_us,
        "rps64": f.rps64,
        "wrk64": f.wrk64,
        "sse_per_s": f.sse_per_s,
        "ttfc": f.ttfc_p50_ms,
        "rss_1k": f.rss_per_1k_kib,
    }


def ratios(results: Results, name: str) -> dict[str, float]:
    ours = derived(results, name)
    engine = derived(results, next(e for e in results.figures if e == f"  engine (for {name})"))
    out = {k: ours[k] / engine[k] if engine[k] > 0 else float("nan") for k in ours}
    out["ttfc_minus"] = ours["ttfc"] - engine["ttfc"]
    return out


def table(results: Results) -> list[str]:
    cols = [("+p50 c1", "added_p50", ".3f"), ("+p99 c1", "added_p99", ".3f"), ("rps c16", "rps16", ",.0f")]
    if any(f.cpu16_us == f.cpu16_us for f in results.figures.values()):
        cols.append(("CPU us/req", "cpu16", ",.0f"))
    if any(f.rps64 == f.rps64 for f in results.figures.values()):
        cols.append(("rps c64", "rps64", ",.0f"))
    if any(f.wrk64 == f.wrk64 for f in results.figures.values()):
        cols.append(("wrk c64", "wrk64", ",.0f"))
    cols += [("sse/s c16", "sse_per_s", ",.0f"), ("TTFC p50", "ttfc", ".3f")]
    idle = any(f.rss_per_1k_kib == f.rss_per_1k_kib for f in results.figures.values())
    if idle:
        cols.append(("RSS/1k KiB", "rss_1k", ",.0f"))
    head = f"{'scenario':<{W}}" + "".join(f"{c[0]:>11}" for c in cols) + f"{'bad':>6}  served at c=1"
    lines = [head, "-" * len(head)]
    for name, f in results.figures.items():
        if name == "direct" or name.startswith("  direct"):
            sse = f"{f.sse_per_s:>11,.0f}{f.ttfc_p50_ms:>11.3f}" if name == "direct" else f"{'-':>11}" * 2
            lines.append(
                f"{name:<{W}}{f.p50_ms:>11.3f}{f.p99_ms:>11.3f}{'-':>11}"
                + "".join(f"{'-':>11}" for c in cols[3 : -3 if idle else -2])
                + sse
                + (f"{'-':>11}" if idle else "")
                + f"{f.bad:>6}  (p50/p99 absolute)"
            )
            continue
        values = derived(results, name)
        served = " ".join(f"{side} {n}" for side, n in f.served.items())
        lines.append(
            f"{name:<{W}}" + "".join(f"{values[c[1]]:>11{c[2]}}" for c in cols) + f"{f.bad:>6}  {served}"
        )
    lines += ["", "ours / engine (TTFC: ours - engine, ms)", head.split("bad")[0]]
    for name in filter(is_ours, results.figures):
        r = ratios(results, name)
        keys = [c[1] if c[1] != "ttfc" else "ttfc_minus" for c in cols]
        lines.append(
            f"{name:<{W}}"
            + "".join(f"{r[k]:>+11.3f}" if k == "ttfc_minus" else f"{r[k]:>11.2f}" for k in keys)
        )
    return lines


def target_lines(results: Results) -> tuple[list[str], int]:
    lines, missed = [], 0
    for name in filter(is_ours, results.figures):
        r = ratios(results, name)
        marks = []
        for label, key, limit, kind in TARGETS:
            ok = r[key] <= limit if kind == "max" else r[key] >= limit
            missed += not ok
            marks.append(f"{'PASS' if ok else 'MISS'} {label.split(',')[0]} {r[key]:.2f}")
        lines.append(f"  {name:<{W}}" + "; ".join(marks))
    return lines, missed


def stats_lines(results: Results) -> list[str]:
    keys = (
        "requests",
        "pairs",
        "pairs_in_store",
        "mirrored",
        "mirror_dropped",
        "record_dropped",
        "failovers",
    )
    return [
        f"{scenario}: " + ", ".join(f"{k} {status.get(k)}" for k in keys if k in status)
        for scenario, status in results.proxy_stats.items()
    ]


def layout(plan: Plan) -> str:
    if plan.proxy_cpu is None:
        return f"layout: unpinned ({os.cpu_count()} cores)"
    return (
        f"layout: proxy / engine / nginx pinned to cpu {plan.proxy_cpu}; both sims, the load generators and the "
        f"proxy's recorder worker (at idle priority) pinned to cpu {plan.load_cpu}; {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def report(results: Results, plan: Plan) -> list[str]:
    print(layout(plan))
    print(
        f"{plan.seconds:g} s per measurement; recording on; streams of {STREAM_EVENTS} events; "
        "times in ms, p50/p99 added over direct\n"
    )
    print("\n".join(table(results)))
    print("\nproxy counters: " + "; ".join(stats_lines(results)))
    for note in results.notes:
        print(note)
    lines, missed = target_lines(results)
    print(f"\ntargets (ours vs the engine, this run; {missed} missed):")
    print("\n".join(lines))
    return lines


def pick_variants(args: argparse.Namespace) -> tuple[Variant, ...]:
    variants = FULL_VARIANTS if args.full else DEFAULT_VARIANTS
    if args.only:
        variants = tuple(v for v in variants if v.name in args.only)
        if not variants:
            names = ", ".join(v.name for v in (FULL_VARIANTS if args.full else DEFAULT_VARIANTS))
            raise SystemExit(f"--only: no such configuration; choose from: {names}")
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure what our addons add over the bare engine.")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per measurement (default 2)")
    parser.add_argument("--full", action="store_true", help="every split x mirror x keys configuration")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help='one configuration, e.g. "split 50%%"'
    )
    parser.add_argument("--c64", action="store_true", help="also req/s at 64 connections")
    parser.add_argument("--wrk", action="store_true", help="also req/s from wrk at 64 connections")
    parser.add_argument("--nginx", action="store_true", help="also nginx as a second floor")
    parser.add_argument(
        "--idle-streams",
        type=int,
        default=1000,
        metavar="N",
        help="streams held open at once for the memory figure (default 1000; 0: skip)",
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures here")
    args = parser.parse_args()
    two_cores = (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")
    plan = Plan(
        args.seconds,
        min(1.0, args.seconds / 2),
        pick_variants(args),
        args.c64,
        args.wrk,
        args.idle_streams,
        proxy_cpu=0 if two_cores else None,
        load_cpu=1 if two_cores else None,
    )
    if plan.load_cpu is not None:
        os.sched_setaffinity(0, {plan.load_cpu})
    started_at = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="alveare-bench-") as tmp:
        results = run(plan, Path(tmp), args.nginx)
    lines = report(results, plan)
    print(f"\nwhole run: {time.monotonic() - started_at:.0f} s")
    if args.json is not None:
        data = {
            "layout": layout(plan),
            "seconds_per_measurement": plan.seconds,
            "figures": {k: asdict(v) for k, v in results.figures.items()},
            "ratios": {k: ratios(results, k) for k in filter(is_ours, results.figures)},
            "proxy_stats": results.proxy_stats,
            "targets": lines,
            "notes": results.notes,
        }
        args.json.write_text(json.dumps(data, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
