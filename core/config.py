"""``alveare.yaml``: parsed once, at the edge, into frozen typed objects.

Every key can also come from an ``ALVEARE_*`` environment variable or a command-line flag (flag > env > file >
default). The variable for a key is its dotted path upper-cased with ``_``: ``incumbent.url`` is
``ALVEARE_INCUMBENT_URL``. Unknown keys and bad values raise :class:`ConfigError` naming the file, key and fix.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.mapping_reader import MappingReader, ReadRules, read_yaml
from core.store import StoreError, parse_store_url

ENV_PREFIX = "ALVEARE_"


class ConfigError(Exception):
    """A configuration problem; the message is one line: where, what, and the fix."""


_RULES = ReadRules(ConfigError, unknown_hint="(see `alveare-migrate init`)")


@dataclass(frozen=True)
class Upstream:
    url: str
    key_env: str | None = None
    timeout_s: float = 60.0


@dataclass(frozen=True)
class Price:
    input_per_1m: float
    output_per_1m: float


@dataclass(frozen=True)
class CandidateCost:
    usd_per_gpu_hour: float | None = None
    gpus: int = 1
    flat_monthly_usd: float | None = None


@dataclass(frozen=True)
class JudgeSettings:
    url: str
    model: str
    key_env: str | None = None


@dataclass(frozen=True)
class EvaluationSettings:
    critical_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    judge: JudgeSettings | None = None


@dataclass(frozen=True)
class Failover:
    first_byte_timeout_s: float = 10.0
    connect_timeout_s: float = 2.0
    circuit_failures: int = 5
    circuit_reset_s: float = 30.0


@dataclass(frozen=True)
class Mirror:
    rate: float = 0.0
    concurrency: int = 16
    timeout_s: float = 30.0


@dataclass(frozen=True)
class Record:
    queue_size: int = 10_000
    batch_size: int = 200
    flush_interval_s: float = 0.25
    redact_pii: bool = False


@dataclass(frozen=True)
class Limits:
    """Default per-key limits (requests and tokens per minute) for keys created without their own."""

    rpm: int = 10_000
    tpm: int = 2_000_000


@dataclass(frozen=True)
class Config:
    source: str = "<defaults>"
    listen: str = "127.0.0.1:8080"
    admin_listen: str = "127.0.0.1:8081"
    store: str = "sqlite:///alveare.sqlite"
    incumbent: Upstream = Upstream(url="https://api.openai.com", key_env="OPENAI_API_KEY")
    candidate: Upstream = Upstream(url="http://127.0.0.1:30000", key_env=None, timeout_s=60.0)
    models: Mapping[str, str] = field(default_factory=dict)
    specialists: Mapping[str, str] = field(default_factory=dict)
    salt: str = "alveare"
    mirror: Mirror = Mirror()
    failover: Failover = Failover()
    record: Record = Record()
    limits: Limits = Limits()
    max_body_bytes: int = 10 * 1024 * 1024
    key_check_ttl_s: float = 300.0  # pass-through auth: how long a key's verdict from the incumbent is kept
    rollout_poll_s: float = 1.0
    policy: str | None = None
    pricing: Mapping[str, Price] = field(default_factory=dict)
    candidate_cost: CandidateCost = CandidateCost()
    evaluation: EvaluationSettings = EvaluationSettings()

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


# Scalar keys that flags and env variables can set, with the parser for their text form.
SCALAR_KEYS: dict[str, Callable[[str], Any]] = {
    "listen": str,
    "admin_listen": str,
    "models": lambda text: parse_map(text),
    "specialists": lambda text: parse_map(text),
    "store": str,
    "salt": str,
    "policy": str,
    "incumbent.url": str,
    "incumbent.key_env": str,
    "incumbent.timeout_s": float,
    "candidate.url": str,
    "candidate.key_env": str,
    "candidate.timeout_s": float,
    "mirror.rate": lambda text: parse_rate(text),
    "mirror.concurrency": int,
    "mirror.timeout_s": float,
    "failover.first_byte_timeout_s": float,
    "failover.connect_timeout_s": float,
    "failover.circuit_failures": int,
    "failover.circuit_reset_s": float,
    "record.queue_size": int,
    "record.batch_size": int,
    "record.flush_interval_s": float,
    "record.redact_pii": lambda text: text.strip().lower() in ("1", "true", "yes", "on"),
    "limits.rpm": int,
    "limits.tpm": int,
    "max_body_bytes": int,
    "key_check_ttl_s": float,
    "rollout_poll_s": float,
}


def env_name(key: str) -> str:
    return ENV_PREFIX + key.replace(".", "_").upper()


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
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1").rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def split_host_port(text: str, *, key: str, source: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"{source}: {key}: {text!r} is not HOST:PORT; write e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def load_config(
    path: Path | None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read the YAML file (if any), then env variables, then flag ``overrides`` (dotted keys)."""
    source = str(path) if path else "<defaults>"
    raw: dict[str, Any] = _read_yaml(path) if path else {}
    env = os.environ if environ is None else environ
    for key, parse in SCALAR_KEYS.items():
        text = env.get(env_name(key))
        if text is not None:
            _set_dotted(raw, key, _parse_text(parse, text, key, f"${env_name(key)}"))
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, key, value)
    return parse_config(raw, source=source)


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml(path, ConfigError, missing="no such file; create one with `alveare-migrate init`")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys; see `alveare-migrate init`")
    return data


