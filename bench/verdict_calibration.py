"""Are the verdicts honest? Simulate pairs with a known truth and run every default-policy gate's own code.

1. False PASS: the candidate is worse by exactly the margin (the edge of "not acceptable"). Once with a single
   look at ``--single`` pairs, and once as the rollout looks: every 50 pairs up to ``--max-n``, a PASS at any
   look counts. Target: <= alpha (0.05) in the default, sequential mode. The fixed-sample mode is shown too:
   at most alpha for one look (Clopper-Pearson for binary rates, betting bounds for one look at n otherwise;
   200 runs put about 0.015 of noise on each cell), far above it for many looks (which is why the rollout uses sequential bounds).
2. Power: the candidate is truly good (but not perfect: the gate needs a few hundred pairs). The report's
   ``needed_n`` is computed from a pilot of 10,000 pairs whose estimate is exactly the truth (the claim is
   "if the estimate holds"),
   then that many fresh pairs get one look. Target: PASS >= 0.80.

Gates and margins are policies/default.yaml's (chat's similarity and guard gates are summarise's, same code).
Bounded runtime: about two minutes on one core with the defaults.

    python bench/verdict_calibration.py [--reps 200] [--seed 7]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluator import betting  # noqa: E402
from evaluator import bounds as B  # noqa: E402
from evaluator import decide as D  # noqa: E402
from evaluator.metrics import METRICS  # noqa: E402
from evaluator.verdict import GateSpec, Verdict  # noqa: E402

ALPHA = 0.05
PILOT = 10_000
Rng = np.random.Generator


@dataclass(frozen=True)
class Case:
    """One gate: ``draw(rng, n, good)`` makes n pairs' data at the margin (good=False) or truly good;
    ``answer`` is the gate's full answer (with needed n), ``bounds`` only its bounds (what a look decides on)."""

    label: str
    gate: GateSpec
    draw: Callable[[Rng, int, bool], object]
    needed: Callable[[object, GateSpec, bool], int | None]  # the report's needed n from pilot data
    bounds: Callable[[object, int, GateSpec, bool], B.Bounds]
    reps_scale: float = 1.0

    def shifted(self, data: object) -> tuple[np.ndarray, float] | None:
        """The [0, 1] sequence the betting bound runs on and the mean it must exclude to PASS (None for
        latency, which has no betting form)."""
        margin = self.gate.margin
        if isinstance(data, np.ndarray):
            return data, 1 - margin
        if isinstance(data, list):
            return B.paired_shifted(data), (1 - margin) / 2
        return None

    def verdict(self, data: object, n: int, sequential: bool) -> Verdict:
        return D.decide(
            self.gate, METRICS[self.gate.metric], self.bounds(data, n, self.gate, sequential)
        ).verdict


def bernoulli(edge: float, good: float) -> Callable[[Rng, int, bool], object]:
    def draw(rng: Rng, n: int, is_good: bool) -> object:
        if n == PILOT and is_good:  # the pilot: exactly the true share, in random order
            return rng.permutation(np.r_[np.ones(round(good * n)), np.zeros(n - round(good * n))])
        return (rng.random(n) < (good if is_good else edge)).astype(np.float64)

    return draw


def partial_scores(edge: float, good: float) -> Callable[[Rng, int, bool], object]:
    """Per-pair F1: 1.0 for most pairs, Beta(2, 2) (mean 0.5) for the rest, so the mean is exact."""

    def draw(rng: Rng, n: int, is_good: bool) -> object:
        imperfect = (1 - (good if is_good else edge)) / 0.5
        scores = np.ones(n)
        if n == PILOT and is_good:  # the pilot: exactly the true mean (Beta(2, 2) quantiles), random order
            k = round(imperfect * n)
            scores[:k] = stats.beta.ppf((np.arange(k) + 0.5) / k, 2, 2)
            return rng.permutation(scores)
        mask = rng.random(n) < imperfect
        scores[mask] = rng.beta(2, 2, int(mask.sum()))
        return scores

    return draw


