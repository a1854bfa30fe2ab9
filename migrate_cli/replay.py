"""`alveare-migrate replay`: recorded requests sent to the candidate off the live path, judged like live pairs.

Step zero of a migration, and the way to judge a fine-tuned adapter: every recorded request the incumbent
answered is sent to the candidate (never to the incumbent again: its recorded answer is the reference), and the
candidate's answer is stored as a pair with ``source = replay``. `alveare-migrate report --source replay` then
applies the same gates. Rollout gates and savings read live pairs only, so a replay never moves a rollout.

Resumable: a replayed pair's id is derived from the original's and the candidate model, so a second run skips
what is done. Requests that got no HTTP answer at all (the candidate unreachable) are not recorded and are
retried by the next run. Bounded concurrency (``--concurrency``), a progress bar on stderr.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from core.errors import AlveareError
from migrate_cli.app import App, command, store_options

if TYPE_CHECKING:
    import httpx

    from core.config import Settings
    from core.pair import Answer, Pair
    from core.store import Store

WRITE_BATCH = 20
# This many requests in a row with no HTTP answer means the candidate is down: stop rather than spin.
MAX_UNREACHABLE_IN_A_ROW = 20
DROPPED_FIELDS = ("stream", "stream_options")


class ReplayError(AlveareError):
    """Nothing to replay, or a candidate that cannot be reached: one line with the fix, exit code 2."""


def replay_id(original_id: str, candidate_model: str) -> str:
    """The replayed pair's id: the same original and candidate model always give the same id (resume)."""
    return f"replay:{candidate_model}:{original_id}"


@dataclass
class Tally:
    """What a replay run did; ``unreachable_run`` counts transport failures in a row."""

    selected: int = 0
    done_before: int = 0
    recorded: int = 0
    candidate_errors: int = 0
    unreachable: int = 0
    unreachable_run: int = 0
    last_failure: str = ""
    batch: list[Pair] = field(default_factory=list)


