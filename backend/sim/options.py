"""The sim's settings, parsed once at the edge into a frozen, validated object (re-exported by ``backend.sim.server``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Flavor = Literal["openai", "sglang"]
FLAVORS: tuple[Flavor, ...] = ("openai", "sglang")
# Faults a whole sim can have (``--fault``) or one request can ask for (``x-sim-fault``).
FAULTS = ("refuse", "hang", "cut", "malformed", "error", "stall", "reset")
DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-3.5-turbo",
    "gpt-4",
    "gpt-4.1-mini",
    "classify",
    "summarise",
    "extract",
    "qwen",
    "qwen:classify",
    "qwen:summarise",
    "qwen:extract",
)


@dataclass(frozen=True)
class Fault:
    """A parsed fault: ``kind`` from :data:`FAULTS`; ``after``: events (or half the body) before it strikes."""

    kind: str
    after: int | None = None


def parse_fault(text: str, *, where: str = "--fault") -> Fault:
    """``cut``, ``cut:3``, ``hang``, ... -> Fault; anything else raises ValueError saying what is allowed."""
    kind, _, after = text.strip().lower().partition(":")
    if kind not in FAULTS:
        raise ValueError(
            f"{where}: {text!r}: unknown fault; use one of {', '.join(FAULTS)} (cut:K, error:K, stall:K, reset:N)"
        )
    if not after:
        return Fault(kind)
    if not after.isdigit():
        raise ValueError(f"{where}: {text!r}: the count after ':' must be a whole number, e.g. cut:3")
    return Fault(kind, int(after))


@dataclass(frozen=True)
class SimOptions:
    """Everything a sim run is configured by. Times are milliseconds; rates are fractions in [0, 1]."""

    flavor: Flavor = "openai"
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    chunks: int = 0
    chunk_interval_ms: float = 0.0
    disagree: float = 0.0
    require_key: str | None = None
    models: tuple[str, ...] = DEFAULT_MODELS
    error_rate: float = 0.0
    fault: str | None = None
    cut_after: int = 2
    rpm: int = 1_000_000
    tpm: int = 100_000_000
    tasks_path: str | None = None

    def __post_init__(self) -> None:
        problems = [p for p in self._problems() if p]
        if problems:
            raise ValueError("; ".join(problems))
        if self.fault is not None:
            parse_fault(self.fault)

    def _problems(self) -> list[str | None]:
        return [
            None if self.flavor in FLAVORS else f"flavor: {self.flavor!r}: use one of {', '.join(FLAVORS)}",
            None if 0 <= self.port <= 65535 else f"port: {self.port}: use 0..65535 (0 picks a free port)",
            _non_negative("latency_ms", self.latency_ms),
            _non_negative("ttft_ms", self.ttft_ms),
            _non_negative("chunk_interval_ms", self.chunk_interval_ms),
            _non_negative("chunks", self.chunks),
            _non_negative("cut_after", self.cut_after),
            _fraction("disagree", self.disagree),
            _fraction("error_rate", self.error_rate),
            None if self.rpm > 0 and self.tpm > 0 else "rpm/tpm: must be positive",
            None if self.models and all(self.models) else "models: give at least one non-empty model name",
        ]

    @property
    def fault_spec(self) -> Fault | None:
        return parse_fault(self.fault) if self.fault else None


def _non_negative(name: str, value: float) -> str | None:
    return None if value >= 0 else f"{name}: {value}: must be >= 0"


def _fraction(name: str, value: float) -> str | None:
    return None if 0 <= value <= 1 else f"{name}: {value}: must be a fraction between 0 and 1"
