"""`alveare-migrate export`: fine-tune data from the incumbent's recorded answers (see migrate_cli/finetune.py).

Writes ``train.jsonl``, ``validation.jsonl`` and ``summary.json`` to ``--out`` and prints the summary: examples,
users and tokens per side, the label balance of a classification task, and how many pairs were left out and why.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.errors import AlveareError
from migrate_cli.app import App, command, store_options

if TYPE_CHECKING:
    from core.store import Store
    from migrate_cli.finetune import Example, Selection

FORMAT_CHOICES = ("openai-chat-jsonl", "trl")


class ExportError(AlveareError):
    """Nothing to export, or an option that cannot work: one line with the fix, exit code 2."""


@command()
@store_options
@click.option(
    "--task", required=True, help="The task (specialist) to export: classify, extract, summarise, ..."
)
@click.option(
    "--since", default=None, help="Only pairs recorded since: 24h, 7d, an ISO date/time or epoch s."
)
@click.option("--model", default=None, help="Only requests that asked for this model (e.g. gpt-4o-mini).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_CHOICES),
    default="openai-chat-jsonl",
    show_default=True,
    help="openai-chat-jsonl: OpenAI's fine-tuning files; trl: `messages` for TRL's SFTTrainer and axolotl.",
)
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder."
)
@click.option(
    "--validation",
    "share",
    type=click.FloatRange(0.0, 0.9),
    default=0.1,
    show_default=True,
    help="Share of users (not examples) held out for validation.",
)
@click.option(
    "--redact/--no-redact", default=True, show_default=True, help="Blank e-mails and phone numbers."
)
@click.option(
    "--salt",
    default="alveare-split",
    show_default=True,
    help="Salt of the user split (keep it to keep sides).",
)
@click.pass_obj
def export(
    app: App,
    *,
    task: str,
    since: str | None,
    model: str | None,
    fmt: str,
    out_dir: Path,
    share: float,
    redact: bool,
    salt: str,
) -> None:
    """Write fine-tune data from the incumbent's recorded answers for one task; the user split never overlaps.

    Exit code 2 when there is nothing to export (unknown task, empty selection, no incumbent answer).
    """
    from evaluator.metrics import CLASSIFY, kind_of_task
    from migrate_cli.finetune import select, split
    from migrate_cli.report import parse_since

    store = app.store
    since_ts = parse_since(since, time.time()) if since else None
    check_task(store, task)
    pairs = store.iter_pairs(since=since_ts, task=task, model=model)
    selection = select(pairs, classify=kind_of_task(task) == CLASSIFY)
    check_selection(selection, task, since, model)
    examples, redacted = _redacted(selection, redact=redact)
    train, validation = split(examples, salt=salt, share=share)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(out_dir / "train.jsonl", train, fmt)
    _write(out_dir / "validation.jsonl", validation, fmt)
    summary = _summary(selection, train, validation, redacted if redact else None, fmt, task)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    click.echo(format_summary(summary, out_dir))


def check_task(store: Store, task: str) -> None:
    known = store.pair_tasks("live")
    if task not in known:
        hint = f"the store has {', '.join(known)}" if known else "the store has no recorded pairs yet"
        raise ExportError(f"unknown task {task!r}: {hint}; pass one of them with --task")


def check_selection(selection: Selection, task: str, since: str | None, model: str | None) -> None:
    where = (
        f"task {task!r}" + (f" since {since}" if since else "") + (f" for model {model!r}" if model else "")
    )
    if selection.pairs == 0:
        raise ExportError(f"no pairs recorded for {where}; widen --since or drop --model")
    if not selection.examples:
        reasons = "; ".join(f"{n} {why}" for why, n in selection.left_out.most_common())
        raise ExportError(
            f"no incumbent answer to train on for {where} ({reasons}); record with the candidate at 0% or "
            "with `mirror.rate` > 0 so the incumbent answers"
        )


def _redacted(selection: Selection, *, redact: bool) -> tuple[list[Example], int]:
    """The examples, with e-mails and phone numbers blanked when asked; and how many that changed."""
    from dataclasses import replace

    from proxy.redact import redact_pii

    examples = list(selection.examples.values())
    if not redact:
        return examples, 0
    cleaned = [replace(e, record=redact_pii(e.record)) for e in examples]
    return cleaned, sum(a.record != b.record for a, b in zip(examples, cleaned, strict=True))


def _write(path: Path, examples: list[Example], fmt: str) -> None:
    from migrate_cli.finetune import as_trl

    with path.open("w", encoding="utf-8") as handle:
        for example in examples:
            line = as_trl(example.record) if fmt == "trl" else example.record
            handle.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")


def _summary(
    selection: Selection,
    train: list[Example],
    validation: list[Example],
    redacted: int | None,
    fmt: str,
    task: str,
) -> dict[str, Any]:
    from dataclasses import asdict

    from migrate_cli.finetune import side_summary

    return {
        "task": task,
        "format": fmt,
        "pairs_read": selection.pairs,
        "examples": len(train) + len(validation),
        "train": asdict(side_summary(train)),
        "validation": asdict(side_summary(validation)),
        "users_on_both_sides": len({e.key_hash for e in train} & {e.key_hash for e in validation}),
        "redacted_examples": redacted,
        "left_out": dict(selection.left_out.most_common()),
    }


def format_summary(summary: dict[str, Any], out_dir: Path) -> str:
    lines = [
        f"exported {summary['examples']} {summary['task']} examples ({summary['format']}) from "
        f"{summary['pairs_read']} recorded pairs to {out_dir}/"
    ]
    for side in ("train", "validation"):
        s = summary[side]
        lines.append(
            f"  {side + '.jsonl':<17} {s['examples']:>6} examples, {s['users']:>5} users, {s['tokens']:>9,} tokens"
        )
        if s["labels"]:
            total = sum(s["labels"].values())
            balance = ", ".join(f"{k} {100 * n / total:.0f}%" for k, n in s["labels"].items())
            lines.append(f"  {'':<17} labels: {balance}")
    if summary["validation"]["examples"] == 0:
        lines.append("  validation is empty: too few users for --validation; lower it or record more users")
    redacted = summary["redacted_examples"]
    lines.append(
        "  PII redaction off (--no-redact)"
        if redacted is None
        else f"  PII redaction on: {redacted} examples had an e-mail or phone number blanked"
    )
    left = summary["left_out"]
    lines.append("  left out: " + ("nothing" if not left else f"{sum(left.values())} pairs"))
    lines += [f"    {n:>6}  {why}" for why, n in left.items()]
    return "\n".join(lines)
