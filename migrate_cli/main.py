"""Entry point: a click group whose subcommands live one per module and are imported only when run."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os

import click

from migrate_cli import env
from migrate_cli.app import AlveareGroup

# name -> "module:attribute". Each module defines one click command (or group) named after it.
COMMANDS: dict[str, str] = {
    "sim": "migrate_cli.sim:sim",
    "check": "migrate_cli.check:check",
    "init": "migrate_cli.init:init",
    "proxy": "migrate_cli.proxy:proxy",
    "rollout": "migrate_cli.rollout:rollout",
    "rollback": "migrate_cli.rollback:rollback",
    "history": "migrate_cli.history:history",
    "status": "migrate_cli.status:status",
    "report": "migrate_cli.report:report",
    "savings": "migrate_cli.savings:savings",
    "export": "migrate_cli.export:export",
    "replay": "migrate_cli.replay:replay",
    "keys": "migrate_cli.keys:keys",
    "backend": "migrate_cli.backend:backend",
    "demo": "migrate_cli.demo.command:demo",
    "scan": "migrate_cli.scan.command:scan",
    "ca": "migrate_cli.ca:ca",
    "store": "migrate_cli.store:store",
}


class LazyGroup(AlveareGroup):
    """Lists every command without importing it; imports a command's module only when it is invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if _module_exists(COMMANDS[n]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None or not _module_exists(target):
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


def _module_exists(target: str) -> bool:
    module_name = target.split(":")[0]
    return importlib.util.find_spec(module_name) is not None


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(package_name="alveare-migrate")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Move OpenAI chat-completions traffic to self-hosted SGLang specialists, safely.

    Start with `alveare-migrate demo`, or `alveare-migrate init` to write a starter alveare.yaml.
    """
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(
        level=int(os.environ.get(env.LOG_LEVEL, level)), format="%(asctime)s %(name)s %(message)s"
    )
