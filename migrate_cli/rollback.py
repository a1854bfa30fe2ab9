"""`alveare-migrate rollback`: send all split traffic back to the incumbent now, and record why."""

from __future__ import annotations

import click

from migrate_cli.app import App, command, store_options


def cli_actor() -> str:
    """Who a command-line change is recorded as: ``cli:<login name>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


@command()
@store_options
@click.option("--reason", default="rolled back by hand", show_default=True, help="Why, for the history.")
@click.pass_obj
def rollback(app: App, *, reason: str) -> None:
    """Set the candidate's share to 0% at once (always allowed). A running `rollout --auto` sees it and stops;
    running proxies pick it up within `rollout_poll_s`."""
    store = app.store
    previous = store.current_percent()
    store.append_rollout(
        0.0, actor=cli_actor(), reason=reason, evidence={"action": "rollback", "from": previous}
    )
    click.echo(f"rolled back: {previous:g}% -> 0%; every split request now goes to the incumbent")
