"""The application object every command receives (``@click.pass_obj``), and the one place errors become exits.

:class:`App` holds what the ``--config``/``--store`` options gave and loads the settings and opens the store once,
on first use. :class:`AlveareCommand` and :class:`AlveareGroup` turn any :class:`~core.errors.AlveareError` into
its one-line message and exit code; no command re-words errors itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from core.errors import AlveareError
from migrate_cli import env

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class App:
    """What a command needs from its context: the settings and the store, each made once, lazily."""

    config_path: Path | None = None
    store_url: str | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _store: Store | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        from core.config import load_config

        if self._settings is None:
            self._settings = load_config(self.config_path, {"store": self.store_url})
        return self._settings

    @property
    def store(self) -> Store:
        from core.store import Store

        if self._store is None:
            self._store = Store.open(self.settings.store)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def translate(exc: AlveareError) -> click.ClickException:
    """An :class:`AlveareError` as click prints it: ``Error: <one line>``, exiting with ``exc.exit_code``."""
    error = click.ClickException(str(exc))
    error.exit_code = exc.exit_code  # type: ignore[misc]  # click reads it from the instance
    return error


class AlveareCommand(click.Command):
    def invoke(self, ctx: click.Context) -> Any:
        ctx.ensure_object(App)
        try:
            return super().invoke(ctx)
        except AlveareError as exc:
            raise translate(exc) from None


class AlveareGroup(click.Group):
    command_class = AlveareCommand

    def invoke(self, ctx: click.Context) -> Any:
        app = ctx.ensure_object(App)
        ctx.call_on_close(app.close)
        try:
            return super().invoke(ctx)
        except AlveareError as exc:
            raise translate(exc) from None


AlveareGroup.group_class = AlveareGroup


def command(**kwargs: Any) -> Callable[[F], click.Command]:
    """``@click.command`` with the error translation and the app object."""
    return click.command(cls=AlveareCommand, **kwargs)


def group(**kwargs: Any) -> Callable[[F], click.Group]:
    return click.group(cls=AlveareGroup, **kwargs)


def _remember(attribute: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is not None:
            setattr(ctx.ensure_object(App), attribute, value)
        return value

    return callback


def store_options(command: F) -> F:
    """``--config PATH`` and ``--store URL`` (the flag beats $ALVEARE_STORE, which beats the file), kept on the
    :class:`App` rather than passed to the command."""
    command = click.option(
        "--store",
        default=None,
        metavar="URL",
        expose_value=False,
        callback=_remember("store_url"),
        help=(
            "Where pairs and the rollout live: sqlite:///PATH or postgresql://USER@HOST:PORT/DB "
            f"(beats the config's `store`). [env: {env.STORE}]"
        ),
    )(command)
    return click.option(
        "--config",
        "-c",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        expose_value=False,
        callback=_remember("config_path"),
        help="alveare.yaml (its `store`, `policy`, `limits`, `pricing`).",
    )(command)
