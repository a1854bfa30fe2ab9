"""`alveare-migrate savings`: what the migrated traffic would have cost on the incumbent, against the candidate.

The arithmetic is in :mod:`evaluator.cost` (one place); this command picks the live pairs, runs it twice (the
share the candidate served, and all split traffic as if fully migrated), sizes the GPUs for the recorded peak,
and shows every input. A window under an hour is shown as it is, never projected to a month. ``--what-if``
answers a volume you give instead (migrate_cli/whatif.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from migrate_cli.app import App, command, store_options
from migrate_cli.capacity import (
    CapacityInputs,
    capacity_options,
    capacity_report,
    format_capacity,
)
from migrate_cli.status import format_ts

if TYPE_CHECKING:
    from core.config import CandidateCostSettings, PriceSettings


@command()
@store_options
@click.option(
    "--since", default=None, help="Only pairs recorded since: a duration ago (24h, 7d) or a date/time."
)
@click.option("--json", "as_json", is_flag=True, help="Print the inputs and both summaries as JSON.")
@capacity_options
@click.option(
    "--what-if", "what_if", is_flag=True, help="Price a volume you give instead of the recorded one."
)
@click.option(
    "--requests-per-month",
    default=None,
    help="--what-if: requests a month; a comma list gives a table (10K,2M).",
)
@click.option("--tokens-in", type=click.IntRange(0), default=None, help="--what-if: prompt tokens a request.")
@click.option(
    "--tokens-out", type=click.IntRange(0), default=None, help="--what-if: completion tokens a request."
)
@click.option(
    "--price-model", default=None, help="--what-if: the `pricing` entry to use (default: the only one)."
)
@click.option(
    "--peak-to-mean",
    type=click.FloatRange(1.0),
    default=3.0,
    show_default=True,
    help="--what-if: the busiest minute against the month's mean (1 = a flat load).",
)
@click.pass_obj
def savings(
    app: App,
    *,
    since: str | None,
    as_json: bool,
    capacity: CapacityInputs,
    what_if: bool,
    requests_per_month: str | None,
    tokens_in: int | None,
    tokens_out: int | None,
    price_model: str | None,
    peak_to_mean: float,
) -> None:
    """Price the recorded usage at the config's `pricing` against GPUs sized for its peak, per month.

    Token counts are the recorded ones (the incumbent's; the candidate's where the incumbent did not answer).
    The monthly projection scales the requests recorded over the window to 730 hours, from a window of an hour
    or more only. GPUs: enough replicas for the busiest minute plus --headroom, at a per-GPU throughput for
    --model-size (documented defaults) or the --gpu-tokens-per-s you measured.
    """
    from evaluator.cost import CostTally, TrafficTally

    config = app.settings
    if what_if:
        from migrate_cli.whatif import run_what_if

        args = (requests_per_month, tokens_in, tokens_out, price_model, peak_to_mean)
        click.echo(run_what_if(config, capacity, *args, as_json=as_json))
        return
    store = app.store
    since_ts = parse_since(since) if since else None
    migrated, everything = CostTally(config.pricing), CostTally(config.pricing)
    traffic = TrafficTally()
    for pair in store.iter_pairs(since=since_ts):
        everything.add(pair)
        traffic.add(pair)
        if pair.served_side == "candidate":
            migrated.add(pair)
    report: dict[str, Any] = {
        "since": since_ts,
        "pricing": {
            m: {"input_per_1m": p.input_per_1m, "output_per_1m": p.output_per_1m}
            for m, p in config.pricing.items()
        },
        "candidate_cost": candidate_cost_dict(config.candidate_cost),
        "migrated": migrated.summary(config.candidate_cost).as_dict(),
        "all_split_traffic": everything.summary(config.candidate_cost).as_dict(),
        "capacity": capacity_report(traffic, capacity, config.candidate_cost.usd_per_gpu_hour),
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(format_savings(report, config.pricing, config.candidate_cost))
    click.echo(format_capacity(report["capacity"], report["all_split_traffic"]))


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
    if s["requests"] and s["window_s"] < MIN_PROJECTION_S:
        return [
            *lines,
            f"  no monthly projection: {_hours(s['window_s'])} recorded, under an hour says nothing about a "
            "month; record longer, or give your volume with --what-if",
        ]
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


MIN_PROJECTION_S = 3600.0  # evaluator.cost.MIN_PROJECTION_S, not imported at module level (fast --help)


def _usd(value: float) -> str:
    return f"${value:,.2f}" if abs(value) >= 1 or value == 0 else f"${value:.6f}".rstrip("0")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.0f} s"
