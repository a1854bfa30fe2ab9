"""The ``scan`` click command: the edge where paths come in and the report goes out."""

from __future__ import annotations

from pathlib import Path

import click

from migrate_cli.app import AlveareCommand


class OneLineUsage(AlveareCommand):
    """Bad flags or a missing PATH: one line (what is wrong and where help is), exit 2, no usage block."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise click.UsageError(f"{exc.format_message()} (see `alveare-migrate scan --help`)") from None


@click.command(cls=OneLineUsage)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the findings as one JSON document.")
def scan(path: Path, as_json: bool) -> None:
    """Find OpenAI usage under PATH (Python, JavaScript, TypeScript): each call site's API, model, features,
    and whether the proxy splits it, passes it through, or cannot carry it. Ends with a suggested `models:`
    map for alveare.yaml. A missing path or unreadable files are reported; the exit status is 0."""
    import json

    from migrate_cli.scan.report import render_json, render_text
    from migrate_cli.scan.walk import scan_tree

    result = scan_tree(path)
    if as_json:
        click.echo(json.dumps(render_json(result), indent=2))
    else:
        click.echo(render_text(result))
