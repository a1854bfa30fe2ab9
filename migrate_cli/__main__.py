"""`python -m migrate_cli` runs the `alveare-migrate` command."""

from migrate_cli.main import cli

cli()
