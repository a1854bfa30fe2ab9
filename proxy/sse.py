"""Server-sent events: split a byte stream into events, and re-assemble chat-completion chunks.

The proxy passes stream bytes through untouched; these helpers only look at a copy, so the splitter keeps every
byte (events plus :meth:`SSEEvents.pending` reproduce the input) and the assembler never raises on bad input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def event_ends(buffer: bytes, start: int = 0) -> list[int]:
    """Where each event in ``buffer`` ends (just past its blank line), from ``start`` on. An event ends at a
    blank line; lines end with "\n" or "\r\n" (any mix): the ends of ``re.finditer(rb"\r?\n\r?\n")``'s
    matches, each at a line feed that follows another, directly or after one carriage return. Found with
    ``bytes.find``: that regex, whose optional first byte defeats re's literal search, is tried at every
    position (~7% of the proxy's time on a candidate's stream)."""
    ends: list[int] = []
    find = buffer.find
    at = find(b"\n", start)
    while at >= 0:
        after = buffer[at + 1 : at + 3]
        if after[:1] == b"\n":
            end = at + 2
        elif after == b"\r\n":
            end = at + 3
        else:
            at = find(b"\n", at + 1)
            continue
        ends.append(end)
        at = find(b"\n", end)
    return ends


# How many bytes of the old buffer a terminator that completes in new data can start in.
_OVERLAP = 3


class SSEEvents:
    """Incremental splitter: feed raw chunks as they arrive, get whole events back."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """The events completed by ``data``, each with its terminating blank line."""
        start = max(0, len(self._buffer) - _OVERLAP)
        buffer = self._buffer + data
        events: list[bytes] = []
        begin = 0
        for end in event_ends(buffer, start):
            events.append(buffer[begin:end])
            begin = end
        self._buffer = buffer[begin:]
        return events

    def feed_first_apart(self, data: bytes) -> tuple[bytes, bytes]:
        """The events completed by ``data``, not cut apart but the first: (the first event, the others joined),
        the stream re-framer's case."""
        start = max(0, len(self._buffer) - _OVERLAP)
        buffer = self._buffer + data
        ends = event_ends(buffer, start)
        first, end = (ends[0], ends[-1]) if ends else (0, 0)
        self._buffer = buffer[end:]
        return buffer[:first], buffer[first:end]

    def pending(self) -> bytes:
        """Bytes received that do not yet form a whole event."""
        return self._buffer

    def flush(self) -> bytes:
        """The unterminated rest at end of stream (and forget it)."""
        rest, self._buffer = self._buffer, b""
        return rest


def event_data(event: bytes) -> bytes | None:
    """The ``data:`` payload of one event (lines joined by ``\\n``); None when it has none (comments, keep-alives)."""
    parts: list[bytes] = []
    for line in event.splitlines():
        name, colon, value = line.partition(b":")
        if name != b"data":
            continue
        if colon and value.startswith(b" "):
            value = value[1:]
        parts.append(value)
    return b"\n".join(parts) if parts else None


@dataclass
class _ToolCall:
    id: str | None = None
    type: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)

    def merge(self, delta: dict[str, Any]) -> None:
        self.id = self.id or _str_or_none(delta.get("id"))
        self.type = self.type or _str_or_none(delta.get("type"))
        function = delta.get("function")
        if isinstance(function, dict):
            self.name = self.name or _str_or_none(function.get("name"))
            if isinstance(function.get("arguments"), str):
                self.arguments.append(function["arguments"])

    def result(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type or "function",
            "function": {"name": self.name, "arguments": "".join(self.arguments)},
        }


