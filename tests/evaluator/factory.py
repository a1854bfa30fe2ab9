"""Build recorded pairs directly (the proxy's own types), for the evaluator tests."""

from __future__ import annotations

import itertools
import json
from typing import Any

from core.pair import Answer, Pair

_ids = itertools.count()


def completion(
    content: str | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def tool_call(name: str, arguments: Any) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": f"call_{next(_ids)}", "type": "function", "function": {"name": name, "arguments": args}}


def ok(
    content: str | None = None, *, latency_ms: float = 300.0, ttft_ms: float | None = None, **kw: Any
) -> Answer:
    return Answer(200, completion(content, **kw), latency_ms, ttft_ms)


def error(status: int = 500, *, latency_ms: float = 50.0, error: str | None = None) -> Answer:
    body = (
        None if error else {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
    )
    return Answer(status, body, latency_ms, None, error)


def request(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


def pair(
    incumbent: Answer | None,
    candidate: Answer | None,
    *,
    task: str = "",
    req: dict[str, Any] | None = None,
    ts: float | None = None,
    model: str = "gpt-4o-mini",
    pair_id: str | None = None,
) -> Pair:
    number = next(_ids)
    return Pair(
        pair_id=pair_id or f"p{number:06d}",
        ts=1_700_000_000.0 + number if ts is None else ts,
        key_hash="k",
        model=model,
        target_model="qwen",
        task=task,
        request=req if req is not None else request(),
        served_side="incumbent",
        percent=10.0,
        incumbent=incumbent,
        candidate=candidate,
    )


def classify_pairs(agree: int, disagree: int, *, task: str = "classify") -> list[Pair]:
    """``agree`` pairs with the same label (case and a trailing period differ) and ``disagree`` with another,
    the disagreements spread evenly through the sequence as traffic would bring them."""
    total = agree + disagree
    return [
        pair(ok("Positive"), ok("negative") if _is_spread(i, disagree, total) else ok("positive."), task=task)
        for i in range(total)
    ]


def _is_spread(i: int, k: int, total: int) -> bool:
    """Is position ``i`` one of ``k`` positions spread evenly over ``total``?"""
    return (i + 1) * k // total > i * k // total
