"""A rollout policy: YAML parsed once into frozen typed objects.

A policy names the stages the candidate's share goes through (10%, 50%, 100% by default), how much evidence
each stage needs before it may advance (pairs and time), the gates that must PASS (each becomes an evaluator
:class:`~evaluator.verdict.GateSpec`), and what rolls back to 0% at once. Unknown keys and bad values raise
:class:`PolicyError` naming the file, the key and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from core.errors import AlveareError
from core.mapping_reader import MappingReader, ReadRules, read_yaml
from evaluator.metrics import METRICS as EVALUATOR_METRICS
from evaluator.verdict import GateSpec

DEFAULT_POLICY = "default.yaml"

# The metrics the evaluator answers gates for; a typo would make a gate that never PASSes.
METRICS: frozenset[str] = frozenset(EVALUATOR_METRICS)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class PolicyError(AlveareError):
    """A policy problem; the message is one line: file, key, what is wrong and the fix."""


_RULES = ReadRules(
    PolicyError, unknown_hint="(see policies/default.yaml)", mapping_hint="; see policies/default.yaml"
)


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
    missing = "no such policy file; fix the path or drop it to use the shipped default"
    return parse_policy(read_yaml(path, PolicyError, missing=missing), source=str(path))


def parse_policy(raw: object, *, source: str = "<policy>") -> Policy:
    top = MappingReader(raw, source, _RULES)
    default_gates = _gates(top, "gates", top.optional("gates"), required=False)
    stages = _stages(top, default_gates)
    rollback = _rollback(top.section("rollback"))
    ignore_idle = top.flag("ignore_idle_gates", True)
    top.reject_unknown()
    policy = Policy(source=source, stages=stages, rollback=rollback, ignore_idle_gates=ignore_idle)
    for i, stage in enumerate(stages):
        if not policy.gates_for(stage):
            raise PolicyError(
                f"{source}: stages[{i}].gates: the stage has no gates to pass; add gates to it or at the top"
            )
    return policy


def _stages(top: MappingReader, default_gates: tuple[GateSpec, ...]) -> tuple[Stage, ...]:
    items = top.get("stages", None)
    if not isinstance(items, list) or not items:
        raise PolicyError(
            f"{top.where('stages')}: must be a list of stages, e.g. [{{percent: 10, min_pairs: 200}}]"
        )
    stages: list[Stage] = []
    for i, item in enumerate(items):
        stage = _stage(top.child(item, f"stages[{i}]."), default_gates)
        if stages and stage.percent <= stages[-1].percent:
            raise PolicyError(
                f"{top.source}: stages[{i}].percent: {stage.percent:g} is not above the previous stage's "
                f"{stages[-1].percent:g}; list stages in increasing percent"
            )
        stages.append(stage)
    return tuple(stages)


def _stage(keys: MappingReader, default_gates: tuple[GateSpec, ...]) -> Stage:
    percent = keys.number("percent", None, minimum=0, maximum=100)
    if percent <= 0:
        raise PolicyError(f"{keys.where('percent')}: must be above 0; a stage at 0% sends nothing")
    gates_raw = keys.optional("gates")
    stage = Stage(
        percent=percent,
        min_pairs=keys.whole("min_pairs", 0, minimum=0),
        min_duration_s=keys.parsed("min_duration", 0.0, parse_duration),
        gates=default_gates if gates_raw is None else _gates(keys, "gates", gates_raw, required=True),
    )
    keys.reject_unknown()
    return stage


def _gates(parent: MappingReader, key: str, items: object, *, required: bool) -> tuple[GateSpec, ...]:
    parent.seen.add(key)
    if items is None and not required:
        return ()
    if not isinstance(items, list):
        raise PolicyError(
            f"{parent.where(key)}: must be a list of gates, e.g. [{{task: classify, metric: agreement}}]"
        )
    return tuple(_gate(parent.child(item, f"{parent.prefix}{key}[{i}].")) for i, item in enumerate(items))


def _gate(keys: MappingReader) -> GateSpec:
    metric = keys.text("metric", None)
    if metric not in METRICS:
        raise PolicyError(
            f"{keys.where('metric')}: unknown metric {metric!r}; use one of {', '.join(sorted(METRICS))}"
        )
    gate = GateSpec(
        task=keys.text("task", "*"),
        metric=metric,
        margin=keys.number("margin", 0.0, minimum=0),
        alpha=keys.number("alpha", 0.05, minimum=0, maximum=1),
        limit=keys.optional_number("limit", minimum=0),
    )
    if not 0 < gate.alpha < 1:
        raise PolicyError(f"{keys.where('alpha')}: {gate.alpha:g} must be between 0 and 1, e.g. 0.05")
    keys.reject_unknown()
    return gate


def _rollback(keys: MappingReader) -> RollbackRules:
    rules = RollbackRules(
        on_gate_fail=keys.flag("on_gate_fail", True),
        on_circuit_open=keys.flag("on_circuit_open", True),
        max_error_rate=keys.optional_number("max_error_rate", minimum=0, maximum=1),
        max_p95_latency_ms=keys.optional_number("max_p95_latency_ms", minimum=0),
    )
    keys.reject_unknown()
    return rules
