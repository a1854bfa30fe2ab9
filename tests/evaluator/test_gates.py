"""evaluate_gates: verdicts, `*` expansion, idle gates, hard limits, sequential vs fixed-sample."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from core.config import EvaluationSettings
from evaluator import DEFAULT_GATES, METRICS, evaluate_gates
from evaluator.decide import needed_one_sample
from evaluator.verdict import GateSpec, Verdict, overall
from tests.evaluator.factory import classify_pairs, error, ok, pair, request, tool_call

AGREEMENT = GateSpec("classify", "agreement", margin=0.05)


def test_package_import_stays_light() -> None:
    code = "import sys, evaluator; print(sorted(m for m in ('numpy', 'scipy', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_agreement_pass_fail_inconclusive() -> None:
    assert evaluate_gates(classify_pairs(400, 0), [AGREEMENT])[0].verdict is Verdict.PASS
    assert evaluate_gates(classify_pairs(300, 100), [AGREEMENT])[0].verdict is Verdict.FAIL
    small = evaluate_gates(classify_pairs(20, 0), [AGREEMENT])[0]
    assert small.verdict is Verdict.INCONCLUSIVE
    assert small.needed_n is not None and small.needed_n > 20
    assert small.n == 20 and small.estimate == 0.0 and small.lower is not None and small.lower < -0.05


def test_needed_n_is_enough() -> None:
    """At the claimed n, a sample with the same agreement rate PASSes."""
    result = evaluate_gates(classify_pairs(58, 2), [AGREEMENT])[0]  # 0.967
    assert result.verdict is Verdict.INCONCLUSIVE and result.needed_n is not None
    n = result.needed_n
    agree = int(n * 58 / 60) + 1
    assert evaluate_gates(classify_pairs(agree, n - agree), [AGREEMENT])[0].verdict is Verdict.PASS


def test_sequential_is_wider_than_fixed_sample() -> None:
    pairs = classify_pairs(190, 10)
    sequential = evaluate_gates(pairs, [AGREEMENT])[0]
    fixed = evaluate_gates(pairs, [AGREEMENT], sequential=False)[0]
    assert sequential.lower is not None and fixed.lower is not None
    assert sequential.lower < fixed.lower
    assert "always valid" in sequential.method and fixed.method == "Clopper-Pearson exact interval"


def test_star_gates_expand_per_task_present() -> None:
    pairs = classify_pairs(30, 0, task="sentiment") + classify_pairs(30, 0, task="intent")
    results = evaluate_gates(pairs, [GateSpec("*", "agreement", 0.05), GateSpec("*", "similarity", 0.05)])
    assert sorted(r.gate.task for r in results) == ["intent", "sentiment"]  # similarity applies to neither
    assert all(r.extra["spec_task"] == "*" for r in results)


def test_idle_only_when_the_task_has_no_pairs() -> None:
    """A gate whose task has pairs but cannot be answered is INCONCLUSIVE and counts; only a task with no
    pairs at all is idle (the old code called a critical_exact gate over 339 extract pairs idle)."""
    pairs = classify_pairs(10, 0)
    missing, wrong_kind, no_config, unknown = evaluate_gates(
        pairs,
        [
            GateSpec("extract", "field_f1"),
            GateSpec("classify", "similarity"),
            GateSpec("extract", "critical_exact"),
            GateSpec("classify", "bogus"),
        ],
        coverage=False,
    )
    assert all(
        r.n == 0 and r.verdict is Verdict.INCONCLUSIVE for r in (missing, wrong_kind, no_config, unknown)
    )
    assert "no pairs for task 'extract'" in missing.detail and missing.idle
    assert "does not apply" in wrong_kind.detail and not wrong_kind.idle
    assert "unknown metric" in unknown.detail
    json_mode = request("x", response_format={"type": "json_object"})
    extract = [pair(ok('{"id": 7}'), ok('{"id": 7}'), req=json_mode, task="extract") for _ in range(339)]
    critical = evaluate_gates(extract, [GateSpec("extract", "critical_exact", 0.05)])[0]
    assert critical.verdict is Verdict.INCONCLUSIVE and not critical.idle
    assert "evaluation.critical_fields.extract" in critical.detail


def test_a_task_with_pairs_and_no_gate_is_never_pass() -> None:
    """300 wrong tool calls and 300 unrelated chat answers with gates only for classify: not PASS."""
    tools_request = request("x", tools=[{"type": "function", "function": {"name": "pay"}}])
    wrong_calls = [
        pair(ok(tool_calls=[tool_call("pay", {"account": 1})]), ok(tool_calls=[tool_call("refund", {})]),
             req=tools_request, task="tools")
        for _ in range(300)
    ]  # fmt: skip
    chat = [pair(ok("It rains in Oslo today."), ok("Bananas are yellow."), task="chat") for _ in range(300)]
    results = evaluate_gates(classify_pairs(400, 0) + wrong_calls + chat, [AGREEMENT], coverage=True)
    ungated = {r.gate.task: r for r in results if r.gate.metric == "ungated"}
    assert set(ungated) == {"tools", "chat"} and ungated["tools"].n == 300
    assert "tool_match" in ungated["tools"].detail and overall(results) is Verdict.INCONCLUSIVE


def test_the_default_policy_gates_every_task_kind() -> None:
    from evaluator.metrics import KINDS
    from policies.model import load_policy

    policy = load_policy()
    gates = policy.gates_for(policy.stages[0])
    for kind in KINDS:
        assert any(g.task == kind and kind in METRICS[g.metric].kinds for g in gates), kind


def test_extraction_gates_with_critical_fields() -> None:
    json_mode = request("x", response_format={"type": "json_object"})
    good = [
        pair(ok('{"id": 7, "name": "Ann"}'), ok('{"name": "Ann", "id": 7.0}'), req=json_mode)
        for _ in range(300)
    ]
    bad = [
        pair(ok('{"id": 7, "name": "Ann"}'), ok('{"id": 8, "name": "Ann"}'), req=json_mode) for _ in range(60)
    ]
    settings = EvaluationSettings(critical_fields={"extract": ("id",)})
    gates = [
        GateSpec("*", "field_f1", 0.05),
        GateSpec("*", "critical_exact", 0.05),
        GateSpec("*", "json_valid", 0.05),
    ]
    mixed = [p for i in range(60) for p in (*good[5 * i : 5 * i + 5], bad[i])]  # 1 in 6, spread out
    f1, critical, valid = evaluate_gates(mixed, gates, settings=settings)
    assert f1.estimate == pytest.approx(-60 * 0.5 / 360)
    assert critical.verdict is Verdict.FAIL  # 1/6 of the ids changed, margin 0.05
    assert valid.verdict is Verdict.PASS and valid.extra["mcnemar_exact_p"] == 1.0


def test_error_rate_hard_limit_and_margin() -> None:
    healthy = [pair(ok("Positive"), ok("Positive"), task="classify") for _ in range(3000)]
    limit = GateSpec("*", "error_rate", limit=0.05)
    passed = evaluate_gates(healthy, [limit], coverage=False)[0]
    assert passed.verdict is Verdict.PASS and passed.gate == limit  # side gates keep the spec
    assert passed.extra["scale"] == "candidate value" and passed.estimate == 0.0
    failing = [pair(ok("Positive"), error(503), task="classify") for _ in range(100)]
    broken = [p for i in range(100) for p in (healthy[i], failing[i])]
    result = evaluate_gates(broken, [limit, GateSpec("*", "error_rate", 0.01)], coverage=False)
    assert [r.verdict for r in result] == [Verdict.FAIL, Verdict.FAIL]
    assert "BROKEN" in result[0].detail and result[0].extra["mcnemar_exact_p"] < 1e-20
    one_error = evaluate_gates([pair(ok("a"), error(500))], [limit], coverage=False)[0]
    assert one_error.verdict is Verdict.INCONCLUSIVE  # one timeout is not evidence of a broken limit


def test_latency_gates() -> None:
    rng = np.random.default_rng(4)
    pairs = [
        pair(
            ok("Positive", latency_ms=float(a), ttft_ms=float(a) / 4),
            ok("Positive", latency_ms=float(b)),
            task="classify",
        )
        for a, b in zip(rng.lognormal(6.5, 0.3, 1500), rng.lognormal(6.0, 0.3, 1500), strict=True)
    ]
    p95, p50_fixed, ttft, limit = evaluate_gates(
        pairs,
        [
            GateSpec("*", "latency_p95", margin=100.0),
            GateSpec("*", "latency_p50", margin=100.0),
            GateSpec("*", "ttft_p50", margin=100.0),
            GateSpec("*", "latency_p95", limit=200.0),
        ],
        coverage=False,
    )
    assert p95.verdict is Verdict.PASS and p95.estimate is not None and p95.estimate > 0  # candidate faster
    assert p50_fixed.extra["hodges_lehmann_shift_ms"] < 0 and p50_fixed.extra["mann_whitney_p"] < 1e-10
    assert ttft.n == 0 and "no candidate latencies" in ttft.detail  # the candidate never streamed
    assert limit.verdict is Verdict.FAIL  # p95 about 660 ms > 200 ms
    fixed = evaluate_gates(pairs, [GateSpec("*", "latency_p50", margin=100.0)], sequential=False)[0]
    assert fixed.method == "Hodges-Lehmann shift, Mann-Whitney interval" and fixed.verdict is Verdict.PASS


def test_guard_flags_count_in_similarity_and_own_gate() -> None:
    flipped = [
        pair(
            ok("The patient is allergic to penicillin."),
            ok("The patient is not allergic to penicillin."),
            task="summarise",
        )
        for _ in range(40)
    ]
    result = evaluate_gates(flipped, [GateSpec("summarise", "guard_flags", margin=0.02)])[0]
    assert result.verdict is Verdict.FAIL and result.extra["candidate"] == 1.0


def test_default_gates_use_known_metrics() -> None:
    assert {g.metric for g in DEFAULT_GATES} <= set(METRICS)
    assert overall(evaluate_gates([], DEFAULT_GATES)) is Verdict.INCONCLUSIVE  # empty: never PASS


def test_needed_one_sample_grows_as_the_margin_shrinks() -> None:
    values = np.r_[np.ones(98), np.zeros(2)]
    wide = needed_one_sample(values, GateSpec("c", "agreement", 0.05), METRICS["agreement"], sequential=True)
    narrow = needed_one_sample(
        values, GateSpec("c", "agreement", 0.03), METRICS["agreement"], sequential=True
    )
    assert wide is not None and narrow is not None and narrow > wide


def test_star_latency_gate_is_answered_per_task_with_paired_differences() -> None:
    """A candidate 2 s slower on summaries only: pooled with 900 fast labels it hid below the p95."""
    rng = np.random.default_rng(5)
    labels = [
        pair(ok("Positive", latency_ms=float(a)), ok("Positive", latency_ms=float(a) * 0.8), task="classify")
        for a in rng.lognormal(5.5, 0.2, 900)
    ]
    summaries = [
        pair(
            ok("A summary.", latency_ms=float(a)),
            ok("A summary.", latency_ms=float(a) + 2000.0),
            task="summarise",
        )
        for a in rng.lognormal(6.5, 0.2, 60)
    ]
    summaries.append(pair(ok("A summary.", latency_ms=700.0), error(504), task="summarise"))
    results = evaluate_gates(labels + summaries, [GateSpec("*", "latency_p95", margin=250.0)], coverage=False)
    by_task = {r.gate.task: r for r in results}
    assert sorted(by_task) == ["classify", "summarise"]
    assert all(r.extra["spec_task"] == "*" for r in results)
    assert by_task["classify"].verdict is Verdict.PASS
    assert by_task["summarise"].verdict is not Verdict.PASS  # 61 pairs: too few for a sequential FAIL
    paired = by_task["summarise"].extra
    assert paired["paired_n"] == 61 and paired["paired_candidate_slower_share"] == 1.0
    assert paired["paired_quantile_diff_bounds_ms"][0] >= 1999.9  # the timeout counts as the worst


def test_star_latency_limit_stays_pooled() -> None:
    pairs = classify_pairs(30, 0) + classify_pairs(30, 0, task="intent")
    results = evaluate_gates(pairs, [GateSpec("*", "latency_p95", limit=5000.0)], coverage=False)
    assert len(results) == 1 and results[0].gate.task == "*"
