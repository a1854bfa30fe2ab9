from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from core.pair import Answer, Pair
from core.store import Store
from migrate_cli.main import cli

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
    assert result.exit_code == 2 and f"{bad}: stages[0].colour: unknown key" in result.stderr


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
    assert (
        "to try again, start the first stage by hand: `alveare-migrate rollout --percent 10`" in result.stdout
    )


def completion(label: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": label}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42},
    }


def record_pairs(store: Store, n: int, *, agree: int, ts: float) -> None:
    """``n`` classify pairs with both answers; the first ``agree`` of them agree."""
    pairs = [
        Pair(
            pair_id=f"p{ts}-{i}",
            ts=ts + i * 0.001,
            key_hash="k",
            model="gpt-4o-mini",
            target_model="classify",
            task="classify",
            request={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"ticket {i}"}]},
            served_side="candidate",
            percent=10.0,
            incumbent=Answer(200, completion("billing"), 300.0),
            candidate=Answer(200, completion("billing" if i < agree else "refund"), 120.0),
        )
        for i in range(n)
    ]
    store.write_pairs(pairs)


def test_going_up_is_refused_until_the_gates_pass(store: Store, config: Path) -> None:
    assert rollout(config, "--percent", "10").exit_code == 0
    record_pairs(store, 60, agree=60, ts=time.time() + 1)
    refused = rollout(config, "--percent", "50")
    assert refused.exit_code == 1
    message = refused.stderr
    assert "refusing to go from 10% to 50%: stage 10% has not passed its gates: " in message
    assert "classify/agreement INCONCLUSIVE: 0 [" in message and "n=60, margin 0.05, needs ~" in message
    assert store.current_percent() == 10

    record_pairs(store, 200, agree=200, ts=time.time() + 2)
    allowed = rollout(config, "--percent", "50", "--reason", "canary healthy")
    assert allowed.exit_code == 0, allowed.output
    entry = store.rollout_history()[-1]
    assert (entry.percent, entry.forced, entry.reason) == (50, False, "canary healthy")
    assert entry.evidence is not None and entry.evidence["check"] == "stage 10% passed every gate"
    assert [g["verdict"] for g in entry.evidence["gates"]] == ["PASS"]
    assert entry.evidence["gates"][0]["n"] == 260


def test_force_overrides_a_failing_gate_and_is_recorded(store: Store, config: Path) -> None:
    assert rollout(config, "--percent", "10").exit_code == 0
    record_pairs(store, 100, agree=50, ts=time.time() + 1)
    refused = rollout(config, "--percent", "50")
    assert refused.exit_code == 1 and "classify/agreement FAIL: -0.5 [" in refused.stderr
    forced = rollout(config, "--percent", "50", "--force")
    assert forced.exit_code == 0 and "FORCED" in forced.stdout
    entry = store.rollout_history()[-1]
    assert entry.forced and entry.evidence is not None
    assert entry.evidence["gates"][0]["verdict"] == "FAIL"
    history = CliRunner().invoke(cli, ["history", "--store", f"sqlite:///{store.path}"]).stdout
    assert history.splitlines()[-1].endswith("[FORCED]")


def test_auto_reaches_100_with_passing_gates(store: Store, config: Path) -> None:
    assert rollout(config, "--percent", "10").exit_code == 0
    record_pairs(store, 250, agree=250, ts=time.time() + 3600)  # recorded "later": every stage sees them
    result = rollout(config, "--auto", "--interval", "10ms", "--max-iterations", "10")
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == ["ADVANCE", "ADVANCE", "COMPLETE"]
    assert [e.percent for e in store.rollout_history()] == [10, 50, 100, 100]


def test_auto_rolls_back_on_a_failing_gate(store: Store, config: Path) -> None:
    assert rollout(config, "--percent", "10").exit_code == 0
    record_pairs(store, 100, agree=40, ts=time.time() + 1)
    result = rollout(config, "--auto", "--interval", "10ms", "--max-iterations", "10")
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[-1].startswith(
        "ROLLBACK 10% -> 0%: gate failed: classify/agreement FAIL"
    )
    last = store.rollout_history()[-1]
    assert last.percent == 0 and last.evidence is not None and last.evidence["gates"][0]["verdict"] == "FAIL"
