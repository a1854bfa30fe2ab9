"""The scan as a table for people or JSON for tools: call sites with their verdicts, the clients found, the
suggested ``models:`` map for alveare.yaml, and the share of call sites the candidate can serve."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from migrate_cli.scan.model import CallSite
from migrate_cli.scan.verdict import Judgement, judge
from migrate_cli.scan.walk import ScanResult

COLUMNS = ("LOCATION", "API", "VIA", "MODEL", "FEATURES", "VERDICT", "WHY")
SPECIALIST_PLACEHOLDER = "<specialist>"


def rows(result: ScanResult) -> list[tuple[str, ...]]:
    """One row per call site, in the table's column order."""
    out: list[tuple[str, ...]] = []
    for call in result.calls:
        judged = judge(call)
        why = f"{judged.why}; {call.note}" if call.note else judged.why
        features = ",".join(call.features) or "-"
        out.append((call.where, call.api, call.via, call.model.show(), features, judged.verdict, why))
    return out


def suggested_models(calls: list[CallSite]) -> dict[str, int]:
    """Literal chat models the candidate could take, most-used first, with their call-site counts."""
    counts = Counter(c.model.literal for c in calls if judge(c).servable and c.model.literal is not None)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def share(calls: list[CallSite]) -> dict[str, Any]:
    judged: list[Judgement] = [judge(c) for c in calls]
    servable = sum(j.servable for j in judged)
    dynamic = sum(j.verdict == "split" and not j.servable for j in judged)
    percent = round(100 * servable / len(calls), 1) if calls else 0.0
    return {"servable": servable, "dynamic": dynamic, "total": len(calls), "percent": percent}


def table(data: list[tuple[str, ...]]) -> str:
    """Left-aligned columns, the last one (why) left unpadded."""
    lines = [COLUMNS, *data]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)), line[-1]]).rstrip()
        for line in lines
    )


def render_text(result: ScanResult) -> str:
    parts = [
        f"Scanned {result.files_scanned} source files under {result.root} "
        f"({result.files_parsed} mention OpenAI or a wrapper): {len(result.calls)} call sites, "
        f"{len(result.clients)} clients.",
    ]
    if result.calls:
        parts += ["", table(rows(result))]
    if result.clients:
        parts += ["", "Clients:"]
        parts += [
            f"  {c.file}:{c.line}  {c.kind}  base URL: {c.base_url}" + _envs(c.env_vars)
            for c in result.clients
        ]
    parts += ["", *_models_block(result.calls), "", _share_line(share(result.calls))]
    if any(c.api == "responses" for c in result.calls):
        parts += ["", "Note: /v1/responses is passed through to OpenAI unsplit; see docs/adoption.md."]
    if result.problems:
        parts += ["", "Not scanned:"] + [f"  {p.path}: {p.message}" for p in result.problems]
    return "\n".join(parts)


def _envs(names: tuple[str, ...]) -> str:
    return f"; env: {', '.join(names)}" if names else ""


def _models_block(calls: list[CallSite]) -> list[str]:
    models = suggested_models(calls)
    if not models:
        return ["No chat-completions call names a literal model the candidate could take."]
    width = max(len(m) for m in models) + 1
    lines = [
        "Suggested for alveare.yaml (replace each <specialist> with the one that should serve it):",
        "models:",
    ]
    for model, count in models.items():
        sites = "call site" if count == 1 else "call sites"
        lines.append(f"  {(model + ':').ljust(width)} {SPECIALIST_PLACEHOLDER}   # {count} {sites}")
    return lines


def _share_line(numbers: dict[str, Any]) -> str:
    line = (
        f"The candidate can serve {numbers['servable']} of {numbers['total']} call sites "
        f"({numbers['percent']:g}%) once those models are mapped"
    )
    if numbers["dynamic"]:
        line += f"; {numbers['dynamic']} more choose their model at run time (split if it is mapped)"
    return line + "."


def render_json(result: ScanResult) -> dict[str, Any]:
    calls = []
    for call in result.calls:
        judged = judge(call)
        calls.append(
            {
                "file": call.file,
                "line": call.line,
                "api": call.api,
                "via": call.via,
                "model": {
                    "literal": call.model.literal,
                    "dynamic": call.model.dynamic,
                    "origin": call.model.origin,
                },
                "features": list(call.features),
                "azure": call.azure,
                "verdict": judged.verdict,
                "why": f"{judged.why}; {call.note}" if call.note else judged.why,
            }
        )
    return {
        "root": result.root,
        "files_scanned": result.files_scanned,
        "files_parsed": result.files_parsed,
        "calls": calls,
        "clients": [asdict(c) for c in result.clients],
        "problems": [asdict(p) for p in result.problems],
        "suggested_models": {m: SPECIALIST_PLACEHOLDER for m in suggested_models(result.calls)},
        "share": share(result.calls),
    }
