"""Evaluator throughput, end to end: pairs written to a SQLite store, then read, scored (embeddings included),
tested and rendered (md, json, junit, html) by ``build_report``, as ``alveare-migrate report`` does.

Prints pairs/s for short (about 15 words, one sentence) and long (300 words) prose pairs, the time for one 10,000-pair report
with mixed tasks, the model load time (once per process) and peak RSS. Targets on a 2-core machine:
>= 200 short pairs/s, >= 20 long pairs/s, 10,000 pairs under 2 minutes, peak RSS under 1.5 GB.

    python bench/evaluator_throughput.py [--short 2000] [--long 200] [--mixed 10000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.pair import Answer, Pair  # noqa: E402
from core.store import Store  # noqa: E402
from evaluator import DEFAULT_GATES, build_report, write_reports  # noqa: E402
from evaluator.embed import load_model  # noqa: E402

WORDS = [
    "account",
    "order",
    "refund",
    "delivery",
    "invoice",
    "payment",
    "customer",
    "support",
    "ticket",
    "issue",
    "update",
    "release",
    "version",
    "feature",
    "report",
    "revenue",
    "quarter",
    "growth",
    "cost",
    "price",
    "plan",
    "contract",
    "renewal",
    "service",
    "outage",
    "latency",
    "error",
    "login",
    "password",
    "team",
    "manager",
    "meeting",
    "schedule",
    "deadline",
    "project",
    "budget",
    "review",
    "approval",
    "request",
    "shipment",
    "warehouse",
    "product",
    "quality",
    "complaint",
    "feedback",
    "survey",
    "market",
    "region",
    "sales",
    "forecast",
    "risk",
    "policy",
    "compliance",
    "audit",
    "security",
    "data",
]
FILLER = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "for",
    "on",
    "with",
    "at",
    "by",
    "from",
    "is",
    "was",
    "will",
    "has",
    "had",
    "not",
    "new",
    "last",
    "next",
]


def sentence(rng: random.Random, words: int) -> str:
    picked = [rng.choice(WORDS if i % 2 == 0 else FILLER) for i in range(words)]
    picked.insert(rng.randrange(len(picked)), str(rng.randint(2, 999)))
    return " ".join(picked).capitalize() + "."


def text(rng: random.Random, words: int) -> str:
    parts, count = [], 0
    while count < words:
        n = min(rng.randint(10, 18), words - count)
        parts.append(sentence(rng, max(n, 3)))
        count += n
    return " ".join(parts)


def paraphrase(rng: random.Random, source: str) -> str:
    """The candidate's answer: most words kept, some swapped, so embeddings differ but stay close."""
    words = source.split()
    for _ in range(max(1, len(words) // 8)):
        i = rng.randrange(len(words))
        if not any(ch.isdigit() for ch in words[i]):
            words[i] = rng.choice(WORDS)
    return " ".join(words)


def completion(content: str | None, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 400, "completion_tokens": 120, "total_tokens": 520},
    }


def make_pair(
    i: int,
    task: str,
    request: dict[str, Any],
    incumbent: dict[str, Any],
    candidate: dict[str, Any],
    rng: random.Random,
) -> Pair:
    return Pair(
        pair_id=f"b{i:07d}",
        ts=1_700_000_000.0 + i * 2.0,
        key_hash="k",
        model="gpt-4o-mini",
        target_model="qwen",
        task=task,
        request=request,
        served_side="incumbent",
        percent=50.0,
        incumbent=Answer(200, incumbent, rng.lognormvariate(6.5, 0.4), rng.lognormvariate(5.0, 0.3)),
        candidate=Answer(200, candidate, rng.lognormvariate(6.3, 0.4), rng.lognormvariate(4.8, 0.3)),
    )


def prose_pairs(n: int, words: int, seed: int, start: int = 0) -> Iterator[Pair]:
    rng = random.Random(seed)
    for i in range(n):
        source = text(rng, words * 3)
        answer = text(rng, words)
        request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Summarise:\n" + source}]}
        yield make_pair(
            start + i, "summarise", request, completion(answer), completion(paraphrase(rng, answer)), rng
        )


def mixed_pairs(n: int, seed: int) -> Iterator[Pair]:
    """40% classify, 20% extract, 10% tools, 30% summaries of about 60 words."""
    rng = random.Random(seed)
    labels = ["billing", "bug", "feature request", "account", "other"]
    for i in range(n):
        roll = rng.random()
        request: dict[str, Any]
        if roll < 0.4:
            label = rng.choice(labels)
            other = label if rng.random() < 0.95 else rng.choice(labels)
            request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text(rng, 40)}]}
            yield make_pair(i, "classify", request, completion(label.title()), completion(other + "."), rng)
        elif roll < 0.6:
            amount = rng.randint(1, 9999)
            record = {"name": rng.choice(WORDS), "amount": amount, "items": rng.sample(WORDS, 3)}
            changed = dict(record, amount=amount + (1 if rng.random() < 0.05 else 0))
            request = {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": text(rng, 60)}],
                "response_format": {"type": "json_object"},
            }
            yield make_pair(
                i, "extract", request, completion(json.dumps(record)), completion(json.dumps(changed)), rng
            )
        elif roll < 0.7:
            args = {"city": rng.choice(WORDS), "days": rng.randint(1, 7)}
            call = [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": json.dumps(args)},
                }
            ]
            request = {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "weather?"}],
                "tools": [{"type": "function", "function": {"name": "weather"}}],
            }
            yield make_pair(i, "", request, completion(None, call), completion(None, call), rng)
        else:
            answer = text(rng, 60)
            request = {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "Summarise:\n" + text(rng, 200)}],
            }
            yield make_pair(
                i, "summarise", request, completion(answer), completion(paraphrase(rng, answer)), rng
            )


def timed_report(pairs: Iterator[Pair], workdir: Path, name: str, threads: int) -> tuple[int, float]:
    store = Store.open(f"sqlite:///{workdir / (name + '.sqlite')}")
    store.write_pairs(pairs)
    count = store.count_pairs()
    started = time.perf_counter()
    report = build_report(store.iter_pairs(), DEFAULT_GATES, threads=threads, progress=False, expected=count)
    write_reports(report, ("md", "json", "junit", "html"), workdir / name)
    elapsed = time.perf_counter() - started
    store.close()
    return count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=2000)
    parser.add_argument("--long", type=int, default=200)
    parser.add_argument("--mixed", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    load_model(args.threads)
    print(
        f"model load (once per process): {time.perf_counter() - started:.1f} s, torch threads {args.threads}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        timed_report(prose_pairs(20, 15, seed=9), workdir, "warmup", args.threads)  # imports, first plots
        n, seconds = timed_report(prose_pairs(args.short, 15, seed=1), workdir, "short", args.threads)
        print(
            f"short prose pairs (~15 words): {n} in {seconds:.1f} s = {n / seconds:.0f} pairs/s (target >= 200)"
        )
        n, seconds = timed_report(prose_pairs(args.long, 300, seed=2), workdir, "long", args.threads)
        print(
            f"long prose pairs (300 words): {n} in {seconds:.1f} s = {n / seconds:.1f} pairs/s (target >= 20)"
        )
        n, seconds = timed_report(mixed_pairs(args.mixed, seed=3), workdir, "mixed", args.threads)
        print(
            f"mixed report: {n} pairs in {seconds:.1f} s = {n / seconds:.0f} pairs/s (target: 10,000 under 120 s)"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mb:.0f} MB (target < 1536 MB)")


if __name__ == "__main__":
    main()
