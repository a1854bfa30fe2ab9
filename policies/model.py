"""A rollout policy: YAML parsed once into frozen typed objects.

A policy names the stages the candidate's share goes through (10%, 50%, 100% by default), how much evidence
each stage needs before it may advance (pairs and time), the gates that must PASS (each becomes an evaluator
:class:`~evaluator.verdict.GateSpec`), and what rolls back to 0% at once. Unknown keys and bad values raise
:class:`PolicyError` naming the file, the key and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from evaluator.metrics import METRICS as EVALUATOR_METRICS
from evaluator.verdict import GateSpec

DEFAULT_POLICY = "default.yaml"

# The metrics the evaluator answers gates for; a typo would make a gate that never PASSes.
METRICS: frozenset[str] = frozenset(EVALUATOR_METRICS)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class PolicyError(Exception):
    """A policy problem; the message is one line: file, key, what is wrong and the fix."""


@dataclass(frozen=True)
class Stage:
    """One step of the rollout: the candidate serves ``percent`` of traffic until the gates PASS with at
    least ``min_pairs`` comparable pairs recorded over at least ``min_duration_s`` seconds."""

    percent: float
    min_pairs: int
    min_duration_s: float
    gates: tuple[GateSpec, ...]


@dataclass(frozen=True)
class RollbackRules:
    """What sends the rollout back to 0% at once, without waiting for the next stage."""

    on_gate_fail: bool = True
    on_circuit_open: bool = True
    max_error_rate: float | None = None
    max_p95_latency_ms: float | None = None

    @property
    def hard_limits(self) -> tuple[GateSpec, ...]:
        """The hard limits as gates with a ``limit``: the evaluator answers them like any gate."""
        limits: list[GateSpec] = []
        if self.max_error_rate is not None:
            limits.append(GateSpec(task="*", metric="error_rate", limit=self.max_error_rate))
        if self.max_p95_latency_ms is not None:
            limits.append(GateSpec(task="*", metric="latency_p95", limit=self.max_p95_latency_ms))
        return tuple(limits)


@dataclass(frozen=True)
class Policy:
    """``ignore_idle_gates``: a gate with no pairs at all in a stage (the app sends no such task) does not
    hold the rollout back."""

    source: str
    stages: tuple[Stage, ...]
    rollback: RollbackRules
    ignore_idle_gates: bool = True

    def gates_for(self, stage: Stage) -> tuple[GateSpec, ...]:
        """Everything the evaluator is asked at ``stage``: its gates, then the hard limits."""
        extra = tuple(g for g in self.rollback.hard_limits if g not in stage.gates)
        return stage.gates + extra

    def stage_index(self, percent: float) -> int | None:
        """The stage in force at ``percent``: the highest stage at or below it (None below the first)."""
        index = None
        for i, stage in enumerate(self.stages):
            if stage.percent <= percent:
                index = i
        return index

    def next_percent(self, index: int | None) -> float | None:
        """The percent of the stage after ``index`` (the first stage for None); None after the last."""
        following = 0 if index is None else index + 1
        return self.stages[following].percent if following < len(self.stages) else None


def parse_duration(value: object) -> float:
    """``500ms``, ``2s``, ``1m``, ``1h30m``, ``7d`` or a bare number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. 500ms, 30s, 10m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _is_duration(value.strip()):
        seconds = sum(float(n) * _UNIT_S[u] for n, u in _DURATION.findall(value.strip()))
    elif isinstance(value, str) and _is_number(value.strip()):
        seconds = float(value.strip())
    else:
        raise ValueError(f"{value!r} is not a duration; write e.g. 500ms, 30s, 10m or 1h")
    if seconds < 0:
        raise ValueError(f"{value!r} is negative; give a duration of 0 or more")
    return seconds


def _is_duration(text: str) -> bool:
    return bool(text) and _DURATION.sub("", text) == "" and bool(_DURATION.match(text))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def default_policy_text() -> str:
    return resources.files("policies").joinpath(DEFAULT_POLICY).read_text(encoding="utf-8")


def load_policy(path: Path | str | None = None) -> Policy:
    """Read and validate a policy file; ``None`` is the shipped ``policies/default.yaml``."""
    if path is None:
        return parse_policy(yaml.safe_load(default_policy_text()), source=f"<shipped {DEFAULT_POLICY}>")
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(
            f"{path}: no such policy file; fix the path or drop it to use the shipped default"
        ) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML ({exc}); fix the syntax") from None
    return parse_policy(raw, source=str(path))


def parse_policy(raw: object, *, source: str = "<policy>") -> Policy:
    top = _Keys(raw, source, "")
    default_gates = _gates(top, "gates", top.optional("gates"), required=False)
    stages = _stages(top, default_gates)
    rollback = _rollback(_Keys(top.take("rollback", {}), source, "rollback."))
    ignore_idle = top.flag("ignore_idle_gates", True)
    top.reject_unknown()
    policy = Policy(source=source, stages=stages, rollback=rollback, ignore_idle_gates=ignore_idle)
    for i, stage in enumerate(stages):
        if not policy.gates_for(stage):
            raise PolicyError(
                f"{source}: stages[{i}].gates: the stage has no gates to pass; add gates to it or at the top"
            )
    return policy