@dataclass
class _Choice:
    role: str | None = None
    content: list[str] | None = None
    refusal: list[str] | None = None
    tool_calls: dict[int, _ToolCall] = field(default_factory=dict)
    annotations: list[Any] | None = None
    logprobs: dict[str, list[Any] | None] | None = None
    finish_reason: str | None = None

    def merge(self, chunk_choice: dict[str, Any]) -> None:
        delta = chunk_choice.get("delta")
        if isinstance(delta, dict):
            self._merge_delta(delta)
        if isinstance(chunk_choice.get("logprobs"), dict):
            self._merge_logprobs(chunk_choice["logprobs"])
        if chunk_choice.get("finish_reason") is not None:
            self.finish_reason = chunk_choice["finish_reason"]

    def _merge_delta(self, delta: dict[str, Any]) -> None:
        self.role = self.role or _str_or_none(delta.get("role"))
        if isinstance(delta.get("content"), str):
            self.content = [*(self.content or []), delta["content"]]
        if isinstance(delta.get("refusal"), str):
            self.refusal = [*(self.refusal or []), delta["refusal"]]
        if isinstance(delta.get("annotations"), list):
            self.annotations = [*(self.annotations or []), *delta["annotations"]]
        for call in delta.get("tool_calls") or []:
            if isinstance(call, dict):
                index = call.get("index", len(self.tool_calls))
                self.tool_calls.setdefault(index if isinstance(index, int) else 0, _ToolCall()).merge(call)

    def _merge_logprobs(self, logprobs: dict[str, Any]) -> None:
        merged: dict[str, list[Any] | None] = self.logprobs or {"content": None, "refusal": None}
        for key in ("content", "refusal"):
            if isinstance(logprobs.get(key), list):
                merged[key] = [*(merged[key] or []), *logprobs[key]]
        self.logprobs = merged

    def result(self, index: int) -> dict[str, Any]:
        content = "".join(self.content) if self.content is not None else None
        if content == "" and self.tool_calls:
            content = None  # OpenAI's first delta carries content "" even when only tool calls follow.
        message: dict[str, Any] = {"role": self.role or "assistant", "content": content}
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i].result() for i in sorted(self.tool_calls)]
        message["refusal"] = "".join(self.refusal) if self.refusal is not None else None
        if self.annotations is not None:
            message["annotations"] = self.annotations
        return {
            "index": index,
            "message": message,
            "logprobs": self.logprobs,
            "finish_reason": self.finish_reason,
        }


class CompletionAssembler:
    """Merge ``chat.completion.chunk`` payloads into the ``chat.completion`` OpenAI would have sent unstreamed."""

    def __init__(self) -> None:
        self.chunks = 0
        self.malformed = 0
        self.done = False
        self.error: dict[str, Any] | None = None
        self._head: dict[str, Any] = {}
        self._choices: dict[int, _Choice] = {}
        self._usage: dict[str, Any] | None = None

    def add(self, payload: bytes) -> None:
        """Take one event's data payload; never raises."""
        if payload.strip() == b"[DONE]":
            self.done = True
            return
        try:
            obj = json.loads(payload)
        except ValueError:  # includes UnicodeDecodeError
            self.malformed += 1
            return
        if not isinstance(obj, dict):
            self.malformed += 1
        elif "error" in obj or obj.get("object") == "error":
            self.error = obj["error"] if isinstance(obj.get("error"), dict) else obj
        else:
            self._merge(obj)

    def _merge(self, chunk: dict[str, Any]) -> None:
        self.chunks += 1
        for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if chunk.get(key) is not None and self._head.get(key) is None:
                self._head[key] = chunk[key]
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict):
                index = choice.get("index", 0)
                self._choices.setdefault(index if isinstance(index, int) else 0, _Choice()).merge(choice)

    def result(self) -> dict[str, Any] | None:
        """The assembled completion, or None when no chunk arrived."""
        if not self.chunks:
            return None
        completion: dict[str, Any] = {
            "id": self._head.get("id"),
            "object": "chat.completion",
            "created": self._head.get("created"),
            "model": self._head.get("model"),
            "choices": [self._choices[i].result(i) for i in sorted(self._choices)],
            "usage": self._usage,
        }
        if "service_tier" in self._head:
            completion["service_tier"] = self._head["service_tier"]
        completion["system_fingerprint"] = self._head.get("system_fingerprint")
        return completion


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
