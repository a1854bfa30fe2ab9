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

import yaml

from proxy.store import StoreError, parse_store_url

ENV_PREFIX = "ALVEARE_"


class ConfigError(Exception):
    """A configuration problem; the message is one line: where, what, and the fix."""


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
    rollout_poll_s: float = 1.0
    policy: str | None = None
    pricing: Mapping[str, Price] = field(default_factory=dict)
    candidate_cost: CandidateCost = CandidateCost()
    evaluation: EvaluationSettings = EvaluationSettings()

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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; create one with `alveare-migrate init`") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}); fix the syntax") from None
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
    reader = _Reader(raw, source, "")
    config = Config(
        source=source,
        listen=reader.get_str("listen", Config.listen),
        admin_listen=reader.get_str("admin_listen", Config.admin_listen),
        store=reader.get_str("store", Config.store),
        incumbent=_upstream(reader.section("incumbent"), Config.incumbent),
        candidate=_upstream(reader.section("candidate"), Config.candidate),
        models=reader.str_map("models"),
        specialists=reader.str_map("specialists"),
        salt=reader.get_str("salt", Config.salt),
        mirror=_mirror(reader.section("mirror")),
        failover=_failover(reader.section("failover")),
        record=_record(reader.section("record")),
        limits=_limits(reader.section("limits")),
        max_body_bytes=reader.get_int("max_body_bytes", Config.max_body_bytes, minimum=1024),
        rollout_poll_s=reader.get_float("rollout_poll_s", Config.rollout_poll_s, minimum=0.05),
        policy=reader.optional_str("policy"),
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


def _upstream(reader: _Reader, default: Upstream) -> Upstream:
    url = reader.get_str("url", default.url)
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{reader.where('url')}: {url!r} is not an http(s) URL; write e.g. http://127.0.0.1:30000"
        )
    upstream = Upstream(
        url=url.rstrip("/"),
        key_env=reader.optional_str("key_env", default.key_env),
        timeout_s=reader.get_float("timeout_s", default.timeout_s, minimum=0.01),
    )
    reader.reject_unknown()
    return upstream


def _mirror(reader: _Reader) -> Mirror:
    rate_raw = reader.raw.get("rate", 0.0)
    reader.seen.add("rate")
    try:
        rate = parse_rate(rate_raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{reader.where('rate')}: {rate_raw!r} is not a rate; give 0-1 or 0%-100%"
        ) from None
    mirror = Mirror(
        rate=rate,
        concurrency=reader.get_int("concurrency", Mirror.concurrency, minimum=1),
        timeout_s=reader.get_float("timeout_s", Mirror.timeout_s, minimum=0.01),
    )
    reader.reject_unknown()
    return mirror


def _failover(reader: _Reader) -> Failover:
    failover = Failover(
        first_byte_timeout_s=reader.get_float(
            "first_byte_timeout_s", Failover.first_byte_timeout_s, minimum=0.01
        ),
        connect_timeout_s=reader.get_float("connect_timeout_s", Failover.connect_timeout_s, minimum=0.01),
        circuit_failures=reader.get_int("circuit_failures", Failover.circuit_failures, minimum=1),
        circuit_reset_s=reader.get_float("circuit_reset_s", Failover.circuit_reset_s, minimum=0.01),
    )
    reader.reject_unknown()
    return failover


def _record(reader: _Reader) -> Record:
    record = Record(
        queue_size=reader.get_int("queue_size", Record.queue_size, minimum=1),
        batch_size=reader.get_int("batch_size", Record.batch_size, minimum=1),
        flush_interval_s=reader.get_float("flush_interval_s", Record.flush_interval_s, minimum=0.001),
        redact_pii=reader.get_bool("redact_pii", Record.redact_pii),
    )
    reader.reject_unknown()
    return record


def _limits(reader: _Reader) -> Limits:
    limits = Limits(
        rpm=reader.get_int("rpm", Limits.rpm, minimum=1), tpm=reader.get_int("tpm", Limits.tpm, minimum=1)
    )
    reader.reject_unknown()
    return limits


