"""What OpenAI's wire requires of a chat completion, as checked here: pure validators, no I/O.

The structural checks follow OpenAI's OpenAPI schema: required keys with their JSON types, extra keys allowed.
In completions and chunks a null key and an absent one count alike, as every official SDK reads them (so
SGLang's explicit ``tool_calls: null`` and its missing ``refusal`` pass, a missing ``id`` does not). Error
bodies are held to all four keys: the SDK hands apps the raw error dict (``e.body["code"]``). Streams are
checked for SSE framing, one id, usage placement and tool-call deltas; headers for ``x-request-id`` and the
six ``x-ratelimit-*``. Each validator returns the problems it finds, as short sentences (empty: conforms).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

Spec = Mapping[str, tuple[type, ...]]

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
REQUEST_ID = re.compile(r"req_[0-9a-f]{32}")
RATELIMIT_COUNTS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
)
RATELIMIT_RESETS = ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
_DURATION = re.compile(r"(?=\d)(\d+h)?(\d+m(?!s))?(\d+(\.\d+)?(ms|s))?")  # Go style: 6ms, 8.64s, 1m6.779s
_NULL = type(None)

_COMPLETION: Spec = {"id": (str,), "object": (str,), "created": (int,), "model": (str,), "choices": (list,)}
_CHOICE: Spec = {"index": (int,), "message": (dict,), "finish_reason": (str,), "logprobs": (dict, _NULL)}
_MESSAGE: Spec = {"role": (str,), "content": (str, _NULL), "refusal": (str, _NULL)}
_TOOL_CALL: Spec = {"id": (str,), "type": (str,), "function": (dict,)}
_FUNCTION: Spec = {"name": (str,), "arguments": (str,)}
_CHUNK_CHOICE: Spec = {"index": (int,), "delta": (dict,), "finish_reason": (str, _NULL)}
_DELTA: Spec = {"content": (str, _NULL), "tool_calls": (list, _NULL), "refusal": (str, _NULL)}
_USAGE: Spec = {"prompt_tokens": (int,), "completion_tokens": (int,), "total_tokens": (int,)}
_ERROR: Spec = {"message": (str,), "type": (str,), "param": (str, _NULL), "code": (str, _NULL)}
_JSON_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type (``integer``, ``null``, ...)."""
    return "null" if value is None else _JSON_NAMES.get(type(value), type(value).__name__)


def _has_type(value: object, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types) or (isinstance(value, int) and float in types)


def key_problems(obj: object, where: str, spec: Spec, *, absent_is_null: bool = True) -> list[str]:
    """Missing or mistyped keys of a JSON object. ``type(None)`` in ``spec`` allows null, and absence too
    unless ``absent_is_null`` is False."""
    if not isinstance(obj, dict):
        return [f"{where} is {json_type(obj)} {preview(obj)}, expected object"]
    problems = []
    for key, types in spec.items():
        if key not in obj:
            if not (absent_is_null and _NULL in types):
                problems.append(f"{where}.{key} missing")
        elif not _has_type(obj[key], types):
            expected = " or ".join("null" if t is _NULL else _JSON_NAMES[t] for t in types)
            problems.append(
                f"{where}.{key} is {json_type(obj[key])} {preview(obj[key])}, expected {expected}"
            )
    return problems


