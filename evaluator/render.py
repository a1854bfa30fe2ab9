"""Markdown (a PR comment or ``$GITHUB_STEP_SUMMARY``), JSON and JUnit XML renderings of a :class:`Report`."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from typing import Any

from evaluator.report import PairView, Report
from evaluator.verdict import UNGATED, GateResult, Verdict

ICONS = {Verdict.PASS: "✅", Verdict.FAIL: "❌", Verdict.INCONCLUSIVE: "⏳"}
MD_CELL = 300
MD_REVIEW_ROWS = 20


def fmt_num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def verdict_text(result: GateResult) -> str:
    if result.idle:
        return "➖ idle (no pairs of this task)"
    return f"{ICONS[result.verdict]} {result.verdict.value}"


def gate_name(result: GateResult) -> str:
    return f"{result.gate.task}/{result.gate.metric}"


def headline(report: Report) -> str:
    """One sentence: the verdict and why, for the console and the top of every report."""
    mode = "always-valid sequential bounds" if report.sequential else "fixed-sample intervals"
    counts = f"{report.total:,} pairs recorded, {report.compared:,} compared side by side ({mode})"
    if report.verdict is Verdict.PASS:
        return f"PASS: every gate passed. {counts}."
    if report.verdict is Verdict.FAIL:
        failed = ", ".join(gate_name(r) for r in report.results if r.verdict is Verdict.FAIL)
        return f"FAIL: {failed}. {counts}."
    if report.total == 0:
        return "INCONCLUSIVE: no pairs recorded yet; send traffic through the proxy with mirroring on."
    open_gates = [r for r in report.results if r.verdict is Verdict.INCONCLUSIVE and r.n > 0]
    waiting = [r for r in open_gates if r.needed_n is not None]
    text = "INCONCLUSIVE: not enough pairs yet"
    if waiting:
        slowest = max(waiting, key=lambda r: (r.needed_n or 0) - r.n)
        more = (slowest.needed_n or 0) - slowest.n
        wait = time_needed(more, slowest.n, report.window_s)
        text += f", about {more:,} more comparable pairs needed ({gate_name(slowest)}{', ' + wait if wait else ''})"
    ungated = [r.gate.task for r in report.results if r.gate.metric == UNGATED]
    if ungated:
        text += f"; no quality gate for: {', '.join(ungated)} (add one to the policy)"
    trending = [gate_name(r) for r in open_gates if r.needed_n is None]
    if trending:
        text += f"; at the current estimate these would not pass: {', '.join(trending)}"
    return f"{text}. {counts}."


def needed_text(result: GateResult, window_s: float | None = None) -> str:
    """``1,240 pairs (~3.1 h more at 250 pairs/h)``: the claim, and how long the rest takes at the rate this
    gate's pairs arrived in the window."""
    if result.verdict is not Verdict.INCONCLUSIVE or result.n == 0:
        return ""
    if result.needed_n is None:
        return "not at this estimate"
    text = f"{result.needed_n:,} pairs"
    wait = time_needed(result.needed_n - result.n, result.n, window_s)
    return f"{text} ({wait})" if wait else text


def time_needed(more: int, seen: int, window_s: float | None) -> str:
    """``~3.1 h more at 250 pairs/h``, or "" when the window says nothing about the rate."""
    if not window_s or seen <= 1 or more <= 0:
        return ""
    per_hour = seen / window_s * 3600
    seconds = more / (seen / window_s)
    return f"~{duration_text(seconds)} more at {fmt_num(per_hour, 3)} pairs/h"


