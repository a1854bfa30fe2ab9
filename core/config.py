"""``alveare.yaml``: every key declared once, parsed once at the edge into frozen ``*Settings`` objects.

A key is a dataclass field made with :func:`setting`: its name (the dotted path), type, default, help text, and the
``ALVEARE_*`` environment variable derived from the path (``incumbent.url`` is ``ALVEARE_INCUMBENT_URL``). From
these declarations come the YAML reader (:func:`parse_config`), the environment overrides (:func:`load_config`), the
flags of ``alveare-migrate proxy``, the commented file ``alveare-migrate init`` writes and ``docs/config.md``
(:mod:`core.config_docs`). Precedence: flag > env > file > default. Unknown keys and bad values raise
:class:`ConfigError` naming the file, the key and the fix.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.errors import ConfigError
from core.mapping_reader import MappingReader, ReadRules, read_yaml
from core.store_engine import StoreError, parse_store_url

ENV_PREFIX = "ALVEARE_"

__all__ = ["ConfigError", "Key", "Settings", "iter_keys", "load_config", "parse_config"]

_RULES = ReadRules(ConfigError, unknown_hint="(see `alveare-migrate init`)")

# How a key is read from YAML: (reader, name, default, minimum) -> value.
Read = Callable[[MappingReader, str, Any, Any], Any]


def setting(
    default: Any,
    help: str,
    *,
    read: str,
    minimum: float | None = None,
    flag: str | None = None,
    example: Any = None,
    parse: Callable[[str], Any] | None = None,
) -> Any:
    """A declared key: its default, one-line help, how it is read (``read``: a :data:`READERS` name), the smallest
    value allowed, the ``alveare-migrate proxy`` flag that sets it, the value ``init`` writes, and the parser of its
    text form (flags and env variables)."""
    metadata = {"help": help, "read": read, "minimum": minimum, "flag": flag, "example": example}
    metadata["parse"] = parse or TEXT_PARSERS[read]
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def section(cls: type[Any], help: str) -> Any:
    """A nested group of keys (a YAML mapping), with its defaults."""
    return field(default_factory=cls, metadata={"help": help, "section": cls})


# --- text forms (flags and env variables) ---------------------------------------------------------------------


def parse_rate(text: str | float) -> float:
    """``0.1``, ``10%`` or ``10`` (read as percent when > 1) -> a fraction in [0, 1]."""
    stripped = text.strip() if isinstance(text, str) else ""
    if stripped.endswith("%"):
        value = float(stripped[:-1]) / 100
    else:
        value = float(text)
        if value > 1:
            value /= 100
    if not 0 <= value <= 1:
        raise ValueError(f"rate {text!r} is out of range: give 0-1 or 0%-100%")
    return value


def parse_map(text: str) -> dict[str, str]:
    """``gpt-4o-mini=classify,gpt-3.5-turbo=summarise`` -> a mapping (for flags and env variables)."""
    pairs = [item.strip() for item in text.split(",") if item.strip()]
    result: dict[str, str] = {}
    for item in pairs:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"{item!r} is not NAME=VALUE; write e.g. gpt-4o-mini=classify")
        result[name.strip()] = value.strip()
    return result


def parse_prices(text: str) -> dict[str, dict[str, float]]:
    """``gpt-4o-mini=0.15/0.60`` (USD per 1M input/output tokens) -> the YAML form of ``pricing``."""
    prices: dict[str, dict[str, float]] = {}
    for model, value in parse_map(text).items():
        given, sep, taken = value.partition("/")
        if not sep:
            raise ValueError(f"{model}={value!r} is not INPUT/OUTPUT; write e.g. gpt-4o-mini=0.15/0.60")
        prices[model] = {"input": float(given), "output": float(taken)}
    return prices


def parse_fields_map(text: str) -> dict[str, list[str]]:
    """``extract=order_id|amount`` -> the YAML form of ``evaluation.critical_fields``."""
    return {task: value.split("|") for task, value in parse_map(text).items()}


def parse_tolerances(text: str) -> dict[str, float]:
    """``price=0.005,*=1e-9`` -> the YAML form of ``evaluation.float_tolerance``."""
    return {name: float(value) for name, value in parse_map(text).items()}


def parse_hosts(text: str) -> tuple[str, ...]:
    """``api.openai.com,example.org`` -> host names, lower-cased (for flags and env variables)."""
    hosts = tuple(item.strip().lower() for item in text.split(",") if item.strip())
    if not hosts:
        raise ValueError("no host given; write e.g. api.openai.com")
    return hosts


def _parse_mode(text: str) -> str:
    if text not in MODES:
        raise ValueError(f"{text!r} is not one of {', '.join(MODES)}")
    return text


def _parse_flag(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


TEXT_PARSERS: dict[str, Callable[[str], Any]] = {
    "text": str,
    "url": str,
    "text_or_none": str,
    "number": float,
    "number_or_none": float,
    "whole": int,
    "flag": _parse_flag,
    "rate": parse_rate,
    "str_map": parse_map,
    "prices": parse_prices,
    "fields_map": parse_fields_map,
    "tolerances": parse_tolerances,
    "judge": parse_map,  # url=http://...,model=NAME[,key_env=VAR]
    "hosts": parse_hosts,
    "mode": _parse_mode,
}
MODES = ("reverse", "intercept")


# --- the keys ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncumbentSettings:
    url: str = setting(
        "https://api.openai.com",
        "OpenAI, or any OpenAI-compatible base URL (https: certificates checked against certifi's roots, or"
        " SSL_CERT_FILE's).",
        read="url",
        flag="--incumbent-url",
    )
    key_env: str | None = setting(
        "OPENAI_API_KEY",
        "Env variable holding the incumbent's key (used upstream once app keys exist).",
        read="text_or_none",
        flag="--incumbent-key-env",
    )
    timeout_s: float = setting(
        600.0,
        "Seconds a whole incumbent answer may take, from the request's start (the OpenAI SDK's own default).",
        read="number",
        minimum=0.01,
    )
    idle_timeout_s: float = setting(
        60.0,
        "Seconds the incumbent may stay silent: before its first byte, between body bytes or events.",
        read="number",
        minimum=0.01,
    )


@dataclass(frozen=True)
class CandidateSettings:
    url: str = setting(
        "http://127.0.0.1:30000",
        "The SGLang server (or router) base URL.",
        read="url",
        flag="--candidate-url",
    )
    key_env: str | None = setting(
        None,
        "Env variable holding the candidate's key.",
        read="text_or_none",
        flag="--candidate-key-env",
        example="SGLANG_API_KEY",
    )
    timeout_s: float = setting(
        600.0,
        "Seconds a whole candidate answer may take, from the request's start (the OpenAI SDK's own default).",
        read="number",
        minimum=0.01,
    )
    idle_timeout_s: float = setting(
        60.0,
        "Seconds the candidate may stay silent: after its first byte, between body bytes or events.",
        read="number",
        minimum=0.01,
    )


UpstreamSettings = IncumbentSettings | CandidateSettings


@dataclass(frozen=True)
class MirrorSettings:
    rate: float = setting(
        0.0,
        "Share of split requests also sent to the other side: 0-1 or 0%-100%.",
        read="rate",
        flag="--mirror",
        example="10%",
    )
    concurrency: int = setting(16, "Mirrored calls in flight at most.", read="whole", minimum=1)
    timeout_s: float = setting(30.0, "Seconds a mirrored call may take.", read="number", minimum=0.01)


@dataclass(frozen=True)
class FailoverSettings:
    first_byte_timeout_s: float = setting(
        10.0,
        "Seconds before a silent candidate fails over to the incumbent.",
        read="number",
        minimum=0.01,
        flag="--first-byte-timeout",
    )
    connect_timeout_s: float = setting(
        2.0, "Seconds to connect to the candidate.", read="number", minimum=0.01
    )
    circuit_failures: int = setting(
        5, "Consecutive failures that stop routing to the candidate.", read="whole", minimum=1
    )
    circuit_reset_s: float = setting(
        30.0, "Seconds before an open circuit probes the candidate again.", read="number", minimum=0.01
    )


@dataclass(frozen=True)
class RecordSettings:
    queue_size: int = setting(
        10_000, "Pairs waiting for the recorder at most (beyond: dropped, counted).", read="whole", minimum=1
    )
    batch_size: int = setting(200, "Pairs written per transaction at most.", read="whole", minimum=1)
    flush_interval_s: float = setting(
        0.25, "Seconds between writes: the most a SIGKILL can lose.", read="number", minimum=0.001
    )
    redact_pii: bool = setting(
        False, "Mask e-mail addresses and phone numbers in recordings.", read="flag", flag="--redact-pii"
    )
    spool_dir: str = setting(
        "alveare-spool",
        "Folder for pairs kept while the store is unreachable (written when it returns).",
        read="text",
        flag="--spool-dir",
    )
    spool_max_mb: int = setting(
        512, "Most MiB the spool may hold (beyond: dropped, counted).", read="whole", minimum=1
    )


@dataclass(frozen=True)
class LimitsSettings:
    """Default per-key limits (requests and tokens per minute) for keys created without their own."""

    rpm: int = setting(
        10_000, "Requests per minute per key (x-ratelimit-* headers, 429 beyond).", read="whole", minimum=1
    )
    tpm: int = setting(2_000_000, "Tokens per minute per key.", read="whole", minimum=1)
    store: str | None = setting(
        None,
        "redis://HOST:PORT/DB: share every key's limits across replicas; unset: each replica limits alone.",
        read="text_or_none",
        flag="--limits-store",
        example=None,
    )
    redis_prefix: str = setting(
        "alveare", "Prefix of the Redis keys the shared limits use (one per deployment).", read="text"
    )


@dataclass(frozen=True)
class PriceSettings:
    input_per_1m: float
    output_per_1m: float


@dataclass(frozen=True)
class CandidateCostSettings:
    usd_per_gpu_hour: float | None = setting(
        None, "What one GPU hour costs you.", read="number_or_none", minimum=0.0, example=2.5
    )
    gpus: int = setting(1, "GPUs serving the candidate.", read="whole", minimum=1)
    flat_monthly_usd: float | None = setting(
        None, "A flat monthly price instead of GPU hours.", read="number_or_none", minimum=0.0
    )


@dataclass(frozen=True)
class JudgeSettings:
    url: str
    model: str
    key_env: str | None = None


@dataclass(frozen=True)
class EvaluationSettings:
    critical_fields: Mapping[str, tuple[str, ...]] = setting(
        {},
        "Per task, JSON fields that must match exactly (a separate gate).",
        read="fields_map",
        example={"extract": ["order_id", "amount"]},
    )
    judge: JudgeSettings | None = setting(
        None, "An OpenAI-compatible LLM judge for summaries: url, model, key_env.", read="judge"
    )
    list_keys: Mapping[str, str] = setting(
        {},
        "Per list path, the key that identifies its items in extract and tool answers (else by position).",
        read="str_map",
        example={"items": "sku"},
    )
    float_tolerance: Mapping[str, float] = setting(
        {},
        "Per field path or name (or *), the relative tolerance for non-integral numbers (default 1e-9).",
        read="tolerances",
    )


@dataclass(frozen=True)
class InterceptSettings:
    """Intercept mode: the proxy is the apps' HTTPS_PROXY; only ``hosts`` are decrypted and split."""

    hosts: tuple[str, ...] = setting(
        ("api.openai.com",),
        "Hosts decrypted and split in intercept mode; every other host is tunnelled untouched.",
        read="hosts",
        flag="--intercept-hosts",
    )
    ca_dir: str = setting(
        "~/.alveare/ca",
        "Folder of the CA the apps trust in intercept mode (`alveare-migrate ca`).",
        read="text",
    )


