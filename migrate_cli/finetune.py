"""Fine-tune examples from recorded pairs, pure: the incumbent's answers become the training targets.

One example per distinct request the incumbent answered (HTTP 200, a message with content or tool calls).
Two output shapes:

- ``openai-chat-jsonl``: OpenAI's supervised chat format, one ``FineTuneChatRequestInput`` per line
  (``messages`` of system / user / assistant / tool roles, ``tools`` and ``parallel_tool_calls`` where the
  request had them). ``developer`` messages become ``system`` (the format has no developer role).
- ``trl``: the conversational ``messages`` (+ ``tools``) dataset that TRL's ``SFTTrainer`` and axolotl's
  ``chat_template`` type read: content always a string, tool-call ``arguments`` a JSON object (what Hugging Face
  chat templates render), not OpenAI's JSON string.

The train/validation split is by user (the stored ``key_hash``, itself a salted hash of the request's ``user``,
session header or key): a user's examples all land on one side, and on the same side in every export with the
same ``salt``, so a model is never validated on a user it was trained on.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from core.pair import Pair

Format = Literal["openai-chat-jsonl", "trl"]
FORMATS: tuple[Format, ...] = ("openai-chat-jsonl", "trl")
MESSAGE_KEYS = {
    "system": ("role", "content", "name"),
    "user": ("role", "content", "name"),
    "assistant": ("role", "content", "name", "tool_calls", "refusal"),
    "tool": ("role", "content", "tool_call_id"),
}
SPLIT_BUCKETS = 10_000

# Why a pair gave no example (the summary's "left out" section).
NO_INCUMBENT = "no incumbent answer (served by the candidate and not mirrored)"
INCUMBENT_ERROR = "the incumbent answered an error"
EMPTY_ANSWER = "the incumbent's answer has neither content nor tool calls"
TRUNCATED = "the incumbent's answer was cut at max_tokens (finish_reason length)"
NO_MESSAGES = "the request has no usable messages"
UNSUPPORTED_ROLE = "a message role the fine-tuning format has no place for"
DUPLICATE = "duplicate of another request (the latest answer is kept)"


@dataclass(frozen=True)
class Example:
    """One training example: the OpenAI-format record, who sent it, and what it cost in tokens."""

    record: dict[str, Any]
    key_hash: str
    tokens: int
    label: str | None  # the normalised answer, for classification tasks


@dataclass
class Selection:
    """Examples kept (one per distinct request) and, per reason, how many pairs were left out."""

    examples: dict[str, Example] = field(default_factory=dict)
    left_out: Counter[str] = field(default_factory=Counter)
    pairs: int = 0


def select(pairs: Iterable[Pair], *, classify: bool) -> Selection:
    """Keep one example per distinct request (the latest answer wins: pairs come in time order)."""
    selection = Selection()
    for pair in pairs:
        selection.pairs += 1
        example = example_of(pair, classify=classify)
        if isinstance(example, str):
            selection.left_out[example] += 1
            continue
        key = request_key(pair.request)
        if key in selection.examples:
            selection.left_out[DUPLICATE] += 1
        selection.examples[key] = example
    return selection


def request_key(request: Mapping[str, Any]) -> str:
    """What makes two requests the same for training: messages, tools and the answer format, not who/when."""
    wanted = {k: request.get(k) for k in ("messages", "tools", "response_format")}
    text = json.dumps(wanted, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def example_of(pair: Pair, *, classify: bool) -> Example | str:
    """The OpenAI-format example of ``pair``, or the reason it has none."""
    answer = pair.incumbent
    if answer is None:
        return NO_INCUMBENT
    if answer.status != 200 or not answer.ok:
        return INCUMBENT_ERROR
    choice = _first_choice(answer.body)
    if choice.get("finish_reason") == "length":
        return TRUNCATED
    target = assistant_message(choice.get("message"))
    if target is None:
        return EMPTY_ANSWER
    messages = request_messages(pair.request.get("messages"))
    if isinstance(messages, str):
        return messages
    record: dict[str, Any] = {"messages": [*messages, target]}
    tools = pair.request.get("tools")
    if isinstance(tools, list) and tools:
        record["tools"] = [_tool(t) for t in tools]
        if isinstance(pair.request.get("parallel_tool_calls"), bool):
            record["parallel_tool_calls"] = pair.request["parallel_tool_calls"]
    label = _label(target) if classify else None
    return Example(record, pair.key_hash, _tokens(answer.usage), label)


def _first_choice(body: Mapping[str, Any] | None) -> dict[str, Any]:
    choices = body.get("choices") if body else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def assistant_message(message: Any) -> dict[str, Any] | None:
    """The answer as a training target: content and/or tool calls, nothing the API adds (refusal, audio...)."""
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    calls = [_tool_call(c) for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    if not (isinstance(content, str) and content) and not calls:
        return None
    target: dict[str, Any] = {"role": "assistant", "content": content if isinstance(content, str) else None}
    if calls:
        target["tool_calls"] = calls
    return target


def _tool_call(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "id": str(call.get("id") or ""),
        "type": "function",
        "function": {
            "name": str(function.get("name") or ""),
            "arguments": str(function.get("arguments") or ""),
        },
    }


def _tool(tool: Any) -> Any:
    if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
        return {"type": "function", "function": tool["function"]}
    return tool


def request_messages(messages: Any) -> list[dict[str, Any]] | str:
    """The request's messages in the format's roles (developer -> system), or the reason they do not fit."""
    if not isinstance(messages, list) or not messages:
        return NO_MESSAGES
    kept: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, dict):
            return NO_MESSAGES
        role = "system" if message.get("role") == "developer" else message.get("role")
        keys = MESSAGE_KEYS.get(str(role))
        if keys is None:
            return UNSUPPORTED_ROLE
        kept.append({k: message[k] for k in keys if message.get(k) is not None} | {"role": role})
    return kept


def _label(target: Mapping[str, Any]) -> str | None:
    from evaluator.text import normalize_label

    content = target.get("content")
    return normalize_label(content) if isinstance(content, str) else None


def _tokens(usage: Mapping[str, Any]) -> int:
    total = usage.get("total_tokens")
    if isinstance(total, int):
        return total
    parts = (usage.get("prompt_tokens"), usage.get("completion_tokens"))
    return sum(p for p in parts if isinstance(p, int))


def is_validation(key_hash: str, *, salt: str, share: float) -> bool:
    """The user's side of the split: a salted hash of the user's ``key_hash``, the same in every export."""
    digest = hashlib.blake2b(key_hash.encode(), key=salt.encode()[:64], digest_size=8).digest()
    return int.from_bytes(digest, "big") % SPLIT_BUCKETS < round(share * SPLIT_BUCKETS)


def split(examples: Iterable[Example], *, salt: str, share: float) -> tuple[list[Example], list[Example]]:
    """(train, validation), by user: no user has examples on both sides."""
    train: list[Example] = []
    validation: list[Example] = []
    for example in examples:
        (validation if is_validation(example.key_hash, salt=salt, share=share) else train).append(example)
    return train, validation


def as_trl(record: Mapping[str, Any]) -> dict[str, Any]:
    """The TRL / axolotl form of an OpenAI-format example (see the module docstring)."""
    messages = [_trl_message(m) for m in record["messages"]]
    out: dict[str, Any] = {"messages": messages}
    if record.get("tools"):
        out["tools"] = record["tools"]
    return out


def _trl_message(message: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message["role"], "content": _text(message.get("content"))}
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {"type": "function", "function": {"name": c["function"]["name"], "arguments": _args(c)}}
            for c in message["tool_calls"]
        ]
    if message.get("tool_call_id"):
        out["tool_call_id"] = message["tool_call_id"]
    return out


def _text(content: Any) -> str:
    """Content as one string: text parts joined (chat templates expect a string)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _args(call: Mapping[str, Any]) -> Any:
    text = call["function"]["arguments"]
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class SideSummary:
    examples: int
    users: int
    tokens: int
    labels: dict[str, int]


def side_summary(examples: list[Example]) -> SideSummary:
    labels = Counter(e.label for e in examples if e.label is not None)
    return SideSummary(
        examples=len(examples),
        users=len({e.key_hash for e in examples}),
        tokens=sum(e.tokens for e in examples),
        labels=dict(labels.most_common()),
    )
