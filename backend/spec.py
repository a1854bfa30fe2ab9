"""``backend.yaml``: the specialists and the SGLang servers that host them, parsed once into frozen objects.

One server per base model; a specialist is either a LoRA adapter on a server (requests must then name
``served:adapter``, the only form SGLang routes to the adapter: a bare adapter name is silently answered by the
base model) or the server's whole model. :func:`specialist_targets` is what the proxy reads.

Every problem raises :class:`BackendSpecError` with one line: the file, the key, what is wrong and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import BackendError
from core.mapping_reader import MappingReader, ReadRules, read_yaml

GRAMMAR_BACKENDS = ("xgrammar", "outlines", "llguidance", "none")
ROUTER_POLICIES = ("cache_aware", "round_robin", "power_of_two", "random")
HF_PREFIX = "hf:"

# Model-family substring (lower case) -> SGLang 0.5.23 tool-call parser. First match wins.
TOOL_CALL_PARSERS: tuple[tuple[str, str], ...] = (
    ("qwen3-coder", "qwen3_coder"),
    ("qwen2.5", "qwen25"),
    ("qwen3", "qwen"),
    ("llama-3", "llama3"),
    ("mistral", "mistral"),
    ("deepseek-v3", "deepseekv3"),
    ("gpt-oss", "gpt-oss"),
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_PLACEHOLDERS = ("{name}", "{host}", "{port}", "{model}", "{served}", "{models}")


class BackendSpecError(BackendError):
    """A problem in backend.yaml; the message is one line: file, key, problem, fix."""


_RULES = ReadRules(BackendSpecError, unknown_hint="(see docs/backend.md)", null_is_missing=True)


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter: a local directory (checked to exist) or a Hugging Face repo (``hf:org/name``)."""

    source: str
    path: str
    remote: bool


@dataclass(frozen=True)
class Specialist:
    name: str
    server: str
    adapter: Adapter | None = None

    @property
    def is_lora(self) -> bool:
        return self.adapter is not None


@dataclass(frozen=True)
class Server:
    """One SGLang server (or several identical replicas behind SGLang's router when ``replicas > 1``)."""

    name: str
    model: str
    port: int
    host: str = "127.0.0.1"
    tp_size: int = 1
    mem_fraction_static: float | None = None
    context_length: int | None = None
    tool_call_parser: str | None = None
    grammar_backend: str = "xgrammar"
    max_loras_per_batch: int | None = None
    max_lora_rank: int | None = None
    replicas: int = 1
    router_policy: str = "cache_aware"
    base_gpu_id: int = 0
    load_format: str | None = None
    extra_args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """Where clients go: the server itself, or the router in front of the replicas."""
        return f"http://{_url_host(self.host)}:{self.port}"

    def replica_ports(self) -> tuple[int, ...]:
        """With replicas the router takes ``port`` and replica i listens on ``port + 1 + i``."""
        if self.replicas == 1:
            return (self.port,)
        return tuple(self.port + 1 + i for i in range(self.replicas))

    def router_metrics_port(self) -> int:
        return self.port + self.replicas + 1

    def ports(self) -> tuple[int, ...]:
        if self.replicas == 1:
            return (self.port,)
        return (self.port, *self.replica_ports(), self.router_metrics_port())


@dataclass(frozen=True)
class Supervision:
    """How ``backend up`` waits, restarts and stops; the defaults suit a real model load."""

    health_timeout_s: float = 900.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    stable_after_s: float = 60.0
    stop_grace_s: float = 30.0


@dataclass(frozen=True)
class BackendSpec:
    source: str
    servers: tuple[Server, ...]
    specialists: tuple[Specialist, ...]
    api_key_env: str | None = None
    launcher: tuple[str, ...] | None = None
    supervision: Supervision = Supervision()

    def server(self, name: str) -> Server:
        for server in self.servers:
            if server.name == name:
                return server
        raise KeyError(name)

    def specialists_on(self, server: Server) -> tuple[Specialist, ...]:
        return tuple(s for s in self.specialists if s.server == server.name)

    def adapters_on(self, server: Server) -> tuple[Specialist, ...]:
        return tuple(s for s in self.specialists_on(server) if s.is_lora)


@dataclass(frozen=True)
class Endpoint:
    """Where the proxy sends a specialist's requests: ``POST {url}/v1/chat/completions`` with ``model``."""

    url: str
    model: str
    api_key_env: str | None = None


def specialist_targets(spec: BackendSpec) -> dict[str, Endpoint]:
    """Specialist name -> Endpoint; LoRA specialists get ``served:adapter`` so SGLang really uses the adapter."""
    return {s.name: _target(spec, s) for s in spec.specialists}


