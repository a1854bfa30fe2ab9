"""The scan's findings as plain typed values: what both parsers produce and what the verdict and report read.

Kept free of any parser so the Python and the JavaScript/TypeScript scanners return the same shapes, and the
verdict and the report are pure functions over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# The endpoint family a call site reaches; the verdict depends on it alone, plus the model for chat.
Api = Literal[
    "chat.completions",
    "responses",
    "completions",
    "embeddings",
    "assistants",
    "images",
    "audio",
    "moderations",
    "files",
    "fine_tuning",
    "batches",
    "realtime",
]
Verdict = Literal["split", "pass-through", "not supported"]
# The features the issue asks for, in the order they are listed.
FEATURES = ("stream", "tools", "response_format", "n", "logprobs", "seed")
# The origin of a model a call does not name (an assistants run, a wrapper left at its default).
NOT_GIVEN = "not given"


@dataclass(frozen=True)
class ModelRef:
    """The model a call names: a literal string, or dynamic with where it comes from (an env var, a
    parameter, an attribute...)."""

    literal: str | None = None
    origin: str = ""

    @property
    def dynamic(self) -> bool:
        return self.literal is None

    def show(self) -> str:
        if self.literal is not None:
            return self.literal
        return "-" if self.origin == NOT_GIVEN else f"dynamic ({self.origin})"


@dataclass(frozen=True)
class ClientSite:
    """Where an OpenAI client (or a wrapper's) is built: its kind, its base URL and the env vars it reads."""

    file: str
    line: int
    kind: str
    base_url: str = "default (api.openai.com, or $OPENAI_BASE_URL)"
    env_vars: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallSite:
    """One call that reaches an OpenAI endpoint. ``via`` names the SDK or wrapper (``openai``, ``langchain``...);
    ``azure`` is set when the client behind it is Azure OpenAI."""

    file: str
    line: int
    api: Api
    model: ModelRef
    features: tuple[str, ...] = ()
    via: str = "openai"
    azure: bool = False
    note: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Problem:
    """A path that could not be read or parsed; reported, never fatal."""

    path: str
    message: str


@dataclass
class FileFindings:
    """What one file holds."""

    calls: list[CallSite] = field(default_factory=list)
    clients: list[ClientSite] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
