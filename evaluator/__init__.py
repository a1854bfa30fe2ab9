"""Score recorded pairs for quality parity, with honest statistics, and write parity reports.

Public API (the rollout controller and the CLI call these; importing the package stays light, with no
numpy/scipy/torch until a function runs):

- :func:`evaluate_gates` -- pairs + gates -> one :class:`GateResult` per gate (per task for ``*`` gates).
- :func:`build_report` -- pairs + gates -> a :class:`Report`; :func:`write_reports` writes md/json/junit/html.
- :func:`cost_summary` -- the incumbent's token cost against the candidate's configured cost.
- :data:`METRICS` -- the metric names a gate may use, with what each compares; :data:`DEFAULT_GATES`.
"""

from __future__ import annotations

from evaluator.cost import CostSummary, cost_summary
from evaluator.formats import write_reports
from evaluator.gates import DEFAULT_GATES, answer_gates, evaluate_gates
from evaluator.metrics import METRICS, Metric
from evaluator.report import Report, build_report
from evaluator.verdict import GateResult, GateSpec, Verdict, overall

__all__ = [
    "DEFAULT_GATES",
    "METRICS",
    "CostSummary",
    "GateResult",
    "GateSpec",
    "Metric",
    "Report",
    "Verdict",
    "answer_gates",
    "build_report",
    "cost_summary",
    "evaluate_gates",
    "overall",
    "write_reports",
]
