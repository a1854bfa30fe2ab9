"""`alveare-migrate keys`: issue, list and revoke the ``alv_live_`` keys apps use to call the proxy."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from core.errors import AlveareError
from migrate_cli.app import App, group, store_options
from migrate_cli.status import format_ts

if TYPE_CHECKING:
    from proxy.keys import KeyStore


def _key_store(app: App) -> tuple[KeyStore, int, int]:
    """The store's keys, and the config's default limits for new keys."""
    from proxy.keys import KeyStore

    limits = app.settings.limits
    return KeyStore(app.store), limits.rpm, limits.tpm


@group()
def keys() -> None:
    """API keys for apps. Once any key exists, the proxy refuses requests without a valid one (401)."""


@keys.command()
@store_options
@click.option("--name", required=True, help="Who will use the key, e.g. billing-service.")
@click.option("--rpm", type=int, default=None, help="Requests per minute (default: the config's limits.rpm).")
@click.option("--tpm", type=int, default=None, help="Tokens per minute (default: the config's limits.tpm).")
@click.option("--json", "as_json", is_flag=True, help="Print the record and the key as JSON.")
@click.pass_obj
def create(
    app: App,
    *,
    name: str,
    rpm: int | None,
    tpm: int | None,
    as_json: bool,
) -> None:
    """Create a key and print it once: only its hash is stored, so it cannot be shown again."""
    store, default_rpm, default_tpm = _key_store(app)
    try:
        record, plaintext = store.create(
            name, default_rpm if rpm is None else rpm, default_tpm if tpm is None else tpm
        )
    except ValueError as exc:
        raise AlveareError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({**asdict(record), "key": plaintext}, indent=2))
        return
    click.echo(f"created {record.key_id} for {record.name} ({record.rpm} rpm, {record.tpm} tpm)")
    click.echo(plaintext)
    click.echo("Copy the key now: it is stored hashed and cannot be shown again.", err=True)


@keys.command(name="list")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_keys(app: App, *, as_json: bool) -> None:
    """List keys (never their secrets): id, name, hint, limits, created, revoked."""
    store, _, _ = _key_store(app)
    records = store.list()
    if as_json:
        click.echo(json.dumps([asdict(r) for r in records], indent=2))
        return
    if not records:
        click.echo(
            "no keys: the proxy accepts any key; create one with `alveare-migrate keys create --name APP`"
        )
    for r in records:
        state = "active" if r.active else f"revoked {format_ts(r.revoked or 0)}"
        click.echo(
            f"{r.key_id}  {r.name}  {r.hint}  {r.rpm} rpm  {r.tpm} tpm  created {format_ts(r.created)}  {state}"
        )


@keys.command()
@store_options
@click.argument("key_id")
@click.pass_obj
def revoke(app: App, *, key_id: str) -> None:
    """Revoke a key: the proxy refuses it within seconds (its cache lasts 5s)."""
    store, _, _ = _key_store(app)
    record = store.revoke(key_id)
    click.echo(f"revoked {record.key_id} ({record.name})")
