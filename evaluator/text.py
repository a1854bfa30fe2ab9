"""Text out of answers, made safe to score: repaired encodings, bounded size, normalized labels."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from core.pair import Answer

# Answers above this are "huge": scored on their first MAX_SCORED_CHARS (the embedding model reads 256 tokens).
HUGE_CHARS = 100_000
MAX_SCORED_CHARS = 20_000


@dataclass(frozen=True)
class Text:
    value: str
    repaired: bool = False  # had text that was not valid UTF-8 (lone surrogates, U+FFFD)
    huge: bool = False
    missing: bool = False  # an ok answer with no text content


def answer_text(answer: Answer) -> Text:
    """The first choice's text: string content, or the text parts of a content list."""
    body = answer.body if answer.ok else None
    raw = _message_content(body) if body is not None else None
    if raw is None:
        return Text("", missing=True)
    return clean_text(raw)


def _message_content(body: dict[str, Any]) -> str | None:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return None


def clean_text(raw: str) -> Text:
    huge = len(raw) > HUGE_CHARS
    value = raw[:MAX_SCORED_CHARS] if huge else raw
    repaired = "\ufffd" in value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
        repaired = True
    return Text(value, repaired=repaired, huge=huge)


def normalize_label(text: str) -> str:
    """Case-folded, surrounding whitespace and one trailing period dropped, inner whitespace collapsed:
    ``" Non-Urgent.\n"`` -> ``"non-urgent"``. Punctuation inside a label is kept, because the app compares
    strings: ``C#`` is not ``C``, ``-1`` is not ``1``, ``A-`` is not ``A``."""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return folded[:-1].rstrip() if folded.endswith(".") and not folded.endswith("..") else folded


def word_count(text: str) -> int:
    return len(text.split())


def excerpt(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def request_text(request: dict[str, Any], limit: int = 4000) -> str:
    """The request's messages as plain text (for guards and the judge), last message last."""
    parts: list[str] = []
    messages = request.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if isinstance(content, str):
            parts.append(f"{message.get('role', 'user')}: {content}")
    joined = "\n".join(parts)
    return clean_text(joined[-limit:] if len(joined) > limit else joined).value
