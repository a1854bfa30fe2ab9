"""A circuit breaker for the candidate: stop sending it traffic for a while after it keeps failing.

closed --(``failures`` consecutive failures)--> open --(``reset_s`` elapsed)--> half-open
half-open lets one probe through at a time: its success closes the circuit, its failure opens it again for
another ``reset_s``. The clock is injected so tests (and the simulator) can drive time. Not thread-safe: the
proxy calls it from its one event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Decides whether the candidate may be tried now, from the outcomes it is told about."""

    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1:
            raise ValueError(f"failures must be at least 1, got {failures}")
        if reset_s < 0:
            raise ValueError(f"reset_s must not be negative, got {reset_s}")
        self.failures = failures
        self.reset_s = reset_s
        self.opened_count = 0
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probe_started: float | None = None

    @property
    def state(self) -> State:
        """``half-open`` as soon as ``reset_s`` has passed, whether or not a probe has been let through yet."""
        if self._opened_at is None:
            return "closed"
        if self._probe_started is not None or self._clock() - self._opened_at >= self.reset_s:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """May a request go to the candidate now? In half-open, True starts the one probe."""
        state = self.state
        if state != "half-open":
            return state == "closed"
        now = self._clock()
        # A probe whose outcome never came back (cancelled flow) must not wedge the breaker: after another
        # reset_s, let a new one through.
        if self._probe_started is None or now - self._probe_started >= self.reset_s:
            self._probe_started = now
            return True
        return False

    def record_success(self) -> None:
        """The candidate answered well; closes the circuit unless it is open (a late answer from before)."""
        if self.state == "open":
            return
        self._consecutive = 0
        self._opened_at = None
        self._probe_started = None

    def record_failure(self) -> None:
        """The candidate failed; opens the circuit on the ``failures``-th in a row, or when a probe fails."""
        state = self.state
        if state == "open":
            return
        if state == "half-open":
            self._open()
            return
        self._consecutive += 1
        if self._consecutive >= self.failures:
            self._open()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._probe_started = None
        self._consecutive = 0
        self.opened_count += 1
