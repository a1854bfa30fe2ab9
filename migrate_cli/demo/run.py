"""`alveare-migrate demo`, the whole loop on one machine: sims, proxy, SDK workload, automatic rollout, reports.

The rollout is the real one: ``policies.runner.Runner`` with the evaluator's sequential gates
(``store_gate_check``) under ``policies/demo.yaml`` (the default policy's gates with demo-sized stage minimums).
The demo only watches it: the judge is wrapped to remember the latest gate results for the progress lines,
and the runner's ``sleep`` prints progress and ends the run when the workload is spent or time is up.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate_cli.demo import servers as servers
from migrate_cli.demo import text as text
from migrate_cli.demo.reports import write_reports
from migrate_cli.demo.servers import STORE_FILE, Child, DemoError, prepare_out_dir
from migrate_cli.demo.workload import TASK_MODELS, Tally, Workload

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store
    from evaluator.verdict import GateResult
    from policies.model import Policy, Stage

SEED = 3  # with it, the good candidate's 3% disagreement falls on 3 labels, 2 orders and 1 summary
GOOD_DISAGREE = 0.03
WORSE_DISAGREE = 0.4
DEFAULT_REQUESTS = 6000
TASKS_TEXT = "/".join(TASK_MODELS)

# Outcome -> exit code: the demo worked whether the candidate was accepted or rejected.
EXIT_DONE = 0
EXIT_UNDECIDED = 3


@dataclass(frozen=True)
class DemoOptions:
    """``quick``: no pacing, faster progress, a shorter time limit (the test variant)."""

    out_dir: Path
    worse: bool = False
    quick: bool = False
    requests: int = DEFAULT_REQUESTS

    @property
    def disagree(self) -> float:
        return WORSE_DISAGREE if self.worse else GOOD_DISAGREE

    @property
    def rate_rps(self) -> float | None:
        return None if self.quick else 110.0

    @property
    def clients(self) -> int:
        return 8

    @property
    def interval_s(self) -> float:
        return 0.5

    @property
    def progress_s(self) -> float:
        return 2.0

    @property
    def time_limit_s(self) -> float:
        return 90.0 if self.quick else 105.0


class Console:
    """Lines prefixed with the seconds since the demo began."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.t0 = time.monotonic()

    def line(self, message: str) -> None:
        self.echo(f"[{time.monotonic() - self.t0:5.1f}s] {message}")

    def sub(self, message: str) -> None:
        self.echo(f"          {message}")


class _StopRun(Exception):
    """Raised from the runner's sleep to end the run: the workload is spent or the time limit passed."""


class Watch:
    """The judge the runner calls, wrapped: remembers the latest gate results and the stage they were for."""

    def __init__(self, judge: Callable[[Stage, float], list[GateResult]]) -> None:
        self.judge = judge
        self.latest: list[dict[str, Any]] = []
        self.since = 0.0

    def __call__(self, stage: Stage, since: float) -> list[GateResult]:
        from policies.controller import result_dict

        results = self.judge(stage, since)
        self.latest, self.since = [result_dict(r) for r in results], since
        return results

    def new_stage(self, store: Store) -> None:
        """A stage just began: forget the last one's results until the judge looks at this one."""
        entry = store.current_rollout()
        self.latest, self.since = [], entry.ts if entry is not None else self.since


class Pacemaker:
    """The runner's ``sleep``: prints a progress line now and then; stops the run when there is no more
    traffic (after one last look at the final pairs) or the time limit passed; raises DemoError if a
    server died."""

    def __init__(
        self,
        console: Console,
        store: Store,
        workload: Workload,
        watch: Watch,
        options: DemoOptions,
        children: list[Child],
    ) -> None:
        self.console, self.store, self.workload, self.watch = console, store, workload, watch
        self.children = children
        self.every_s = options.progress_s
        self.deadline = time.monotonic() + options.time_limit_s
        self.last_print = time.monotonic()
        self.last_served: dict[str, int] = {}
        self.last_look = False
        self.reason = ""

    def sleep(self, seconds: float) -> None:
        if self.last_look:
            raise _StopRun
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            servers.check_alive(self.children)
            if self.workload.finished.wait(min(left, 0.1)):
                self.reason = f"the workload sent all {self.workload.max_requests:,} requests"
                self.last_look = True
                time.sleep(0.5)  # let the proxy record the last pairs before the final evaluation
                return
            if time.monotonic() > self.deadline:
                self.reason = "the demo's time limit passed"
                raise _StopRun
            if time.monotonic() - self.last_print >= self.every_s:
                self.progress()

    def progress(self) -> None:
        from policies.runner import candidate_pairs

        self.last_print = time.monotonic()
        tally = self.workload.snapshot()
        window = {s: n - self.last_served.get(s, 0) for s, n in tally.served.items()}
        self.last_served = dict(tally.served)
        total = sum(window.values())
        share = f"{100 * window.get('candidate', 0) / total:.0f}%" if total else "-"
        pairs = candidate_pairs(self.store, self.watch.since) if self.watch.since else 0
        failed = f", {tally.failed} failed" if tally.failed else ""
        self.console.line(
            f"split {self.store.current_percent():g}%: {tally.sent:,} requests sent{failed} (candidate served "
            f"{share} lately), {pairs:,} pairs this stage; {text.waiting_text(self.watch.latest)}"
        )


