"""`alveare-migrate history`: the rollout history, every change of the split with who, why and evidence."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from migrate_cli.app import App, command, store_options
from migrate_cli.status import entry_dict, format_ts, history_line

if TYPE_CHECKING:
    from core.store import Store


@command()
@store_options
@click.option("--limit", default=0, help="Show only the latest N entries (0: all).")
@click.option(
    "--decisions", is_flag=True, help="Show the controller's decision log (holds included) instead."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON, evidence included.")
@click.pass_obj
def history(app: App, *, limit: int, decisions: bool, as_json: bool) -> None:
    """Print the rollout history, oldest first: time, old -> new percent, who, why, [FORCED]."""
    store = app.store
    if decisions:
        _print_decisions(store, limit, as_json)
        return
    items = [entry_dict(e) for e in store.rollout_history(limit=limit or None)]
    if as_json:
        click.echo(json.dumps(items, indent=2, default=str))
        return
    if not items:
        click.echo("no rollout yet: the candidate serves 0%; start with `alveare-migrate rollout --auto`")
    previous: float | None = None
    for item in items:
        click.echo(history_line(item, previous))
        previous = item["percent"]


def _print_decisions(store: Store, limit: int, as_json: bool) -> None:
    from policies.runner import decision_log

    log = decision_log(store, limit=limit or None)
    if as_json:
        click.echo(json.dumps(log, indent=2, default=str))
        return
    for item in log:
        move = f"{item['percent_from']:g}% -> {item['percent_to']:g}%"
        click.echo(f"{format_ts(item['ts'])}  {item['action'].upper():8}  {move:<14}  {item['reason']}")