@command()
@store_options
@click.option("--task", required=True, help="The task (specialist) whose recorded requests to replay.")
@click.option("--since", default="7d", show_default=True, help="Recorded since: 24h, 7d, an ISO date/time.")
@click.option("--model", default=None, help="Only requests that asked for this model (e.g. gpt-4o-mini).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Replay at most the N latest requests.")
@click.option(
    "--concurrency", type=click.IntRange(1, 256), default=8, show_default=True, help="Requests in flight."
)
@click.option(
    "--candidate-model",
    default=None,
    help="The model name to ask the candidate for (a new adapter: served:adapter). Default: the recorded one.",
)
@click.option("--restart", is_flag=True, help="Forget earlier replayed answers of this selection first.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
@click.pass_obj
def replay(
    app: App,
    *,
    task: str,
    since: str,
    model: str | None,
    limit: int | None,
    concurrency: int,
    candidate_model: str | None,
    restart: bool,
    progress: bool,
) -> None:
    """Send recorded requests the incumbent answered to the candidate (only) and record the answers as replayed
    pairs; judge them with `alveare-migrate report --source replay`. Run it again to continue where it stopped.
    """
    from migrate_cli.report import parse_since

    config = app.settings
    check_candidate(config)
    store = app.store
    since_ts = parse_since(since, time.time())
    originals = eligible(store.iter_pairs(since=since_ts, task=task, model=model), limit)
    if not originals:
        raise ReplayError(
            f"nothing to replay: no request of task {task!r} since {since}"
            + (f" for model {model!r}" if model else "")
            + " has an incumbent answer; check --task/--since, or record traffic with the proxy first"
        )
    todo = [(o, candidate_model or o.target_model) for o in originals]
    if restart:
        forget(store, [replay_id(o.pair_id, m) for o, m in todo])
    tally = Tally(selected=len(todo))
    todo = skip_done(store, todo, tally)
    _run(store, config, todo, tally, concurrency=concurrency, progress=progress)
    click.echo(summary_line(tally, config.candidate.url, task))


def check_candidate(config: Settings) -> None:
    if config.candidate.url.rstrip("/") == config.incumbent.url.rstrip("/"):
        raise ReplayError(
            f"candidate.url is the incumbent's URL ({config.incumbent.url}); replay only ever calls the candidate:"
            " set candidate.url in alveare.yaml"
        )


def eligible(pairs: Iterable[Pair], limit: int | None) -> list[Pair]:
    """Pairs the incumbent answered (its answer is the reference); the latest ``limit`` of them."""
    from collections import deque

    kept: deque[Pair] = deque(maxlen=limit)
    kept.extend(p for p in pairs if p.incumbent is not None and p.incumbent.ok)
    return list(kept)


def forget(store: Store, ids: list[str]) -> None:
    store.delete_pairs(ids, source="replay")


def skip_done(store: Store, todo: list[tuple[Pair, str]], tally: Tally) -> list[tuple[Pair, str]]:
    done = store.pair_ids("replay")
    left = [(o, m) for o, m in todo if replay_id(o.pair_id, m) not in done]
    tally.done_before = len(todo) - len(left)
    return left


def _run(
    store: Store,
    config: Settings,
    todo: list[tuple[Pair, str]],
    tally: Tally,
    *,
    concurrency: int,
    progress: bool,
) -> None:
    from tqdm import tqdm  # type: ignore[import-untyped]

    with tqdm(
        total=len(todo), disable=not progress or not todo, unit="req", desc="replay", leave=False
    ) as bar:
        try:
            asyncio.run(_replay_all(store, config, todo, tally, concurrency, bar.update))
        except KeyboardInterrupt:
            _flush(store, tally)
            left = tally.selected - tally.done_before - tally.recorded
            raise click.ClickException(
                f"interrupted: {tally.recorded} answers recorded, {left} left; run the same command to continue"
            ) from None
    _flush(store, tally)
    if tally.unreachable_run >= MAX_UNREACHABLE_IN_A_ROW:
        raise ReplayError(
            f"the candidate at {config.candidate.url} does not answer ({tally.last_failure}); start it or fix "
            f"candidate.url, then run the same command to continue ({tally.recorded} answers recorded)"
        )


async def _replay_all(
    store: Store, config: Settings, todo: list[tuple[Pair, str]], tally: Tally, concurrency: int, tick: Any
) -> None:
    import httpx

    queue: asyncio.Queue[tuple[Pair, str]] = asyncio.Queue()
    for item in todo:
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(config.candidate.timeout_s, connect=config.failover.connect_timeout_s)
    async with httpx.AsyncClient(base_url=config.candidate.url, limits=limits, timeout=timeout) as client:
        workers = [
            asyncio.create_task(_worker(client, store, config, queue, tally, tick))
            for _ in range(concurrency)
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()


async def _worker(
    client: httpx.AsyncClient,
    store: Store,
    config: Settings,
    queue: asyncio.Queue[tuple[Pair, str]],
    tally: Tally,
    tick: Any,
) -> None:
    while not queue.empty() and tally.unreachable_run < MAX_UNREACHABLE_IN_A_ROW:
        original, candidate_model = queue.get_nowait()
        answer = await ask_candidate(client, original.request, candidate_model, _auth(config))
        tick(1)
        _count(tally, answer)
        if isinstance(answer, str):
            continue
        tally.batch.append(replayed_pair(original, candidate_model, answer))
        if len(tally.batch) >= WRITE_BATCH:
            _flush(store, tally)


def _count(tally: Tally, answer: Answer | str) -> None:
    if isinstance(answer, str):
        tally.unreachable += 1
        tally.unreachable_run += 1
        tally.last_failure = answer
        return
    tally.unreachable_run = 0
    tally.recorded += 1
    tally.candidate_errors += int(not answer.ok)


def _auth(config: Settings) -> dict[str, str]:
    import os

    key = os.environ.get(config.candidate.key_env) if config.candidate.key_env else None
    return {"authorization": f"Bearer {key}"} if key else {}


async def ask_candidate(
    client: httpx.AsyncClient, request: dict[str, Any], model: str, headers: dict[str, str]
) -> Answer | str:
    """The candidate's whole (non-streamed) answer to ``request`` asked as ``model``, or why none came."""
    import json

    import httpx

    from core.pair import Answer

    body = {k: v for k, v in request.items() if k not in DROPPED_FIELDS} | {"model": model}
    started = time.perf_counter()
    try:
        response = await client.post("/v1/chat/completions", json=body, headers=headers)
    except httpx.HTTPError as exc:  # no HTTP answer: not recorded, retried by the next run
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    latency_ms = (time.perf_counter() - started) * 1000
    try:
        parsed = json.loads(response.content)
    except ValueError:
        return Answer(response.status_code, None, latency_ms, None, "malformed JSON answer")
    if not isinstance(parsed, dict):
        return Answer(response.status_code, None, latency_ms, None, "answer is not a JSON object")
    return Answer(response.status_code, parsed, latency_ms)


def replayed_pair(original: Pair, candidate_model: str, answer: Answer) -> Pair:
    """The original request and incumbent answer, with the candidate's replayed answer; original time kept."""
    from dataclasses import replace

    meta = {"replay_of": original.pair_id, "replayed_at": time.time()}
    return replace(
        original,
        pair_id=replay_id(original.pair_id, candidate_model),
        target_model=candidate_model,
        served_side="incumbent",
        failover=False,
        candidate=answer,
        meta=meta,
        source="replay",
    )


def _flush(store: Store, tally: Tally) -> None:
    batch, tally.batch = tally.batch, []
    store.write_pairs(batch)


def summary_line(tally: Tally, url: str, task: str) -> str:
    parts = [
        f"replayed {tally.recorded} of {tally.selected} recorded {task} requests to the candidate at {url}",
        f"{tally.done_before} done by an earlier run" if tally.done_before else "",
        f"{tally.candidate_errors} answered with an error" if tally.candidate_errors else "",
        f"{tally.unreachable} got no answer (run again to retry them)" if tally.unreachable else "",
    ]
    head = "; ".join(p for p in parts if p)
    return f"{head}\njudge them: alveare-migrate report --source replay --task {task}"