def run_demo(options: DemoOptions, echo: Callable[[str], None]) -> int:
    """Run the whole demo; the exit code (0 decided, 3 undecided). Raises DemoError if the demo broke."""
    console = Console(echo)
    out = options.out_dir
    prepare_out_dir(out)
    children: list[Child] = []
    with _sigterm_as_interrupt():
        try:
            return _run(options, console, out, children)
        finally:
            servers.stop(children)


def _run(options: DemoOptions, console: Console, out: Path, children: list[Child]) -> int:
    from core.config import parse_config
    from core.store import Store
    from policies.model import load_policy

    console.line("starting a stand-in OpenAI, a stand-in SGLang and the alveare proxy on 127.0.0.1 ...")
    loader = EmbeddingLoader()
    incumbent, candidate = _start_sims(options, out, children)
    raw = servers.proxy_config(out / STORE_FILE, incumbent.url, candidate.url)
    config = parse_config(raw, source=str(out / "alveare.yaml"))
    servers.write_config(out / "alveare.yaml", raw)
    proxy = servers.spawn("proxy", servers.cli_argv("proxy", "-c", str(out / "alveare.yaml")), out / "logs")
    children.insert(0, proxy)  # stopped first, so it flushes while the sims still answer
    servers.wait_ready(proxy)
    policy_path = resources.files("policies").joinpath("demo.yaml")
    policy = load_policy(Path(str(policy_path)))
    for line in setup_lines(options, incumbent, candidate, proxy, out, policy):
        console.echo(line)
    console.line("loading the evaluator's embedding model (all-MiniLM-L6-v2, on this CPU) ...")
    loader.wait()
    store = Store.open(config.store)
    try:
        ended = _rollout(options, console, store, config, policy, proxy, children)
        servers.stop([proxy])  # drain and flush every recorded pair before the reports read them
        console.line("writing the parity reports ...")
        paths = write_reports(store, policy, config, out / "reports")
        return _summarise(console, store, out, paths, ended)
    finally:
        store.close()


def _start_sims(options: DemoOptions, out: Path, children: list[Child]) -> tuple[Child, Child]:
    incumbent = servers.spawn(
        "incumbent",
        servers.sim_argv("openai", seed=SEED, disagree=0.0, latency_ms=25, ttft_ms=20, chunk_interval_ms=3),
        out / "logs",
    )
    children.append(incumbent)
    candidate = servers.spawn(
        "candidate",
        servers.sim_argv(
            "sglang", seed=SEED, disagree=options.disagree, latency_ms=15, ttft_ms=10, chunk_interval_ms=2
        ),
        out / "logs",
    )
    children.append(candidate)
    servers.wait_ready(incumbent)
    servers.wait_ready(candidate)
    return incumbent, candidate


