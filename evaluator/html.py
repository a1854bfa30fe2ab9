"""A self-contained HTML report a person can open: everything the Markdown has (gates, latency and errors,
tasks with their label confusion, cost, pairs for review and the worst pairs, bad input) plus distribution
plots (similarity per task, latency and TTFT per side), drawn with matplotlib's Agg backend as base64 PNG.

No emoji: a headless browser or a CI artifact viewer without an emoji font shows them as empty boxes, so the
verdicts are words styled by CSS.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from evaluator.render import (
    CONFUSION_HEADER,
    PAIR_HEADER,
    SIDES_HEADER,
    TASKS_HEADER,
    bound_text,
    confusion_rows,
    estimate_text,
    fmt_num,
    gate_name,
    headline,
    needed_text,
    pair_rows,
    side_rows,
    task_rows,
)
from evaluator.report import PairView, Report
from evaluator.scoring import SIMILARITY_THRESHOLD
from evaluator.verdict import GateResult

COLORS = {"incumbent": "#4c72b0", "candidate": "#dd8452"}
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
td,th{border:1px solid #ccc;padding:.3rem .5rem;vertical-align:top;text-align:left}
th{background:#f4f4f4} .PASS{color:#1a7f37} .FAIL{color:#cf222e} .INCONCLUSIVE{color:#9a6700}
td.text{max-width:28rem;white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:.8rem}
img{max-width:100%;border:1px solid #eee}
"""


def to_html(report: Report) -> str:
    parts = [
        f"<h1 class='{report.verdict.value}'>{report.verdict.value}</h1>",
        f"<p>{_e(headline(report))}</p>",
        "<h2>Gates</h2>",
        _table(
            ("Gate", "Verdict", "Estimate", "Interval", "Margin", "n", "Needed", "Method", "Detail"),
            (
                (
                    gate_name(r),
                    (_verdict_word(r), r.verdict.value),
                    estimate_text(r),
                    f"[{fmt_num(r.lower)}, {fmt_num(r.upper)}]",
                    bound_text(r),
                    r.n,
                    needed_text(r, report.window_s),
                    r.method,
                    r.detail,
                )
                for r in report.results
            ),
        ),
        "<h2>Distributions</h2>",
        *_plots(report),
        "<h2>Latency and errors</h2>",
        _table(SIDES_HEADER, side_rows(report)),
        *_tasks(report),
        *_cost(report),
        *_pairs(f"Needs human review ({report.review_total} flagged by the guards)", report.review),
        *_pairs("Worst pairs", report.worst),
        "<h2>Bad input</h2>",
        _table(
            ("Reason", "Pairs", "Examples"),
            ((k, v, ", ".join(report.problem_examples.get(k, []))) for k, v in report.problems.items()),
        )
        if report.problems
        else "<p>None: every pair was read and scored.</p>",
    ]
    body = "\n".join(parts)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>alveare-migrate parity report</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>\n"
    )


def _verdict_word(result: GateResult) -> str:
    return "idle (no pairs of this task)" if result.idle else result.verdict.value


def _tasks(report: Report) -> list[str]:
    if not report.tasks:
        return []
    parts = ["<h2>Tasks</h2>", _table(TASKS_HEADER, task_rows(report))]
    for task in report.tasks:
        if task.confusion:
            parts.append(f"<h3>Label pairs for {_e(task.task)} (incumbent to candidate)</h3>")
            parts.append(_table(CONFUSION_HEADER, confusion_rows(task.confusion)))
    return parts


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], text_from: int | None = None) -> str:
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            value, css = (
                cell
                if isinstance(cell, tuple)
                else (cell, "text" if text_from is not None and i >= text_from else "")
            )
            cells.append(f"<td class='{css}'>{_e(value)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</table>"


def _cost(report: Report) -> list[str]:
    cost = report.cost
    if cost is None:
        return [
            "<h2>Cost</h2><p>No price table: run with --config alveare.yaml (pricing, candidate_cost).</p>"
        ]
    rows = [
        (k, fmt_num(v) if not isinstance(v, tuple | list) else ", ".join(v))
        for k, v in cost.as_dict().items()
    ]
    return ["<h2>Cost</h2>", _table(("", "Value"), rows)]


def _pairs(title: str, pairs: Sequence[PairView]) -> list[str]:
    if not pairs:
        return []
    return [f"<h2>{_e(title)}</h2>", _table(PAIR_HEADER, pair_rows(pairs), text_from=3)]


def _plots(report: Report) -> list[str]:
    dist = report.distributions
    images = []
    similarity = {k: v for k, v in dist.get("similarity", {}).items() if v}
    if similarity:
        images.append(_similarity_png(similarity))
    for key, label in (("latency_ms", "Total latency (ms)"), ("ttft_ms", "Time to first token (ms)")):
        sides = {k: v for k, v in dist.get(key, {}).items() if v}
        if sides:
            images.append(_latency_png(sides, label))
    if not images:
        return ["<p>No data to plot yet.</p>"]
    return [f"<img alt='distribution' src='data:image/png;base64,{png}'>" for png in images]


def _figure() -> Any:
    from matplotlib.figure import Figure  # the OO API with the Agg canvas: no pyplot, no global state

    figure = Figure(figsize=(8, 3.2), dpi=100)
    return figure, figure.subplots()


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _similarity_png(per_task: Mapping[str, list[float]]) -> str:
    figure, axes = _figure()
    for task, values in per_task.items():
        axes.hist(values, bins=40, range=(0, 1), alpha=0.6, label=f"{task} (n={len(values)})")
    axes.axvline(
        SIMILARITY_THRESHOLD, color="black", linestyle="--", linewidth=1, label="equivalence threshold"
    )
    axes.set_xlabel("cosine similarity, candidate vs incumbent")
    axes.set_ylabel("pairs")
    # A fixed corner, clear of the mass near 1: loc="best" searches every placement, which on a busy machine takes
    # over a second and then warns (an error under the tests' warning filters).
    axes.legend(fontsize=8, loc="upper left")
    return _png(figure)


def _latency_png(per_side: Mapping[str, list[float]], label: str) -> str:
    import numpy as np

    figure, axes = _figure()
    upper = max(float(np.quantile(v, 0.99)) for v in per_side.values())
    for side, values in per_side.items():
        axes.hist(
            values,
            bins=50,
            range=(0, upper or 1.0),
            alpha=0.55,
            color=COLORS.get(side),
            label=f"{side} (n={len(values)})",
        )
    axes.set_xlabel(label + " (99th percentile and below)")
    axes.set_ylabel("answers")
    axes.legend(fontsize=8, loc="upper right")  # latencies pile up on the left; see _similarity_png
    return _png(figure)
