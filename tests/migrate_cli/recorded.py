"""A store filled by real traffic: SDK clients -> the proxy -> stand-in OpenAI (and SGLang) sims on 127.0.0.1.

``record_traffic(tmp_path, count, ...)`` sends ``count`` requests for the bundled dataset's items (item ``k mod
items``, user ``k mod users``, so a repeated item comes from the same user) through a real proxy at 0% (every
request served by the incumbent; ``mirror_rate`` > 0 also asks the candidate) and returns the store's URL and
the in-process incumbent sim, whose ``app.requests_seen`` counts what reached it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend.sim.server import SimOptions, SimServer
from backend.sim.tasks import TaskItem, load_tasks
from tests.proxy.conftest import make_config, start_proxy

MODELS = {"classify": "gpt-4o-mini", "summarise": "gpt-3.5-turbo", "extract": "gpt-4.1-mini"}
SEED = 3


@dataclass
class Recorded:
    store_url: str
    incumbent: SimServer
    candidate: SimServer
    sent: int


def items(task: str) -> list[TaskItem]:
    return [item for item in load_tasks() if item.task == task]


def record_traffic(
    tmp_path: Path,
    tasks: dict[str, int],
    *,
    users: int = 20,
    distinct: int | None = None,
    mirror_rate: float = 0.0,
) -> Recorded:
    """``tasks``: task -> how many requests, over the first ``distinct`` items of each task (all by default);
    the sims are stopped by the caller (``stop``)."""
    incumbent = SimServer(SimOptions(flavor="openai", seed=SEED)).start()
    candidate = SimServer(SimOptions(flavor="sglang", seed=SEED)).start()
    config = make_config(tmp_path, incumbent.base_url, candidate.base_url, mirror__rate=mirror_rate)
    proxy = start_proxy(config, environ={"TEST_INCUMBENT_KEY": "sk-incumbent-secret"})
    sent = 0
    try:
        client = proxy.client()
        for task, count in tasks.items():
            pool = items(task)[:distinct]
            for k in range(count):
                kwargs = pool[k % len(pool)].request_kwargs(model=MODELS[task])
                client.chat.completions.create(**kwargs, user=f"user-{k % users:03d}")
                sent += 1
        proxy.pairs(expected=sent)
    finally:
        proxy.stop()
    return Recorded(config.store, incumbent, candidate, sent)


def stop(recorded: Recorded) -> None:
    recorded.incumbent.stop()
    recorded.candidate.stop()
