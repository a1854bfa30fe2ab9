"""The automatic rollout loop: the controller's decisions applied to the store, under a lease.

Every interval the runner re-reads the rollout history (so a restart, or a person's ``rollback``, is seen),
asks the controller, and writes what it decided: advances, rollbacks and completion go to the rollout history
with their evidence; every decision also goes to ``rollout_decisions``, where a hold is written only when it
differs from the previous one. A lease row (owner, expiry) renewed each interval keeps a second controller on
the same store from acting, on whichever host it runs (the store is shared); it is told who holds it and exits.
"""

from __future__ import annotations

import enum
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.store import Store
from policies.controller import Action, Controller, Decision, GateCheck, RolloutState, derive_state
from policies.model import Policy, Stage

if TYPE_CHECKING:
    from evaluator.scoring import SettingsLike
    from evaluator.verdict import GateResult

LEASE_NAME = "rollout-controller"


class Outcome(enum.IntEnum):
    """How a run ended; the value is the command's exit code."""

    COMPLETED = 0
    ROLLED_BACK = 1
    INCONCLUSIVE = 3
    LEASE_BUSY = 4


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaseHolder:
    owner: str
    expires: float


class Lease:
    """One row naming which controller may act, until when. Taking it is one conditional upsert
    (:meth:`core.store.Store.take_lease`), so two controllers cannot both see it free."""

    def __init__(
        self, store: Store, owner: str, ttl_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.owner = owner
        self.ttl_s = ttl_s
        self.clock = clock

    def acquire(self) -> LeaseHolder | None:
        """Take or renew the lease; None if we hold it, else the live holder that refused us."""
        owner, expires = self.store.take_lease(LEASE_NAME, self.owner, self.ttl_s, self.clock())
        return None if owner == self.owner else LeaseHolder(owner, expires)

    def release(self) -> None:
        self.store.release_lease(LEASE_NAME, self.owner)


def candidate_pairs(store: Store, since: float) -> int:
    """Live pairs recorded since ``since`` that have a candidate answer: the ones a gate can compare."""
    return store.count_pairs(since=since, with_candidate=True)


def circuit_open(store: Store) -> bool:
    """Whether any live proxy reports its candidate circuit breaker open."""
    return any(status.get("circuit") == "open" for status in store.statuses().values())


def store_gate_check(store: Store, policy: Policy, settings: SettingsLike | None = None) -> GateCheck:
    """The real judge: the evaluator's always-valid (sequential) gate statistics over the pairs recorded since
    the stage began. ``settings`` is the config's ``evaluation`` section (critical fields, judge)."""

    def judge(stage: Stage, since: float) -> list[GateResult]:
        from core.pair import Pair
        from evaluator import evaluate_gates
        from evaluator.records import read_pairs

        gates = policy.gates_for(stage)
        # read_pairs, not iter_pairs: one unreadable row (a hand-edited store) must not stop the controller
        pairs = (p for p in read_pairs(store, since=since) if isinstance(p, Pair))
        return evaluate_gates(pairs, gates, sequential=True, settings=settings, store=store)

    return judge


class Runner:
    def __init__(
        self,
        store: Store,
        policy: Policy,
        judge: GateCheck,
        *,
        interval_s: float,
        owner: str | None = None,
        emit: Callable[[str], None] = print,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.controller = Controller(policy, judge)
        self.interval_s = interval_s
        self.owner = owner or new_owner_id()
        self.lease = Lease(store, self.owner, ttl_s=2 * interval_s + 10.0, clock=clock)
        self.emit = emit
        self.clock = clock
        self.sleep = sleep
        self._last_hold: tuple[object, ...] | None = None

    def run(self, max_iterations: int | None = None) -> Outcome:
        """Step until the last stage passes (0), a rollback (1), ``max_iterations`` steps (3), or a busy lease (4)."""
        holder = self.lease.acquire()
        if holder is not None:
            self.emit(self._busy_message(holder))
            return Outcome.LEASE_BUSY
        try:
            return self._loop(max_iterations)
        finally:
            self.lease.release()

    def _loop(self, max_iterations: int | None) -> Outcome:
        iterations = 0
        while True:
            if not self._still_leased():
                return Outcome.LEASE_BUSY
            state = derive_state(self.controller.policy, self.store.rollout_history())
            finished = self._finished(state, first=iterations == 0)
            if finished is not None:
                return finished
            outcome = self.step(state)
            if outcome is not None:
                return outcome
            iterations += 1
            if max_iterations is not None and iterations >= max_iterations:
                self.emit(
                    f"stopped after {iterations} iterations at {self._percent():g}%, still inconclusive"
                )
                return Outcome.INCONCLUSIVE
            self.sleep(self.interval_s)

    def step(self, state: RolloutState) -> Outcome | None:
        """One decision, applied and printed; the outcome if it ends the run."""
        now = self.clock()
        pairs = candidate_pairs(self.store, state.stage_started) if state.stage_index is not None else 0
        decision = self.controller.step(state, now=now, pairs=pairs, circuit_open=circuit_open(self.store))
        # the judge may take a while: act only if still the leaseholder and nobody moved the rollout meanwhile
        if not self._still_leased():
            return Outcome.LEASE_BUSY
        latest = self.store.current_rollout()
        if (latest.id if latest else None) != state.entry_id:
            self.emit("the rollout changed while the gates were evaluated; deciding again")
            return None
        self.apply(decision)
        self.emit(decision.line())
        if decision.action is Action.ROLLBACK:
            return Outcome.ROLLED_BACK
        if decision.action is Action.COMPLETE:
            return Outcome.COMPLETED
        return None

    def apply(self, decision: Decision) -> None:
        if decision.action is Action.HOLD:
            key = decision.summary_key()
            if key == self._last_hold:
                return
            self._last_hold = key
        else:
            self._last_hold = None
            self.store.append_rollout(
                decision.percent_to,
                actor=f"controller:{self.owner}",
                reason=decision.reason,
                evidence=decision.evidence,
            )
        self._log(decision)

    def _log(self, decision: Decision) -> None:
        self.store.append_decision(
            {
                "ts": self.clock(),
                "owner": self.owner,
                "action": decision.action.value,
                "percent_from": decision.percent_from,
                "percent_to": decision.percent_to,
                "reason": decision.reason,
                "evidence": json.dumps(decision.evidence, default=str),
            }
        )

    def _still_leased(self) -> bool:
        holder = self.lease.acquire()
        if holder is not None:
            self.emit(f"lost the controller lease to {holder.owner}; stopping")
        return holder is None

    def _finished(self, state: RolloutState, *, first: bool) -> Outcome | None:
        """A history that ends the run: rolled back (the candidate was rejected), taken below the first stage
        by someone else while running (never fight a person), or completed."""
        if not first and state.stage_index is None:
            self.emit(f"the rollout was set to {state.percent:g}% from outside this controller; stopping")
            return Outcome.ROLLED_BACK
        if state.rolled_back:
            self.emit(
                "the rollout was rolled back to 0% (see `alveare-migrate history`); to try again, start "
                f"the first stage by hand: `alveare-migrate rollout --percent {self._first_percent():g}`"
            )
            return Outcome.ROLLED_BACK
        if state.completed:
            self.emit(f"the rollout is complete at {state.percent:g}%")
            return Outcome.COMPLETED
        return None

    def _busy_message(self, holder: LeaseHolder) -> str:
        left = max(0.0, holder.expires - self.clock())
        return (
            f"another rollout controller ({holder.owner}) holds the lease on this store for {left:.0f}s more; "
            "stop it first, or wait for it to finish"
        )

    def _percent(self) -> float:
        return self.store.current_percent()

    def _first_percent(self) -> float:
        return self.controller.policy.stages[0].percent


def decision_log(store: Store, limit: int | None = 50) -> list[dict[str, Any]]:
    """The latest ``limit`` controller decisions (None: all; holds included), oldest first."""
    rows = store.decisions(limit)
    return [{**r, "evidence": json.loads(r["evidence"]) if r["evidence"] else None} for r in rows]