def _rollout(
    options: DemoOptions,
    console: Console,
    store: Store,
    config: Settings,
    policy: Policy,
    proxy: Child,
    children: list[Child],
) -> Ended:
    """Run the controller while the workload sends traffic through the proxy."""
    from policies.runner import Runner, store_gate_check

    watch = Watch(store_gate_check(store, policy, config.evaluation))
    workload = Workload(
        proxy.url,
        clients=options.clients,
        rate_rps=options.rate_rps,
        max_requests=options.requests,
        seed=SEED,
    )
    pacemaker = Pacemaker(console, store, workload, watch, options, children)

    def on_decision(line: str) -> None:
        action = line.split(" ", 1)[0]
        if action == "HOLD":
            return  # the progress lines show what a stage is waiting for
        console.line(text.decision_headline(line))
        if action in ("ADVANCE", "COMPLETE", "ROLLBACK"):
            for gate in watch.latest:
                console.sub(text.gate_line(gate))
        if action in ("START", "ADVANCE"):
            watch.new_stage(store)

    runner = Runner(
        store,
        policy,
        watch,
        interval_s=options.interval_s,
        owner="demo",
        emit=on_decision,
        sleep=pacemaker.sleep,
    )
    workload.start()
    try:
        runner.run()
    except _StopRun:
        console.line(f"stopping: {pacemaker.reason}")
    finally:
        workload.stop()
    return Ended(workload.snapshot(), pacemaker.reason, text.waiting_text(watch.latest))


@dataclass(frozen=True)
class Ended:
    """How the rollout part ended: what the workload saw; why it stopped before a decision (empty if it did
    not) and what the open stage was still waiting for."""

    tally: Tally
    stopped: str
    waiting: str


def _summarise(console: Console, store: Store, out: Path, paths: list[Path], ended: Ended) -> int:
    outcomes = text.stage_outcomes(store.rollout_history())
    final = store.current_percent()
    console.echo("")
    console.echo("summary")
    for outcome in outcomes:
        for line in text.stage_lines(outcome):
            console.echo("  " + line)
    decided = bool(outcomes) and outcomes[-1].action in ("complete", "rollback")
    if not decided:
        console.echo(f"  stage {final:g}%: undecided: {ended.waiting}")
    console.echo(f"  split now: {final:g}% of {TASKS_TEXT} requests go to the candidate")
    console.echo("  " + traffic_line(ended.tally, store.count_pairs()))
    console.echo("  reports:")
    for path in paths:
        console.echo(f"    {_shown(path)}" + ("/  (this stage's pairs only)" if path.is_dir() else ""))
    console.echo(
        f"  logs: {_shown(out / 'logs')}/; history: alveare-migrate history -c {_shown(out / 'alveare.yaml')}"
    )
    console.echo(text.verdict_line(outcomes, final, TASKS_TEXT, stopped=ended.stopped))
    return EXIT_DONE if decided else EXIT_UNDECIDED


def traffic_line(tally: Tally, pairs: int) -> str:
    failed = f"{tally.failed:,} failed ({'; '.join(tally.errors)})" if tally.failed else "none failed"
    served = ", ".join(f"{n:,} by the {side}" for side, n in sorted(tally.served.items()))
    return f"traffic: {tally.sent:,} SDK requests through the proxy ({served}), {failed}; {pairs:,} pairs recorded"


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd()))
    return str(path)


def setup_lines(
    options: DemoOptions, incumbent: Child, candidate: Child, proxy: Child, out: Path, policy: Policy
) -> list[str]:
    stages = " -> ".join(f"{s.percent:g}%" for s in policy.stages)
    quality = "a clearly worse model" if options.worse else "a realistic specialist"
    pace = "as fast as they can" if options.rate_rps is None else f"~{options.rate_rps:g} requests/s"
    return [
        f"  incumbent  {incumbent.url}  stand-in OpenAI (sim, OpenAI's wire)",
        f"  candidate  {candidate.url}  stand-in SGLang (sim, SGLang's wire): {quality}, "
        f"{options.disagree:.0%} of its answers differ from the reference",
        f"  proxy      {proxy.url}  config {_shown(out / 'alveare.yaml')}, every request mirrored",
        f"  policy     policies/demo.yaml: {stages}, the default policy's gates and margins",
        f"  workload   {options.clients} openai SDK clients, {pace}, up to {options.requests:,} requests: "
        + ", ".join(f"{task} ({model})" for task, model in TASK_MODELS.items()),
    ]


class EmbeddingLoader:
    """Loads the evaluator's embedding model in the background while the servers start (it takes seconds)."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._load, name="demo-embeddings", daemon=True)
        self.thread.start()

    def _load(self) -> None:
        try:
            with contextlib.suppress(ImportError):
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            from evaluator.embed import load_model

            load_model()
        except Exception as exc:
            self.error = exc

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise DemoError(f"the embedding model could not load: {self.error}")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the demo like Ctrl-C does, so the servers are stopped on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
