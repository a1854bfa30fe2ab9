"""Rollout policies: YAML stages, gates and rollback triggers, and the controller that follows them.

``load_policy(path | None)`` reads a policy (None: the shipped ``default.yaml``). The controller's decisions
live in :mod:`policies.controller` (pure); the loop that applies them to a store in :mod:`policies.runner`.
"""

from __future__ import annotations

from policies.model import (
    METRICS,
    Policy,
    PolicyError,
    RollbackRules,
    Stage,
    load_policy,
    parse_duration,
    parse_policy,
)

__all__ = [
    "METRICS",
    "Policy",
    "PolicyError",
    "RollbackRules",
    "Stage",
    "load_policy",
    "parse_duration",
    "parse_policy",
]
