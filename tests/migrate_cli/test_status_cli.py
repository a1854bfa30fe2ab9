from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.pair import Answer, Pair
from core.store import Store
from migrate_cli.main import cli


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
    store.put_status("proxy-a", PROXY_STATUS, host="web-1", version="0.1.0", requests=100)
    result = CliRunner().invoke(cli, ["status", "--store", url(store)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "rollout: the candidate serves 50% of split traffic"
    assert lines[1].endswith("10%             controller:x: starting")
    assert lines[2].endswith("10% -> 50%      cli:ops: looks good  [FORCED]")
    assert lines[3] == "pairs recorded: 3 (served by incumbent 2, candidate 1; 2 with both answers)"
    assert lines[4] == "live proxies: 1"
    assert lines[5] == (
        "  proxy-a on web-1 v0.1.0 (127.0.0.1:8080), last seen 0s ago, 100 requests served, limits local: "
        "at 10%, requests incumbent 90 / candidate 10, pairs incumbent 90 / "
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


def usage_answer(prompt: int, completion: int) -> Answer:
    body = {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
    return Answer(status=200, body=body, latency_ms=5.0)


def test_savings_shows_every_input_and_the_projection(store: Store, tmp_path: Path) -> None:
    served = ["incumbent", "candidate", "incumbent", "candidate"]
    store.write_pairs(
        Pair(
            pair_id=f"s{i}",
            ts=1_000_000.0 + 1200 * i,
            key_hash="k",
            model="gpt-4o-mini",
            target_model="classify",
            task="classify",
            request={},
            served_side=side,  # type: ignore[arg-type]
            percent=50.0,
            incumbent=usage_answer(1000, 500) if side == "incumbent" else None,
            candidate=usage_answer(1000, 500) if side == "candidate" else None,
        )
        for i, side in enumerate(served)
    )
    config = tmp_path / "alveare.yaml"
    config.write_text(
        f"store: sqlite:///{store.path}\n"
        "pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}\n"
        "candidate_cost: {flat_monthly_usd: 1.0}\n"
    )
    result = CliRunner().invoke(cli, ["savings", "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["pricing"] == {"gpt-4o-mini": {"input_per_1m": 0.15, "output_per_1m": 0.6}}
    assert report["candidate_cost"]["monthly_usd"] == 1.0
    everything, migrated = report["all_split_traffic"], report["migrated"]
    # 1000 prompt x $0.15/1M + 500 completion x $0.60/1M = $0.00045 a request
    assert everything["incumbent_cost_per_request"] == pytest.approx(0.00045)
    assert everything["requests_per_month"] == pytest.approx(4 / 3600 * 730 * 3600)
    assert everything["monthly_saving_usd"] == pytest.approx(2920 * 0.00045 - 1.0)
    assert (migrated["requests"], migrated["estimated_requests"]) == (2, 2)
    # the candidate's two requests span 2400 s: under an hour is never projected to a month
    assert migrated["requests_per_month"] is None and migrated["incumbent_monthly_usd"] is None
    assert report["capacity"]["tasks"][-1]["tokens"] == 4 * 1500

    text = CliRunner().invoke(cli, ["savings", "-c", str(config)]).stdout
    assert "gpt-4o-mini: input 0.15, output 0.6" in text
    assert "candidate cost (from `candidate_cost`): flat $1.00/month" in text
    assert (
        "2 requests over 2400 s; 2 priced (2 from the candidate's token counts): 2000 prompt + 1000" in text
    )
    assert "per month: 2920 requests x $0.00045 = $1.31 on the incumbent" in text
    assert "saving $0.31" in text
    assert "no monthly projection: 2400 s recorded, under an hour says nothing about a month" in text
    assert "GPUs at the peak: 1" in text


def test_savings_what_if_prints_the_seed_tiers(tmp_path: Path) -> None:
    config = tmp_path / "alveare.yaml"
    config.write_text(
        "pricing: {gpt-3.5-turbo: {input: 2.0, output: 2.0}}\ncandidate_cost: {usd_per_gpu_hour: 2.5}\n"
    )
    args = ["savings", "-c", str(config), "--what-if", "--requests-per-month", "10K,100K,500K,2M"]
    result = CliRunner().invoke(cli, [*args, "--tokens-in", "250", "--tokens-out", "250"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()[3:]]
    assert rows == [
        ["10,000", "$10.00", "1.90", "5.71", "1", "$1,825.00", "-$1,815.00"],
        ["100,000", "$100.00", "19.03", "57.08", "1", "$1,825.00", "-$1,725.00"],
        ["500,000", "$500.00", "95.13", "285.39", "1", "$1,825.00", "-$1,325.00"],
        ["2,000,000", "$2,000.00", "380.52", "1,141.55", "1", "$1,825.00", "$175.00"],
    ]
    missing = CliRunner().invoke(cli, ["savings", "-c", str(config), "--what-if", "--tokens-in", "250"])
    assert missing.exit_code == 2 and "--what-if needs --requests-per-month" in missing.stderr


def test_savings_without_pricing_says_how_to_add_it(store: Store) -> None:
    result = CliRunner().invoke(cli, ["savings", "--store", url(store), "--since", "7d"])
    assert result.exit_code == 0
    assert (
        "add e.g. `pricing:" in result.stdout
        and "candidate cost (from `candidate_cost`): not configured" in result.stdout
    )
    assert "no recorded requests" in result.stdout
    bad = CliRunner().invoke(cli, ["savings", "--store", url(store), "--since", "last week"])
    assert bad.exit_code == 2 and "neither a duration" in bad.stderr


def test_status_says_responses_traffic_passes_through(store: Store) -> None:
    store.put_status("proxy-a", {**PROXY_STATUS, "passthrough_responses": 3})
    result = CliRunner().invoke(cli, ["status", "--store", url(store)])
    assert result.stdout.splitlines()[4] == (
        "    3 /v1/responses requests passed through to the incumbent unsplit and unrecorded (only chat "
        "completions are split; see docs/adoption.md)"
    )
