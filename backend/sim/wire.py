"""The bytes the sim sends, per flavor, as pure functions of an :class:`~backend.sim.answers.SimAnswer`.

``openai``: bodies and SSE chunks shaped as api.openai.com sends them today (see the recorded exchanges in
``tests/data/openai/fixtures``): pretty-printed ``chat.completion`` with ``refusal``/``annotations``,
``service_tier`` and ``system_fingerprint``; chunks with ``usage: null`` only when ``include_usage`` is set,
a ``choices: []`` usage chunk, ``obfuscation`` padding unless ``stream_options.include_obfuscation`` is false.

``sglang``: what SGLang 0.5.x's pydantic models serialise to: compact JSON, every optional field present as
``null`` (``reasoning_content``, ``tool_calls``, ``matched_stop``), ``metadata.weight_version``, flat errors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from backend.sim.answers import ChoiceAnswer, SimAnswer, count_tokens

DONE = b"data: [DONE]\n\n"
# SGLang reports the EOS token it stopped on; Qwen's <|im_end|> is what a Qwen-based specialist shows.
SGLANG_EOS_TOKEN = 151645
_BASE62 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_TO_BASE62 = bytes(_BASE62[i % 62] for i in range(256))
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_quote = json.encoder.encode_basestring  # the C string encoder, non-ASCII kept as is
_SCALARS: dict[Any, str] = {None: "null", True: "true", False: "false"}


@dataclass(frozen=True)
class Meta:
    """The per-response envelope: fresh id and timestamp, the model name to echo, the fingerprint."""

    id: str
    created: int
    model: str
    fingerprint: str | None = None


@dataclass(frozen=True)
class StreamShape:
    """How a stream is cut: ``pieces`` chunks per text (0: one per word), usage and padding flags."""

    include_usage: bool = False
    obfuscate: bool = True
    logprobs: bool = False
    pieces: int = 0


def random_base62(length: int) -> str:
    """Random letters and digits, fast (ids and padding need not be cryptographic)."""
    return os.urandom(length).translate(_TO_BASE62).decode()


def completion_id() -> str:
    """``chatcmpl-`` and 29 letters and digits, the shape of OpenAI's completion ids."""
    return "chatcmpl-" + random_base62(29)


def compact(obj: Any) -> bytes:
    return _COMPACT.encode(obj).encode()


def pretty(obj: Any, level: int = 0) -> str:
    """``json.dumps(obj, indent=2, ensure_ascii=False)``, several times faster (OpenAI pretty-prints bodies)."""
    kind = type(obj)
    if kind is str:
        return str(_quote(obj))
    if obj is None or kind is bool or kind is int:
        return _SCALARS.get(obj) or str(obj) if kind is not int else str(obj)
    if kind is dict:
        if not obj:
            return "{}"
        pad = "\n" + "  " * (level + 1)
        items = [pad + _quote(key) + ": " + pretty(value, level + 1) for key, value in obj.items()]
        return "{" + ",".join(items) + "\n" + "  " * level + "}"
    if kind is list:
        if not obj:
            return "[]"
        pad = "\n" + "  " * (level + 1)
        return "[" + ",".join(pad + pretty(value, level + 1) for value in obj) + "\n" + "  " * level + "]"
    return _COMPACT.encode(obj)


def sse(obj: Any) -> bytes:
    return b"data: " + compact(obj) + b"\n\n"


def split_text(text: str, pieces: int = 0) -> list[str]:
    """Stream pieces of ``text``: one per word (with its leading space), or ``pieces`` even parts."""
    if not text:
        return []
    if pieces <= 0:
        words = text.split(" ")
        return [words[0]] + [" " + w for w in words[1:]] if words[0] else [" " + w for w in words[1:]]
    size = max(1, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]


def split_arguments(arguments: str, pieces: int = 0) -> list[str]:
    """Argument fragments as OpenAI streams them (a few characters each), or ``pieces`` even parts."""
    if pieces > 0:
        return split_text(arguments, pieces)
    return [arguments[i : i + 5] for i in range(0, len(arguments), 5)]