def target_for(spec: BackendSpec, model: str) -> Endpoint:
    """Resolve a name from the proxy's model map: a specialist, a served name, or an exact ``served:adapter``."""
    targets = specialist_targets(spec)
    if model in targets:
        return targets[model]
    for target in targets.values():
        if target.model == model:
            return target
    for server in spec.servers:
        if server.name == model:
            return Endpoint(url=server.url, model=server.name, api_key_env=spec.api_key_env)
    known = ", ".join(sorted(targets)) or "(none)"
    raise BackendSpecError(
        f"{spec.source}: specialists: no specialist or server named {model!r}; use one of: {known}"
    )


def _target(spec: BackendSpec, specialist: Specialist) -> Endpoint:
    server = spec.server(specialist.server)
    model = f"{server.name}:{specialist.name}" if specialist.is_lora else server.name
    return Endpoint(url=server.url, model=model, api_key_env=spec.api_key_env)


def default_tool_call_parser(model: str) -> str | None:
    """The SGLang tool-call parser for a model family, from the model path's name; None when unknown."""
    lowered = model.lower()
    for needle, parser in TOOL_CALL_PARSERS:
        if needle in lowered:
            return parser
    return None


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


# ---------------------------------------------------------------------------------------------- loading


def load_spec(path: Path) -> BackendSpec:
    """Read and validate ``path``; relative adapter and model paths are relative to the file's folder."""
    missing = "no such file; copy examples/backend.yaml and edit it, or pass --file"
    data = read_yaml(path, BackendSpecError, missing=missing)
    return parse_spec(data, source=str(path), base_dir=path.resolve().parent)


def parse_spec(raw: Any, *, source: str = "<backend>", base_dir: Path | None = None) -> BackendSpec:
    """Validate a mapping (from YAML) into a :class:`BackendSpec`."""
    top = MappingReader(raw, source, _RULES)
    base = base_dir if base_dir is not None else Path.cwd()
    default_host = top.text("host", "127.0.0.1")
    servers = tuple(
        _server(name, reader, default_host, base)
        for name, reader in _named_sections(top, "servers", required=True)
    )
    names = {s.name for s in servers}
    specialists = tuple(
        _specialist(name, reader, names, base) for name, reader in _named_sections(top, "specialists")
    )
    spec = BackendSpec(
        source=source,
        servers=servers,
        specialists=specialists,
        api_key_env=_api_key_env(top),
        launcher=_launcher(top),
        supervision=_supervision(top.section("supervision")),
    )
    top.reject_unknown()
    _check_ports(spec)
    return spec


def _server(name: str, r: MappingReader, default_host: str, base: Path) -> Server:
    _check_name(name, r.where_self(), "server")
    model = _model(r.text("model", None), r.where("model"), base)
    replicas = r.whole("replicas", 1, minimum=1)
    server = Server(
        name=name,
        model=model,
        port=r.whole("port", None, minimum=1, maximum=65535 - replicas - 1),
        host=r.text("host", default_host),
        tp_size=r.whole("tp_size", 1, minimum=1),
        mem_fraction_static=r.fraction("mem_fraction_static"),
        context_length=r.optional_whole("context_length", minimum=1),
        tool_call_parser=_tool_call_parser(r, model),
        grammar_backend=r.choice("grammar_backend", "xgrammar", GRAMMAR_BACKENDS),
        max_loras_per_batch=r.optional_whole("max_loras_per_batch", minimum=1),
        max_lora_rank=r.optional_whole("max_lora_rank", minimum=1),
        replicas=replicas,
        router_policy=r.choice("router_policy", "cache_aware", ROUTER_POLICIES),
        base_gpu_id=r.whole("base_gpu_id", 0, minimum=0),
        load_format=r.optional_text("load_format"),
        extra_args=_extra_args(r),
    )
    r.reject_unknown()
    return server


def _model(text: str, where: str, base: Path) -> str:
    """A Hugging Face repo id stays as written; a path (``/``, ``./``, ``../``, ``~``) must be a folder here."""
    if not text.startswith(("/", "./", "../", "~")):
        return text
    folder = (base / Path(text).expanduser()).resolve()
    if not folder.is_dir():
        raise BackendSpecError(
            f"{where}: model folder {folder} does not exist; fix the path (relative to the file) or use a repo id"
        )
    return str(folder)


def _tool_call_parser(r: MappingReader, model: str) -> str | None:
    """Explicit value wins (``none`` turns it off); otherwise the family's parser, if we know the family."""
    if "tool_call_parser" not in r.raw:
        r.seen.add("tool_call_parser")
        return default_tool_call_parser(model)
    value = r.text("tool_call_parser", None)
    return None if value == "none" else value


# Flags the spec owns: written by `plan` from typed keys, so extra_args must not repeat them.
OWNED_FLAGS: dict[str, str] = {
    "--model-path": "model",
    "--model": "model",
    "--served-model-name": "the server's name",
    "--host": "host",
    "--port": "port",
    "--tp-size": "tp_size",
    "--tp": "tp_size",
    "--tensor-parallel-size": "tp_size",
    "--mem-fraction-static": "mem_fraction_static",
    "--context-length": "context_length",
    "--tool-call-parser": "tool_call_parser",
    "--grammar-backend": "grammar_backend",
    "--enable-lora": "specialists with an adapter",
    "--lora-paths": "specialists with an adapter",
    "--max-loras-per-batch": "max_loras_per_batch",
    "--max-lora-rank": "max_lora_rank",
    "--api-key": "api_key_env",
    "--enable-metrics": "(always on)",
    "--base-gpu-id": "base_gpu_id",
    "--load-format": "load_format",
}


