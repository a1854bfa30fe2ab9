"""`alveare-migrate demo`: the whole loop end to end (the quick variant, good and worse candidate, and Ctrl-C),
and the pure pieces that word what it prints."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from core.store import RolloutEntry, Store
from evaluator.verdict import GateResult, GateSpec, Verdict
from migrate_cli.demo import text as text
from migrate_cli.demo.command import demo as demo_command
from migrate_cli.demo.reports import stage_windows
from migrate_cli.demo.run import DEFAULT_REQUESTS
from migrate_cli.demo.servers import DemoError, prepare_out_dir, write_config
from migrate_cli.main import cli
from policies.controller import result_dict
from policies.model import load_policy

ROOT = Path(__file__).resolve().parents[2]
REPORT_FILES = ("parity.md", "parity.json", "parity.junit.xml", "parity.html")
URL_LINE = re.compile(r"^  (incumbent|candidate|proxy)\s+(http://127\.0\.0\.1:\d+)", re.MULTILINE)


def run_demo(out: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["demo", "--quick", "--out", str(out), *args])


def server_urls(output: str) -> dict[str, str]:
    return dict(URL_LINE.findall(output))


def assert_all_stopped(urls: dict[str, str]) -> None:
    """Every server the demo started refuses connections now."""
    assert set(urls) == {"incumbent", "candidate", "proxy"}
    for name, url in urls.items():
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/health", timeout=2)
        assert name


def assert_reports(out: Path, stages: list[str], verdict: str) -> None:
    for name in REPORT_FILES:
        assert (out / "reports" / name).stat().st_size > 0
        for stage in stages:
            assert (out / "reports" / f"stage-{stage}" / name).is_file()
    report = json.loads((out / "reports" / "parity.json").read_text())
    assert report["verdict"] == verdict
    assert report["pairs"]["compared"] > 0


def history(out: Path) -> list[RolloutEntry]:
    store = Store.open(f"sqlite:///{out / 'alveare.sqlite'}")
    try:
        return store.rollout_history()
    finally:
        store.close()


# --- end to end -------------------------------------------------------------------------------------------


def test_a_good_candidate_goes_all_the_way_to_100(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    result = run_demo(out)
    assert result.exit_code == 0, result.output
    entries = history(out)
    actions = [(e.percent, (e.evidence or {}).get("action")) for e in entries]
    assert actions == [(10, "start"), (50, "advance"), (100, "advance"), (100, "complete")]
    for entry in entries[1:]:
        evidence = entry.evidence or {}
        assert evidence["verdict"] == "PASS" and evidence["pairs"] >= 300
        counted = [g for g in evidence["gates"] if not g["idle"]]
        # 11: the `*` latency gate is answered per task (classify, extract, summarise)
        assert len(counted) == 11 and all(g["verdict"] == "PASS" for g in counted)
        idle = {g["gate"]["task"] for g in evidence["gates"] if g["idle"]}
        assert idle == {"tools", "chat"}  # the demo sends neither; the default policy gates both
    assert_reports(out, ["10", "50", "100"], "PASS")
    output = result.output
    assert "split 10%:" in output and "requests sent" in output  # progress while it runs
    assert "ADVANCE  10% -> 50%: stage 10% passed every gate" in output
    assert re.search(r"classify/agreement\s+PASS\s+9\d\.\d% agree \(lower bound", output)
    assert "stage 100%: COMPLETE after" in output and "none failed" in output
    served = re.search(r"through the proxy \(([\d,]+) by the candidate, ([\d,]+) by the incumbent\)", output)
    assert served is not None, output  # the proxy's x-alveare-upstream header on every answer
    assert int(served[1].replace(",", "")) > 500 and int(served[2].replace(",", "")) > 500
    assert f"    {out.name}/reports/parity.md" in output or str(out / "reports" / "parity.md") in output
    assert output.rstrip().endswith(
        "candidate accepted: 100% of classify/extract/summarise traffic now on SGLang"
    )
    assert_all_stopped(server_urls(output))


def test_a_worse_candidate_is_rolled_back_to_0(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    result = run_demo(out, "--worse-candidate")
    assert result.exit_code == 0, result.output
    entries = history(out)
    assert [e.percent for e in entries] == [10, 0]
    rollback = entries[-1].evidence or {}
    assert rollback["action"] == "rollback" and rollback["verdict"] == "FAIL"
    failed = {
        f"{g['gate']['task']}/{g['gate']['metric']}" for g in rollback["gates"] if g["verdict"] == "FAIL"
    }
    assert "classify/agreement" in failed
    assert entries[-1].reason.startswith("gate failed: ")
    assert_reports(out, ["10"], "FAIL")
    last = result.output.rstrip().splitlines()[-1]
    assert last.startswith("candidate rejected: rolled back to 0% at the 10% stage because ")
    assert re.search(r"classify/agreement failed: \d+\.\d% agree \(upper bound \d+\.\d% < 92%\)", last)
    assert "ROLLBACK 10% -> 0%: gate failed" in result.output
    assert_all_stopped(server_urls(result.output))


def test_ctrl_c_stops_every_server(tmp_path: Path) -> None:
    """SIGINT to the demo alone (not its process group) while traffic flows: the demo stops its servers."""
    out = tmp_path / "demo-out"
    command = [sys.executable, "-m", "migrate_cli", "demo", "--quick", "--out", str(out)]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("START" in line for line in lines):
            line = process.stdout.readline()
            assert line, f"the demo ended early: {''.join(lines)}"
            lines.append(line)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 130, stderr
    assert "interrupted: the demo's servers are stopped" in stderr
    assert_all_stopped(server_urls("".join(lines) + stdout))


def test_refuses_an_out_dir_holding_someone_elses_config(tmp_path: Path) -> None:
    (tmp_path / "alveare.yaml").write_text("store: sqlite:///mine.sqlite\n")
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "holds an alveare.yaml or alveare.sqlite the demo did not write" in result.output
    assert (tmp_path / "alveare.yaml").read_text() == "store: sqlite:///mine.sqlite\n"


def test_clears_only_what_an_earlier_demo_wrote(tmp_path: Path) -> None:
    write_config(tmp_path / "alveare.yaml", {"store": "sqlite:///x"})
    (tmp_path / "alveare.sqlite").write_text("old")
    (tmp_path / "reports" / "stage-50").mkdir(parents=True)
    (tmp_path / "reports" / "stage-50" / "parity.md").write_text("old")
    (tmp_path / "reports" / "notes.txt").write_text("mine")
    prepare_out_dir(tmp_path)
    assert not (tmp_path / "alveare.sqlite").exists()
    assert not (tmp_path / "reports" / "stage-50").exists()
    assert (tmp_path / "reports" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "logs").is_dir()
    (tmp_path / "alveare.yaml").write_text("# hand-written\n")
    with pytest.raises(DemoError, match="--out DIR"):
        prepare_out_dir(tmp_path)


def test_the_demo_policy_asks_the_default_policys_gates() -> None:
    """Only the stage minimums are demo-sized: the gates, margins and rollback rules are the shipped ones."""
    shipped, demo = load_policy(None), load_policy(ROOT / "policies" / "demo.yaml")
    assert [s.percent for s in demo.stages] == [s.percent for s in shipped.stages] == [10, 50, 100]
    assert [demo.gates_for(s) for s in demo.stages] == [shipped.gates_for(s) for s in shipped.stages]
    assert (demo.rollback, demo.ignore_idle_gates) == (shipped.rollback, shipped.ignore_idle_gates)
    assert all(s.min_duration_s <= 5 for s in demo.stages)


def test_the_cli_default_request_budget_is_the_demos() -> None:
    option = next(p for p in demo_command.params if p.name == "requests")
    assert option.default == DEFAULT_REQUESTS


# --- what it prints -----------------------------------------------------------------------------------------


def gate(
    task: str,
    metric: str,
    verdict: Verdict,
    estimate: float | None,
    lower: float | None,
    upper: float | None,
    n: int = 400,
    *,
    margin: float = 0.0,
    limit: float | None = None,
    needed: int | None = None,
    idle: bool = False,
) -> dict[str, object]:
    spec = GateSpec(task, metric, margin=margin, limit=limit)
    result = GateResult(spec, verdict, estimate, lower, upper, n, needed, "", "some detail", idle=idle)
    return result_dict(result)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            gate("classify", "agreement", Verdict.PASS, -0.025, -0.047, -0.01, margin=0.08),
            "97.5% agree (lower bound 95.3% > 92%), n=400",
        ),
        (
            gate("classify", "agreement", Verdict.FAIL, -0.42, -0.68, -0.19, n=33, margin=0.08),
            "58.0% agree (upper bound 81.0% < 92%), n=33",
        ),
        (
            gate("extract", "field_f1", Verdict.INCONCLUSIVE, -0.04, -0.3, 0.0, margin=0.08, needed=912),
            "F1 0.960 (bounds 0.700..1.000 vs 0.92; ~912 pairs needed), n=400",
        ),
        (
            gate("summarise", "guard_flags", Verdict.PASS, -0.012, -0.048, 0.0, margin=0.05),
            "1.2% flagged (upper bound 4.8% < 5%), n=400",
        ),
        (
            gate("*", "latency_p95", Verdict.PASS, 6.0, -13.0, 30.0, margin=250),
            "p95 -6 ms vs the incumbent (upper bound +13 ms < +250 ms), n=400",
        ),
        (
            gate("*", "error_rate", Verdict.PASS, 0.0, -0.0096, 0.0096, margin=0.01),
            "error rate +0.00 pp vs the incumbent (upper bound +0.96 pp < +1 pp), n=400",
        ),
        (
            gate("*", "latency_p95", Verdict.INCONCLUSIVE, 80.0, 70.0, None, limit=8000, needed=181),
            "p95 80 ms (too few pairs for a bound on both sides yet; ~181 pairs needed), n=400",
        ),
        (
            gate("*", "error_rate", Verdict.PASS, 0.0, 0.0, 0.009, limit=0.05),
            "error rate 0.0% (upper bound 0.9% < 5%), n=400",
        ),
    ],
)
def test_gate_lines_read_on_the_gates_own_scale(result: dict[str, object], expected: str) -> None:
    line = text.gate_line(result)
    assert line.endswith(expected), line
    assert line.startswith(text.gate_name(result))


def test_limit_gates_are_named_apart_and_idle_gates_say_why() -> None:
    limit = gate("*", "error_rate", Verdict.PASS, 0.0, 0.0, 0.009, limit=0.05)
    assert text.gate_name(limit) == "*/error_rate limit"
    idle = gate(
        "extract", "critical_exact", Verdict.INCONCLUSIVE, None, None, None, n=0, margin=0.05, idle=True
    )
    assert re.fullmatch(r"extract/critical_exact\s+idle\s+some detail", text.gate_line(idle))
    held = gate("extract", "critical_exact", Verdict.INCONCLUSIVE, None, None, None, n=0, margin=0.05)
    assert re.fullmatch(r"extract/critical_exact\s+INCONCLUSIVE\s+some detail", text.gate_line(held))


def test_waiting_text_counts_passes_and_names_what_is_open() -> None:
    gates = [
        gate("classify", "agreement", Verdict.PASS, -0.02, -0.05, 0.0, margin=0.08),
        gate("*", "error_rate", Verdict.INCONCLUSIVE, 0.0, -0.02, 0.02, margin=0.01, needed=1062),
        gate("extract", "critical_exact", Verdict.INCONCLUSIVE, None, None, None, n=0, idle=True),
    ]
    assert text.waiting_text(gates) == "1/2 gates PASS; waiting for */error_rate (~1,062 pairs)"
    held = [*gates[:2], gate("extract", "critical_exact", Verdict.INCONCLUSIVE, None, None, None, n=0)]
    assert text.waiting_text(held).startswith("1/3 gates PASS")  # pairs but nothing comparable: it counts
    assert text.waiting_text([]) == "no gate results yet"


def test_decision_headline_keeps_the_first_clause_of_the_reason() -> None:
    line = "ROLLBACK 10% -> 0%: gate failed: classify/agreement FAIL: -0.42 [-0.68, -0.19] n=33"
    assert text.decision_headline(line) == "ROLLBACK 10% -> 0%: gate failed"
    advance = "ADVANCE  10% -> 50%: stage 10% passed every gate with 1109 pairs"
    assert text.decision_headline(advance) == advance


def entry(i: int, ts: float, percent: float, action: str, gates: list[dict[str, object]]) -> RolloutEntry:
    evidence = {"action": action, "stage_percent": 10.0, "stage_started": 100.0, "pairs": 83, "gates": gates}
    return RolloutEntry(i, ts, percent, "controller:demo", f"{action} reason", False, evidence)


def test_stage_outcomes_and_the_verdict_line() -> None:
    failed = gate("classify", "agreement", Verdict.FAIL, -0.42, -0.68, -0.19, n=33, margin=0.08)
    passed = gate("extract", "field_f1", Verdict.PASS, -0.001, -0.03, 0.0, margin=0.08)
    entries = [entry(1, 100.0, 10, "start", []), entry(2, 102.5, 0, "rollback", [failed, passed])]
    outcomes = text.stage_outcomes(entries)
    assert [(o.percent, o.action, o.seconds, o.pairs) for o in outcomes] == [(10.0, "rollback", 2.5, 83)]
    assert text.stage_lines(outcomes[0])[0] == "stage 10%: ROLLBACK after 2.5s and 83 pairs"
    assert len(text.stage_lines(outcomes[0])) == 2  # only the failed gate is listed
    assert text.verdict_line(outcomes, 0, "classify") == (
        "candidate rejected: rolled back to 0% at the 10% stage because classify/agreement failed: "
        "58.0% agree (upper bound 81.0% < 92%)"
    )
    done = text.stage_outcomes([entry(3, 110.0, 100, "complete", [passed])])
    assert text.verdict_line(done, 100, "classify/extract") == (
        "candidate accepted: 100% of classify/extract traffic now on SGLang"
    )
    assert text.stage_lines(done[0])[1] == "    PASS: extract F1 0.999"
    undecided = text.verdict_line([], 10, "classify", stopped="the workload sent all 10 requests")
    assert undecided.startswith(
        "rollout undecided: stopped at 10% before the gates could decide (the workload"
    )


def test_stage_windows_run_from_each_start_to_the_next_decision() -> None:
    entries = [
        entry(1, 100.0, 10, "start", []),
        entry(2, 110.0, 50, "advance", []),
        entry(3, 125.0, 0, "rollback", []),
    ]
    assert list(stage_windows(entries)) == [(10, 100.0, 110.0), (50, 110.0, 125.0)]
