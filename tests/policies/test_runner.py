from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.pair import Answer, Pair
from core.store import Store
from evaluator.verdict import GateResult, Verdict
from policies.controller import Action
from policies.runner import Lease, Outcome, Runner, decision_log
from tests.policies.helpers import (
    AGREEMENT,
    ERROR_LIMIT,
    F1,
    ScriptedJudge,
    all_pass,
    inconclusive,
    policy,
    verdicts,
)


class Clock:
    """Wall time for the runner, moved only by its own sleeps (and by the tests). It starts at the real time
    because the store stamps rollout entries with the real time."""

    def __init__(self) -> None:
        self.now = time.time()
        self.on_sleep: Callable[[], object] | None = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}")


def make_runner(
    store: Store, judge: ScriptedJudge, clock: Clock, *, owner: str = "A", **policy_args: object
) -> tuple[Runner, list[str]]:
    lines: list[str] = []
    runner = Runner(
        store,
        policy(**policy_args),  # type: ignore[arg-type]
        judge,
        interval_s=60.0,
        owner=owner,
        emit=lines.append,
        clock=clock,
        sleep=clock.sleep,
    )
    return runner, lines


def pair(i: int, ts: float, *, mirrored: bool = True) -> Pair:
    answer = Answer(status=200, body={"choices": []}, latency_ms=5.0)
    return Pair(
        pair_id=f"p{i}",
        ts=ts,
        key_hash="k",
        model="gpt-4o-mini",
        target_model="classify",
        task="classify",
        request={"messages": []},
        served_side="candidate",
        percent=10.0,
        incumbent=answer if mirrored else None,
        candidate=answer,
    )


def test_scripted_run_advances_through_every_stage_and_completes(store: Store) -> None:
    clock = Clock()
    judge = ScriptedJudge([inconclusive(), inconclusive(), all_pass(), all_pass(), all_pass()])
    runner, lines = make_runner(store, judge, clock)
    assert runner.run(max_iterations=20) is Outcome.COMPLETED
    history = store.rollout_history()
    assert [e.percent for e in history] == [10, 50, 100, 100]
    assert [e.evidence["action"] for e in history if e.evidence] == [
        "start",
        "advance",
        "advance",
        "complete",
    ]
    assert all(e.actor == "controller:A" and not e.forced for e in history)
    advance = history[1].evidence
    assert advance is not None and advance["verdict"] == "PASS"
    assert [g["gate"]["metric"] for g in advance["gates"]] == ["agreement", "field_f1", "error_rate"]
    assert [line.split()[0] for line in lines] == ["START", "HOLD", "HOLD", "ADVANCE", "ADVANCE", "COMPLETE"]
    # the judge is asked about each stage since that stage began, once per interval
    assert [c[0] for c in judge.calls] == [10, 10, 10, 50, 100]
    assert judge.calls[0][1] == judge.calls[1][1] == history[0].ts
    # two identical holds are one decision log row; advances are logged too
    actions = [d["action"] for d in decision_log(store)]
    assert actions == ["start", "hold", "advance", "advance", "complete"]
    assert store.lease_count() == 0


def test_rollback_on_a_failed_gate_then_a_restart_does_not_start_again(store: Store) -> None:
    clock = Clock()
    failing = verdicts((AGREEMENT, Verdict.PASS), (F1, Verdict.FAIL), (ERROR_LIMIT, Verdict.PASS))
    runner, lines = make_runner(store, ScriptedJudge([all_pass(), failing]), clock)
    assert runner.run(max_iterations=10) is Outcome.ROLLED_BACK
    last = store.rollout_history()[-1]
    assert last.percent == 0 and last.evidence is not None and last.evidence["action"] == "rollback"
    assert "extract/field_f1 FAIL" in last.reason
    assert lines[-1].startswith("ROLLBACK 50% -> 0%: gate failed")

    again, again_lines = make_runner(store, ScriptedJudge([]), clock, owner="B")
    assert again.run(max_iterations=10) is Outcome.ROLLED_BACK
    assert len(store.rollout_history()) == 3
    assert "rollout --percent 10" in again_lines[0]


def test_open_circuit_reported_by_a_proxy_rolls_back(store: Store) -> None:
    clock = Clock()
    runner, lines = make_runner(store, ScriptedJudge([all_pass()]), clock)
    clock.on_sleep = lambda: store.put_status("proxy-1", {"circuit": "open", "percent": 10})
    assert runner.run(max_iterations=5) is Outcome.ROLLED_BACK
    assert lines[-1] == "ROLLBACK 10% -> 0%: the candidate's circuit breaker is open"


