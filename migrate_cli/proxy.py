"""``alveare-migrate proxy``: run the splitting proxy until SIGTERM or Ctrl-C.

Its flags are the config keys declared with a ``flag`` in :mod:`core.config`; each shows its env variable.
"""

from __future__ import annotations

from pathlib import Path

import click

from core.config import Key, Settings, iter_keys
from migrate_cli.app import command

FLAG_KEYS: dict[str, Key] = {key.name.replace(".", "__"): key for key in iter_keys() if key.flag}


def _option(dest: str, key: Key) -> click.Option:
    assert key.flag is not None
    help = f"{key.help} [env: {key.env}]"
    if key.read == "flag":
        return click.Option([f"{key.flag}/--no-{key.flag[2:]}", dest], default=None, help=help)
    return click.Option([key.flag, dest], default=None, metavar=key.read.upper(), help=help)


@command(
    params=[
        click.Option(
            ["--config", "-c"], type=click.Path(dir_okay=False, path_type=Path), help="alveare.yaml"
        ),
        *(_option(dest, key) for dest, key in FLAG_KEYS.items()),
    ]
)
def proxy(config: Path | None, **flags: str | bool | None) -> None:
    """Run the OpenAI-compatible splitting proxy. Point your SDK's base URL at it; nothing else changes.

    Or, with --mode intercept, set HTTPS_PROXY to it and trust its CA (`alveare-migrate ca`): no code change."""
    import asyncio

    from core.config import load_config, parse_text
    from proxy.engine import ProxyServer, event_loop_factory, serve

    overrides = {}
    for dest, value in flags.items():
        key = FLAG_KEYS[dest]
        if value is not None:
            overrides[key.name] = value if isinstance(value, bool) else parse_text(key, value, str(key.flag))
    settings = load_config(config, overrides)
    trust = _intercept_trust(settings) if settings.mode == "intercept" else ""

    def ready(server: ProxyServer) -> None:
        click.echo(
            f"alveare proxy listening on {server.listen_url} (admin {server.admin_url}); "
            f"{server.runtime.percent:g}% to the candidate; store {server.store.display}; "
            f"limits {'shared through Redis' if settings.limits.store else 'per replica'}",
            err=False,
        )
        if not server.runtime.status()["models_mapped"]:
            from proxy.engine import NO_MODEL_MAPPED

            click.echo(f"warning: {NO_MODEL_MAPPED}", err=True)
        if trust:
            click.echo(f"intercept mode: {', '.join(settings.intercept.hosts)} -> {settings.incumbent.url}")
            click.echo(f"export HTTPS_PROXY={server.listen_url}\n{trust}")

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        try:
            runner.run(serve(settings, ready=ready))
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen: {exc}; choose another --listen/--admin-listen port"
            ) from None


def _intercept_trust(settings: Settings) -> str:
    """Creates the CA if needed; the `export` lines that make apps trust it."""
    from migrate_cli.ca import export_lines
    from proxy.intercept import ca_dir, ensure_ca

    try:
        info = ensure_ca(ca_dir(settings))
    except OSError as exc:
        raise click.ClickException(f"cannot create the CA in {settings.intercept.ca_dir}: {exc}") from None
    return export_lines(info)