@dataclass(frozen=True)
class Settings:
    listen: str = setting(
        "127.0.0.1:8080",
        "HOST:PORT the apps connect to (base_url http://HOST:PORT/v1).",
        read="text",
        flag="--listen",
    )
    admin_listen: str = setting(
        "127.0.0.1:8081", "HOST:PORT for /metrics and /healthz.", read="text", flag="--admin-listen"
    )
    store: str = setting(
        "sqlite:///alveare.sqlite",
        "Where pairs, keys and the rollout live: sqlite:///PATH or postgresql://USER@HOST:PORT/DB.",
        read="text",
        flag="--store",
    )
    incumbent: IncumbentSettings = section(IncumbentSettings, "OpenAI, or any OpenAI-compatible URL.")
    candidate: CandidateSettings = section(CandidateSettings, "Your SGLang server or router.")
    models: Mapping[str, str] = setting(
        {},
        "Client model -> specialist; unmapped models stay on the incumbent.",
        read="str_map",
        flag="--models",
        example={"gpt-4o-mini": "classify", "gpt-3.5-turbo": "summarise"},
    )
    specialists: Mapping[str, str] = setting(
        {},
        "Specialist -> the model the candidate serves (`served:adapter` picks a LoRA adapter).",
        read="str_map",
        flag="--specialists",
        example={"classify": "qwen:classify", "summarise": "qwen:summarise", "extract": "qwen:extract"},
    )
    salt: str = setting(
        "alveare",
        "Salt of the sticky assignment; give every replica the same.",
        read="text",
        flag="--salt",
        example="change-me",
    )
    mirror: MirrorSettings = section(MirrorSettings, "Paired evaluation: copies of split requests.")
    failover: FailoverSettings = section(FailoverSettings, "When the candidate is replaced by the incumbent.")
    record: RecordSettings = section(RecordSettings, "The recorder's worker process that writes pairs.")
    limits: LimitsSettings = section(LimitsSettings, "Default per-key limits.")
    max_body_bytes: int = setting(
        10 * 1024 * 1024, "Largest request body accepted, in bytes.", read="whole", minimum=1024
    )
    rollout_poll_s: float = setting(
        1.0,
        "Seconds between reads of the rollout percent and the keys from the store (a change made on any host "
        "reaches every replica within about this).",
        read="number",
        minimum=0.05,
    )
    key_check_ttl_s: float = setting(
        300.0,
        "Pass-through auth (no alv_live_ keys): seconds an app key's verdict from the incumbent is kept.",
        read="number",
        minimum=1.0,
    )
    policy: str | None = setting(
        None,
        "Rollout policy file (relative to this file); the shipped default when unset.",
        read="text_or_none",
    )
    pricing: Mapping[str, PriceSettings] = setting(
        {},
        "USD per 1M tokens by client model: {input, output}.",
        read="prices",
        example={
            "gpt-4o-mini": {"input": 0.15, "output": 0.60},
            "gpt-3.5-turbo": {"input": 0.50, "output": 1.50},
        },
    )
    candidate_cost: CandidateCostSettings = section(
        CandidateCostSettings, "What serving the candidate costs."
    )
    evaluation: EvaluationSettings = section(EvaluationSettings, "What the evaluator needs.")
    mode: str = setting(
        "reverse",
        "reverse: apps set their base URL to the proxy; intercept: apps set HTTPS_PROXY to it and trust its CA.",
        read="mode",
        flag="--mode",
    )
    intercept: InterceptSettings = section(InterceptSettings, "Intercept mode (the apps' HTTPS_PROXY).")
    source: str = field(default="<defaults>", compare=False)

    def policy_path(self) -> Path | None:
        """The ``policy`` file, a relative path read from the config file's folder; None for the shipped one."""
        if not self.policy:
            return None
        path = Path(self.policy)
        if not path.is_absolute() and Path(self.source).is_file():
            path = Path(self.source).parent / path
        return path

    def listen_host_port(self) -> tuple[str, int]:
        return split_host_port(self.listen, key="listen", source=self.source)

    def admin_host_port(self) -> tuple[str, int]:
        return split_host_port(self.admin_listen, key="admin_listen", source=self.source)