def duration_text(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


# --- Markdown ------------------------------------------------------------------------------------------


def _cell(text: Any, limit: int = MD_CELL) -> str:
    value = str(text)
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def estimate_text(result: GateResult) -> str:
    if result.estimate is None:
        return "–"
    if result.extra.get("scale") == "candidate value":
        return fmt_num(result.estimate)
    return f"{fmt_num(result.estimate)} (candidate {fmt_num(result.extra.get('candidate'))})"


def bound_text(result: GateResult) -> str:
    if result.gate.limit is not None and not result.gate.margin:
        return f"limit {fmt_num(result.gate.limit)}"
    text = f"{fmt_num(result.gate.margin)}"
    return text + (f", limit {fmt_num(result.gate.limit)}" if result.gate.limit is not None else "")


def to_markdown(report: Report) -> str:
    lines = [
        f"## {ICONS[report.verdict]} {report.verdict.value}: alveare-migrate parity report",
        "",
        headline(report),
        "",
    ]
    lines += _table(
        ("Gate", "Verdict", "Estimate", "Interval", "Margin", "n", "Needed"),
        (
            (
                gate_name(r),
                verdict_text(r),
                estimate_text(r),
                f"[{fmt_num(r.lower)}, {fmt_num(r.upper)}]",
                bound_text(r),
                r.n,
                needed_text(r, report.window_s),
            )
            for r in report.results
        ),
    )
    lines += [
        "",
        f"Estimates are differences where higher is better for the candidate; PASS needs the lower bound above "
        f"-margin, FAIL means the upper bound is below it (one-sided, alpha per gate). "
        f"{'Bounds stay valid however often this report is run.' if report.sequential else ''}",
    ]
    lines += _sides_md(report) + _tasks_md(report) + _cost_md(report)
    lines += _pairs_md(
        f"Needs human review ({report.review_total} flagged by the guards)", report.review[:MD_REVIEW_ROWS]
    )
    lines += _pairs_md("Worst pairs", report.worst)
    lines += _problems_md(report)
    return "\n".join(lines) + "\n"


SIDES_HEADER = ("Side", "Answers", "Errors", "Error rate", "p50 ms", "p95 ms", "TTFT p50 ms", "TTFT p95 ms")


def side_rows(report: Report) -> list[tuple[object, ...]]:
    """One row per side for the latency-and-errors table (Markdown and HTML share it)."""
    return [
        (
            s.side,
            s.answers,
            s.errors,
            fmt_num(s.error_rate),
            fmt_num(s.latency_p50),
            fmt_num(s.latency_p95),
            fmt_num(s.ttft_p50),
            fmt_num(s.ttft_p95),
        )
        for s in report.sides
    ]


def _sides_md(report: Report) -> list[str]:
    return ["", "### Latency and errors", "", *_table(SIDES_HEADER, side_rows(report))]


TASKS_HEADER = (
    "Task",
    "Kind",
    "Compared",
    "Agreement",
    "Field F1",
    "Tool match",
    "Mean cosine",
    "Equivalent",
    "Flagged",
    "Judge",
)


def task_rows(report: Report) -> list[tuple[object, ...]]:
    """One row per task (Markdown and HTML share it)."""
    return [
        (
            t.task,
            t.kind,
            t.compared,
            fmt_num(t.agreement),
            fmt_num(t.field_f1),
            fmt_num(t.tool_match),
            fmt_num(t.similarity_mean),
            fmt_num(t.similar_share),
            t.flagged,
            fmt_num(t.judge),
        )
        for t in report.tasks
    ]


CONFUSION_HEADER = ("Incumbent", "Candidate", "Count")
CONFUSION_ROWS = 20


def confusion_rows(confusion: Sequence[tuple[str, str, int]]) -> list[tuple[object, ...]]:
    return [(a or "(empty)", b or "(empty)", n) for a, b, n in confusion[:CONFUSION_ROWS]]


def _tasks_md(report: Report) -> list[str]:
    if not report.tasks:
        return []
    lines = ["", "### Tasks", "", *_table(TASKS_HEADER, task_rows(report))]
    for task in report.tasks:
        if task.confusion:
            lines += ["", f"Label pairs for {task.task} (incumbent → candidate):", ""]
            lines += _table(CONFUSION_HEADER, confusion_rows(task.confusion))
    return lines


def _cost_md(report: Report) -> list[str]:
    cost = report.cost
    if cost is None:
        return [
            "",
            "### Cost",
            "",
            "No price table: run with `--config alveare.yaml` (pricing, candidate_cost).",
        ]
    rows = [
        ("Requests in window", f"{cost.requests:,} over {cost.window_s / 3600:.1f} h"),
        ("Projected requests / month", fmt_num(cost.requests_per_month)),
        ("Incumbent cost / request (USD)", fmt_num(cost.incumbent_cost_per_request)),
        ("Incumbent / month (USD)", fmt_num(cost.incumbent_monthly_usd)),
        ("Candidate / month (USD)", fmt_num(cost.candidate_monthly_usd)),
        ("Monthly saving (USD)", fmt_num(cost.monthly_saving_usd)),
        ("Break-even requests / month", fmt_num(cost.breakeven_requests_per_month)),
    ]
    lines = ["", "### Cost", "", *_table(("", "Value"), rows)]
    if cost.unpriced_models:
        lines += ["", f"No price for: {', '.join(cost.unpriced_models)} (add them under `pricing:`)."]
    return lines


PAIR_HEADER = ("Pair", "Task", "Score", "Why", "Request", "Incumbent", "Candidate")


def pair_rows(pairs: Sequence[PairView]) -> list[tuple[object, ...]]:
    """One row per distinct pair; ``p000123 (×12)`` when identical pairs were grouped (Markdown and HTML)."""
    return [
        (
            p.pair_id + (f" (×{p.count})" if p.count > 1 else ""),
            p.task,
            fmt_num(p.score, 3),
            p.note,
            p.request,
            p.incumbent,
            p.candidate,
        )
        for p in pairs
    ]


def _pairs_md(title: str, pairs: Sequence[PairView]) -> list[str]:
    if not pairs:
        return []
    return ["", f"### {title}", "", *_table(PAIR_HEADER, pair_rows(pairs))]


def _problems_md(report: Report) -> list[str]:
    if not report.problems:
        return ["", "### Bad input", "", "None: every pair was read and scored."]
    rows = [
        (reason, count, ", ".join(report.problem_examples.get(reason, [])))
        for reason, count in report.problems.items()
    ]
    return [
        "",
        "### Bad input (counted, not scored or scored after repair)",
        "",
        *_table(("Reason", "Pairs", "Examples"), rows),
    ]


# --- JSON and JUnit ------------------------------------------------------------------------------------


def to_json(report: Report) -> str:
    return (
        json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False, default=_json_default)
        + "\n"
    )


