"""`alveare-migrate check`: prove an OpenAI-compatible endpoint (a backend, or our proxy) speaks OpenAI's wire."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from migrate_cli import env
from migrate_cli.app import command

if TYPE_CHECKING:
    from backend.conformance import CheckResult

NO_KEY = "sk-alveare-check-no-key"  # the SDK needs some key; endpoints without auth ignore it


@command()
@click.option("--base-url", required=True, help="The endpoint, e.g. http://127.0.0.1:8000/v1 (no path: /v1).")
@click.option(
    "--api-key",
    envvar=env.CHECK_API_KEY,
    show_envvar=True,
    default=None,
    help="Key to send; without one the 401 check is skipped where the endpoint takes any key.",
)
@click.option("--model", default="gpt-4o-mini", show_default=True, help="Model name to request.")
@click.option(
    "--timeout", default=30.0, show_default=True, help="Seconds allowed for each call, body included."
)
@click.option(
    "--strict", is_flag=True, help="Count errors the endpoint cannot be made to produce as FAIL, not SKIP."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {check, status, detail}.")
def check(
    *, base_url: str, api_key: str | None, model: str, timeout: float, strict: bool, as_json: bool
) -> None:
    """Run the wire-compatibility suite with the official openai SDK and print one row per check.

    Exits 0 when no check FAILs (SKIP rows are errors the endpoint cannot be made to produce; --strict fails
    them), 1 otherwise.
    """
    from backend.conformance import normalize_base_url, run_checks

    if timeout <= 0:
        raise click.BadParameter("must be more than 0 seconds", param_hint="--timeout")
    try:
        normalize_base_url(base_url)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--base-url") from None
    results = run_checks(base_url, api_key or NO_KEY, model, timeout=timeout, strict=strict)
    click.echo(json.dumps([r.to_dict() for r in results], indent=2) if as_json else format_table(results))
    if any(r.status == "FAIL" for r in results):
        raise click.exceptions.Exit(1)


def format_table(results: Sequence[CheckResult]) -> str:
    """Plain-text columns, then a one-line count."""
    width = max([len("CHECK"), *(len(r.check) for r in results)])
    lines = [f"{'CHECK':<{width}}  STATUS  DETAIL"]
    lines += [f"{r.check:<{width}}  {r.status:<6}  {r.detail}" for r in results]
    counts = {s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "SKIP")}
    lines.append(
        f"{len(results)} checks: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped"
    )
    return "\n".join(lines)