# --- the declarations, walked ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One declared key, as the reader, the flags, ``init`` and the docs see it."""

    name: str
    default: Any
    help: str
    read: str
    minimum: float | None
    flag: str | None
    example: Any
    parse: Callable[[str], Any]

    @property
    def env(self) -> str:
        return env_name(self.name)

    @property
    def attribute(self) -> str:
        return self.name.rpartition(".")[2]


def iter_keys(cls: type[Any] = Settings, prefix: str = "") -> Iterator[Key]:
    """Every key, depth first in declaration order (the order of the file ``init`` writes)."""
    for item in dataclasses.fields(cls):
        if "section" in item.metadata:
            yield from iter_keys(item.metadata["section"], f"{prefix}{item.name}.")
        elif "read" in item.metadata:
            default = (
                item.default_factory() if item.default_factory is not dataclasses.MISSING else item.default
            )
            meta = item.metadata
            yield Key(
                f"{prefix}{item.name}", default, meta["help"], meta["read"], meta["minimum"], meta["flag"],
                meta["example"], meta["parse"],
            )  # fmt: skip


def env_name(key: str) -> str:
    return ENV_PREFIX + key.replace(".", "_").upper()


# --- reading YAML -----------------------------------------------------------------------------------------------


def _read_url(reader: MappingReader, name: str, default: Any, _: Any) -> str:
    url: str = reader.text(name, default)
    try:
        return parse_base_url(url)
    except ValueError as exc:
        reader.fail(f"{reader.where(name)}: {url!r} {exc}")


