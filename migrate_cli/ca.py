"""``alveare-migrate ca``: create (once) and show the CA that intercept mode signs with, and how to trust it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from migrate_cli.app import command

if TYPE_CHECKING:
    from proxy.intercept import CaInfo


def export_lines(info: CaInfo) -> str:
    return "\n".join(f"export {name}={value}" for name, value in info.env().items())


@command()
@click.option(
    "--config", "-c", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="alveare.yaml"
)
@click.option(
    "--ca-dir", default=None, help="Folder of the CA (default ~/.alveare/ca). [env: ALVEARE_INTERCEPT_CA_DIR]"
)
@click.option("--json", "as_json", is_flag=True, help="Print path, fingerprint and env vars as JSON.")
def ca(config_path: Path | None, ca_dir: str | None, as_json: bool) -> None:
    """Create the intercept-mode CA if there is none, and show its path, SHA-256 fingerprint and the env vars
    that make apps trust it (Python: SSL_CERT_FILE, REQUESTS_CA_BUNDLE; Node: NODE_EXTRA_CA_CERTS)."""
    from core.config import load_config
    from proxy import intercept

    settings = load_config(config_path, {"intercept.ca_dir": ca_dir})
    try:
        info = intercept.ensure_ca(intercept.ca_dir(settings))
    except OSError as exc:
        raise click.ClickException(f"cannot create the CA in {settings.intercept.ca_dir}: {exc}") from None
    if as_json:
        fields = {
            "cert": str(info.cert),
            "bundle": str(info.bundle),
            "fingerprint_sha256": info.fingerprint_sha256,
        }
        click.echo(json.dumps({**fields, "created": info.created, "env": info.env()}, indent=2))
        return
    click.echo(f"CA certificate: {info.cert}{'  (created now)' if info.created else ''}")
    click.echo(f"SHA-256 fingerprint: {info.fingerprint_sha256}")
    click.echo(f"Bundle (public roots + this CA): {info.bundle}")
    click.echo("Trust it in the app's environment (Python reads the bundle, Node adds the CA to its roots):")
    click.echo(export_lines(info))
    click.echo(
        f"then: alveare-migrate proxy --mode intercept, and export HTTPS_PROXY=http://{settings.listen}"
    )
