"""The report formats and where each is written: the one module that knows every renderer."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from evaluator.html import to_html
from evaluator.render import to_json, to_junit, to_markdown
from evaluator.report import Report

FORMATS = ("md", "json", "junit", "html")
FILENAMES = {"md": "parity.md", "json": "parity.json", "junit": "parity.junit.xml", "html": "parity.html"}


def write_reports(report: Report, formats: Iterable[str], out_dir: Path) -> list[Path]:
    """Write each format to ``out_dir`` (created); returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in formats:
        path = out_dir / FILENAMES[fmt]
        path.write_text(render(report, fmt), encoding="utf-8")
        written.append(path)
    return written


def render(report: Report, fmt: str) -> str:
    if fmt == "md":
        return to_markdown(report)
    if fmt == "json":
        return to_json(report)
    if fmt == "junit":
        return to_junit(report)
    if fmt == "html":
        return to_html(report)
    raise ValueError(f"unknown report format {fmt!r}; choose from {', '.join(FORMATS)}")
