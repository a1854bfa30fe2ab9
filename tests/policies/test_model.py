from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from evaluator.verdict import GateSpec
from policies import METRICS, PolicyError, load_policy, parse_duration, parse_policy
from policies.model import default_policy_text

VALID: dict[str, Any] = {
    "gates": [{"task": "classify", "metric": "agreement", "margin": 0.02}],
    "stages": [
        {"percent": 5, "min_pairs": 10, "min_duration": "90s"},
        {"percent": 25, "gates": [{"metric": "error_rate", "margin": 0.01, "alpha": 0.1}]},
        {"percent": 100, "min_pairs": 50, "min_duration": "1h30m"},
    ],
    "rollback": {"on_gate_fail": False, "max_error_rate": 0.2},
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """A copy of VALID with the dotted ``path`` (list indexes as numbers) set to ``value``."""
    raw: Any = yaml.safe_load(yaml.safe_dump(VALID))
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = raw
    for part in parents:
        node = node[part]
    node[last] = value
    return dict(raw)


def test_shipped_default_has_three_stages_and_hard_limits() -> None:
    policy = load_policy(None)
    assert [s.percent for s in policy.stages] == [10, 50, 100]
    assert all(s.min_pairs > 0 and s.min_duration_s > 0 for s in policy.stages)
    assert GateSpec("classify", "agreement", margin=0.08) in policy.stages[0].gates
    assert policy.rollback.on_gate_fail and policy.rollback.on_circuit_open
    limits = policy.rollback.hard_limits
    assert GateSpec("*", "error_rate", limit=0.05) in limits
    assert GateSpec("*", "latency_p95", limit=8000.0) in limits
    assert policy.gates_for(policy.stages[0])[-len(limits) :] == limits
    assert "default.yaml" in policy.source


def test_shipped_default_is_package_data() -> None:
    assert "stages:" in default_policy_text()


def test_valid_policy_parses_into_typed_stages() -> None:
    policy = parse_policy(VALID, source="p.yaml")
    first, second, last = policy.stages
    assert (first.percent, first.min_pairs, first.min_duration_s) == (5.0, 10, 90.0)
    assert first.gates == (GateSpec("classify", "agreement", margin=0.02, alpha=0.05),)
    assert second.gates == (GateSpec("*", "error_rate", margin=0.01, alpha=0.1),)
    assert (last.min_pairs, last.min_duration_s, last.gates) == (50, 5400.0, first.gates)
    assert not policy.rollback.on_gate_fail
    assert policy.rollback.hard_limits == (GateSpec("*", "error_rate", limit=0.2),)
    assert policy.gates_for(first) == (*first.gates, GateSpec("*", "error_rate", limit=0.2))


def test_policy_is_frozen() -> None:
    policy = parse_policy(VALID)
    with pytest.raises(AttributeError):
        policy.stages[0].percent = 50  # type: ignore[misc]


def test_stage_lookup_and_next_percent() -> None:
    policy = parse_policy(VALID)
    assert [policy.stage_index(p) for p in (0, 4.9, 5, 24, 25, 99, 100)] == [None, None, 0, 0, 1, 1, 2]
    assert [policy.next_percent(i) for i in (None, 0, 1, 2)] == [5, 25, 100, None]


@pytest.mark.parametrize(
    ("raw", "where", "fix"),
    [
        (with_change("colour", "red"), "p.yaml: colour: unknown key", "remove it"),
        (with_change("stages.0.pairs", 3), "p.yaml: stages[0].pairs: unknown key", "check the spelling"),
        (with_change("gates.0.metrc", "x"), "p.yaml: gates[0].metrc: unknown key", "remove it"),
        (with_change("gates.0.metric", "accuracy"), "p.yaml: gates[0].metric: unknown metric", "agreement"),
        (with_change("stages.1.percent", 5), "p.yaml: stages[1].percent: 5 is not above", "increasing"),
        (with_change("stages.0.percent", 0), "p.yaml: stages[0].percent", "above 0"),
        (with_change("stages.2.percent", 150), "p.yaml: stages[2].percent: 150", "at most 100"),
        (with_change("stages.0.percent", "ten"), "p.yaml: stages[0].percent: 'ten'", "must be a number"),
        (with_change("stages.0.min_pairs", -1), "p.yaml: stages[0].min_pairs: -1", "whole number >= 0"),
        (with_change("stages.0.min_pairs", 2.5), "p.yaml: stages[0].min_pairs", "whole number"),
        (with_change("stages.0.min_duration", "soon"), "p.yaml: stages[0].min_duration", "e.g. 500ms"),
        (with_change("stages.1.gates.0.alpha", 1.5), "p.yaml: stages[1].gates[0].alpha", "at most 1"),
        (with_change("gates.0.alpha", 0), "p.yaml: gates[0].alpha", "between 0 and 1"),
        (with_change("gates.0.margin", -0.1), "p.yaml: gates[0].margin", ">= 0"),
        (with_change("gates", {"task": "x"}), "p.yaml: gates", "must be a list of gates"),
        (with_change("stages", []), "p.yaml: stages", "must be a list of stages"),
        (with_change("rollback.on_gate_fail", "yes"), "p.yaml: rollback.on_gate_fail", "true or false"),
        (with_change("rollback.max_error_rate", 2), "p.yaml: rollback.max_error_rate", "at most 1"),
        (with_change("rollback.when", "always"), "p.yaml: rollback.when: unknown key", "remove it"),
        (with_change("stages.0", [10]), "p.yaml: stages[0]", "must be a mapping"),
        ({"stages": [{"percent": 10}]}, "p.yaml: stages[0].gates", "add gates"),
        ({"gates": VALID["gates"]}, "p.yaml: stages: required key is missing", "add it"),
        ([1, 2], "p.yaml: <top>", "must be a mapping"),
    ],
)
def test_invalid_policy_names_file_key_and_fix(raw: Any, where: str, fix: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(raw, source="p.yaml")
    message = str(caught.value)
    assert message.startswith(where), message
    assert fix in message
    assert "\n" not in message


def test_load_policy_from_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(VALID))
    assert load_policy(path) == parse_policy(VALID, source=str(path))
    path.write_text(yaml.safe_dump(with_change("stages.0.min_pairs", "many")))
    with pytest.raises(PolicyError, match=rf"^{path}: stages\[0\].min_pairs"):
        load_policy(str(path))


def test_load_policy_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such policy file; fix the path"):
        load_policy(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("stages: [\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(broken)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("2s", 2.0),
        ("60s", 60.0),
        ("1m", 60.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        ("7d", 604800.0),
        (3, 3.0),
        ("7", 7.0),
    ],
)
def test_parse_duration(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "1x", "m", "-3", True, None, "1m-2s"])
def test_parse_duration_rejects(text: Any) -> None:
    with pytest.raises(ValueError, match=r"duration|negative"):
        parse_duration(text)


def test_known_metrics_include_the_shipped_gates() -> None:
    policy = load_policy(None)
    assert {g.metric for s in policy.stages for g in policy.gates_for(s)} <= METRICS
