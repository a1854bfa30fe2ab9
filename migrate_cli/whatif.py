"""`alveare-migrate savings --what-if`: a monthly volume you give, priced on the incumbent and on GPUs.

``--requests-per-month 10K,100K,500K,2M --tokens-in 250 --tokens-out 250`` prints one row per volume: the
incumbent at its token prices (the config's `pricing`), and the GPUs the peak needs (``--peak-to-mean`` x the
month's mean tokens/s, plus headroom) at the GPU price. Nothing is read from the store.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from core.errors import AlveareError

if TYPE_CHECKING:
    from core.config import PriceSettings, Settings
    from evaluator.cost import WhatIf
    from migrate_cli.capacity import CapacityInputs

_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9}


class WhatIfError(AlveareError):
    """A what-if that cannot be priced: one line with the fix, exit code 2."""


def parse_volumes(text: str) -> list[float]:
    """``10K,100K,2M`` or ``10000`` -> request counts."""
    volumes: list[float] = []
    for item in (p.strip().lower().replace("_", "") for p in text.split(",")):
        scale = _SUFFIX.get(item[-1:], 1.0) if item else 1.0
        number = item[:-1] if item[-1:] in _SUFFIX else item
        try:
            value = float(number) * scale
        except ValueError:
            raise WhatIfError(
                f"--requests-per-month: {item!r} is not a number; write e.g. 10000, 10K or 10K,100K,2M"
            ) from None
        if value <= 0:
            raise WhatIfError(f"--requests-per-month: {item!r} must be more than 0")
        volumes.append(value)
    return volumes


def run_what_if(
    config: Settings,
    capacity: CapacityInputs,
    requests_per_month: str | None,
    tokens_in: int | None,
    tokens_out: int | None,
    price_model: str | None,
    peak_to_mean: float,
    *,
    as_json: bool,
) -> str:
    from evaluator.cost import what_if

    if requests_per_month is None or tokens_in is None or tokens_out is None:
        raise WhatIfError(
            "--what-if needs --requests-per-month, --tokens-in and --tokens-out, e.g. "
            "--requests-per-month 10K,2M --tokens-in 250 --tokens-out 250"
        )
    model, price = _price(config, price_model)
    gpu_price = capacity.price(config.candidate_cost.usd_per_gpu_hour)
    if gpu_price is None:
        raise WhatIfError("no GPU price: pass --usd-per-gpu-hour or set candidate_cost.usd_per_gpu_hour")
    throughput = capacity.throughput()
    rows = [
        what_if(
            volume,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            price=price,
            throughput=throughput,
            usd_per_gpu_hour=gpu_price,
            headroom=capacity.headroom,
            peak_to_mean=peak_to_mean,
        )
        for volume in parse_volumes(requests_per_month)
    ]
    if as_json:
        return json.dumps([r.as_dict() for r in rows], indent=2)
    head = [
        f"what-if: {tokens_in} prompt + {tokens_out} completion tokens a request at {model} prices "
        f"(${price.input_per_1m:g} in, ${price.output_per_1m:g} out per 1M tokens)",
        f"GPUs: {capacity.model_size}, {throughput.tokens_per_s:,.0f} tokens/s per {throughput.gpus}-GPU replica, "
        f"peak = {peak_to_mean:g} x the mean, {capacity.headroom:.0%} headroom, ${gpu_price:,.2f}/GPU-hour x 730 h",
    ]
    return "\n".join(head + format_table(rows))


def _price(config: Settings, name: str | None) -> tuple[str, PriceSettings]:
    if name is not None and name in config.pricing:
        return name, config.pricing[name]
    if name is None and len(config.pricing) == 1:
        return next(iter(config.pricing.items()))
    known = ", ".join(sorted(config.pricing)) or "none"
    raise WhatIfError(
        f"--price-model: {'pick one' if name is None else repr(name) + ' has no price'} of the config's "
        f"`pricing` ({known}); add e.g. `pricing: {{gpt-4o-mini: {{input: 0.15, output: 0.60}}}}`"
    )


def format_table(rows: list[WhatIf]) -> list[str]:
    header = (
        f"  {'requests/month':>14} {'incumbent/month':>16} {'mean tok/s':>11} {'peak tok/s':>11} {'GPUs':>5} "
        f"{'GPUs/month':>12} {'saving/month':>13}"
    )
    return [header] + [
        f"  {r.requests_per_month:>14,.0f} {_usd(r.incumbent_monthly_usd):>16} {r.mean_tokens_s:>11,.2f} "
        f"{r.peak_tokens_s:>11,.2f} {r.gpus:>5} {_usd(r.candidate_monthly_usd):>12} "
        f"{_usd(r.monthly_saving_usd):>13}"
        for r in rows
    ]


def _usd(value: float) -> str:
    return f"-${abs(value):,.2f}" if value < 0 else f"${value:,.2f}"