def paired_errors(rng: Rng, n: int, is_good: bool) -> object:
    """(incumbent ok, candidate ok): 1% incumbent errors; the candidate 1% (good) or 2% (at the margin)."""
    if n == PILOT and is_good:  # the pilot: exactly the expected cells of two independent 1% rates
        cells = {(False, False): 1, (True, False): 99, (False, True): 99}
        rows = [cell for cell, count in cells.items() for _ in range(count)]
        rows += [(True, True)] * (n - len(rows))
        return [rows[i] for i in rng.permutation(n)]
    inc_ok = rng.random(n) >= 0.01
    cand_ok = rng.random(n) >= (0.01 if is_good else 0.02)
    return list(zip(inc_ok.tolist(), cand_ok.tolist(), strict=True))


def latencies(rng: Rng, n: int, is_good: bool) -> object:
    """Lognormal latencies (median ~660 ms, p95 ~1,270 ms); at the margin the candidate is 250 ms slower."""
    if n == PILOT and is_good:  # the pilot: both sides exactly the lognormal's quantiles, random order
        grid = stats.lognorm.ppf((np.arange(n) + 0.5) / n, 0.4, scale=np.exp(6.5))
        return rng.permutation(grid), rng.permutation(grid)
    inc = rng.lognormal(6.5, 0.4, n)
    cand = rng.lognormal(6.5, 0.4, n) + (0.0 if is_good else 250.0)
    return inc, cand


def one_sample_b(data: object, n: int, gate: GateSpec, sequential: bool) -> B.Bounds:
    assert isinstance(data, np.ndarray)
    flip = METRICS[gate.metric].lower_is_better
    return B.one_sample_bounds(data[:n], 1.0, gate.alpha, sequential, flip=flip)


def paired_b(data: object, n: int, gate: GateSpec, sequential: bool) -> B.Bounds:
    assert isinstance(data, list)
    return B.paired_bounds(data[:n], gate.alpha, sequential, flip=True)


def latency_b(data: object, n: int, gate: GateSpec, sequential: bool) -> B.Bounds:
    assert isinstance(data, tuple)
    return B.latency_bounds(data[0][:n], data[1][:n], 0.95, gate.alpha, sequential, details=False)


def one_sample(data: object, gate: GateSpec, sequential: bool) -> int | None:
    assert isinstance(data, np.ndarray)
    return D.needed_one_sample(data, gate, METRICS[gate.metric], sequential=sequential)


def paired(data: object, gate: GateSpec, sequential: bool) -> int | None:
    assert isinstance(data, list)
    return D.needed_paired(data, gate, METRICS[gate.metric], sequential=sequential)


def latency(data: object, gate: GateSpec, sequential: bool) -> int | None:
    assert isinstance(data, tuple)
    inc, cand = data
    bounds = latency_b(data, inc.size, gate, sequential)
    return D.needed_latency(bounds, inc, cand, 0.95, gate, sequential)


CASES = (
    Case("classify agreement    0.92 | 0.97", GateSpec("classify", "agreement", 0.08), bernoulli(0.92, 0.97), one_sample, one_sample_b),
    Case("extract field_f1      0.92 | 0.97", GateSpec("extract", "field_f1", 0.08), partial_scores(0.92, 0.97), one_sample, one_sample_b),
    Case("extract critical      0.95 | 0.98", GateSpec("extract", "critical_exact", 0.05), bernoulli(0.95, 0.98), one_sample, one_sample_b),
    Case("summarise similarity  0.85 | 0.92", GateSpec("summarise", "similarity", 0.15), bernoulli(0.85, 0.92), one_sample, one_sample_b),
    Case("summarise guard flags 0.05 | 0.02", GateSpec("summarise", "guard_flags", 0.05), bernoulli(0.95, 0.98), one_sample, one_sample_b),
    Case("tools tool_match      0.95 | 0.98", GateSpec("tools", "tool_match", 0.05), partial_scores(0.95, 0.98), one_sample, one_sample_b),
    Case("error rate  +1 pt | equal (1%)", GateSpec("*", "error_rate", 0.01), paired_errors, paired, paired_b, 0.5),
    Case("latency p95 +250 ms | equal", GateSpec("*", "latency_p95", 250.0), latencies, latency, latency_b, 0.1),
)  # fmt: skip


