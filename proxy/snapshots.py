"""What the incumbent calls itself, learned from its own answers, so a candidate's answer can say the same.

OpenAI answers a request for ``gpt-4o-mini`` with ``"model": "gpt-4o-mini-2024-07-18"`` and a
``system_fingerprint``; an app that logs or branches on them must not see the alias and ``null`` when the
candidate served. Until the incumbent has answered for an alias, the alias itself and a fingerprint derived from
the candidate's model (stable, ``fp_`` and ten hex digits, OpenAI's shape) stand in.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,200})"')
_FINGERPRINT = re.compile(rb'"system_fingerprint"\s*:\s*"([^"\\]{1,100})"')


class Snapshots:
    """alias -> (dated model, fingerprint) as last seen from the incumbent; bounded by ``limit`` aliases."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self._seen: dict[str, tuple[str, str | None]] = {}

    def learn(self, alias: str, body: bytes) -> None:
        """Read the model and fingerprint of one answer (a whole JSON body or an SSE chunk's bytes)."""
        model = _MODEL.search(body)
        if model is None or (alias not in self._seen and len(self._seen) >= self.limit):
            return
        fingerprint = _FINGERPRINT.search(body)
        previous = self._seen.get(alias, (alias, None))[1]
        text = fingerprint.group(1).decode("utf-8", "replace") if fingerprint else previous
        self._seen[alias] = (model.group(1).decode("utf-8", "replace"), text)

    def model(self, alias: str) -> str:
        return self._seen.get(alias, (alias, None))[0]

    def fingerprint(self, alias: str, candidate_model: str) -> str:
        seen = self._seen.get(alias, (alias, None))[1]
        return seen or candidate_fingerprint(candidate_model)


@lru_cache(maxsize=256)
def candidate_fingerprint(candidate_model: str) -> str:
    """The fingerprint a candidate's answers carry until the incumbent's is seen: fixed per candidate model."""
    return "fp_" + hashlib.sha256(candidate_model.encode()).hexdigest()[:10]
