from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate_cli.main import cli
from proxy.pair import Answer, Pair
from proxy.store import Store


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALVEARE_STORE", raising=False)
    return Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}")


def url(store: Store) -> str:
    return f"sqlite:///{store.path}"


def pair(i: int, side: str, mirrored: bool) -> Pair:
    answer = Answer(status=200, body={"choices": []}, latency_ms=3.0)
    return Pair(
        pair_id=f"p{i}",
        ts=1000.0 + i,
        key_hash="k",
        model="gpt-4o-mini",
        target_model="classify",
        task="classify",
        request={},
        served_side=side,  # type: ignore[arg-type]
        percent=10.0,
        incumbent=answer if side == "incumbent" or mirrored else None,
        candidate=answer if side == "candidate" or mirrored else None,
    )


PROXY_STATUS = {
    "percent": 10,
    "requests": {"incumbent": 90, "candidate": 10},
    "pairs": {"incumbent": 90, "candidate": 10},
    "mirrored": 12,
    "failovers": 2,
    "mirror_dropped": 1,
    "record_dropped": 0,
    "record_queue": 0,
    "circuit": "half-open",
    "started": 1.0,
    "listen": "127.0.0.1:8080",
}


def test_status_shows_percent_history_proxies_and_pairs(store: Store) -> None:
    store.append_rollout(10, actor="controller:x", reason="starting", evidence={"action": "start"})
    store.append_rollout(50, actor="cli:ops", reason="looks good", forced=True)
    store.write_pairs([pair(0, "incumbent", True), pair(1, "incumbent", False), pair(2, "candidate", True)])
    store.put_status("proxy-a", PROXY_STATUS)
    result = CliRunner().invoke(cli, ["status", "--store", url(store)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "rollout: the candidate serves 50% of split traffic"
    assert lines[1].endswith("10%             controller:x: starting")
    assert lines[2].endswith("10% -> 50%      cli:ops: looks good  [FORCED]")
    assert lines[3] == "pairs recorded: 3 (served by incumbent 2, candidate 1; 2 with both answers)"
    assert lines[4] == "live proxies: 1"
    assert lines[5] == (
        "  proxy-a (127.0.0.1:8080): at 10%, requests incumbent 90 / candidate 10, pairs incumbent 90 / "
        "candidate 10, mirrored 12, failovers 2, mirror drops 1, record drops 0, circuit half-open"
    )


def test_status_json(store: Store) -> None:
    store.write_pairs([pair(0, "candidate", False)])
    store.put_status("proxy-a", PROXY_STATUS)
    result = CliRunner().invoke(cli, ["status", "--store", url(store), "--json"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["percent"] == 0 and report["history"] == []
    assert report["pairs"]["served"] == {"incumbent": 0, "candidate": 1}
    assert report["pairs"]["last_ts"] == 1000.0
    assert report["proxies"]["proxy-a"]["failovers"] == 2


def test_status_of_an_empty_store(store: Store) -> None:
    result = CliRunner().invoke(cli, ["status", "--store", url(store)])
    assert result.exit_code == 0
    assert "pairs recorded: 0" in result.stdout
    assert "live proxies: 0 (none reported in the last 30s)" in result.stdout


def test_history_and_rollback(store: Store) -> None:
    runner = CliRunner()
    assert "no rollout yet" in runner.invoke(cli, ["history", "--store", url(store)]).stdout
    store.append_rollout(10, actor="controller:x", reason="starting", evidence={"action": "start"})
    result = runner.invoke(cli, ["rollback", "--store", url(store), "--reason", "bad answers"])
    assert result.exit_code == 0 and result.stdout.strip().startswith("rolled back: 10% -> 0%")
    last = store.rollout_history()[-1]
    assert (last.percent, last.reason, last.actor.startswith("cli:")) == (0, "bad answers", True)
    assert last.evidence == {"action": "rollback", "from": 10}
    text = runner.invoke(cli, ["history", "--store", url(store)]).stdout.splitlines()
    assert len(text) == 2 and text[1].endswith("10% -> 0%       " + last.actor + ": bad answers")
    data = json.loads(runner.invoke(cli, ["history", "--store", url(store), "--json"]).stdout)
    assert [d["percent"] for d in data] == [10, 0] and data[0]["evidence"] == {"action": "start"}
    assert (
        json.loads(runner.invoke(cli, ["history", "--store", url(store), "--json", "--limit", "1"]).stdout)[
            0
        ]["percent"]
        == 0
    )


def test_store_from_the_environment(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.append_rollout(25, actor="t", reason="r")
    monkeypatch.setenv("ALVEARE_STORE", url(store))
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 0 and "serves 25%" in result.stdout
