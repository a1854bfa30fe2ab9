"""`alveare-migrate backend`: plan, check, start and watch the SGLang servers described in backend.yaml."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from migrate_cli import env
from migrate_cli.app import group

if TYPE_CHECKING:
    from backend.spec import BackendSpec

DEFAULT_FILE = "backend.yaml"

file_option = click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_FILE,
    envvar=env.BACKEND_FILE,
    show_default=True,
    help=f"The backend spec (env {env.BACKEND_FILE}).",
)


@group()
def backend() -> None:
    """Run the specialists on SGLang, from one backend.yaml (see docs/backend.md)."""


@backend.command()
@file_option
@click.option(
    "--targets", is_flag=True, help="Also print where the proxy sends each specialist (url, model)."
)
def plan(*, file: Path, targets: bool) -> None:
    """Print the exact commands `backend up` runs (the API key shown as $VAR, never its value)."""
    from backend.plan import build_plan, render

    spec = _load(file)
    for launch in build_plan(spec):
        click.echo(f"# {launch.name} ({launch.role}) -> {launch.url}")
        click.echo(render(launch))
    if spec.launcher is not None:
        click.echo("# launcher override in the spec: the lines above run instead of SGLang")
    if targets:
        _echo_targets(spec)


@backend.command()
@file_option
@click.option("--no-parser", is_flag=True, help="Validate the file only, without SGLang's argument parser.")
def check(*, file: Path, no_parser: bool) -> None:
    """Validate backend.yaml, and every command line against SGLang 0.5.23's own argument parser."""
    from backend.parser_check import check_launches
    from backend.plan import build_plan

    spec = _load(file)
    launches = build_plan(spec)
    click.echo(f"{file}: valid ({len(spec.servers)} servers, {len(spec.specialists)} specialists)")
    if no_parser:
        return
    results = check_launches(launches)
    for result in results:
        mark = {True: "ok", False: "REJECTED", None: "skipped"}[result.ok]
        click.echo(f"{result.name}: {mark}: {result.message}")
    if any(r.ok is False for r in results):
        raise click.ClickException("SGLang's parser rejected a command line; fix the keys named above")


@backend.command()
@file_option
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".alveare/backend-logs"),
    show_default=True,
    help="One log file per server.",
)
@click.option("--health-timeout", type=float, default=None, help="Seconds to wait for readiness [spec's].")
def up(*, file: Path, log_dir: Path, health_timeout: float | None) -> None:
    """Start the servers, wait until they serve every specialist, restart any that dies; Ctrl-C stops all."""
    from backend.plan import build_plan
    from backend.supervisor import Supervisor, SupervisorError

    spec = _load(file)
    stop = threading.Event()
    _on_signals(stop)
    supervisor = Supervisor(
        launches=build_plan(spec),
        log_dir=log_dir,
        supervision=spec.supervision,
        api_key=_api_key(spec),
        on_event=_echo_event,
    )
    supervisor.start()
    try:
        supervisor.wait_ready(health_timeout, stop=stop)
    except SupervisorError:
        supervisor.stop()
        raise
    if not stop.is_set():
        click.echo("backend ready; Ctrl-C to stop")
        _echo_targets(spec)
    supervisor.run(stop)


@backend.command()
@file_option
def status(*, file: Path) -> None:
    """Health of every server and router in the spec, from its URL; exits 1 if one is not healthy."""
    from backend.plan import build_plan
    from backend.supervisor import check_health

    spec = _load(file)
    api_key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
    unhealthy = 0
    for launch in build_plan(spec):
        health = check_health(launch.url, launch.expect_models, api_key=api_key)
        unhealthy += not health.ok
        click.echo(f"{launch.name:<24} {launch.url:<28} {'up' if health.ok else 'DOWN'}: {health.detail}")
    if unhealthy:
        raise click.exceptions.Exit(1)


def _load(file: Path) -> BackendSpec:
    from backend.spec import load_spec

    return load_spec(file)


def _api_key(spec: BackendSpec) -> str | None:
    if spec.api_key_env is None:
        return None
    value = os.environ.get(spec.api_key_env)
    if not value:
        raise click.ClickException(
            f"{spec.api_key_env} is not set; export it or remove api_key_env from the spec"
        )
    return value


def _echo_targets(spec: BackendSpec) -> None:
    from backend.spec import specialist_targets

    for name, target in specialist_targets(spec).items():
        click.echo(f"specialist {name}: {target.url} model={target.model}")


def _echo_event(event: Any) -> None:
    stamp = time.strftime("%H:%M:%S")
    detail = f": {event.detail}" if event.detail else ""
    click.echo(f"{stamp} {event.name} {event.kind}{detail}", err=event.kind in ("exited", "restarting"))


def _on_signals(stop: threading.Event) -> None:
    """Ctrl-C and SIGTERM only ask the loop to stop; the supervisor then stops the children itself."""

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
