"""``alveare-migrate proxy``: run the splitting proxy until SIGTERM or Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import click

# flag name -> dotted config key. Each is also read from ALVEARE_<KEY> (see core.config.env_name).
FLAG_KEYS = {
    "listen": "listen",
    "admin_listen": "admin_listen",
    "store": "store",
    "incumbent_url": "incumbent.url",
    "incumbent_key_env": "incumbent.key_env",
    "candidate_url": "candidate.url",
    "candidate_key_env": "candidate.key_env",
    "mirror": "mirror.rate",
    "models": "models",
    "specialists": "specialists",
    "salt": "salt",
    "first_byte_timeout": "failover.first_byte_timeout_s",
    "redact_pii": "record.redact_pii",
}


def _opt(flag: str, key: str, help: str, **kwargs: object) -> click.Option:
    from core.config import env_name

    return click.Option([flag], help=f"{help} [env: {env_name(key)}]", **kwargs)  # type: ignore[arg-type]


@click.command(
    params=[
        click.Option(
            ["--config", "-c"], type=click.Path(dir_okay=False, path_type=Path), help="alveare.yaml"
        ),
        _opt("--listen", "listen", "HOST:PORT the apps connect to (default 127.0.0.1:8080)."),
        _opt(
            "--admin-listen", "admin_listen", "HOST:PORT for /metrics and /healthz (default 127.0.0.1:8081)."
        ),
        _opt("--store", "store", "Where pairs and the rollout live: sqlite:///PATH."),
        _opt("--incumbent-url", "incumbent.url", "OpenAI or any OpenAI-compatible base URL."),
        _opt("--incumbent-key-env", "incumbent.key_env", "Env variable holding the incumbent's key."),
        _opt("--candidate-url", "candidate.url", "The SGLang server (or router) base URL."),
        _opt("--candidate-key-env", "candidate.key_env", "Env variable holding the candidate's key."),
        _opt(
            "--mirror", "mirror.rate", "Share of split requests also sent to the other side: 0-1 or 0%-100%."
        ),
        _opt(
            "--models",
            "models",
            "Client model -> specialist, e.g. gpt-4o-mini=classify,gpt-3.5-turbo=summarise.",
        ),
        _opt("--specialists", "specialists", "Specialist -> candidate model, e.g. classify=qwen:classify."),
        _opt("--salt", "salt", "Salt of the sticky assignment; give every replica the same."),
        _opt(
            "--first-byte-timeout",
            "failover.first_byte_timeout_s",
            "Seconds before a silent candidate fails over.",
            type=float,
        ),
        _opt(
            "--redact-pii/--no-redact-pii",
            "record.redact_pii",
            "Mask e-mails and phone numbers in recordings.",
            default=None,
        ),
    ]
)
def proxy(config: Path | None, **flags: object) -> None:
    """Run the OpenAI-compatible splitting proxy. Point your SDK's base URL at it; nothing else changes."""
    import asyncio

    from core.config import ConfigError, load_config, parse_map, parse_rate
    from proxy.engine import ProxyServer, event_loop_factory, serve

    overrides = {FLAG_KEYS[name]: value for name, value in flags.items() if value is not None}
    for flag, key, parse in (
        ("--mirror", "mirror.rate", parse_rate),
        ("--models", "models", parse_map),
        ("--specialists", "specialists", parse_map),
    ):
        if key in overrides:
            try:
                overrides[key] = parse(str(overrides[key]))
            except ValueError as exc:
                raise click.ClickException(f"{flag}: {exc}") from None
    try:
        settings = load_config(config, overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    def ready(server: ProxyServer) -> None:
        click.echo(
            f"alveare proxy listening on {server.listen_url} (admin {server.admin_url}); "
            f"{server.runtime.percent:g}% to the candidate; store {settings.store}",
            err=False,
        )
        if not server.runtime.status()["models_mapped"]:
            from proxy.engine import NO_MODEL_MAPPED

            click.echo(f"warning: {NO_MODEL_MAPPED}", err=True)

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        try:
            runner.run(serve(settings, ready=ready))
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen: {exc}; choose another --listen/--admin-listen port"
            ) from None
