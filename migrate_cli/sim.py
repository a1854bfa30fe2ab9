"""`alveare-migrate sim`: the local stand-in upstream (OpenAI's or SGLang's wire) for the demo and tests."""

from __future__ import annotations

import click

from migrate_cli.app import command

FAULT_CHOICES = ("refuse", "hang", "cut", "malformed", "error")


@command(context_settings={"show_default": True})
@click.option(
    "--flavor",
    type=click.Choice(["openai", "sglang", "sglang-real"]),
    default="openai",
    help="Whose wire to speak; sglang-real runs SGLang's own serving code over a scripted engine.",
)
@click.option("--host", default="127.0.0.1", help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, help="Port; 0 picks a free one (printed)."
)
@click.option("--seed", type=int, default=0, help="Seed of the deterministic answers.")
@click.option(
    "--latency-ms", type=click.FloatRange(min=0), default=0.0, help="Delay of a whole (non-streamed) answer."
)
@click.option(
    "--ttft-ms", type=click.FloatRange(min=0), default=0.0, help="Delay before a stream's first event."
)
@click.option(
    "--chunks", type=click.IntRange(min=0), default=0, help="Stream pieces per text (0: one per word)."
)
@click.option(
    "--chunk-interval-ms", type=click.FloatRange(min=0), default=0.0, help="Gap between stream events."
)
@click.option(
    "--disagree",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of dataset items answered as a weaker model would (fixed per seed and item).",
)
@click.option("--require-key", default=None, metavar="KEY", help="Answer 401 unless the bearer key is KEY.")
@click.option(
    "--models",
    default=None,
    metavar="A,B,C",
    help="Known model names (default: gpt-4o-mini, ..., qwen:extract).",
)
@click.option(
    "--error-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of chat requests answered 500/503."
)
@click.option(
    "--fault",
    default=None,
    metavar="KIND[:K]",
    help=f"Fault every chat request ({', '.join(FAULT_CHOICES)}); 'refuse' resets every connection.",
)
@click.option(
    "--cut-after",
    type=click.IntRange(min=0),
    default=2,
    help="Stream events sent before 'cut'/'error' strike.",
)
@click.option(
    "--rpm",
    type=click.IntRange(min=1),
    default=1_000_000,
    help="Requests per minute per key (openai flavor).",
)
@click.option(
    "--tpm",
    type=click.IntRange(min=1),
    default=100_000_000,
    help="Tokens per minute per key (openai flavor).",
)
@click.option(
    "--tasks",
    "tasks_path",
    default=None,
    metavar="FILE",
    help="Task dataset JSONL (default: the bundled one).",
)
def sim(
    *,
    flavor: str,
    host: str,
    port: int,
    seed: int,
    latency_ms: float,
    ttft_ms: float,
    chunks: int,
    chunk_interval_ms: float,
    disagree: float,
    require_key: str | None,
    models: str | None,
    error_rate: float,
    fault: str | None,
    cut_after: int,
    rpm: int,
    tpm: int,
    tasks_path: str | None,
) -> None:
    """Run a local upstream that answers /v1/chat/completions like OpenAI (or SGLang) would.

    It prints `sim FLAVOR listening on http://HOST:PORT` once ready and stops on Ctrl-C or SIGTERM.
    Per-request controls (x-sim-fail, x-sim-fault, magic models sim-error-429 ...) are described in
    `python -c "import backend.sim.server; help(backend.sim.server)"`.
    """
    import dataclasses

    from backend.sim.server import SimOptions, run_sim

    if flavor == "sglang-real":
        _exec_sglang_real(host, port)

    names = tuple(m.strip() for m in models.split(",") if m.strip()) if models is not None else None
    try:
        options = SimOptions(
            flavor="sglang" if flavor == "sglang" else "openai",
            host=host,
            port=port,
            seed=seed,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            chunks=chunks,
            chunk_interval_ms=chunk_interval_ms,
            disagree=disagree,
            require_key=require_key,
            error_rate=error_rate,
            fault=fault,
            cut_after=cut_after,
            rpm=rpm,
            tpm=tpm,
            tasks_path=tasks_path,
        )
        if names is not None:
            options = dataclasses.replace(options, models=names)
        run_sim(options)
    except ValueError as exc:
        raise click.ClickException(f"{exc} (see alveare-migrate sim --help)") from exc
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port"
        ) from exc


def _exec_sglang_real(host: str, port: int) -> None:
    """Become ``python -m backend.sim.sglang_real``: it stubs GPU-only modules process-wide, so it gets its own."""
    import os
    import sys

    ctx = click.get_current_context()
    given = [
        p.name
        for p in ctx.command.params
        if p.name not in {"flavor", "host", "port"}
        and ctx.get_parameter_source(p.name or "") is not click.core.ParameterSource.DEFAULT
    ]
    if given:
        raise click.UsageError(
            f"--flavor sglang-real takes only --host and --port (drop --{given[0].replace('_', '-')})"
        )
    sys.stdout.flush()
    os.execv(
        sys.executable, [sys.executable, "-m", "backend.sim.sglang_real", "--host", host, "--port", str(port)]
    )