def _extra_args(r: MappingReader) -> tuple[str, ...]:
    args = r.str_list("extra_args")
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in OWNED_FLAGS:
            raise BackendSpecError(
                f"{r.where('extra_args')}: {flag} is generated from the spec; set {OWNED_FLAGS[flag]} instead"
            )
    return args


def _specialist(name: str, r: MappingReader, servers: set[str], base: Path) -> Specialist:
    _check_name(name, r.where_self(), "specialist")
    server = r.text("server", None)
    if server not in servers:
        known = ", ".join(sorted(servers))
        raise BackendSpecError(f"{r.where('server')}: no server named {server!r}; use one of: {known}")
    adapter_text = r.optional_text("adapter")
    adapter = _adapter(adapter_text, r.where("adapter"), base) if adapter_text else None
    r.reject_unknown()
    return Specialist(name=name, server=server, adapter=adapter)


def _adapter(text: str, where: str, base: Path) -> Adapter:
    """``hf:org/name`` is left to SGLang to download; anything else is a local folder that must exist now."""
    if text.startswith(HF_PREFIX):
        repo = text[len(HF_PREFIX) :]
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
            raise BackendSpecError(
                f"{where}: {text!r} is not hf:ORG/NAME; write e.g. hf:acme/qwen-classify-lora"
            )
        return Adapter(source=text, path=repo, remote=True)
    folder = (base / Path(text).expanduser()).resolve()
    if not folder.is_dir():
        raise BackendSpecError(
            f"{where}: adapter folder {folder} does not exist; fix the path "
            f"(relative to the file) or write hf:ORG/NAME for a Hugging Face repo"
        )
    if not (folder / "adapter_config.json").is_file():
        raise BackendSpecError(
            f"{where}: {folder} has no adapter_config.json; point it at a PEFT LoRA adapter folder"
        )
    return Adapter(source=text, path=str(folder), remote=False)


def _check_name(name: str, where: str, what: str) -> None:
    if ":" in name:
        raise BackendSpecError(
            f"{where}: {what} name {name!r} contains ':'; SGLang reads 'served:adapter', so rename it"
        )
    if not _NAME.match(name):
        raise BackendSpecError(f"{where}: {what} name {name!r} must be letters, digits, '.', '_', '-' or '/'")


def _api_key_env(top: MappingReader) -> str | None:
    name = top.optional_text("api_key_env")
    if name is not None and not _ENV_NAME.match(name):
        raise BackendSpecError(
            f"{top.where('api_key_env')}: {name!r} must be an environment variable name, e.g. SGLANG_API_KEY"
        )
    return name


def _launcher(top: MappingReader) -> tuple[str, ...] | None:
    args = top.str_list("launcher")
    if not args:
        return None
    if not any("{port}" in arg for arg in args):
        raise BackendSpecError(
            f"{top.where('launcher')}: must contain {{port}}; placeholders: {', '.join(_PLACEHOLDERS)}"
        )
    return args


def _supervision(r: MappingReader) -> Supervision:
    d = Supervision()
    value = Supervision(
        health_timeout_s=r.number("health_timeout_s", d.health_timeout_s, minimum=0.1),
        backoff_initial_s=r.number("backoff_initial_s", d.backoff_initial_s, minimum=0.0),
        backoff_max_s=r.number("backoff_max_s", d.backoff_max_s, minimum=0.0),
        stable_after_s=r.number("stable_after_s", d.stable_after_s, minimum=0.0),
        stop_grace_s=r.number("stop_grace_s", d.stop_grace_s, minimum=0.0),
    )
    r.reject_unknown()
    return value


def _named_sections(r: MappingReader, key: str, *, required: bool = False) -> list[tuple[str, MappingReader]]:
    """``servers`` and ``specialists``: a mapping of names, each to its own settings."""
    value = r.optional(key)
    if not value and required:
        raise BackendSpecError(f"{r.where(key)}: required; add at least one, see examples/backend.yaml")
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise BackendSpecError(f"{r.where(key)}: must map names to settings, see examples/backend.yaml")
    return [(str(name), r.child(body, f"{r.prefix}{key}.{name}.")) for name, body in value.items()]


def _check_ports(spec: BackendSpec) -> None:
    owner: dict[tuple[str, int], str] = {}
    for server in spec.servers:
        for port in server.ports():
            key = (server.host, port)
            if key in owner and owner[key] != server.name:
                raise BackendSpecError(
                    f"{spec.source}: servers.{server.name}.port: port {port} is also used by {owner[key]} "
                    f"(a server with replicas uses port..port+replicas+1); pick another port"
                )
            owner[key] = server.name
