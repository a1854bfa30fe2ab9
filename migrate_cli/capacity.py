"""GPU sizing for `alveare-migrate savings`: the options, and the capacity section from recorded traffic.

The arithmetic is :mod:`evaluator.cost` (``gpus_needed``, ``TrafficTally``); this module turns the options into
a :class:`CapacityInputs` and the result into the lines a user reads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from evaluator.cost import Throughput, TrafficTally

F = TypeVar("F", bound=Callable[..., Any])
MODEL_SIZES = ("3b", "8b", "14b", "32b", "70b")  # evaluator.cost.DEFAULT_THROUGHPUT's keys


@dataclass(frozen=True)
class CapacityInputs:
    model_size: str
    gpu_tokens_per_s: float | None
    headroom: float
    usd_per_gpu_hour: float | None

    def throughput(self) -> Throughput:
        """The measured figure when given (on the model size's GPUs per replica), else the documented default."""
        from evaluator.cost import DEFAULT_THROUGHPUT, Throughput

        default = DEFAULT_THROUGHPUT[self.model_size]
        if self.gpu_tokens_per_s is None:
            return default
        return Throughput(self.gpu_tokens_per_s, default.gpus, "measured (--gpu-tokens-per-s)")

    def price(self, configured: float | None) -> float | None:
        return self.usd_per_gpu_hour if self.usd_per_gpu_hour is not None else configured


def capacity_options(command: F) -> F:
    """``--model-size``, ``--gpu-tokens-per-s``, ``--headroom``, ``--usd-per-gpu-hour`` -> ``capacity=``."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["capacity"] = CapacityInputs(
            model_size=kwargs.pop("model_size"),
            gpu_tokens_per_s=kwargs.pop("gpu_tokens_per_s"),
            headroom=kwargs.pop("headroom"),
            usd_per_gpu_hour=kwargs.pop("usd_per_gpu_hour"),
        )
        return command(*args, **kwargs)

    options = [
        click.option(
            "--model-size",
            type=click.Choice(MODEL_SIZES),
            default="8b",
            show_default=True,
            help="The candidate's size, for the default per-GPU throughput (docs/savings.md lists the sources).",
        ),
        click.option(
            "--gpu-tokens-per-s",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Tokens/s one replica sustains, measured (sglang.bench_serving); beats the default.",
        ),
        click.option(
            "--headroom",
            type=click.FloatRange(0.0, 10.0),
            default=0.3,
            show_default=True,
            help="Spare capacity above the peak (0.3 = 30%).",
        ),
        click.option(
            "--usd-per-gpu-hour",
            type=click.FloatRange(0.0),
            default=None,
            help="GPU price (default: candidate_cost.usd_per_gpu_hour).",
        ),
    ]
    decorated: Any = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


def capacity_report(
    traffic: TrafficTally, inputs: CapacityInputs, configured_price: float | None
) -> dict[str, Any]:
    """Per-task mean and peak tokens/s; the GPUs the peak of all tasks together needs, and their monthly cost."""
    from dataclasses import asdict

    from evaluator.cost import gpu_monthly_usd, gpus_needed

    rows = traffic.tasks()
    throughput = inputs.throughput()
    peak = rows[-1].peak_tokens_s if rows else None
    gpus = gpus_needed(peak, throughput, inputs.headroom) if peak is not None else None
    price = inputs.price(configured_price)
    return {
        "tasks": [asdict(r) for r in rows],
        "throughput": asdict(throughput),
        "model_size": inputs.model_size,
        "headroom": inputs.headroom,
        "gpus_at_peak": gpus,
        "usd_per_gpu_hour": price,
        "gpu_monthly_usd": gpu_monthly_usd(gpus, price) if gpus is not None and price is not None else None,
    }


def format_capacity(cap: dict[str, Any], everything: dict[str, Any]) -> str:
    if not cap["tasks"]:
        return "capacity: no recorded traffic to size GPUs for"
    lines = [
        "capacity (recorded live traffic; tokens = prompt + completion; peak = the busiest minute):",
        f"  {'task':<12} {'requests':>9} {'tokens':>11} {'mean tok/s':>11} {'peak tok/s':>11}",
    ]
    lines += [
        f"  {r['task']:<12} {r['requests']:>9,} {r['tokens']:>11,} {_rate(r['mean_tokens_s']):>11} "
        f"{_rate(r['peak_tokens_s']):>11}"
        for r in cap["tasks"]
    ]
    unmetered = [f"{r['task']} {r['unmetered']:,}" for r in cap["tasks"][:-1] if r["unmetered"]]
    if unmetered:
        lines.append(
            "  no token counts (not counted): " + ", ".join(unmetered) + " requests; streams need "
            "stream_options.include_usage for the proxy to see them"
        )
    window = cap["tasks"][-1]["window_s"]
    if window < 3600:
        lines.append(
            f"  {window:,.0f} s recorded: the peak of that burst, not of a day's traffic; size with --what-if"
        )
    t = cap["throughput"]
    lines.append(
        f"  per replica: {t['tokens_per_s']:,.0f} tokens/s on {t['gpus']} GPU ({cap['model_size']}; {t['basis']})"
    )
    peak = cap["tasks"][-1]["peak_tokens_s"]
    lines.append(
        f"  GPUs at the peak: {cap['gpus_at_peak']} ({_rate(peak)} tok/s + {cap['headroom']:.0%} headroom = "
        f"{_rate(peak * (1 + cap['headroom']))} tok/s)"
    )
    lines.append("  " + _cost_line(cap, everything))
    return "\n".join(lines)


def _cost_line(cap: dict[str, Any], everything: dict[str, Any]) -> str:
    if cap["gpu_monthly_usd"] is None:
        return "GPU cost: no price; add `candidate_cost: {usd_per_gpu_hour: 2.5}` or pass --usd-per-gpu-hour"
    gpus = f"{cap['gpus_at_peak']} GPU x 730 h x ${cap['usd_per_gpu_hour']:,.2f} = ${cap['gpu_monthly_usd']:,.2f}/month"
    incumbent = everything["incumbent_monthly_usd"]
    if incumbent is None:
        return f"{gpus}; the incumbent's month is not projected (see above): compare with --what-if"
    saving = incumbent - cap["gpu_monthly_usd"]
    verdict = "saving" if saving >= 0 else "extra cost"
    return f"{gpus} against ${incumbent:,.2f}/month on the incumbent: {verdict} ${abs(saving):,.2f}/month"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"