CHECKED_RUNS = 10  # runs on which the fast path must agree with the gate's own decision at every look


def false_pass(case: Case, looks: range, sequential: bool, reps: int, rng: Rng) -> float:
    """Share of runs with a PASS at any look. Sequential betting gates take a fast path (one capital path per
    run: PASS at a look iff the capital at the threshold has reached 1/alpha there), checked against the
    gate's own bounds and verdict on the first :data:`CHECKED_RUNS` runs."""
    passed = 0
    for rep in range(reps):
        data = case.draw(rng, looks.stop - 1, False)
        slow = (
            [case.verdict(data, n, sequential) is Verdict.PASS for n in looks] if rep < CHECKED_RUNS else None
        )
        fast = _fast_looks(case, data, looks) if sequential else None
        if slow is not None and fast is not None and slow != fast:
            raise AssertionError(f"{case.label}: fast path {fast} differs from the gate {slow}")
        passed += any(
            fast
            if fast is not None
            else slow or [case.verdict(data, n, sequential) is Verdict.PASS for n in looks]
        )
    return passed / reps


def _fast_looks(case: Case, data: object, looks: range) -> list[bool] | None:
    shifted = case.shifted(data)
    if shifted is None:
        return None
    values, threshold = shifted
    path = betting.capital_path(values[: looks.stop - 1], threshold, ALPHA)
    level = math.log(1 / ALPHA)
    return [bool(path[n - 1] >= level) for n in looks]


def power(case: Case, sequential: bool, reps: int, rng: Rng) -> tuple[int | None, float]:
    """The n the report claims from a pilot whose estimate is the truth (large, so it barely varies), then
    that many fresh pairs, one look."""
    claimed = case.needed(case.draw(rng, PILOT, True), case.gate, sequential)
    if claimed is None:
        return None, 0.0
    hits = sum(
        case.verdict(case.draw(rng, claimed, True), claimed, sequential) is Verdict.PASS for _ in range(reps)
    )
    return claimed, hits / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reps", type=int, default=200, help="simulated rollouts per cell")
    parser.add_argument("--single", type=int, default=500, help="pairs at the single look")
    parser.add_argument("--max-n", type=int, default=2000, help="last of the every-50-pairs looks")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    single, every = range(args.single, args.single + 1), range(50, args.max_n + 1, 50)
    print(f"alpha {ALPHA}; false PASS at the margin (single look at n={args.single}; every 50 pairs to "
          f"{args.max_n}); power at the claimed n (pilot {PILOT} pairs, one look). Target: false PASS <= "
          f"{ALPHA}, power >= 0.80.")  # fmt: skip
    print(f"{'gate (margin edge | truly good)':<37} {'seq 1 look':>10} {'seq every 50':>12} "
          f"{'fixed 1 look':>12} {'fixed every 50':>14} {'claimed n':>9} {'power':>6}  runs")  # fmt: skip
    for case in CASES:
        reps = max(int(args.reps * case.reps_scale), 20)
        cells = [
            false_pass(case, single, True, reps, rng),
            false_pass(case, every, True, reps, rng),
            false_pass(case, single, False, reps, rng),
            false_pass(case, every, False, max(reps // 5, 10), rng),  # slow; far off target anyway
        ]
        claimed, achieved = power(case, True, reps, rng)
        ok = cells[0] <= ALPHA and cells[1] <= ALPHA and achieved >= 0.8  # the default (sequential) mode
        print(f"{case.label:<37} {cells[0]:>10.3f} {cells[1]:>12.3f} {cells[2]:>12.3f} {cells[3]:>14.3f} "
              f"{claimed if claimed is not None else '-':>9} {achieved:>6.2f}  {reps}"
              f"{'' if ok else '  <- off target'}")  # fmt: skip
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
