from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from migrate_cli.main import cli
from proxy.store import Store

FAST_POLICY = {
    "gates": [{"task": "classify", "metric": "agreement", "margin": 0.05}],
    "stages": [{"percent": 10}, {"percent": 50}, {"percent": 100}],
}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALVEARE_STORE", raising=False)
    return Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}")


@pytest.fixture
def config(tmp_path: Path, store: Store) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "fast.yaml").write_text(yaml.safe_dump(FAST_POLICY))
    path = tmp_path / "alveare.yaml"
    path.write_text(yaml.safe_dump({"store": f"sqlite:///{store.path}", "policy": "policies/fast.yaml"}))
    return path


def rollout(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["rollout", "-c", str(config), *args])


def test_up_to_the_first_stage_and_down_are_allowed(store: Store, config: Path) -> None:
    result = rollout(config, "--percent", "10", "--reason", "first canary")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "rollout: 0% -> 10%"
    entry = store.rollout_history()[-1]
    assert (entry.percent, entry.reason, entry.forced) == (10, "first canary", False)
    assert entry.evidence == {"action": "manual", "check": "10% is within the first stage", "gates": []}
    result = rollout(config, "--percent", "2")
    assert result.exit_code == 0 and store.current_percent() == 2
    assert store.rollout_history()[-1].reason == "set by hand (going down to 2% is always allowed)"


def test_skipping_a_stage_is_refused_without_force(store: Store, config: Path) -> None:
    result = rollout(config, "--percent", "50")
    assert result.exit_code == 1
    assert "refusing to go from 0% to 50%: the policy moves one stage at a time: the next stage is 10%" in (
        result.stderr
    )
    assert "--force" in result.stderr and store.rollout_history() == []
    forced = rollout(config, "--percent", "50", "--force", "--reason", "incident drill")
    assert forced.exit_code == 0 and "FORCED" in forced.stdout
    entry = store.rollout_history()[-1]
    assert (entry.percent, entry.forced, entry.reason) == (50, True, "incident drill")


def test_usage_errors(config: Path, tmp_path: Path) -> None:
    assert rollout(config).exit_code == 2
    assert rollout(config, "--percent", "10", "--auto").exit_code == 2
    result = rollout(config, "--percent", "120")
    assert result.exit_code == 2 and "120 is not a percent; give 0 to 100" in result.stderr
    result = rollout(config, "--auto", "--interval", "soon")
    assert result.exit_code == 2 and "not a duration" in result.stderr
    result = rollout(config, "--auto", "--interval", "0s")
    assert result.exit_code == 2 and "more than 0" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [{percent: 10, colour: red}]\n")
    result = rollout(config, "--percent", "5", "--policy", str(bad))
    assert result.exit_code == 1 and f"{bad}: stages[0].colour: unknown key" in result.stderr


def test_auto_starts_the_first_stage_and_stops_when_told(store: Store, config: Path) -> None:
    result = rollout(config, "--auto", "--interval", "10ms", "--max-iterations", "1")
    assert result.exit_code == 3, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("controller ") and "policies/fast.yaml, every 0.01s" in lines[0]
    assert lines[1] == "START    0% -> 10%: starting the first stage at 10%"
    assert lines[2] == "stopped after 1 iterations at 10%, still inconclusive"
    assert store.current_percent() == 10


def test_auto_after_a_rollback_exits_1(store: Store, config: Path) -> None:
    store.append_rollout(0, actor="cli:ops", reason="bad", evidence={"action": "rollback"})
    result = rollout(config, "--auto", "--interval", "10ms")
    assert result.exit_code == 1
    assert "to try again, start the first stage by hand: `alveare-migrate rollout --percent 10`" in result.stdout
