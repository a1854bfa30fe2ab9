"""The recorded OpenAI chat-completions exchanges (VCR cassettes under the shared fixtures), read once for tests.

Cassettes come from several recorders: a body is ``{string: ...}``, a bare string, ``content``, or an already
parsed ``parsed_body`` (re-serialised here so every interaction also has its raw text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from tests.shared_paths import FIXTURES

CHAT_COMPLETIONS = "/v1/chat/completions"


@dataclass(frozen=True)
class Interaction:
    """One recorded chat-completions request and its answer; ``name`` is ``folder/cassette.yaml#index``."""

    name: str
    raw_request: str
    request: dict[str, Any]
    status: int
    content_type: str
    raw_response: str
    response: Any  # the parsed JSON body, or the list of SSE event objects of a stream

    @property
    def stream(self) -> bool:
        return bool(self.request.get("stream"))


def sse_events(text: str) -> list[dict[str, Any]]:
    """The JSON objects of an SSE body's ``data:`` lines, without the final ``[DONE]``."""
    events = []
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line.removeprefix("data: ")))
    return events


def chat_interactions() -> list[Interaction]:
    """Every chat-completions interaction of every cassette, in a stable order."""
    found = []
    for path in sorted(FIXTURES.rglob("*.yaml")):
        cassette = yaml.safe_load(path.read_text(encoding="utf-8"))
        for number, interaction in enumerate(cassette["interactions"]):
            if interaction["request"]["uri"].endswith(CHAT_COMPLETIONS):
                found.append(_interaction(f"{path.parent.name}/{path.name}#{number}", interaction))
    return found


def _interaction(name: str, interaction: dict[str, Any]) -> Interaction:
    request, response = interaction["request"], interaction["response"]
    sent, answered = _recorded(request), _recorded(response)
    body = json.loads(sent) if isinstance(sent, str) else sent
    if not isinstance(answered, str):
        parsed = answered
    elif body.get("stream"):
        parsed = sse_events(answered)
    else:
        parsed = json.loads(answered)
    status = response["status"]["code"] if "status" in response else response["status_code"]
    content_type = _header(response.get("headers") or {}, "content-type")
    return Interaction(name, _text(sent), body, int(status), content_type, _text(answered), parsed)


def _recorded(part: dict[str, Any]) -> Any:
    """The body as recorded: its text, or the recorder's already parsed ``parsed_body``."""
    body = part.get("body")
    if isinstance(body, dict) and "string" in body:
        return str(body["string"])
    if isinstance(body, str):
        return body
    if "content" in part:
        return str(part["content"])
    return part.get("parsed_body")


def _text(recorded: Any) -> str:
    return recorded if isinstance(recorded, str) else json.dumps(recorded)


def _header(headers: dict[str, Any], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) else value)
    return "application/json"