def parse_base_url(text: str) -> str:
    """An upstream's base URL as SDKs and ``.env`` files write it (``https://api.openai.com/v1``) or without
    ``/v1``, as ``scheme://host[:port][/prefix]`` with no trailing ``/v1``: the proxy appends ``/v1/...`` itself."""
    example = "write e.g. https://api.openai.com/v1 or http://127.0.0.1:30000"
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"is not a valid URL; {example}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"is not an http(s) URL; {example}")
    if not parts.hostname or port == 0 or parts.query or parts.fragment or parts.username:
        raise ValueError(f"is not a base URL (scheme://host[:port][/path]); {example}")
    path = parts.path.rstrip("/").removesuffix("/v1").rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _read_rate(reader: MappingReader, name: str, default: Any, _: Any) -> float:
    raw = reader.get(name, default)
    try:
        return parse_rate(raw)
    except (TypeError, ValueError):
        reader.fail(f"{reader.where(name)}: {raw!r} is not a rate; give 0-1 or 0%-100%")


def _read_prices(reader: MappingReader, name: str, default: Any, _: Any) -> dict[str, PriceSettings]:
    models = reader.section(name)
    prices: dict[str, PriceSettings] = {}
    for model in list(models.raw):
        entry = models.section(model)
        prices[model] = PriceSettings(
            input_per_1m=entry.number("input", None, minimum=0.0),
            output_per_1m=entry.number("output", None, minimum=0.0),
        )
        entry.reject_unknown()
    models.reject_unknown()
    return prices


