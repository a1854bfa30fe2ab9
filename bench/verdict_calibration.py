"""Are the verdicts honest? Simulate pairs with a known true difference and run the gates' own bounds.

1. False PASS: the candidate is worse by exactly the margin (the edge of "not acceptable"). The rollout looks
   again and again (every ``--every`` pairs up to ``--max-n``); a run counts as a false PASS if any look
   PASSes. Target: <= alpha with sequential bounds. The fixed-sample intervals are shown too: looked at
   repeatedly they PASS a bad candidate far more often than alpha, which is why the rollout uses sequential.
2. Power: the candidate is truly good; the report, shown an estimate equal to the truth, claims ``needed_n``.
   Running exactly that many pairs, one look, should PASS at least 80% of the time.

Gates: classify agreement (margin 0.05), extract field F1 (scores in [0, 1], margin 0.05), error rate
(margin 0.01), latency p95 (margin 250 ms). Bounded runtime: about a minute on one core.

    python bench/verdict_calibration.py [--reps 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluator import bounds as B  # noqa: E402
from evaluator.decide import decide, needed_errors, needed_one_sample  # noqa: E402
from evaluator.metrics import METRICS  # noqa: E402
from evaluator.verdict import GateSpec, Verdict  # noqa: E402

ALPHA = 0.05
Run = Callable[[np.random.Generator], bool]  # one simulated rollout: did any look PASS?
Case = tuple[str, GateSpec, Callable[[GateSpec, bool], Run], tuple[int, int]]


def false_pass_rate(run: Callable[[np.random.Generator], bool], reps: int, rng: np.random.Generator) -> float:
    return sum(run(rng) for _ in range(reps)) / reps


def any_look_passes(verdict_at: Callable[[int], Verdict], looks: range) -> bool:
    return any(verdict_at(n) is Verdict.PASS for n in looks)


# --- the four gates: data at the edge of the margin, and the gate's verdict at a look -------------------


def agreement_run(
    p: float, gate: GateSpec, looks: range, sequential: bool
) -> Callable[[np.random.Generator], bool]:
    metric = METRICS["agreement"]

    def run(rng: np.random.Generator) -> bool:
        data = (rng.random(looks.stop) < p).astype(np.float64)
        return any_look_passes(
            lambda n: (
                decide(gate, metric, B.one_sample_bounds(data[:n], 1.0, gate.alpha, sequential)).verdict
            ),
            looks,
        )

    return run


def f1_run(
    mean: float, gate: GateSpec, looks: range, sequential: bool
) -> Callable[[np.random.Generator], bool]:
    """Per-pair F1 scores: 1.0 for most pairs, a Beta-distributed partial score for the rest."""
    metric = METRICS["field_f1"]

    def run(rng: np.random.Generator) -> bool:
        data = _f1_scores(rng, mean, looks.stop)
        return any_look_passes(
            lambda n: (
                decide(gate, metric, B.one_sample_bounds(data[:n], 1.0, gate.alpha, sequential)).verdict
            ),
            looks,
        )

    return run


def _f1_scores(rng: np.random.Generator, mean: float, n: int) -> np.ndarray:
    partial_mean = 0.5  # imperfect pairs score Beta(2, 2): mean 0.5
    imperfect = (1 - mean) / (1 - partial_mean)
    scores = np.ones(n)
    mask = rng.random(n) < imperfect
    scores[mask] = rng.beta(2, 2, int(mask.sum()))
    return scores


def error_run(
    r_inc: float, r_cand: float, gate: GateSpec, looks: range, sequential: bool
) -> Callable[[np.random.Generator], bool]:
    metric = METRICS["error_rate"]

    def run(rng: np.random.Generator) -> bool:
        inc = np.cumsum(rng.random(looks.stop) < r_inc)
        cand = np.cumsum(rng.random(looks.stop) < r_cand)
        return any_look_passes(
            lambda n: (
                decide(
                    gate,
                    metric,
                    B.error_bounds(
                        (int(inc[n - 1]), n), (int(cand[n - 1]), n), gate.alpha, sequential, details=False
                    ),
                ).verdict
            ),
            looks,
        )

    return run


def latency_run(
    shift_ms: float, gate: GateSpec, looks: range, sequential: bool
) -> Callable[[np.random.Generator], bool]:
    """Lognormal latencies (median ~ 660 ms, p95 ~ 1,270 ms); the candidate's are ``shift_ms`` slower."""
    metric = METRICS["latency_p95"]

    def run(rng: np.random.Generator) -> bool:
        inc = rng.lognormal(6.5, 0.4, looks.stop)
        cand = rng.lognormal(6.5, 0.4, looks.stop) + shift_ms
        return any_look_passes(
            lambda n: (
                decide(
                    gate,
                    metric,
                    B.latency_bounds(inc[:n], cand[:n], 0.95, gate.alpha, sequential, details=False),
                ).verdict
            ),
            looks,
        )

    return run


# --- power at the claimed sample size -----------------------------------------------------------------


