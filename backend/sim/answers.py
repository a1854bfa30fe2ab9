"""What the sim answers, as pure functions of (request body, seed): never of time, order or flavor.

- A prompt from the bundled dataset (``backend.sim.tasks``) gets its reference answer, or with ``disagree`` set,
  for a deterministic share of the items, the answer a weaker model would give (another label, a dropped or
  wrong JSON field, a summary with a changed number or a negation).
- A request with ``tools`` (and ``tool_choice`` not ``"none"``) gets tool calls whose arguments satisfy the
  tool's JSON-schema parameters; after tool results come back it answers in text.
- ``response_format`` ``json_object`` / ``json_schema`` get JSON (valid against the schema).
- Anything else gets synthetic prose of realistic length, seeded by a hash of the request.

Token counts are a deterministic estimate (4 characters a token), the same for streamed and whole answers.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from typing import Any

from backend.sim.jsongen import instance
from backend.sim.tasks import CLASSIFY_LABELS, TaskIndex, TaskItem

# Request fields that do not change what a model would say, only how it is sent or where it is cut off
# (so a streamed answer is the whole one in pieces, and max_tokens/stop truncate the same text).
_TRANSPORT_FIELDS = frozenset(
    {"stream", "stream_options", "n", "user", "metadata", "store", "service_tier", "logprobs", "top_logprobs"}
    | {"stop", "max_tokens", "max_completion_tokens"}
)
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_SENTENCES = (
    "The system keeps your settings in sync across all of your devices.",
    "Most changes take effect right away, while some accounts need a short manual check first.",
    "You can update these details at any time from the dashboard.",
    "We will send a confirmation email once the change is complete.",
    "Our records show that the request was processed normally.",
    "The next step depends on the plan you are on and on your region.",
    "Prices may vary by region, and taxes are added at checkout.",
    "Support is available around the clock by chat and by email.",
    "If the problem persists, clearing the cache and signing in again usually helps.",
    "A refund normally reaches the original payment method within five to seven business days.",
    "Orders ship within two business days and include a tracking number.",
    "For security reasons, we never ask for your password by email.",
    "You can export a full report as CSV from the reports page.",
    "Team plans let an administrator manage seats and billing in one place.",
    "The latest update improves performance and fixes several sync issues.",
    "Let me know if you would like a step-by-step guide.",
)
_OPENERS = ("Sure.", "Thanks for asking.", "Here is a short answer.", "Good question.", "Of course.")
_NEGATABLE = re.compile(r"\b(is|was|were|are|will|has|have|did|can)\b")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChoiceAnswer:
    """One choice: text (``content``) or tool calls, and why it ended."""

    index: int
    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"
    matched_stop: str | None = None


@dataclass(frozen=True)
class SimAnswer:
    choices: tuple[ChoiceAnswer, ...]
    prompt_tokens: int
    completion_tokens: int
    item: TaskItem | None = None
    disagreed: bool = False


def count_tokens(text: str) -> int:
    """The sim's tokenizer estimate: one token per 4 characters, rounded up."""
    return (len(text) + 3) // 4


def answer(
    request: dict[str, Any],
    tasks: TaskIndex,
    *,
    seed: int = 0,
    disagree: float = 0.0,
    item_id: str | None = None,
    force_disagree: bool | None = None,
) -> SimAnswer:
    """The answer to a validated chat-completions ``request`` (a dict with ``messages``)."""
    messages = _list(request, "messages")
    item = tasks.find(item_id=item_id, prompt=last_user_text(messages))
    digest = request_digest(request, seed)
    count = int(request.get("n") or 1)
    disagreed = False
    if item is not None and not _forced_tool(request):
        disagreed = force_disagree if force_disagree is not None else disagrees(seed, item.id, disagree)
        text = disagreeing_answer(item, seed) if disagreed else item.reference
        choices = tuple(_finish_text(request, i, text) for i in range(count))
    else:
        choices = tuple(_choice(request, i, random.Random(_choice_seed(digest, i))) for i in range(count))
    completion = sum(_completion_tokens(c) for c in choices)
    return SimAnswer(choices, prompt_tokens(request), completion, item, disagreed)


def _list(request: dict[str, Any], key: str) -> list[Any]:
    """``request[key]`` when it is a list (SGLang's flavor validates less than OpenAI's), else empty."""
    value = request.get(key)
    return value if isinstance(value, list) else []


def request_digest(request: dict[str, Any], seed: int) -> bytes:
    """A hash of what the request asks (transport fields aside) and the seed."""
    asked = {k: v for k, v in request.items() if k not in _TRANSPORT_FIELDS}
    canonical = json.dumps(asked, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{seed}\x00{canonical}".encode()).digest()


def _choice_seed(digest: bytes, index: int) -> int:
    return int.from_bytes(hashlib.sha256(digest + index.to_bytes(4, "big")).digest()[:8], "big")


def unit_hash(*parts: object) -> float:
    """A deterministic number in [0, 1) from ``parts``."""
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def disagrees(seed: int, item_id: str, rate: float) -> bool:
    """Whether this item's answer differs from the reference at ``rate``; the same item always decides the
    same way for a seed, and an item that disagrees at one rate also disagrees at every higher rate."""
    return rate > 0 and unit_hash(seed, item_id, "disagree") < rate


def last_user_text(messages: list[Any]) -> str | None:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message)
    return None


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def prompt_tokens(request: dict[str, Any]) -> int:
    total = 3
    for message in _list(request, "messages"):
        if isinstance(message, dict):
            calls = message.get("tool_calls") or []
            extra = json.dumps(calls, separators=(",", ":")) if calls else ""
            total += count_tokens(message_text(message)) + count_tokens(extra) + 4
    if request.get("tools"):
        total += count_tokens(json.dumps(request["tools"], separators=(",", ":")))
    return total