def preview(value: object, width: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def usage_problems(usage: object, where: str) -> list[str]:
    """Token counts present, integers, and adding up."""
    problems = key_problems(usage, where, _USAGE)
    if not problems:
        u = cast(dict[str, int], usage)
        if u["prompt_tokens"] + u["completion_tokens"] != u["total_tokens"]:
            problems.append(f"{where}.total_tokens != prompt_tokens + completion_tokens")
    return problems


def tool_call_problems(call: object, where: str) -> list[str]:
    problems = key_problems(call, where, _TOOL_CALL)
    if problems:
        return problems
    c = cast(dict[str, Any], call)
    if c["type"] != "function":
        problems.append(f"{where}.type is {c['type']!r}, expected 'function'")
    return problems + key_problems(c["function"], f"{where}.function", _FUNCTION)


def completion_problems(body: object) -> list[str]:
    """A non-streamed body against CreateChatCompletionResponse (required keys, types, enums)."""
    problems = key_problems(body, "body", _COMPLETION)
    if problems:
        return problems
    b = cast(dict[str, Any], body)
    if b["object"] != "chat.completion":
        problems.append(f"body.object is {b['object']!r}, expected 'chat.completion'")
    if not b["choices"]:
        problems.append("body.choices is empty")
    for i, choice in enumerate(b["choices"]):
        problems += _choice_problems(choice, f"choices[{i}]")
    return problems + usage_problems(b.get("usage"), "body.usage")


def _choice_problems(choice: object, where: str) -> list[str]:
    problems = key_problems(choice, where, _CHOICE)
    if problems:
        return problems
    c = cast(dict[str, Any], choice)
    if c["finish_reason"] not in FINISH_REASONS:
        problems.append(f"{where}.finish_reason {c['finish_reason']!r} is not one of OpenAI's")
    problems += key_problems(c["message"], f"{where}.message", _MESSAGE)
    message = c["message"]
    if message.get("role", "assistant") != "assistant":
        problems.append(f"{where}.message.role is {message['role']!r}, expected 'assistant'")
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        problems.append(f"{where}.message.tool_calls is {json_type(calls)}, expected array")
    for j, call in enumerate(calls if isinstance(calls, list) else []):
        problems += tool_call_problems(call, f"{where}.message.tool_calls[{j}]")
    return problems


def chunk_problems(chunk: object, where: str) -> list[str]:
    """One streamed chunk against CreateChatCompletionStreamResponse."""
    problems = key_problems(chunk, where, _COMPLETION)
    if problems:
        return problems
    c = cast(dict[str, Any], chunk)
    if c["object"] != "chat.completion.chunk":
        problems.append(f"{where}.object is {c['object']!r}, expected 'chat.completion.chunk'")
    for i, choice in enumerate(c["choices"]):
        problems += _chunk_choice_problems(choice, f"{where}.choices[{i}]")
    return problems


def _chunk_choice_problems(choice: object, where: str) -> list[str]:
    problems = key_problems(choice, where, _CHUNK_CHOICE)
    if problems:
        return problems
    c = cast(dict[str, Any], choice)
    if c["finish_reason"] is not None and c["finish_reason"] not in FINISH_REASONS:
        problems.append(f"{where}.finish_reason {c['finish_reason']!r} is not one of OpenAI's")
    return problems + key_problems(c["delta"], f"{where}.delta", _DELTA)


def parse_sse(body: bytes) -> tuple[list[object], list[str]]:
    """The JSON payloads of an SSE body, and what is wrong with its framing (bad JSON, no final [DONE])."""
    text = body.decode("utf-8", errors="replace").replace("\r\n", "\n")
    chunks: list[object] = []
    problems: list[str] = []
    done = False
    for block in text.split("\n\n"):
        lines = [line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")]
        if not lines:
            continue
        data = "\n".join(lines)
        if done:
            problems.append(f"data after [DONE]: {data[:40]!r}")
            break
        if data == "[DONE]":
            done = True
            continue
        try:
            chunks.append(json.loads(data))
        except ValueError:
            problems.append(f"event {len(chunks)} is not JSON: {data[:40]!r}")
    if not done:
        problems.append("stream did not end with 'data: [DONE]'")
    return chunks, problems


def stream_problems(chunks: Sequence[object]) -> list[str]:
    """Every chunk well formed, one id for all, and a finish_reason somewhere."""
    if not chunks:
        return ["stream carried no chunks"]
    problems = _across_chunks([chunk_problems(chunk, "chunk[*]") for chunk in chunks])
    ids = {c.get("id") for c in chunks if isinstance(c, dict)}
    if len(ids) > 1:
        problems.append(f"chunks carry {len(ids)} different ids")
    if not any(choice.get("finish_reason") for choice in chunk_choices(chunks)):
        problems.append("no chunk carries a finish_reason")
    return problems


def _across_chunks(per_chunk: list[list[str]]) -> list[str]:
    """Each distinct problem once, saying how many chunks have it (a stream repeats the same fault)."""
    seen: dict[str, list[int]] = {}
    for i, problems in enumerate(per_chunk):
        for problem in problems:
            seen.setdefault(problem, []).append(i)
    return [f"{p} (in {len(ix)} of {len(per_chunk)} chunks, from #{ix[0]})" for p, ix in seen.items()]


def chunk_choices(chunks: Sequence[object]) -> Iterator[dict[str, Any]]:
    for chunk in chunks:
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        yield from (c for c in choices or [] if isinstance(c, dict))


def stream_usage_problems(chunks: Sequence[object]) -> list[str]:
    """With include_usage: ``usage: null`` on every chunk, then a last chunk with ``choices: []`` and the usage."""
    if not chunks:
        return ["stream carried no chunks"]
    early = [c.get("usage") if isinstance(c, dict) else None for c in chunks[:-1]]
    problems = _across_chunks(
        [
            [] if u is None else [f"chunk[*].usage is {json_type(u)}, expected null before the last chunk"]
            for u in early
        ]
    )
    last = chunks[-1]
    if not isinstance(last, dict) or last.get("choices") != []:
        return [*problems, f"last chunk is {preview(last)}, expected the usage chunk with choices: []"]
    return problems + usage_problems(last.get("usage"), "last chunk.usage")


def stream_tool_problems(chunks: Sequence[object]) -> tuple[dict[int, dict[str, str]], list[str]]:
    """Tool calls re-assembled from their deltas, as OpenAI sends them.

    The first delta of each call carries index, id, type and name with ``arguments: ""``; later deltas carry
    only the index and an arguments fragment (the SDK concatenates string fields, so a repeated id or name
    would corrupt them). The stream must finish with ``finish_reason: "tool_calls"``.
    """
    calls: dict[int, dict[str, str]] = {}
    problems: list[str] = []
    for choice in chunk_choices(chunks):
        for delta in (choice.get("delta") or {}).get("tool_calls") or []:
            problems += _tool_delta(calls, delta)
    if not calls:
        problems.append("no tool_calls deltas")
    if sorted(calls) != list(range(len(calls))):
        problems.append(f"tool call indexes {sorted(calls)} are not 0..n-1")
    for index, call in calls.items():
        problems += arguments_problems(call["arguments"], f"call {index} arguments")
    finishes = [c["finish_reason"] for c in chunk_choices(chunks) if c.get("finish_reason")]
    if finishes != ["tool_calls"]:
        problems.append(f"finish_reason(s) {finishes}, expected ['tool_calls']")
    return calls, problems


def _tool_delta(calls: dict[int, dict[str, str]], delta: object) -> list[str]:
    if not isinstance(delta, dict) or not _has_type(delta.get("index"), (int,)):
        return [f"tool_calls delta without an integer index: {preview(delta)}"]
    index = cast(int, delta["index"])
    function = delta.get("function")
    function = function if isinstance(function, dict) else {}
    arguments = function.get("arguments")
    if index in calls:
        repeated = [k for k, v in (("id", delta.get("id")), ("name", function.get("name"))) if v]
        problems = [
            f"later delta of call {index} repeats {k} (the SDK would concatenate it)" for k in repeated
        ]
        if not isinstance(arguments, str):
            problems.append(
                f"later delta of call {index} has arguments {preview(arguments)}, expected string"
            )
        calls[index]["arguments"] += arguments if isinstance(arguments, str) else ""
        return problems
    problems = key_problems(delta, f"first delta of call {index}", {"id": (str,), "type": (str,)})
    problems += key_problems(function, f"first delta of call {index}.function", {"name": (str,)})
    if arguments != "":
        problems.append(f'first delta of call {index} has arguments {preview(arguments)}, expected ""')
    text = arguments if isinstance(arguments, str) else ""
    calls[index] = {"id": str(delta.get("id")), "name": str(function.get("name")), "arguments": text}
    return problems


def arguments_problems(arguments: str, where: str) -> list[str]:
    try:
        value = json.loads(arguments)
    except ValueError:
        return [f"{where} are not JSON: {arguments[:40]!r}"]
    return [] if isinstance(value, dict) else [f"{where} are {json_type(value)}, expected object"]


def error_body_problems(body: object) -> list[str]:
    """OpenAI's error body: ``{"error": {"message": str, "type": str, "param": str|null, "code": str|null}}``."""
    if not isinstance(body, dict):
        return [f'body is {json_type(body)} {preview(body)}, expected {{"error": {{...}}}}']
    if "error" not in body:  # SGLang's flat {"object": "error", "message", "type", "param", "code": 400}
        flat = f'body is flat {{{", ".join(body)}}}, expected {{"error": {{...}}}}'
        return [flat, *key_problems(body, "body", _ERROR, absent_is_null=False)]
    return key_problems(body["error"], "error", _ERROR, absent_is_null=False)


def request_id_problem(headers: Mapping[str, str]) -> str | None:
    value = headers.get("x-request-id")
    if value is None:
        return "no x-request-id"
    return None if REQUEST_ID.fullmatch(value) else f"x-request-id {value!r} is not req_<32 hex>"


def ratelimit_problems(headers: Mapping[str, str]) -> list[str]:
    """The six ``x-ratelimit-*`` headers: counts as integers (remaining <= limit), resets as Go durations."""
    missing = [h for h in (*RATELIMIT_COUNTS, *RATELIMIT_RESETS) if h not in headers]
    if missing:
        return [f"missing {', '.join(missing)}"]
    problems = [
        f"{h}: {headers[h]!r} is not an integer" for h in RATELIMIT_COUNTS if not headers[h].isdigit()
    ]
    problems += [
        f"{h}: {headers[h]!r} is not a duration" for h in RATELIMIT_RESETS if not _is_duration(headers[h])
    ]
    for kind in ("requests", "tokens"):
        limit, left = headers[f"x-ratelimit-limit-{kind}"], headers[f"x-ratelimit-remaining-{kind}"]
        if limit.isdigit() and left.isdigit() and int(left) > int(limit):
            problems.append(f"remaining {kind} {left} > limit {limit}")
    return problems


def _is_duration(text: str) -> bool:
    return bool(text) and _DURATION.fullmatch(text) is not None
