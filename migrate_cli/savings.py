"""`alveare-migrate savings`: what the migrated traffic would have cost on the incumbent, against the candidate.

The arithmetic is :func:`evaluator.cost.cost_summary` (one place); this command picks the pairs, runs it twice
(the share the candidate served, and all split traffic as if fully migrated) and shows every input.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from migrate_cli.app import App, command, store_options
from migrate_cli.status import format_ts

if TYPE_CHECKING:
    from core.config import CandidateCostSettings, PriceSettings


@command()
@store_options
@click.option(
    "--since", default=None, help="Only pairs recorded since: a duration ago (24h, 7d) or a date/time."
)
@click.option("--json", "as_json", is_flag=True, help="Print the inputs and both summaries as JSON.")
@click.pass_obj
def savings(app: App, *, since: str | None, as_json: bool) -> None:
    """PriceSettings the recorded usage at the config's `pricing` and compare with `candidate_cost`, per month.

    Token counts are the recorded ones (the incumbent's; the candidate's where the incumbent did not answer).
    The monthly projection scales the requests recorded over the window to 730 hours.
    """
    from evaluator.cost import CostTally

    config = app.settings
    store = app.store
    since_ts = parse_since(since) if since else None
    migrated, everything = CostTally(config.pricing), CostTally(config.pricing)
    for pair in store.iter_pairs(since=since_ts):
        everything.add(pair)
        if pair.served_side == "candidate":
            migrated.add(pair)
    report = {
        "since": since_ts,
        "pricing": {
            m: {"input_per_1m": p.input_per_1m, "output_per_1m": p.output_per_1m}
            for m, p in config.pricing.items()
        },
        "candidate_cost": candidate_cost_dict(config.candidate_cost),
        "migrated": migrated.summary(config.candidate_cost).as_dict(),
        "all_split_traffic": everything.summary(config.candidate_cost).as_dict(),
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(format_savings(report, config.pricing, config.candidate_cost))


def parse_since(text: str) -> float:
    """``24h`` / ``7d`` (that long ago) or an ISO date/time (local time) -> a Unix timestamp."""
    from policies.model import parse_duration

    try:
        return time.time() - parse_duration(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (24h, 7d) nor a date (2025-01-31 or 2025-01-31T12:00)",
            param_hint="--since",
        ) from None


def candidate_cost_dict(cost: CandidateCostSettings) -> dict[str, Any]:
    from evaluator.cost import HOURS_PER_MONTH, candidate_monthly

    return {
        "usd_per_gpu_hour": cost.usd_per_gpu_hour,
        "gpus": cost.gpus,
        "flat_monthly_usd": cost.flat_monthly_usd,
        "hours_per_month": HOURS_PER_MONTH,
        "monthly_usd": candidate_monthly(cost),
    }


def format_savings(
    report: dict[str, Any], pricing: Mapping[str, PriceSettings], cost: CandidateCostSettings
) -> str:
    lines = ["prices (USD per 1M tokens, from `pricing`):"]
    lines += [
        f"  {m}: input {p.input_per_1m:g}, output {p.output_per_1m:g}" for m, p in sorted(pricing.items())
    ]
    if not pricing:
        lines.append("  none: add e.g. `pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}` to alveare.yaml")
    lines.append("candidate cost (from `candidate_cost`): " + _candidate_line(report["candidate_cost"]))
    if report["since"] is not None:
        lines.append(f"pairs recorded since {format_ts(report['since'])}")
    lines += _section("migrated share (served by the candidate)", report["migrated"])
    lines += _section("all split traffic (as if 100% migrated)", report["all_split_traffic"])
    return "\n".join(lines)


def _candidate_line(cost: dict[str, Any]) -> str:
    if cost["flat_monthly_usd"] is not None:
        return f"flat {_usd(cost['flat_monthly_usd'])}/month"
    if cost["usd_per_gpu_hour"] is not None:
        return (
            f"{_usd(cost['usd_per_gpu_hour'])}/GPU-hour x {cost['gpus']} GPU x {cost['hours_per_month']:g} h "
            f"= {_usd(cost['monthly_usd'])}/month"
        )
    return "not configured: add `candidate_cost: {usd_per_gpu_hour: 2.5, gpus: 1}` (or flat_monthly_usd)"


def _section(title: str, s: dict[str, Any]) -> list[str]:
    lines = [f"{title}:"]
    if not s["requests"]:
        return [*lines, "  no recorded requests"]
    lines.append(
        f"  {s['requests']} requests over {_hours(s['window_s'])}; {s['priced_requests']} priced "
        f"({s['estimated_requests']} from the candidate's token counts): {s['prompt_tokens']} prompt + "
        f"{s['completion_tokens']} completion tokens = {_usd(s['incumbent_cost_usd'])} at incumbent prices"
    )
    if s["unpriced_models"]:
        lines.append(f"  not priced (no `pricing` entry): {', '.join(s['unpriced_models'])}")
    if s["requests_per_month"] is None or s["incumbent_monthly_usd"] is None:
        return [*lines, "  no monthly projection: needs priced requests recorded over some time"]
    lines.append(
        f"  per month: {s['requests_per_month']:.0f} requests x {_usd(s['incumbent_cost_per_request'])} "
        f"= {_usd(s['incumbent_monthly_usd'])} on the incumbent"
    )
    if s["monthly_saving_usd"] is not None:
        verdict = "saving" if s["monthly_saving_usd"] >= 0 else "extra cost"
        breakeven = s["breakeven_requests_per_month"]
        lines.append(
            f"  against {_usd(s['candidate_monthly_usd'])} for the candidate: {verdict} "
            f"{_usd(abs(s['monthly_saving_usd']))}/month"
            + ("" if breakeven is None else f"; break-even at {breakeven:.0f} requests/month")
        )
    return lines


def _usd(value: float) -> str:
    return f"${value:,.2f}" if abs(value) >= 1 or value == 0 else f"${value:.6f}".rstrip("0")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.0f} s"
