"""The CLI reference (docs/cli.md), generated from the commands' own ``--help`` so it cannot drift.

Regenerate with ``python -m migrate_cli.reference > docs/cli.md``; a test compares the file with this output.
"""

from __future__ import annotations

import click

from migrate_cli.main import cli

WIDTH = 100
HELP_OPTIONS = ["-h", "--help"]


def _help(command: click.Command, path: list[str]) -> str:
    ctx = click.Context(
        command,
        info_name=" ".join(path),
        terminal_width=WIDTH,
        max_content_width=WIDTH,
        help_option_names=HELP_OPTIONS,  # as the real command line has them (click caches the option per command)
    )
    return command.get_help(ctx)


def _walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1])
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                found += _walk(sub, [*path, name])
    return found


def render_reference() -> str:
    parts = ["# alveare-migrate command reference", "", "Generated from `--help`; do not edit by hand.", ""]
    for path, command in _walk(cli, ["alveare-migrate"]):
        parts += [f"## `{' '.join(path)}`", "", "```text", _help(command, path).rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    click.echo(render_reference(), nl=False)
