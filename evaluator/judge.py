"""The optional pairwise judge: any OpenAI-compatible endpoint asked which answer is better.

Each pair is asked twice, once with the incumbent's answer as A and once with the candidate's as A, so a judge
that prefers a position cancels out. Per order the candidate scores 1 (better), 0.5 (tie) or 0 (worse); the
pair's ``judge`` score is the mean of the two orders. Pairs whose answers are identical score 0.5 unasked.
Verdicts are cached in the store (table ``judge_verdicts``), keyed by pair, judge model and prompt version, so
a CI run replays them without network (``offline=True``, or :func:`apply_cached`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from evaluator.scoring import PairScore, Scored, SettingsLike

if TYPE_CHECKING:
    from core.store import Store

log = logging.getLogger(__name__)

PROMPT_VERSION = 1
SYSTEM_PROMPT = (
    "You compare two answers to the same request. Judge correctness first, then completeness and clarity; "
    "ignore length and style. Reply with exactly one word: A if answer A is better, B if answer B is better, "
    "TIE if they are equally good."
)
_CHOICE = re.compile(r"\b(TIE|A|B)\b")


@dataclass(frozen=True)
class Verdict2:
    """The judge's two answers for one pair and the candidate's resulting score."""

    pair_id: str
    incumbent_first: str  # the judge's choice when the incumbent's answer was A: "A", "B" or "TIE"
    candidate_first: str  # ... when the candidate's answer was A
    score: float


@dataclass
class JudgeRun:
    scores: dict[str, float] = field(default_factory=dict)
    cached: int = 0
    asked: int = 0
    unasked_identical: int = 0
    missing: int = 0  # offline with no cached verdict
    failures: dict[str, int] = field(default_factory=dict)


def parse_choice(text: str) -> str | None:
    match = _CHOICE.search(text.upper())
    return match.group(1) if match else None


def combine(incumbent_first: str, candidate_first: str) -> float:
    """The candidate's score from both orders (1 better, 0.5 tie, 0 worse per order, averaged)."""
    first = {"A": 0.0, "B": 1.0}.get(incumbent_first, 0.5)
    second = {"A": 1.0, "B": 0.0}.get(candidate_first, 0.5)
    return (first + second) / 2


def user_prompt(request: str, answer_a: str, answer_b: str) -> str:
    return f"Request:\n{request}\n\nAnswer A:\n{answer_a}\n\nAnswer B:\n{answer_b}\n\nWhich answer is better: A, B or TIE?"


class Judge:
    """Asks ``{url}/chat/completions`` with ``model``; ``api_key`` comes from the CLI edge (never the env here)."""

    def __init__(
        self,
        url: str,
        model: str,
        store: Store,
        *,
        api_key: str | None = None,
        offline: bool = False,
        concurrency: int = 4,
        timeout_s: float = 60.0,
    ) -> None:
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.store = store
        self.api_key = api_key
        self.offline = offline
        self.concurrency = concurrency
        self.timeout_s = timeout_s

    def run(self, scores: Sequence[PairScore]) -> JudgeRun:
        run = JudgeRun()
        cached = load_cached(self.store, self.model)
        todo: list[PairScore] = []
        identical: list[Verdict2] = []  # a tie without asking, cached like an answer so replays agree
        for score in scores:
            if score.pair_id in cached:
                run.scores[score.pair_id] = cached[score.pair_id]
                run.cached += 1
            elif score.incumbent_text == score.candidate_text:
                identical.append(Verdict2(score.pair_id, "TIE", "TIE", 0.5))
            else:
                todo.append(score)
        run.scores.update({v.pair_id: v.score for v in identical})
        run.unasked_identical = len(identical)
        if self.offline:
            run.missing = len(todo)
            return run
        self._save(identical)
        if todo:
            verdicts = asyncio.run(self._ask_all(todo, run))
            self._save(verdicts)
            run.scores.update({v.pair_id: v.score for v in verdicts})
            run.asked = len(verdicts)
        return run

    async def _ask_all(self, todo: Sequence[PairScore], run: JudgeRun) -> list[Verdict2]:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        limit = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout_s, headers=headers) as client:
            results = await asyncio.gather(*(self._ask_pair(client, limit, s, run) for s in todo))
        return [r for r in results if r is not None]

    async def _ask_pair(
        self, client: Any, limit: asyncio.Semaphore, score: PairScore, run: JudgeRun
    ) -> Verdict2 | None:
        first = await self._ask(
            client, limit, user_prompt(score.request, score.incumbent_text, score.candidate_text), run
        )
        second = await self._ask(
            client, limit, user_prompt(score.request, score.candidate_text, score.incumbent_text), run
        )
        if first is None or second is None:
            return None
        return Verdict2(score.pair_id, first, second, combine(first, second))

    async def _ask(self, client: Any, limit: asyncio.Semaphore, prompt: str, run: JudgeRun) -> str | None:
        import httpx

        body = {
            "model": self.model,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": 4,
        }
        async with limit:
            try:
                response = await client.post(self.url, json=body)
                response.raise_for_status()
                content = response.json()["choices"][0]["message"]["content"]
            except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
                reason = f"judge request failed ({type(exc).__name__})"
                run.failures[reason] = run.failures.get(reason, 0) + 1
                log.warning("%s: %s", reason, exc)
                return None
        choice = parse_choice(content if isinstance(content, str) else "")
        if choice is None:
            run.failures["judge answer not A, B or TIE"] = (
                run.failures.get("judge answer not A, B or TIE", 0) + 1
            )
        return choice

    def _save(self, verdicts: Sequence[Verdict2]) -> None:
        if not verdicts:
            return
        now = time.time()
        rows = [
            {
                "pair_id": v.pair_id,
                "model": self.model,
                "prompt_version": PROMPT_VERSION,
                "incumbent_first": v.incumbent_first,
                "candidate_first": v.candidate_first,
                "score": v.score,
                "ts": now,
            }
            for v in verdicts
        ]
        self.store.save_verdicts(rows)


def load_cached(store: Store, model: str | None) -> dict[str, float]:
    """Cached scores by pair id for ``model`` (any model, newest first, when None)."""
    return dict(store.verdict_scores(PROMPT_VERSION, model))


def to_judge(scores: Sequence[PairScore], *, every_pair: bool) -> list[PairScore]:
    """The pairs worth a judge call: every scored pair when a gate reads ``judge_score``, otherwise only those
    the similarity and the fact rules cannot settle between them (:attr:`PairScore.unsettled`)."""
    return list(scores) if every_pair else [score for score in scores if score.unsettled]


def apply_cached(scored: Scored, store: Store, settings: SettingsLike | None) -> int:
    """Fill ``judge`` scores from the cache only (no network); returns how many pairs got one."""
    model = settings.judge.model if settings is not None and settings.judge is not None else None
    return apply_scores(scored, load_cached(store, model))


def apply_scores(scored: Scored, scores: dict[str, float]) -> int:
    count = 0
    for i, score in enumerate(scored.scores):
        value = scores.get(score.pair_id)
        if value is not None:
            scored.scores[i] = replace(score, judge=value)
            count += 1
    return count


def summary(run: JudgeRun) -> dict[str, Any]:
    """Plain counts for the report."""
    return {
        "judged": len(run.scores),
        "cached": run.cached,
        "asked": run.asked,
        "identical_unasked": run.unasked_identical,
        "missing_offline": run.missing,
        "failures": dict(run.failures),
    }