def _logprobs(pieces: list[str]) -> dict[str, Any]:
    entries = [
        {
            "token": p,
            "logprob": -round(0.013 * (len(p) % 9), 4),
            "bytes": list(p.encode()),
            "top_logprobs": [],
        }
        for p in pieces
    ]
    return {"content": entries, "refusal": None}


# --- openai --------------------------------------------------------------------------------------------------


def openai_usage(answer: SimAnswer) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _openai_message(choice: ChoiceAnswer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": choice.content}
    if choice.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in choice.tool_calls
        ]
    message["refusal"] = None
    message["annotations"] = []
    return message


def openai_body(answer: SimAnswer, meta: Meta, *, logprobs: bool = False) -> bytes:
    """A whole ``chat.completion``, pretty-printed as OpenAI sends it."""
    choices = [
        {
            "index": c.index,
            "message": _openai_message(c),
            "logprobs": _logprobs(split_text(c.content or ""))
            if logprobs and c.content is not None
            else None,
            "finish_reason": c.finish_reason,
        }
        for c in answer.choices
    ]
    body = {
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": choices,
        "usage": openai_usage(answer),
        "service_tier": "default",
        "system_fingerprint": meta.fingerprint,
    }
    return pretty(body).encode()


def _openai_deltas(
    choice: ChoiceAnswer, shape: StreamShape
) -> Iterator[tuple[dict[str, Any], Any, str | None]]:
    """(delta, logprobs, finish_reason) for each chunk of one choice."""
    if not choice.tool_calls:
        yield {"role": "assistant", "content": "", "refusal": None}, None, None
        for piece in split_text(choice.content or "", shape.pieces):
            yield {"content": piece}, _logprobs([piece]) if shape.logprobs else None, None
    for number, call in enumerate(choice.tool_calls):
        start = {
            "index": number,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        if number == 0:
            yield {"role": "assistant", "content": None, "tool_calls": [start], "refusal": None}, None, None
        else:
            yield {"tool_calls": [start]}, None, None
        for fragment in split_arguments(call.arguments, shape.pieces):
            yield {"tool_calls": [{"index": number, "function": {"arguments": fragment}}]}, None, None
    yield {}, None, choice.finish_reason


def openai_events(answer: SimAnswer, meta: Meta, shape: StreamShape) -> list[bytes]:
    """The SSE events of a streamed answer, ``data: [DONE]`` included; choices interleave when ``n > 1``."""
    head = {
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "service_tier": "default",
        "system_fingerprint": meta.fingerprint,
    }
    prefix = "data: " + _COMPACT.encode(head)[:-1] + ',"choices":['
    per_choice = [[(c.index, *d) for d in _openai_deltas(c, shape)] for c in answer.choices]
    events = []
    for index, delta, logprobs, finish in _interleave(per_choice):
        choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        events.append((prefix + _COMPACT.encode(choice) + "]" + _openai_tail(None, shape)).encode())
    if shape.include_usage:
        events.append((prefix + "]" + _openai_tail(openai_usage(answer), shape)).encode())
    events.append(DONE)
    return events


def _openai_tail(usage: dict[str, Any] | None, shape: StreamShape) -> str:
    """What follows ``choices`` in a chunk: ``usage`` (with include_usage), ``obfuscation``, the end."""
    tail = (
        ""
        if not shape.include_usage
        else ',"usage":null'
        if usage is None
        else ',"usage":' + _COMPACT.encode(usage)
    )
    if shape.obfuscate:
        noise = os.urandom(17).translate(_TO_BASE62).decode()
        tail += ',"obfuscation":"' + noise[: 1 + ord(noise[0]) % 16] + '"'
    return tail + "}\n\n"


def _interleave(lists: list[list[Any]]) -> Iterator[Any]:
    for position in range(max((len(x) for x in lists), default=0)):
        for items in lists:
            if position < len(items):
                yield items[position]


def openai_models(models: tuple[str, ...]) -> bytes:
    data = [
        {"id": m, "object": "model", "created": 1686935002 + count_tokens(m) * 86400, "owned_by": "system"}
        for m in models
    ]
    return pretty({"object": "list", "data": data}).encode()


def openai_model(model: str) -> bytes:
    return json.dumps(
        {"id": model, "object": "model", "created": 1686935002, "owned_by": "system"}, indent=2
    ).encode()


# --- sglang --------------------------------------------------------------------------------------------------


def sglang_usage(answer: SimAnswer) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "completion_tokens": answer.completion_tokens,
        "prompt_tokens_details": None,
        "reasoning_tokens": 0,
    }