def test_restart_mid_stage_keeps_the_stage_clock_and_pairs(store: Store) -> None:
    clock = Clock()
    first, _ = make_runner(store, ScriptedJudge([all_pass()]), clock, min_pairs=3, min_duration="10m")
    assert first.run(max_iterations=2) is Outcome.INCONCLUSIVE
    started = store.rollout_history()[0].ts
    store.write_pairs([pair(i, started + 1 + i) for i in range(3)] + [pair(9, started + 5, mirrored=False)])
    store.write_pairs([pair(99, started - 100)])  # before the stage began: not counted

    clock.now = started + 599  # a new controller, one second short of the stage's minimum duration
    judge = ScriptedJudge([all_pass(), all_pass()])
    second, lines = make_runner(store, judge, clock, owner="B", min_pairs=3, min_duration="10m")
    assert second.run(max_iterations=2) is Outcome.INCONCLUSIVE
    assert lines[0] == "HOLD     at 10%: 599/600s in stage"
    assert lines[1] == "ADVANCE  10% -> 50%: stage 10% passed every gate with 4 pairs"
    assert [e.percent for e in store.rollout_history()] == [10, 50]  # no second start
    assert judge.calls[0] == (10, started)


def test_a_second_controller_on_the_same_store_exits(store: Store) -> None:
    release = threading.Event()
    asked = threading.Event()

    class BlockingJudge(ScriptedJudge):
        def __call__(self, stage: object, since: float) -> list[GateResult]:
            asked.set()
            assert release.wait(10)
            return all_pass()

    clock = Clock()
    first, _ = make_runner(store, BlockingJudge([]), clock)
    outcome: list[Outcome] = []
    thread = threading.Thread(target=lambda: outcome.append(first.run(max_iterations=2)))
    thread.start()
    try:
        assert asked.wait(10)
        second, lines = make_runner(store, ScriptedJudge([]), clock, owner="B")
        assert second.run(max_iterations=5) is Outcome.LEASE_BUSY
        assert "another rollout controller (A) holds the lease" in lines[0]
    finally:
        release.set()
        thread.join(10)
    assert outcome == [Outcome.INCONCLUSIVE]
    assert [e.actor for e in store.rollout_history()] == ["controller:A", "controller:A"]


def test_an_expired_lease_is_taken_over_and_the_old_owner_stops(store: Store) -> None:
    clock = Clock()
    crashed = Lease(store, "crashed", ttl_s=30.0, clock=clock)
    assert crashed.acquire() is None
    blocked, lines = make_runner(store, ScriptedJudge([]), clock, owner="B")
    assert blocked.run() is Outcome.LEASE_BUSY and "30s more" in lines[0]
    clock.now += 31
    runner, lines = make_runner(store, ScriptedJudge([inconclusive()] * 5), clock, owner="B")

    def stolen() -> None:  # B sleeps past its lease; C takes it
        clock.now += 1000
        Lease(store, "C", ttl_s=30.0, clock=clock).acquire()

    clock.on_sleep = stolen
    assert runner.run(max_iterations=5) is Outcome.LEASE_BUSY
    assert lines[-1] == "lost the controller lease to C; stopping"


def test_a_person_rolling_back_or_setting_zero_stops_the_controller(store: Store) -> None:
    clock = Clock()
    runner, lines = make_runner(store, ScriptedJudge([inconclusive()] * 5), clock)
    clock.on_sleep = lambda: store.append_rollout(
        0, actor="cli:ops", reason="paused", evidence={"action": "manual"}
    )
    assert runner.run(max_iterations=5) is Outcome.ROLLED_BACK
    assert "set to 0% from outside this controller" in lines[-1]
    assert [e.percent for e in store.rollout_history()] == [10, 0]


def test_holds_are_logged_only_when_they_change(store: Store) -> None:
    clock = Clock()
    script = [inconclusive(), inconclusive(), inconclusive(), all_pass()]
    runner, lines = make_runner(store, ScriptedJudge(script), clock, min_pairs=1)
    assert runner.run(max_iterations=5) is Outcome.INCONCLUSIVE
    assert len(lines) == 6 and lines[-1].startswith("stopped after 5 iterations at 10%")
    log = decision_log(store)
    assert [d["action"] for d in log] == ["start", "hold", "hold"]
    assert log[1]["reason"].startswith("0/1 pairs; classify/agreement INCONCLUSIVE")
    assert log[2]["reason"] == "0/1 pairs"
    assert store.rollout_history()[-1].evidence == {**log[0]["evidence"]}
    assert Action.HOLD.value not in {e.evidence["action"] for e in store.rollout_history() if e.evidence}


def test_a_rollback_made_while_the_gates_are_evaluated_is_not_overwritten(store: Store) -> None:
    clock = Clock()

    class RollbackDuringJudging(ScriptedJudge):
        def __call__(self, stage: object, since: float) -> list[GateResult]:
            store.append_rollout(0, actor="cli:ops", reason="pulled", evidence={"action": "rollback"})
            return all_pass()

    runner, lines = make_runner(store, RollbackDuringJudging([]), clock)
    assert runner.run(max_iterations=5) is Outcome.ROLLED_BACK
    assert [e.percent for e in store.rollout_history()] == [10, 0]
    assert lines[1] == "the rollout changed while the gates were evaluated; deciding again"
