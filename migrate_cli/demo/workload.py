"""The demo's app: SDK clients sending the bundled classify / extract / summarise items through the proxy.

Deterministic: the items come in a seeded shuffled order, cycled, so every stage sees each item about equally
often; request ``k`` is due at ``start + k / rate`` (no pacing without a rate). Each request names a ``user``
from a pool, so the proxy's sticky split sends about ``percent`` of them to the candidate; the response header
``x-alveare-upstream`` says which side served it. Summaries are streamed, the rest are whole answers.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from backend.sim.tasks import TaskItem, load_tasks

TASK_MODELS = {"classify": "gpt-4o-mini", "extract": "gpt-4.1-mini", "summarise": "gpt-3.5-turbo"}
STREAMED = frozenset({"summarise"})
USERS = 1000
UPSTREAM_HEADER = "x-alveare-upstream"  # the proxy says which side served each answer
APP_KEY = "sk-demo-app"
ERRORS_KEPT = 3


@dataclass
class Tally:
    sent: int = 0
    failed: int = 0
    served: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def copy(self) -> Tally:
        return Tally(self.sent, self.failed, Counter(self.served), list(self.errors))


def request_order(items: list[TaskItem], seed: int) -> list[TaskItem]:
    order = list(items)
    random.Random(seed).shuffle(order)
    return order


def request_for(order: list[TaskItem], k: int) -> tuple[TaskItem, dict[str, Any]]:
    """Request number ``k``: its item and the ``chat.completions.create`` arguments."""
    item = order[k % len(order)]
    kwargs = item.request_kwargs(model=TASK_MODELS[item.task])
    kwargs["user"] = f"demo-user-{k % USERS:04d}"
    if item.task in STREAMED:
        kwargs["stream"] = True
    return item, kwargs


class Workload:
    def __init__(
        self, base_url: str, *, clients: int, rate_rps: float | None, max_requests: int, seed: int
    ) -> None:
        self.base_url = base_url
        self.clients = clients
        self.rate_rps = rate_rps
        self.max_requests = max_requests
        self.order = request_order(load_tasks(), seed)
        self.tally = Tally()
        self.stopping = threading.Event()
        self.finished = threading.Event()
        self._lock = threading.Lock()
        self._next = 0
        self._live = 0
        self._threads: list[threading.Thread] = []
        self._start = 0.0

    def start(self) -> None:
        self._start = time.monotonic()
        self._live = self.clients
        for index in range(self.clients):
            thread = threading.Thread(target=self._worker, name=f"demo-client-{index}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self.stopping.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def snapshot(self) -> Tally:
        with self._lock:
            return self.tally.copy()

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= self.max_requests or self.stopping.is_set():
                return None
            self._next += 1
            return self._next - 1

    def _worker(self) -> None:
        import openai

        client = openai.OpenAI(base_url=self.base_url + "/v1", api_key=APP_KEY, max_retries=0, timeout=30)
        try:
            while (k := self._take()) is not None:
                if self.rate_rps and self.stopping.wait(self._start + k / self.rate_rps - time.monotonic()):
                    break
                self._send(client, k)
        finally:
            client.close()
            with self._lock:
                self._live -= 1
                if self._live == 0:
                    self.finished.set()

    def _send(self, client: Any, k: int) -> None:
        import openai

        item, kwargs = request_for(self.order, k)
        try:
            raw = client.chat.completions.with_raw_response.create(**kwargs)
            side = raw.headers.get(UPSTREAM_HEADER, "unlabelled")
            text = _answer_text(raw.parse(), streamed=bool(kwargs.get("stream")))
            if not text:
                raise ValueError(f"empty answer to {item.id}")
        except (openai.OpenAIError, ValueError) as exc:
            self._record(None, f"{item.id}: {type(exc).__name__}: {_first_line(exc)}")
            return
        self._record(side, None)

    def _record(self, side: str | None, error: str | None) -> None:
        with self._lock:
            self.tally.sent += 1
            if side is not None:
                self.tally.served[side] += 1
            if error is not None:
                self.tally.failed += 1
                if len(self.tally.errors) < ERRORS_KEPT:
                    self.tally.errors.append(error)


def _answer_text(parsed: Any, *, streamed: bool) -> str:
    if streamed:
        return "".join(chunk.choices[0].delta.content or "" for chunk in parsed if chunk.choices)
    return str(parsed.choices[0].message.content or "")


def _first_line(exc: BaseException, limit: int = 100) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else "")[:limit]