def _matched_stop(choice: ChoiceAnswer) -> int | str | None:
    if choice.matched_stop is not None:
        return choice.matched_stop
    return None if choice.finish_reason == "length" else SGLANG_EOS_TOKEN


def _sglang_call(number: int, call_id: str | None, name: str | None, arguments: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "index": number,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def sglang_body(answer: SimAnswer, meta: Meta) -> bytes:
    choices = []
    for c in answer.choices:
        calls = [_sglang_call(n, t.id, t.name, t.arguments) for n, t in enumerate(c.tool_calls)] or None
        message = {"role": "assistant", "content": c.content, "reasoning_content": None, "tool_calls": calls}
        choices.append(
            {
                "index": c.index,
                "message": message,
                "logprobs": None,
                "finish_reason": c.finish_reason,
                "matched_stop": _matched_stop(c),
            }
        )
    body = {
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": choices,
        "usage": sglang_usage(answer),
        "metadata": {"weight_version": "default"},
    }
    return compact(body)


def _sglang_deltas(choice: ChoiceAnswer, pieces: int) -> Iterator[tuple[dict[str, Any], str | None, Any]]:
    def delta(role: str | None = None, content: str | None = None, calls: Any = None) -> dict[str, Any]:
        return {"role": role, "content": content, "reasoning_content": None, "tool_calls": calls}

    yield delta("assistant", ""), None, None
    for piece in split_text(choice.content or "", pieces):
        yield delta(content=piece), None, None
    for number, call in enumerate(choice.tool_calls):
        yield delta(calls=[_sglang_call(number, call.id, call.name, "")]), None, None
        for fragment in split_arguments(call.arguments, pieces):
            yield delta(calls=[_sglang_call(number, None, None, fragment)]), None, None
    yield delta(), choice.finish_reason, _matched_stop(choice)


def sglang_events(answer: SimAnswer, meta: Meta, shape: StreamShape) -> list[bytes]:
    head = {"id": meta.id, "object": "chat.completion.chunk", "created": meta.created, "model": meta.model}
    prefix = "data: " + _COMPACT.encode(head)[:-1] + ',"choices":['
    per_choice = [[(c.index, *d) for d in _sglang_deltas(c, shape.pieces)] for c in answer.choices]
    events = []
    for index, delta, finish, matched in _interleave(per_choice):
        choice = {
            "index": index,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish,
            "matched_stop": matched,
        }
        events.append((prefix + _COMPACT.encode(choice) + '],"usage":null}\n\n').encode())
    if shape.include_usage:
        events.append((prefix + '],"usage":' + _COMPACT.encode(sglang_usage(answer)) + "}\n\n").encode())
    events.append(DONE)
    return events


def sglang_error_object(status: int, message: str, error_type: str) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": error_type, "param": None, "code": status}


def sglang_error(status: int, message: str, error_type: str) -> bytes:
    """SGLang's flat error body (``code`` is the HTTP status, an int)."""
    return compact(sglang_error_object(status, message, error_type))


def sglang_stream_error(status: int, message: str, error_type: str) -> bytes:
    """A mid-stream error event as SGLang writes it: ``data: {"error": {...}}``."""
    return sse({"error": sglang_error_object(status, message, error_type)})


def sglang_models(models: tuple[str, ...], *, created: int, max_model_len: int = 32768) -> bytes:
    """SGLang's model list: served models, then LoRA adapters (``base:adapter``) with ``parent`` set."""
    cards: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name in models:
        base, _, adapter = name.partition(":")
        if base not in seen:
            seen.add(base)
            cards.append(_card(base, base, None, created, max_model_len))
        if adapter and adapter not in seen:
            seen.add(adapter)
            cards.append(_card(adapter, f"/adapters/{adapter}", base, created, None))
    return compact({"object": "list", "data": cards})


def _card(model_id: str, root: str, parent: str | None, created: int, max_len: int | None) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": "sglang",
        "root": root,
        "parent": parent,
        "max_model_len": max_len,
    }
