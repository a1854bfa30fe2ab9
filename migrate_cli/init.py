"""``alveare-migrate init``: write a commented starter ``alveare.yaml`` (every declared key, with its help)."""

from __future__ import annotations

from pathlib import Path

import click

from migrate_cli.app import command


@command()
@click.option(
    "--path", type=click.Path(dir_okay=False, path_type=Path), default=Path("alveare.yaml"), show_default=True
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented starter alveare.yaml to edit."""
    from migrate_cli.config_reference import starter_yaml

    if path.exists() and not force:
        raise click.ClickException(f"{path} already exists; edit it, or pass --force to overwrite it")
    path.write_text(starter_yaml(), encoding="utf-8")
    click.echo(f"wrote {path}; edit the URLs and model map, then run: alveare-migrate proxy --config {path}")