def _stages(top: _Keys, default_gates: tuple[GateSpec, ...]) -> tuple[Stage, ...]:
    items = top.take("stages", None)
    if not isinstance(items, list) or not items:
        raise PolicyError(
            f"{top.where('stages')}: must be a list of stages, e.g. [{{percent: 10, min_pairs: 200}}]"
        )
    stages: list[Stage] = []
    for i, item in enumerate(items):
        stage = _stage(_Keys(item, top.source, f"stages[{i}]."), default_gates)
        if stages and stage.percent <= stages[-1].percent:
            raise PolicyError(
                f"{top.source}: stages[{i}].percent: {stage.percent:g} is not above the previous stage's "
                f"{stages[-1].percent:g}; list stages in increasing percent"
            )
        stages.append(stage)
    return tuple(stages)


def _stage(keys: _Keys, default_gates: tuple[GateSpec, ...]) -> Stage:
    percent = keys.number("percent", None, low=0.0, high=100.0)
    if percent <= 0:
        raise PolicyError(f"{keys.where('percent')}: must be above 0; a stage at 0% sends nothing")
    gates_raw = keys.optional("gates")
    stage = Stage(
        percent=percent,
        min_pairs=keys.whole("min_pairs", 0),
        min_duration_s=keys.duration("min_duration", 0.0),
        gates=default_gates if gates_raw is None else _gates(keys, "gates", gates_raw, required=True),
    )
    keys.reject_unknown()
    return stage


def _gates(parent: _Keys, key: str, items: object, *, required: bool) -> tuple[GateSpec, ...]:
    parent.seen.add(key)
    if items is None and not required:
        return ()
    if not isinstance(items, list):
        raise PolicyError(
            f"{parent.where(key)}: must be a list of gates, e.g. [{{task: classify, metric: agreement}}]"
        )
    return tuple(
        _gate(_Keys(item, parent.source, f"{parent.prefix}{key}[{i}].")) for i, item in enumerate(items)
    )


def _gate(keys: _Keys) -> GateSpec:
    metric = keys.text("metric", None)
    if metric not in METRICS:
        raise PolicyError(
            f"{keys.where('metric')}: unknown metric {metric!r}; use one of {', '.join(sorted(METRICS))}"
        )
    limit = keys.optional("limit")
    gate = GateSpec(
        task=keys.text("task", "*"),
        metric=metric,
        margin=keys.number("margin", 0.0, low=0.0),
        alpha=keys.number("alpha", 0.05, low=0.0, high=1.0),
        limit=None if limit is None else keys.number("limit", None, low=0.0),
    )
    if not 0 < gate.alpha < 1:
        raise PolicyError(f"{keys.where('alpha')}: {gate.alpha:g} must be between 0 and 1, e.g. 0.05")
    keys.reject_unknown()
    return gate


def _rollback(keys: _Keys) -> RollbackRules:
    error_rate = keys.optional("max_error_rate")
    p95 = keys.optional("max_p95_latency_ms")
    rules = RollbackRules(
        on_gate_fail=keys.flag("on_gate_fail", True),
        on_circuit_open=keys.flag("on_circuit_open", True),
        max_error_rate=None if error_rate is None else keys.number("max_error_rate", None, low=0.0, high=1.0),
        max_p95_latency_ms=None if p95 is None else keys.number("max_p95_latency_ms", None, low=0.0),
    )
    keys.reject_unknown()
    return rules


class _Keys:
    """Typed reads from one mapping; remembers the keys read so the others can be rejected."""

    def __init__(self, raw: object, source: str, prefix: str) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            where = prefix.rstrip(".") or "<top>"
            raise PolicyError(f"{source}: {where}: must be a mapping of keys; see policies/default.yaml")
        self.raw: Mapping[str, Any] = raw
        self.source = source
        self.prefix = prefix
        self.seen: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.source}: {self.prefix}{key}"

    def take(self, key: str, default: Any) -> Any:
        self.seen.add(key)
        value = self.raw.get(key, default)
        if value is None and default is None and key not in self.raw:
            raise PolicyError(f"{self.where(key)}: required key is missing; add it")
        return value

    def optional(self, key: str) -> Any:
        self.seen.add(key)
        return self.raw.get(key)

    def number(self, key: str, default: float | None, *, low: float, high: float | None = None) -> float:
        value = self.take(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            raise PolicyError(f"{self.where(key)}: {value!r} must be a number >= {low:g}")
        if high is not None and value > high:
            raise PolicyError(f"{self.where(key)}: {value!r} must be at most {high:g}")
        return float(value)

    def whole(self, key: str, default: int) -> int:
        value = self.take(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PolicyError(f"{self.where(key)}: {value!r} must be a whole number >= 0")
        return value

    def duration(self, key: str, default: float) -> float:
        value = self.take(key, default)
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise PolicyError(f"{self.where(key)}: {exc}") from None

    def text(self, key: str, default: str | None) -> str:
        value = self.take(key, default)
        if not isinstance(value, str) or not value:
            raise PolicyError(f"{self.where(key)}: {value!r} must be a non-empty string")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.take(key, default)
        if not isinstance(value, bool):
            raise PolicyError(f"{self.where(key)}: {value!r} must be true or false")
        return value

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.raw) - self.seen, key=str)
        if unknown:
            raise PolicyError(
                f"{self.where(str(unknown[0]))}: unknown key; remove it or check the spelling "
                "(see policies/default.yaml)"
            )