def agreement_power(
    p: float, gate: GateSpec, sequential: bool, reps: int, rng: np.random.Generator
) -> tuple[int, float]:
    agree = round(p * 200)
    pilot = np.r_[np.ones(agree), np.zeros(200 - agree)]  # a sample whose estimate is the truth
    claimed = needed_one_sample(pilot, gate, METRICS["agreement"], sequential=sequential)
    assert claimed is not None
    metric = METRICS["agreement"]
    passes = sum(
        decide(
            gate,
            metric,
            B.one_sample_bounds((rng.random(claimed) < p).astype(float), 1.0, gate.alpha, sequential),
        ).verdict
        is Verdict.PASS
        for _ in range(reps)
    )
    return claimed, passes / reps


def f1_power(
    mean: float, gate: GateSpec, sequential: bool, reps: int, rng: np.random.Generator
) -> tuple[int, float]:
    metric = METRICS["field_f1"]
    claimed = needed_one_sample(_f1_scores(rng, mean, 2000), gate, metric, sequential=sequential)
    assert claimed is not None
    passes = sum(
        decide(
            gate, metric, B.one_sample_bounds(_f1_scores(rng, mean, claimed), 1.0, gate.alpha, sequential)
        ).verdict
        is Verdict.PASS
        for _ in range(reps)
    )
    return claimed, passes / reps


def error_power(
    r: float, gate: GateSpec, sequential: bool, reps: int, rng: np.random.Generator
) -> tuple[int, float]:
    pilot_n = 2000
    errors = round(r * pilot_n)
    claimed = needed_errors((errors, pilot_n), (errors, pilot_n), gate, sequential=sequential)
    assert claimed is not None
    metric = METRICS["error_rate"]
    passes = 0
    for _ in range(reps):
        inc, cand = int((rng.random(claimed) < r).sum()), int((rng.random(claimed) < r).sum())
        passes += (
            decide(
                gate,
                metric,
                B.error_bounds((inc, claimed), (cand, claimed), gate.alpha, sequential, details=False),
            ).verdict
            is Verdict.PASS
        )
    return claimed, passes / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reps", type=int, default=500, help="simulated rollouts per line (latency uses a fifth)"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    reps, looks, sparse = args.reps, range(50, 2001, 50), range(200, 2001, 200)
    print(
        f"False PASS rate, candidate worse by exactly the margin, alpha {ALPHA}, looks every 50 pairs to 2,000"
    )
    print("(latency, and F1 with fixed-sample BCa, every 200), a PASS at any look counts:")
    cases: list[Case] = [  # label, gate, run(gate, sequential), runs per mode (sequential, fixed)
        ("classify agreement, margin 0.05 (true 0.95)", GateSpec("classify", "agreement", 0.05, ALPHA),
         lambda g, s: agreement_run(0.95, g, looks, s), (reps, reps)),
        ("extract field F1, margin 0.05 (true mean 0.95)", GateSpec("extract", "field_f1", 0.05, ALPHA),
         lambda g, s: f1_run(0.95, g, looks if s else sparse, s), (reps, max(reps // 5, 50))),
        ("error rate, margin 0.01 (1% vs 2%)", GateSpec("*", "error_rate", 0.01, ALPHA),
         lambda g, s: error_run(0.01, 0.02, g, looks, s), (reps, reps)),
        ("latency p95, margin 250 ms (250 ms slower)", GateSpec("*", "latency_p95", 250.0, ALPHA),
         lambda g, s: latency_run(250.0, g, sparse, s), (max(reps // 5, 50), max(reps // 5, 50))),
    ]  # fmt: skip
    for label, gate, make, (n_seq, n_fixed) in cases:
        seq_rate = false_pass_rate(make(gate, True), n_seq, rng)
        fixed_rate = false_pass_rate(make(gate, False), n_fixed, rng)
        verdict = "ok" if seq_rate <= ALPHA else "TOO HIGH"
        print(f"  {label:<47} sequential {seq_rate:.3f} ({verdict}, {n_seq} runs)   "
              f"fixed-sample {fixed_rate:.3f} ({n_fixed} runs)")  # fmt: skip
    print("Power at the sample size the report claims (one look at exactly that n), target >= 0.80:")
    for sequential in (True, False):
        mode = "sequential" if sequential else "fixed-sample"
        gate = GateSpec("classify", "agreement", 0.05, ALPHA)
        claimed, power = agreement_power(0.99, gate, sequential, reps, rng)
        print(
            f"  classify agreement true 0.99, margin 0.05, {mode:<12}: claimed n = {claimed:>5}, power {power:.3f}"
        )
        gate = GateSpec("extract", "field_f1", 0.05, ALPHA)
        claimed, power = f1_power(0.99, gate, sequential, max(reps // 5, 50), rng)
        print(
            f"  extract field F1 true mean 0.99, margin 0.05, {mode:<12}: claimed n = {claimed:>5}, power {power:.3f}"
        )
        gate = GateSpec("*", "error_rate", 0.01, ALPHA)
        claimed, power = error_power(0.01, gate, sequential, max(reps // 2, 100), rng)
        print(
            f"  error rate 1% both sides, margin 0.01, {mode:<12}: claimed n = {claimed:>5}, power {power:.3f}"
        )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
