"""`alveare-migrate report`: score the recorded pairs and write parity reports; the exit code is the verdict."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.errors import AlveareError
from evaluator.formats import FORMATS
from migrate_cli import env
from migrate_cli.app import App, command, store_options

if TYPE_CHECKING:
    from core.config import Settings
    from evaluator.verdict import GateSpec

EXIT_CODES = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class ReportError(AlveareError):
    """A problem running the report (not a verdict): exit code 2, so it never reads as FAIL (1)."""

    exit_code = 2


def parse_since(text: str, now: float) -> float:
    """``24h``/``7d``/``30m`` ago, an ISO date or datetime (local time unless it has an offset), or epoch seconds."""
    value = text.strip()
    match = _RELATIVE.match(value)
    if match:
        return now - float(match.group(1)) * _UNIT_S[match.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a time; give 24h, 7d, 30m, 2025-01-31, 2025-01-31T12:00 or epoch seconds",
            param_hint="--since",
        ) from None


def parse_formats(text: str) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise click.BadParameter(
            f"unknown format {', '.join(unknown) or text!r}; choose from {','.join(FORMATS)}",
            param_hint="--format",
        )
    return list(dict.fromkeys(formats))


@command()
@store_options
@click.option(
    "--format", "formats", default="md,json", show_default=True, help="Comma list of md, json, junit, html."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Directory for the reports.",
)
@click.option(
    "--since", default=None, help="Only pairs recorded since: 24h, 7d, an ISO date/datetime or epoch seconds."
)
@click.option(
    "--task", default=None, help="Only pairs of this task (classify, extract, summarise, tools, chat, ...)."
)
@click.option("--model", default=None, help="Only pairs whose request asked for this model.")
@click.option(
    "--source",
    type=click.Choice(("live", "replay")),
    default="live",
    show_default=True,
    help="live: pairs the proxy recorded; replay: answers `alveare-migrate replay` got from the candidate.",
)
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Policy YAML whose gates to answer (default: the config's `policy`, else the shipped one).",
)
@click.option(
    "--fixed-sample",
    is_flag=True,
    help="Classical intervals for one planned look (default: always-valid bounds for repeated looks).",
)
@click.option(
    "--judge-offline", is_flag=True, help="Use only judge verdicts cached in the store; never call the judge."
)
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="CPU threads for the embedding model.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars on stderr (default: for 1,000 pairs or more).",
)
@click.pass_obj
def report(
    app: App,
    *,
    formats: str,
    out_dir: Path,
    since: str | None,
    task: str | None,
    model: str | None,
    source: str,
    policy_path: Path | None,
    fixed_sample: bool,
    judge_offline: bool,
    threads: int,
    progress: bool | None,
) -> None:
    """Score the recorded pairs and write parity reports (md, json, junit, html) to --out.

    Exit code: 0 PASS, 1 FAIL, 3 INCONCLUSIVE (not enough pairs yet; the report says how many more),
    2 the report could not run (bad config, store or option).
    """
    from evaluator import build_report, write_reports
    from evaluator.records import read_pairs
    from evaluator.render import headline

    wanted = parse_formats(formats)
    config = _settings(app)
    store = _store(app, config)
    since_ts = parse_since(since, time.time()) if since else None
    filters = {k: v for k, v in {"since": since, "task": task, "model": model}.items() if v is not None}
    if source != "live":
        filters["source"] = source
    gates, ignore_idle = _gates(config, policy_path)
    built = build_report(
        read_pairs(store, since=since_ts, model=model, source=source),
        gates,
        sequential=not fixed_sample,
        settings=config.evaluation,
        pricing=config.pricing or None,
        candidate_cost=config.candidate_cost,
        store=store,
        judge_api_key=_judge_key(config),
        judge_offline=judge_offline,
        task=task,
        filters=filters,
        threads=threads,
        progress=progress,
        expected=store.count_pairs(since=since_ts, model=model, source=source),
        ignore_idle=ignore_idle,
    )
    written = write_reports(built, wanted, out_dir)
    click.echo(headline(built))
    click.echo("wrote " + ", ".join(str(p) for p in written))
    raise SystemExit(EXIT_CODES[built.verdict.value])


def _settings(app: App) -> Settings:
    """The app's settings; with neither --config, --store nor $ALVEARE_STORE, ./alveare.yaml must exist."""
    if app.config_path is None and app.store_url is None and not os.environ.get(env.STORE):
        if not Path("alveare.yaml").is_file():
            raise ReportError("no store given: pass --store sqlite:///PATH or --config alveare.yaml")
        app.config_path = Path("alveare.yaml")
    return app.settings


def _store(app: App, config: Settings) -> Any:
    """Opened read-only in spirit: a missing file is an error here, never a new empty store."""
    from core.store import parse_store_url

    path = parse_store_url(config.store).sqlite_path
    if path is not None and not path.is_file():
        raise ReportError(
            f"store {path} does not exist: check --store/--config, or record pairs with the proxy first"
        )
    return app.store  # closed with the app


def _gates(config: Settings, policy_path: Path | None) -> tuple[list[GateSpec], bool]:
    """Every gate any stage of the policy asks, in order, plus its hard limits; and whether idle gates (no
    pairs at all) are left out of the verdict, as the rollout does."""
    from policies.model import load_policy

    policy = load_policy(policy_path or config.policy_path())
    gates = [gate for stage in policy.stages for gate in policy.gates_for(stage)]
    return list(dict.fromkeys(gates)), policy.ignore_idle_gates


def _judge_key(config: Settings) -> str | None:
    judge = config.evaluation.judge
    return os.environ.get(judge.key_env) if judge is not None and judge.key_env else None
