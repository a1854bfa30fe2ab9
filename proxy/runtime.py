"""What the addons share while the proxy runs: the config, live percent, counters, per-flow state.

One :class:`Runtime` per proxy process. Addons read it; only the rollout poller writes ``percent``. Counters are
plain ints (the proxy runs on one event loop thread) and are exported to Prometheus and the store's status row.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.config import Settings
from core.pair import Side
from proxy.circuit import CircuitBreaker
from proxy.routing import ModelMap, Target
from proxy.snapshots import Snapshots

if TYPE_CHECKING:
    from proxy.keys import KeyRecord
    from proxy.ratelimit import Admission

METADATA_KEY = "alveare"


@dataclass(slots=True)
class Leg:
    """One side's answer as it is captured on the wire; parsed later, off the served path."""

    side: Side
    status: int = 0
    chunks: list[bytes] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    encoding: str = ""  # the body's content-encoding as sent (gzip...), decoded off the served path
    stream: bool = False
    started: float = 0.0
    first_byte: float | None = None
    finished: float | None = None
    error: str | None = None

    def latency_ms(self) -> float:
        end = self.finished if self.finished is not None else time.perf_counter()
        return (end - self.started) * 1000

    def ttft_ms(self) -> float | None:
        return None if self.first_byte is None else (self.first_byte - self.started) * 1000


@dataclass(slots=True)
class FlowInfo:
    """Per-flow state, kept in ``flow.metadata['alveare']`` until the flow ends (then the recorder, a mirror or a
    failover relay holds it as long as it needs it; the flow itself, kept in reference cycles by mitmproxy, waits
    for the cyclic collector)."""

    pair_id: str
    started: float
    requested_model: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    raw_body: bytes = b""
    stream: bool = False
    include_usage: bool = False
    target: Target | None = None
    stickiness: str = ""
    key_hash: str = ""
    side: Side = "incumbent"
    percent: float = 0.0
    failover: bool = False
    failover_reason: str | None = None
    upstream_error: str | None = None  # why the proxy ended the served answer itself (stall, reset, cut)
    served: Leg | None = None
    mirrored: Leg | None = None
    candidate_failure: Leg | None = None
    mirror_pending: bool = False
    client_auth: str | None = None
    client_fields: tuple[tuple[bytes, bytes], ...] = ()  # the app's headers as sent (mitmproxy's raw fields)
    client_path: str = ""  # the request's path before a candidate's base path was put before it

    @property
    def client_headers(self) -> list[tuple[str, str]]:
        """The app's headers, decoded (failover and mirrors only: not on the served path)."""
        return [(k.decode("latin-1"), v.decode("utf-8", "surrogateescape")) for k, v in self.client_fields]

    key: KeyRecord | None = None
    admission: Admission | None = None  # the rate limiter's decision
    limit_id: str = ""  # the rate-limit bucket this request was charged to, and how many tokens up front
    charged_tokens: int = 0
    limits_written: Any = None  # the answer Auth wrote the x-ratelimit-* headers on
    recorded: bool = False
    chat: bool | None = None  # a chat completion request (None: not judged yet; see route.is_chat)
    background: set[Any] = field(default_factory=set)  # tasks working for this flow (kept referenced)

    @property
    def split(self) -> bool:
        return self.target is not None

    @property
    def ratelimit_headers(self) -> dict[str, str]:
        return self.admission.headers if self.admission is not None else {}


CLIENT_GONE = "Client disconnected."


def client_gave_up(flow: Any) -> bool:
    """The app hung up before its answer: nobody was served, and the upstream is not to blame."""
    return flow.error is not None and flow.error.msg in (CLIENT_GONE, "Connection killed.")


def flow_info(flow: Any) -> FlowInfo:
    """The flow's state, created on first use (whichever addon's hook sees the flow first)."""
    info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
    if info is None:
        info = flow.metadata[METADATA_KEY] = FlowInfo(
            pair_id=os.urandom(16).hex(), started=time.perf_counter()
        )
    return info


class Runtime:
    def __init__(self, config: Settings, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.config = config
        self.instance = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.model_map = ModelMap(config.models, config.specialists)
        self.percent = 0.0
        self.incumbent_key = env.get(config.incumbent.key_env) if config.incumbent.key_env else None
        self.candidate_key = env.get(config.candidate.key_env) if config.candidate.key_env else None
        # the roots HTTPS upstreams' certificates are checked against, by mitmproxy and proxy.direct alike
        self.upstream_ca = env.get("SSL_CERT_FILE") or None
        self.snapshots = Snapshots()
        self.circuit = CircuitBreaker(config.failover.circuit_failures, config.failover.circuit_reset_s)
        self.counts: Counter[str] = Counter()
        self.started = time.time()

    def status(self) -> dict[str, Any]:
        """The live status row ``alveare-migrate status`` shows."""
        c = self.counts
        return {
            "percent": self.percent,
            "requests": {"incumbent": c["requests.incumbent"], "candidate": c["requests.candidate"]},
            "pairs": {"incumbent": c["pairs.incumbent"], "candidate": c["pairs.candidate"]},
            "passthrough": c["requests.passthrough"],
            "passthrough_responses": c["passthrough.responses"],
            "rate_limited": c["rate_limited"],
            "mirrored": c["mirrored"],
            "failovers": c["failovers"],
            "mirror_dropped": c["mirror_dropped"],
            "record_dropped": c["record_dropped"],
            "record_queue": c["record_queue"],
            "rejected": c["rejected"],
            "upstream_errors": c["upstream_errors"],
            "hook_errors": c["hook_errors"],
            "limits": "local" if self.config.limits.store is None or c["limits_local_fallback"] else "shared",
            "unverified_keys": c["unverified_keys"],
            "circuit": self.circuit.state,
            "started": self.started,
            "listen": self.config.listen,
            "models_mapped": len(set(self.config.models) | set(self.config.specialists)),
        }