def _parse_text(parse: Callable[[str], Any], text: str, key: str, where: str) -> Any:
    try:
        return parse(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: {key}: {exc}") from None


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    head, _, rest = key.partition(".")
    if not rest:
        raw[head] = value
        return
    child = raw.setdefault(head, {})
    if not isinstance(child, dict):
        child = raw[head] = {}
    _set_dotted(child, rest, value)


def parse_config(raw: Mapping[str, Any], *, source: str = "<config>") -> Config:
    """Validate a mapping (from YAML) into a :class:`Config`; every error names ``source`` and the key."""
    reader = MappingReader(raw, source, _RULES)
    config = Config(
        source=source,
        listen=reader.text("listen", Config.listen),
        admin_listen=reader.text("admin_listen", Config.admin_listen),
        store=reader.text("store", Config.store),
        incumbent=_upstream(reader.section("incumbent"), Config.incumbent),
        candidate=_upstream(reader.section("candidate"), Config.candidate),
        models=reader.str_map("models"),
        specialists=reader.str_map("specialists"),
        salt=reader.text("salt", Config.salt),
        mirror=_mirror(reader.section("mirror")),
        failover=_failover(reader.section("failover")),
        record=_record(reader.section("record")),
        limits=_limits(reader.section("limits")),
        max_body_bytes=reader.whole("max_body_bytes", Config.max_body_bytes, minimum=1024),
        rollout_poll_s=reader.number("rollout_poll_s", Config.rollout_poll_s, minimum=0.05),
        key_check_ttl_s=reader.number("key_check_ttl_s", Config.key_check_ttl_s, minimum=1.0),
        policy=reader.str_or_none("policy"),
        pricing=_pricing(reader.section("pricing")),
        candidate_cost=_candidate_cost(reader.section("candidate_cost")),
        evaluation=_evaluation(reader.section("evaluation")),
    )
    reader.reject_unknown()
    _check_cross_fields(config)
    return config


def _check_cross_fields(config: Config) -> None:
    try:
        parse_store_url(config.store)
    except StoreError as exc:
        raise ConfigError(f"{config.source}: store: {exc}") from None
    config.listen_host_port()
    config.admin_host_port()
    for client_model, target in config.models.items():
        if ":" in target.split(":", 1)[0] or target.startswith(":"):
            raise ConfigError(
                f"{config.source}: models.{client_model}: {target!r} is not `served` or `served:adapter`"
            )


def _upstream(reader: MappingReader, default: Upstream) -> Upstream:
    url = reader.text("url", default.url)
    try:
        base = parse_base_url(url)
    except ValueError as exc:
        raise ConfigError(f"{reader.where('url')}: {url!r} {exc}") from None
    upstream = Upstream(
        url=base,
        key_env=reader.str_or_none("key_env", default.key_env),
        timeout_s=reader.number("timeout_s", default.timeout_s, minimum=0.01),
    )
    reader.reject_unknown()
    return upstream


def _mirror(reader: MappingReader) -> Mirror:
    rate_raw = reader.get("rate", 0.0)
    try:
        rate = parse_rate(rate_raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{reader.where('rate')}: {rate_raw!r} is not a rate; give 0-1 or 0%-100%"
        ) from None
    mirror = Mirror(
        rate=rate,
        concurrency=reader.whole("concurrency", Mirror.concurrency, minimum=1),
        timeout_s=reader.number("timeout_s", Mirror.timeout_s, minimum=0.01),
    )
    reader.reject_unknown()
    return mirror


def _failover(reader: MappingReader) -> Failover:
    failover = Failover(
        first_byte_timeout_s=reader.number(
            "first_byte_timeout_s", Failover.first_byte_timeout_s, minimum=0.01
        ),
        connect_timeout_s=reader.number("connect_timeout_s", Failover.connect_timeout_s, minimum=0.01),
        circuit_failures=reader.whole("circuit_failures", Failover.circuit_failures, minimum=1),
        circuit_reset_s=reader.number("circuit_reset_s", Failover.circuit_reset_s, minimum=0.01),
    )
    reader.reject_unknown()
    return failover


def _record(reader: MappingReader) -> Record:
    record = Record(
        queue_size=reader.whole("queue_size", Record.queue_size, minimum=1),
        batch_size=reader.whole("batch_size", Record.batch_size, minimum=1),
        flush_interval_s=reader.number("flush_interval_s", Record.flush_interval_s, minimum=0.001),
        redact_pii=reader.flag("redact_pii", Record.redact_pii),
    )
    reader.reject_unknown()
    return record


def _limits(reader: MappingReader) -> Limits:
    limits = Limits(
        rpm=reader.whole("rpm", Limits.rpm, minimum=1), tpm=reader.whole("tpm", Limits.tpm, minimum=1)
    )
    reader.reject_unknown()
    return limits


def _pricing(reader: MappingReader) -> dict[str, Price]:
    prices: dict[str, Price] = {}
    for model in list(reader.raw):
        entry = reader.section(model)
        prices[model] = Price(
            input_per_1m=entry.number("input", None, minimum=0.0),
            output_per_1m=entry.number("output", None, minimum=0.0),
        )
        entry.reject_unknown()
    return prices


def _candidate_cost(reader: MappingReader) -> CandidateCost:
    cost = CandidateCost(
        usd_per_gpu_hour=reader.optional_number("usd_per_gpu_hour", minimum=0.0),
        gpus=reader.whole("gpus", 1, minimum=1),
        flat_monthly_usd=reader.optional_number("flat_monthly_usd", minimum=0.0),
    )
    reader.reject_unknown()
    return cost


def _evaluation(reader: MappingReader) -> EvaluationSettings:
    critical: dict[str, tuple[str, ...]] = {}
    fields_reader = reader.section("critical_fields")
    for task in list(fields_reader.raw):
        value = fields_reader.optional(task)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f"{fields_reader.where(task)}: must be a list of field names, e.g. [order_id, amount]"
            )
        critical[task] = tuple(value)
    judge_reader = reader.section("judge")
    judge = None
    if judge_reader.raw:
        judge = JudgeSettings(
            url=judge_reader.text("url", None),
            model=judge_reader.text("model", None),
            key_env=judge_reader.str_or_none("key_env"),
        )
        judge_reader.reject_unknown()
    reader.reject_unknown()
    return EvaluationSettings(critical_fields=critical, judge=judge)
