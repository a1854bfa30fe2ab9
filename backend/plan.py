"""From a :class:`BackendSpec` to the exact processes to run: ``sglang serve`` lines, and the router's.

Pure: nothing here starts anything or reads the environment. The API key is an :class:`EnvRef` inside the
argument list, printed as ``$SGLANG_API_KEY`` and filled in only by :func:`resolve_argv` at launch time, so a
plan can be shown, logged or diffed without leaking it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from backend.spec import BackendSpec, Server
from core.errors import BackendError

SGLANG_SERVE = ("sglang", "serve")
SGLANG_ROUTER = ("python", "-m", "sglang_router.launch_router")


class PlanError(BackendError):
    """A plan that cannot be turned into a command line here (a missing environment variable)."""


@dataclass(frozen=True)
class EnvRef:
    """An argument taken from the environment at launch time; shown as ``$NAME``."""

    name: str

    def __str__(self) -> str:
        return f"${self.name}"


Arg = str | EnvRef


@dataclass(frozen=True)
class Launch:
    """One process: an SGLang server (or one replica of it) or the router in front of replicas."""

    name: str
    role: Literal["server", "router"]
    program: tuple[str, ...]
    args: tuple[Arg, ...]
    url: str
    expect_models: tuple[str, ...]
    launcher: tuple[str, ...] | None = None

    @property
    def argv(self) -> tuple[Arg, ...]:
        """The SGLang command line, whatever the launcher override."""
        return (*self.program, *self.args)


def build_plan(spec: BackendSpec) -> tuple[Launch, ...]:
    """Every process ``backend up`` starts, servers before their router."""
    launches: list[Launch] = []
    for server in spec.servers:
        launches.extend(_server_launches(spec, server))
    return tuple(launches)


def render(launch: Launch) -> str:
    """A shell line for humans: the secret stays ``$VAR``, which a shell would expand."""
    argv = launch.launcher if launch.launcher is not None else launch.argv
    return " ".join(str(a) if isinstance(a, EnvRef) else shlex.quote(a) for a in argv)


def resolve_argv(launch: Launch, environ: Mapping[str, str]) -> list[str]:
    """The real argv to exec: the launcher override if any, else SGLang's line with secrets filled in."""
    if launch.launcher is not None:
        return list(launch.launcher)
    return [_resolve(a, environ) for a in launch.argv]


def sglang_args(launch: Launch, placeholder: str = "parser-check") -> list[str]:
    """The arguments after the program, secrets replaced by ``placeholder``: what a parser check reads."""
    return [placeholder if isinstance(a, EnvRef) else a for a in launch.args]


def expected_models(spec: BackendSpec, server: Server) -> tuple[str, ...]:
    """What ``/v1/models`` lists once the server is up: its served name, then each LoRA adapter's name."""
    return (server.name, *(s.name for s in spec.adapters_on(server)))


def _resolve(arg: Arg, environ: Mapping[str, str]) -> str:
    if isinstance(arg, str):
        return arg
    value = environ.get(arg.name)
    if not value:
        raise PlanError(f"{arg.name} is not set; export it (the servers' API key) or remove api_key_env")
    return value


def _server_launches(spec: BackendSpec, server: Server) -> list[Launch]:
    models = expected_models(spec, server)
    ports = server.replica_ports()
    replicas = [
        _launch(
            spec,
            server,
            name=server.name if server.replicas == 1 else f"{server.name}[{i}]",
            role="server",
            program=SGLANG_SERVE,
            args=serve_args(spec, server, port=port, gpu=server.base_gpu_id + i * server.tp_size),
            port=port,
            models=models,
        )
        for i, port in enumerate(ports)
    ]
    if server.replicas == 1:
        return replicas
    router = _launch(
        spec,
        server,
        name=f"{server.name}[router]",
        role="router",
        program=SGLANG_ROUTER,
        args=router_args(spec, server, [r.url for r in replicas]),
        port=server.port,
        models=models,
    )
    return [*replicas, router]


def _launch(
    spec: BackendSpec,
    server: Server,
    *,
    name: str,
    role: Literal["server", "router"],
    program: tuple[str, ...],
    args: tuple[Arg, ...],
    port: int,
    models: tuple[str, ...],
) -> Launch:
    url = server.url.rsplit(":", 1)[0] + f":{port}"
    launcher = None
    if spec.launcher is not None:
        values = {
            "name": name,
            "host": server.host,
            "port": str(port),
            "model": server.model,
            "served": server.name,
            "models": ",".join(models),
        }
        launcher = tuple(_fill(a, values) for a in spec.launcher)
    return Launch(
        name=name, role=role, program=program, args=args, url=url, expect_models=models, launcher=launcher
    )


def _fill(template: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def serve_args(spec: BackendSpec, server: Server, *, port: int, gpu: int) -> tuple[Arg, ...]:
    """``sglang serve`` flags, full names only (``--tp-size``, never ``--tp``), as SGLang 0.5.23 spells them."""
    args: list[Arg] = [
        "--model-path", server.model,
        "--served-model-name", server.name,
        "--host", server.host,
        "--port", str(port),
        "--tp-size", str(server.tp_size),
    ]  # fmt: skip
    if gpu or server.replicas > 1:
        args += ["--base-gpu-id", str(gpu)]
    args += _optional("--mem-fraction-static", server.mem_fraction_static)
    args += _optional("--context-length", server.context_length)
    args += _optional("--tool-call-parser", server.tool_call_parser)
    args += ["--grammar-backend", server.grammar_backend, "--enable-metrics"]
    args += _optional("--load-format", server.load_format)
    args += _lora_args(spec, server)
    if spec.api_key_env:
        args += ["--api-key", EnvRef(spec.api_key_env)]
    args += server.extra_args
    return tuple(args)


def _lora_args(spec: BackendSpec, server: Server) -> list[Arg]:
    adapters = spec.adapters_on(server)
    if not adapters:
        return []
    paths = [f"{s.name}={s.adapter.path}" for s in adapters if s.adapter is not None]
    # "include base-only request": every adapter plus the base model fit in one batch by default.
    per_batch = server.max_loras_per_batch or len(adapters) + 1
    args: list[Arg] = ["--enable-lora", "--lora-paths", *paths, "--max-loras-per-batch", str(per_batch)]
    return args + _optional("--max-lora-rank", server.max_lora_rank)


def router_args(spec: BackendSpec, server: Server, worker_urls: list[str]) -> tuple[Arg, ...]:
    """SGLang's router (``sglang-router``) in front of the replicas, cache-aware by default."""
    args: list[Arg] = [
        "--worker-urls", *worker_urls,
        "--policy", server.router_policy,
        "--host", server.host,
        "--port", str(server.port),
        "--prometheus-port", str(server.router_metrics_port()),
    ]  # fmt: skip
    if spec.api_key_env:
        args += ["--api-key", EnvRef(spec.api_key_env)]
    return tuple(args)


def _optional(flag: str, value: object | None) -> list[Arg]:
    return [] if value is None else [flag, str(value)]
