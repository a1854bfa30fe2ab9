from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from proxy.circuit import CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _breaker(failures: int = 3, reset_s: float = 10.0) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker(failures, reset_s, clock=clock), clock


def _run(breaker: CircuitBreaker, clock: FakeClock, script: str) -> list[object]:
    """Steps separated by spaces: f (failure), s (success), a (allow), +N (advance N seconds), ? (state)."""
    out: list[object] = []
    for step in script.split():
        if step == "f":
            breaker.record_failure()
        elif step == "s":
            breaker.record_success()
        elif step == "a":
            out.append(breaker.allow())
        elif step == "?":
            out.append(breaker.state)
        else:
            clock.now += float(step)
    return out


@pytest.mark.parametrize(
    ("script", "expected", "opened"),
    [
        ("? a", ["closed", True], 0),
        ("f f ? a", ["closed", True], 0),
        ("f f f ? a", ["open", False], 1),
        ("f f s f f ? a", ["closed", True], 0),  # a success resets the count
        ("f f f +9.9 ? a", ["open", False], 1),
        ("f f f +10 ? a a ?", ["half-open", True, False, "half-open"], 1),  # exactly one probe
        ("f f f +10 a s ? a a", [True, "closed", True, True], 1),  # probe succeeded
        (
            "f f f +10 a f ? a +9 a +1 a",
            [True, "open", False, False, True],
            2,
        ),  # probe failed: another reset_s
        ("f f f +10 a +5 a +5 a", [True, False, True], 1),  # a probe that never reports does not wedge it
        ("f f f f f ? +10 ?", ["open", "half-open"], 1),  # failures while open change nothing
        ("f f f s ? a", ["open", False], 1),  # a late success from before the opening does not close it
        ("f f f +10 s ? a", ["closed", True], 1),
        ("f f f +10 a f +10 a s f f ? f ?", [True, True, "closed", "open"], 3),
    ],
)
def test_scenarios(script: str, expected: list[object], opened: int) -> None:
    breaker, clock = _breaker()
    assert _run(breaker, clock, script) == expected
    assert breaker.opened_count == opened


def test_one_failure_opens_with_failures_1() -> None:
    breaker, clock = _breaker(failures=1, reset_s=1)
    breaker.record_failure()
    assert (breaker.state, breaker.allow()) == ("open", False)
    clock.now += 1
    assert [breaker.allow(), breaker.allow()] == [True, False]


def test_reset_0_probes_at_once() -> None:
    breaker, _ = _breaker(failures=2, reset_s=0)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "half-open"
    assert breaker.allow() is True


@pytest.mark.parametrize(("failures", "reset_s"), [(0, 1.0), (-1, 1.0), (1, -0.1)])
def test_rejects_bad_settings(failures: int, reset_s: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failures, reset_s)


def test_default_clock_is_monotonic() -> None:
    breaker = CircuitBreaker(1, 3600)
    breaker.record_failure()
    assert breaker.state == "open"
    assert breaker.allow() is False


class BreakerMachine(RuleBasedStateMachine):
    """Random sequences of outcomes, allows and clock moves keep the breaker's promises."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.failures = 3
        self.reset_s = 5.0
        self.breaker = CircuitBreaker(self.failures, self.reset_s, clock=self.clock)
        self.streak = 0  # consecutive failures recorded while closed
        self.opened = 0
        self.probe_at: float | None = None

    @rule()
    def success(self) -> None:
        before = self.breaker.state
        self.breaker.record_success()
        if before != "open":
            assert self.breaker.state == "closed"
            self.streak = 0
            self.probe_at = None

    @rule()
    def failure(self) -> None:
        before = self.breaker.state
        self.breaker.record_failure()
        if before == "closed":
            self.streak += 1
            if self.streak == self.failures:
                self.opened += 1
                self.streak = 0
                self.probe_at = None
                assert self.breaker.state != "closed"
            else:
                assert self.breaker.state == "closed"
        elif before == "half-open":
            self.opened += 1
            self.probe_at = None
            assert self.breaker.state == ("half-open" if self.reset_s == 0 else "open")
        else:
            assert self.breaker.state == "open"

    @rule()
    def allow(self) -> None:
        before = self.breaker.state
        allowed = self.breaker.allow()
        if before == "closed":
            assert allowed
        elif before == "open":
            assert not allowed
        else:
            fresh = self.probe_at is None or self.clock.now - self.probe_at >= self.reset_s
            assert allowed == fresh
            if allowed:
                self.probe_at = self.clock.now

    @rule(seconds=st.sampled_from([0.0, 0.5, 1.0, 4.999, 5.0, 7.5]))
    def tick(self, seconds: float) -> None:
        self.clock.now += seconds

    @precondition(lambda self: self.breaker.state == "half-open")
    @rule()
    def two_allows_at_once_let_one_through(self) -> None:
        fresh = self.probe_at is None or self.clock.now - self.probe_at >= self.reset_s
        assert [self.breaker.allow(), self.breaker.allow()] == [fresh, False]
        if fresh:
            self.probe_at = self.clock.now

    @invariant()
    def counts_openings(self) -> None:
        assert self.breaker.opened_count == self.opened


BreakerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_breaker_machine = BreakerMachine.TestCase