def _pricing(reader: _Reader) -> dict[str, Price]:
    prices: dict[str, Price] = {}
    for model in list(reader.raw):
        entry = reader.section(model)
        prices[model] = Price(
            input_per_1m=entry.get_float("input", None, minimum=0.0),
            output_per_1m=entry.get_float("output", None, minimum=0.0),
        )
        entry.reject_unknown()
    return prices


def _candidate_cost(reader: _Reader) -> CandidateCost:
    cost = CandidateCost(
        usd_per_gpu_hour=reader.optional_float("usd_per_gpu_hour"),
        gpus=reader.get_int("gpus", 1, minimum=1),
        flat_monthly_usd=reader.optional_float("flat_monthly_usd"),
    )
    reader.reject_unknown()
    return cost


def _evaluation(reader: _Reader) -> EvaluationSettings:
    critical: dict[str, tuple[str, ...]] = {}
    fields_reader = reader.section("critical_fields")
    for task in list(fields_reader.raw):
        value = fields_reader.raw[task]
        fields_reader.seen.add(task)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f"{fields_reader.where(task)}: must be a list of field names, e.g. [order_id, amount]"
            )
        critical[task] = tuple(value)
    judge_reader = reader.section("judge")
    judge = None
    if judge_reader.raw:
        judge = JudgeSettings(
            url=judge_reader.get_str("url", None),
            model=judge_reader.get_str("model", None),
            key_env=judge_reader.optional_str("key_env"),
        )
        judge_reader.reject_unknown()
    reader.reject_unknown()
    return EvaluationSettings(critical_fields=critical, judge=judge)


class _Reader:
    """Typed reads from one mapping, remembering which keys were read so the rest can be rejected."""

    def __init__(self, raw: Any, source: str, prefix: str) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{source}: {prefix.rstrip('.') or '<top>'}: must be a mapping of keys")
        self.raw: Mapping[str, Any] = raw
        self.source = source
        self.prefix = prefix
        self.seen: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.source}: {self.prefix}{key}"

    def _get(self, key: str, default: Any) -> Any:
        self.seen.add(key)
        value = self.raw.get(key, default)
        if value is None and default is None and key not in self.raw:
            raise ConfigError(f"{self.where(key)}: required key is missing; add it")
        return value

    def section(self, key: str) -> _Reader:
        self.seen.add(key)
        return _Reader(self.raw.get(key), self.source, f"{self.prefix}{key}.")

    def get_str(self, key: str, default: str | None) -> str:
        value = self._get(key, default)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{self.where(key)}: {value!r} must be a non-empty string")
        return value

    def optional_str(self, key: str, default: str | None = None) -> str | None:
        self.seen.add(key)
        value = self.raw.get(key, default)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{self.where(key)}: {value!r} must be a string")
        return value or None

    def get_float(self, key: str, default: float | None, *, minimum: float) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise ConfigError(f"{self.where(key)}: {value!r} must be a number >= {minimum}")
        return float(value)

    def optional_float(self, key: str) -> float | None:
        if self.raw.get(key) is None:
            self.seen.add(key)
            return None
        return self.get_float(key, None, minimum=0.0)

    def get_int(self, key: str, default: int, *, minimum: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{self.where(key)}: {value!r} must be a whole number >= {minimum}")
        return value

    def get_bool(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.where(key)}: {value!r} must be true or false")
        return value

    def str_map(self, key: str) -> dict[str, str]:
        self.seen.add(key)
        value = self.raw.get(key) or {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
        ):
            raise ConfigError(f"{self.where(key)}: must map names to names, e.g. gpt-4o-mini: classify")
        return dict(value)

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.raw) - self.seen)
        if unknown:
            raise ConfigError(
                f"{self.where(unknown[0])}: unknown key; remove it or check the spelling (see `alveare-migrate init`)"
            )