def _read_fields_map(reader: MappingReader, name: str, default: Any, _: Any) -> dict[str, tuple[str, ...]]:
    tasks = reader.section(name)
    result: dict[str, tuple[str, ...]] = {}
    for task in list(tasks.raw):
        value = tasks.optional(task)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            tasks.fail(f"{tasks.where(task)}: must be a list of field names, e.g. [order_id, amount]")
        result[task] = tuple(value)
    return result


def _read_tolerances(reader: MappingReader, name: str, default: Any, _: Any) -> dict[str, float]:
    fields = reader.section(name)
    return {str(key): fields.number(key, None, minimum=0.0, maximum=1.0) for key in list(fields.raw)}


def _read_hosts(reader: MappingReader, name: str, default: Any, _: Any) -> tuple[str, ...]:
    hosts = reader.get(name, list(default))
    if isinstance(hosts, str):
        hosts = [hosts]
    if (
        not isinstance(hosts, list | tuple)
        or not hosts
        or not all(isinstance(h, str) and h.strip() for h in hosts)
    ):
        reader.fail(f"{reader.where(name)}: give a list of host names, e.g. [api.openai.com]")
    return tuple(h.strip().lower() for h in hosts)


def _read_mode(reader: MappingReader, name: str, default: Any, _: Any) -> str:
    mode: str = reader.text(name, default)
    if mode not in MODES:
        reader.fail(f"{reader.where(name)}: {mode!r} is not one of {', '.join(MODES)}")
    return mode