def _completion_tokens(choice: ChoiceAnswer) -> int:
    calls = sum(count_tokens(c.name) + count_tokens(c.arguments) + 3 for c in choice.tool_calls)
    return count_tokens(choice.content or "") + calls


# --- dataset disagreement ------------------------------------------------------------------------------------


def disagreeing_answer(item: TaskItem, seed: int) -> str:
    """The answer a weaker model gives for ``item``: it always differs from the reference."""
    rng = random.Random(_choice_seed(hashlib.sha256(f"{seed}\x00{item.id}".encode()).digest(), 0))
    if item.task == "classify":
        return rng.choice([label for label in CLASSIFY_LABELS if label != item.reference])
    if item.task == "extract":
        return _wrong_fields(item.reference, rng)
    return _wrong_summary(item.reference, rng)


def _wrong_fields(reference: str, rng: random.Random) -> str:
    fields = json.loads(reference)
    key = rng.choice(sorted(fields))
    if rng.random() < 0.5:
        del fields[key]
    else:
        fields[key] = _wrong_value(fields[key], rng)
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def _wrong_value(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if isinstance(value, (int, float)):
        return round(value + rng.choice((-10, 10, 100)), 2)
    digits = _NUMBER.search(value)
    if digits:
        changed = str((int(digits.group()) + rng.randint(1, 8)) % 10 ** len(digits.group())).zfill(
            len(digits.group())
        )
        return value[: digits.start()] + changed + value[digits.end() :]
    return value.split()[0] if " " in value else value[::-1].capitalize()


def _wrong_summary(reference: str, rng: random.Random) -> str:
    numbers = list(_NUMBER.finditer(reference))
    if numbers and rng.random() < 0.5:
        match = rng.choice(numbers)
        changed = str(int(match.group()) + rng.randint(1, 9))
        return reference[: match.start()] + changed + reference[match.end() :]
    verb = _NEGATABLE.search(reference)
    if verb:
        return reference[: verb.end()] + " not" + reference[verb.end() :]
    return "It is not true that " + reference


# --- synthetic answers ---------------------------------------------------------------------------------------


def _forced_tool(request: dict[str, Any]) -> bool:
    choice = request.get("tool_choice")
    return bool(request.get("tools")) and (choice == "required" or isinstance(choice, dict))


def _choice(request: dict[str, Any], index: int, rng: random.Random) -> ChoiceAnswer:
    functions = _callable_functions(request)
    if functions:
        return ChoiceAnswer(index, None, _tool_calls(request, functions, rng), "tool_calls")
    return _finish_text(request, index, _text(request, rng))


def _callable_functions(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The functions this request makes the model call now; empty when it should answer in text."""
    tools = _list(request, "tools")
    functions = [t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    choice = request.get("tool_choice", "auto")
    if not functions or choice == "none":
        return []
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return [f for f in functions if f.get("name") == name][:1]
    messages = _list(request, "messages")
    answered = bool(messages) and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"
    return functions if choice == "required" or not answered else []


def _tool_calls(
    request: dict[str, Any], functions: list[dict[str, Any]], rng: random.Random
) -> tuple[ToolCall, ...]:
    single = request.get("parallel_tool_calls") is False or isinstance(request.get("tool_choice"), dict)
    count = 1 if single else rng.choice((1, 1, 2))
    calls = []
    for _ in range(count):
        function = rng.choice(functions)
        arguments = instance(function.get("parameters") or {"type": "object", "properties": {}}, rng)
        call_id = "call_" + "".join(rng.choice(_ID_ALPHABET) for _ in range(24))
        calls.append(
            ToolCall(call_id, str(function.get("name", "")), json.dumps(arguments, ensure_ascii=False))
        )
    return tuple(calls)


def _text(request: dict[str, Any], rng: random.Random) -> str:
    fmt = request.get("response_format") or {}
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = (spec.get("schema") if isinstance(spec, dict) else None) or {"type": "object"}
        return json.dumps(instance(schema, rng), separators=(",", ":"), ensure_ascii=False)
    if kind == "json_object":
        return json.dumps({"answer": rng.choice(_SENTENCES)}, ensure_ascii=False)
    messages = _list(request, "messages")
    results = [message_text(m) for m in messages if isinstance(m, dict) and m.get("role") == "tool"]
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool":
        return "Here is what I found: " + "; ".join(r for r in results if r) + "."
    return " ".join([rng.choice(_OPENERS), *rng.sample(_SENTENCES, rng.randint(1, 4))])


def _finish_text(request: dict[str, Any], index: int, text: str) -> ChoiceAnswer:
    """Applies ``stop`` sequences and ``max_tokens`` the way a server does."""
    given = request.get("stop")
    stops = (
        [given]
        if isinstance(given, str) and given
        else [s for s in _list(request, "stop") if isinstance(s, str) and s]
    )
    hits = [(text.find(s), s) for s in stops if s in text]
    if hits:
        at, matched = min(hits)
        return ChoiceAnswer(index, text[:at], (), "stop", matched)
    limit = request.get("max_completion_tokens") or request.get("max_tokens")
    if isinstance(limit, int) and count_tokens(text) > limit:
        return ChoiceAnswer(index, text[: limit * 4], (), "length")
    return ChoiceAnswer(index, text)
