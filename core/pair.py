"""The recorded pair: one split request and the answers of both sides.

This is the one type the proxy writes and the evaluator reads. A pair always has the side that served the
client; it has the other side only when the request was mirrored. Bodies are stored as the client saw them
(a stream is re-assembled into a full ``chat.completion`` object) so scoring never parses SSE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Side = Literal["incumbent", "candidate"]
SIDES: tuple[Side, Side] = ("incumbent", "candidate")
# Where a pair comes from: the proxy's live traffic, or `alveare-migrate replay` (a recorded request sent to the
# candidate later, off the live path). Rollout gates and savings read live pairs only.
Source = Literal["live", "replay"]
SOURCES: tuple[Source, Source] = ("live", "replay")


def other_side(side: Side) -> Side:
    return "candidate" if side == "incumbent" else "incumbent"


@dataclass(frozen=True)
class Answer:
    """What one upstream answered for one request.

    ``body`` is the parsed JSON answer (a ``chat.completion`` object, or OpenAI's ``{"error": ...}``) or
    ``None`` when nothing parseable came back; ``error`` then says why (``timeout``, ``refused``, ...).
    """

    status: int
    body: dict[str, Any] | None
    latency_ms: float
    ttft_ms: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.body is not None and "error" not in self.body

    @property
    def usage(self) -> dict[str, Any]:
        if self.body is None:
            return {}
        usage = self.body.get("usage")
        return usage if isinstance(usage, dict) else {}

    @property
    def content(self) -> str | None:
        """The first choice's message content, or None."""
        message = self._first_message()
        content = message.get("content") if message else None
        return content if isinstance(content, str) else None

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        message = self._first_message()
        calls = message.get("tool_calls") if message else None
        return calls if isinstance(calls, list) else []

    def _first_message(self) -> dict[str, Any] | None:
        if not self.ok or self.body is None:
            return None
        choices = self.body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return None
        message = choices[0].get("message")
        return message if isinstance(message, dict) else None


@dataclass(frozen=True)
class Pair:
    """One split request. ``task`` is the specialist it mapped to (``classify``...) or ``""`` if unknown.
    ``source`` is ``replay`` for a candidate answer obtained by ``alveare-migrate replay``."""

    pair_id: str
    ts: float
    key_hash: str
    model: str
    target_model: str
    task: str
    request: dict[str, Any]
    served_side: Side
    percent: float
    failover: bool = False
    incumbent: Answer | None = None
    candidate: Answer | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    source: Source = "live"

    @property
    def served(self) -> Answer | None:
        return self.answer(self.served_side)

    @property
    def mirrored(self) -> Answer | None:
        return self.answer(other_side(self.served_side))

    @property
    def complete(self) -> bool:
        """Both sides answered (whatever they answered)."""
        return self.incumbent is not None and self.candidate is not None

    def answer(self, side: Side) -> Answer | None:
        return self.incumbent if side == "incumbent" else self.candidate


def answer_to_json(answer: Answer | None) -> str | None:
    if answer is None:
        return None
    fields = {
        "status": answer.status,
        "body": answer.body,
        "latency_ms": answer.latency_ms,
        "ttft_ms": answer.ttft_ms,
        "error": answer.error,
    }
    return json.dumps(fields, separators=(",", ":"))


def answer_from_json(text: str | None) -> Answer | None:
    if text is None:
        return None
    data = json.loads(text)
    return Answer(**data)