def _read_judge(reader: MappingReader, name: str, default: Any, _: Any) -> JudgeSettings | None:
    judge = reader.section(name)
    if not judge.raw:
        return None
    settings = JudgeSettings(
        url=judge.text("url", None), model=judge.text("model", None), key_env=judge.str_or_none("key_env")
    )
    judge.reject_unknown()
    return settings


READERS: dict[str, Read] = {
    "text": lambda r, n, d, _m: r.text(n, d),
    "url": _read_url,
    "text_or_none": lambda r, n, d, _m: r.str_or_none(n, d),
    "number": lambda r, n, d, m: r.number(n, d, minimum=m),
    "number_or_none": lambda r, n, _d, m: r.optional_number(n, minimum=m),
    "whole": lambda r, n, d, m: r.whole(n, d, minimum=int(m)),
    "flag": lambda r, n, d, _m: r.flag(n, d),
    "rate": _read_rate,
    "str_map": lambda r, n, _d, _m: r.str_map(n),
    "prices": _read_prices,
    "fields_map": _read_fields_map,
    "tolerances": _read_tolerances,
    "judge": _read_judge,
    "hosts": _read_hosts,
    "mode": _read_mode,
}


def _read_section(cls: type[Any], reader: MappingReader) -> Any:
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        if "section" in item.metadata:
            values[item.name] = _read_section(item.metadata["section"], reader.section(item.name))
        elif "read" in item.metadata:
            default = (
                item.default_factory() if item.default_factory is not dataclasses.MISSING else item.default
            )
            meta = item.metadata
            values[item.name] = READERS[meta["read"]](reader, item.name, default, meta["minimum"])
    reader.reject_unknown()
    return cls(**values)


def parse_config(raw: Mapping[str, Any], *, source: str = "<config>") -> Settings:
    """Validate a mapping (from YAML) into :class:`Settings`; every error names ``source`` and the key."""
    settings: Settings = dataclasses.replace(
        _read_section(Settings, MappingReader(raw, source, _RULES)), source=source
    )
    _check_cross_fields(settings)
    return settings


def load_config(
    path: Path | None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the YAML file (if any), then env variables, then flag ``overrides`` (dotted keys)."""
    source = str(path) if path else "<defaults>"
    raw: dict[str, Any] = _read_yaml(path) if path else {}
    env = os.environ if environ is None else environ
    for key in iter_keys():
        text = env.get(key.env)
        if text is not None:
            _set_dotted(raw, key.name, parse_text(key, text, f"${key.env}"))
    for name, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, name, value)
    return parse_config(raw, source=source)


def parse_text(key: Key, text: str, where: str) -> Any:
    """A key's value from its text form (a flag or an env variable); errors name ``where``."""
    try:
        return key.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: {key.name}: {exc}") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml(path, ConfigError, missing="no such file; create one with `alveare-migrate init`")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys; see `alveare-migrate init`")
    return data


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    head, _, rest = key.partition(".")
    if not rest:
        raw[head] = value
        return
    child = raw.setdefault(head, {})
    if not isinstance(child, dict):
        child = raw[head] = {}
    _set_dotted(child, rest, value)


def split_host_port(text: str, *, key: str, source: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"{source}: {key}: {text!r} is not HOST:PORT; write e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def _check_cross_fields(settings: Settings) -> None:
    try:
        parse_store_url(settings.store)
    except StoreError as exc:
        raise ConfigError(f"{settings.source}: store: {exc}") from None
    settings.listen_host_port()
    settings.admin_host_port()
    limits_store = settings.limits.store
    if limits_store is not None and not limits_store.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"{settings.source}: limits.store: {limits_store!r} is not a Redis URL; write redis://HOST:PORT/DB"
        )
    for client_model, target in settings.models.items():
        if ":" in target.split(":", 1)[0] or target.startswith(":"):
            raise ConfigError(
                f"{settings.source}: models.{client_model}: {target!r} is not `served` or `served:adapter`"
            )
