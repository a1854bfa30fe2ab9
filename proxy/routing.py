"""Which requests the candidate may serve, and under which model name.

The config's ``models`` maps a client model name (``gpt-4o-mini``) to a specialist (``classify``) or directly to
a candidate model (``qwen:classify``); ``specialists`` maps a specialist to the candidate model that serves it.
A specialist name is also accepted as a client model. Anything unmapped stays on the incumbent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

RESPONSES_PATH = "/v1/responses"


def is_responses_path(path: str) -> bool:
    """``/v1/responses`` (and its sub-paths), also behind an incumbent URL's path prefix. It is passed through
    unsplit; the proxy counts it so `status` can say how much traffic that is."""
    clean = path.split("?", 1)[0].rstrip("/")
    return clean.endswith(RESPONSES_PATH) or (RESPONSES_PATH + "/") in clean


@dataclass(frozen=True)
class Target:
    """Where a split request goes on the candidate: the model string to send, and the task it serves."""

    candidate_model: str
    task: str


@dataclass(frozen=True)
class ModelMap:
    models: Mapping[str, str]
    specialists: Mapping[str, str]

    def resolve(self, requested: str) -> Target | None:
        mapped = self.models.get(requested)
        if mapped is None:
            if requested in self.specialists:
                return Target(self.specialists[requested], requested)
            return None
        if mapped in self.specialists:
            return Target(self.specialists[mapped], mapped)
        task = next((name for name, model in self.specialists.items() if model == mapped), "")
        return Target(mapped, task)