def _json_default(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    return str(value)


def to_junit(report: Report) -> str:
    """One testcase per (task, gate). FAIL is a failure; INCONCLUSIVE is an *error* (type ``Inconclusive``),
    so no CI reads an unproven candidate as green; an idle gate (no pairs of its task) is skipped. The suite
    carries the overall verdict as a property."""
    failures = sum(1 for r in report.results if r.verdict is Verdict.FAIL)
    errors = sum(1 for r in report.results if r.verdict is Verdict.INCONCLUSIVE and not r.idle)
    skipped = sum(1 for r in report.results if r.idle)
    counts = {
        "tests": str(len(report.results)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
    }
    root = ET.Element("testsuites", {"name": "alveare-migrate parity", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": "parity", **counts})
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", report.verdict.value),
        ("pairs", str(report.total)),
        ("sequential", str(report.sequential)),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for result in report.results:
        case = ET.SubElement(
            suite, "testcase", classname=f"parity.{result.gate.task}", name=result.gate.metric, time="0"
        )
        message = junit_message(result)
        if result.verdict is Verdict.FAIL:
            ET.SubElement(case, "failure", message=message, type="NonInferiority").text = result.detail
        elif result.idle:
            ET.SubElement(case, "skipped", message=message)
        elif result.verdict is Verdict.INCONCLUSIVE:
            ET.SubElement(case, "error", message=message, type="Inconclusive").text = result.detail
        ET.SubElement(case, "system-out").text = f"{message}\nmethod: {result.method}\n{result.detail}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def junit_message(result: GateResult) -> str:
    gate = result.gate
    text = (
        f"{result.verdict.value}: {gate_name(result)} estimate {fmt_num(result.estimate)} "
        f"interval [{fmt_num(result.lower)}, {fmt_num(result.upper)}], margin {gate.margin:g}"
        + (f", limit {gate.limit:g}" if gate.limit is not None else "")
        + f", alpha {gate.alpha:g}, n={result.n}"
    )
    if result.needed_n is not None:
        text += f", needs ~{result.needed_n}"
    return text
