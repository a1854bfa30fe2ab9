"""The engine: mitmproxy embedded in our process, in reverse mode, with only the addons the data path needs.

``ProxyServer(config).start()`` inside a running loop; ``stop()`` drains in-flight requests and mirrors, then
flushes the recorder, so a SIGTERM loses nothing that was served. The admin port serves ``/metrics``
(Prometheus) and ``/healthz``. The rollout percent is polled from the store and applied live.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from mitmproxy import master, options
from mitmproxy.addons import core, next_layer, proxyserver, tlsconfig

from core.config import Settings
from core.store import Store
from core.version import package_version
from proxy.addons.auth import Auth
from proxy.addons.chain import Chain
from proxy.addons.failover import Failover
from proxy.addons.front import Front, install_error_pages, proxy_error
from proxy.addons.intercept import InterceptScope
from proxy.addons.metrics import Metrics
from proxy.addons.mirror import Mirror
from proxy.addons.normalize import Normalize
from proxy.addons.record import Record
from proxy.addons.route import Route
from proxy.addons.upstream import Upstream
from proxy.addons.verify import VerifyKey
from proxy.direct import DirectClient, tls_context
from proxy.intercept import mode_options
from proxy.keys import KeyStore
from proxy.limits_redis import SharedLimiter
from proxy.mitm_internals import skip_debug_typechecks
from proxy.recorder import Recorder
from proxy.runtime import Runtime
from proxy.sides import SideClient

log = logging.getLogger(__name__)
STATUS_INTERVAL_S = 1.0
HOST = socket.gethostname()
VERSION = package_version()
NO_MODEL_MAPPED = (
    "no model is mapped: nothing will be split, every request goes to the incumbent; "
    "add `models:` and `specialists:` to alveare.yaml (or --models/--specialists)"
)


class InFlight:
    """Tracks live requests so shutdown can wait for them. A flow ends in ``response`` or ``error`` (a stream the
    client abandons after its headers ends in ``error`` only), whichever comes first.

    Once ``draining``, a request arriving on a kept-alive connection is answered 503 (the SDK retries it on a new
    connection, i.e. another replica) and every answer closes its connection: nothing is served after the
    recorder's last flush."""

    def __init__(self) -> None:
        self.flows: set[str] = set()
        self.draining = False

    @property
    def live(self) -> int:
        return len(self.flows)

    def requestheaders(self, flow: Any) -> None:
        if self.draining:
            flow.request.stream = False
            flow.response = proxy_error(503, "The server is shutting down. Please retry your request.")
            return
        self.flows.add(flow.id)

    def responseheaders(self, flow: Any) -> None:
        if self.draining and flow.response is not None:
            flow.response.headers["connection"] = "close"

    def response(self, flow: Any) -> None:
        self.responseheaders(flow)
        self.flows.discard(flow.id)

    def error(self, flow: Any) -> None:
        self.flows.discard(flow.id)


class ProxyServer:
    def __init__(self, config: Settings, *, environ: dict[str, str] | None = None) -> None:
        self.config = config
        self.runtime = Runtime(config, environ)
        self.store = Store.open(config.store)
        self.recorder = Recorder(config.store, config.record, self.runtime.counts)
        self.keys = KeyStore(self.store)
        self.limiter = shared_limiter(config, self.runtime)
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry()
        self.inflight = InFlight()
        self.master: master.Master | None = None
        self.sides: SideClient | None = None
        self.direct: DirectClient | None = None
        self.mirror: Mirror | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._admin: WSGIServer | None = None
        self._heartbeat_failing = False

    def default_addons(self, mitm: master.Master) -> list[object]:
        """Our addons, in data-path order: front -> auth -> route -> verify key -> upstream -> failover ->
        normalize -> mirror -> record -> metrics."""
        runtime = self.runtime
        self.direct = direct_client(self.config, runtime.upstream_ca)
        self.sides = SideClient(runtime, self.direct)
        record = Record(runtime, self.recorder)
        self.mirror = Mirror(runtime, self.sides, record)
        return [
            self.inflight,
            Front(),
            Auth(runtime, self.keys, self.limiter),
            Route(runtime),
            VerifyKey(runtime, self.keys, self.sides),
            Upstream(runtime),
            Failover(runtime, self.sides, mitm, self.direct),
            Normalize(runtime),
            self.mirror,
            record,
            Metrics(runtime, self.registry),
        ]

    async def start(self) -> None:
        self.runtime.percent = await asyncio.to_thread(self.store.current_percent)
        await asyncio.to_thread(self.keys.refresh)
        if self.limiter is not None:
            self.limiter.start(asyncio.get_running_loop())
        mitm = build_master(self.config, self.runtime.upstream_ca)
        install_error_pages()
        chain = Chain(self.default_addons(mitm), self.runtime.counts)
        intercept = self.config.mode == "intercept"
        mitm.addons.add(InterceptScope(chain, self.config.intercept.hosts) if intercept else chain)
        self.master = mitm
        self._run_task = asyncio.get_running_loop().create_task(mitm.run())
        await self._wait_listening()
        self._start_admin()
        self._loops = [
            asyncio.get_running_loop().create_task(self._poll_rollout()),
            asyncio.get_running_loop().create_task(self._heartbeat()),
            asyncio.get_running_loop().create_task(self._poll_keys()),
        ]
        log.info("proxy listening on %s, %s%% to the candidate", self.listen_url, self.runtime.percent)
        if not self.config.models and not self.config.specialists:
            log.warning(NO_MODEL_MAPPED)

    async def _wait_listening(self) -> None:
        for _ in range(500):
            if self._run_task is not None and self._run_task.done():
                self._run_task.result()
                raise RuntimeError("mitmproxy stopped while starting")
            if self.listen_addrs():
                return
            await asyncio.sleep(0.01)
        raise RuntimeError(f"the proxy did not start listening on {self.config.listen} within 5 s")

    def listen_addrs(self) -> list[tuple[str, int]]:
        assert self.master is not None
        server = self.master.addons.get("proxyserver")
        return [(str(a[0]), int(a[1])) for a in server.listen_addrs()]

    @property
    def listen_url(self) -> str:
        host, port = self.listen_addrs()[0]
        return f"http://{host}:{port}"

    @property
    def admin_url(self) -> str:
        assert self._admin is not None
        host, port = self._admin.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- admin, rollout poller, heartbeat ----------------------------------------------------------------

    def _start_admin(self) -> None:
        host, port = self.config.admin_host_port()
        self._admin = make_server(host, port, self._admin_app, handler_class=_QuietHandler)
        threading.Thread(target=self._admin.serve_forever, name="alveare-admin", daemon=True).start()

    def _admin_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [generate_latest(self.registry)]
        if path == "/healthz":
            body = json.dumps({"status": "ok", **self.runtime.status()}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /healthz\n"]

    async def _poll_rollout(self) -> None:
        while True:
            await asyncio.sleep(self.config.rollout_poll_s)
            try:
                percent = await asyncio.to_thread(self.store.current_percent)
            except Exception:
                log.exception("cannot read the rollout percent; keeping %s%%", self.runtime.percent)
                continue
            if percent != self.runtime.percent:
                log.warning("rollout: %s%% -> %s%% to the candidate", self.runtime.percent, percent)
                self.runtime.percent = percent

    async def _poll_keys(self) -> None:
        """Keys and revocations made on any host reach this replica within ``rollout_poll_s``."""
        while True:
            await asyncio.sleep(self.config.rollout_poll_s)
            try:
                await asyncio.to_thread(self.keys.refresh)
            except Exception:
                log.exception("cannot read the keys; keeping the last known ones")

    async def _heartbeat(self) -> None:
        while True:
            self.runtime.counts["record_queue"] = self.recorder.depth()
            try:
                await asyncio.to_thread(self._put_status)
            except Exception as exc:  # the store is down: the proxy serves on, the next beat tries again
                if not self._heartbeat_failing:
                    log.warning("cannot write this replica's heartbeat (%s); serving on", exc)
                self._heartbeat_failing = True
            else:
                self._heartbeat_failing = False
            await asyncio.sleep(STATUS_INTERVAL_S)

    def _put_status(self) -> None:
        counts = self.runtime.counts
        served = sum(counts[f"requests.{side}"] for side in ("incumbent", "candidate", "passthrough"))
        self.store.put_status(
            self.runtime.instance, self.runtime.status(), host=HOST, version=VERSION, requests=served
        )

    # --- shutdown ---------------------------------------------------------------------------------------

    async def stop(self, drain_s: float = 10.0) -> None:
        """Stop accepting, finish in-flight requests and mirrors (up to ``drain_s``), then flush every queued row.

        The order is what keeps served == recorded: nothing new is served once draining starts, every task that
        may still submit a row has ended before the recorder's last flush, and every task we started is awaited
        (no CancelledError tracebacks, no "Task was destroyed but it is pending")."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_s
        self.inflight.draining = True
        if (
            self.master is not None
        ):  # stop accepting connections; mitmproxy itself leaves that to process exit
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.master.addons.get("proxyserver").servers.update([]), 5)
        while self.inflight.live > 0 and loop.time() < deadline:
            await asyncio.sleep(0.02)
        if self.inflight.live:
            log.warning("stopping with %d requests still in flight after %.0fs", self.inflight.live, drain_s)
        if self.mirror is not None:
            await self.mirror.drain(max(0.1, deadline - loop.time()))
            await self.mirror.cancel()
        await _cancel_all(self._loops)
        if self.master is not None:
            self.master.shutdown()
        if self._run_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._run_task, 5)
        if self.sides is not None:
            await self.sides.aclose()
        if self.direct is not None:
            self.direct.close()
        if self._admin is not None:
            self._admin.shutdown()
            self._admin.server_close()
        await self.recorder.aclose()
        if self.limiter is not None:
            await asyncio.to_thread(self.limiter.close)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._put_status)
        await asyncio.to_thread(self.store.close)
        log.info("proxy stopped; %d rows recorded", self.recorder.written)


def answer_size_limit(config: Settings) -> int:
    """The most bytes of a message the proxy holds: a hard stop far above the request limit."""
    return config.max_body_bytes * 4 + 1_048_576


def direct_client(config: Settings, upstream_ca: str | None = None) -> DirectClient | None:
    """The client that fetches split whole answers itself (``proxy.direct``), in reverse mode; in intercept mode
    they come through mitmproxy's upstream side. ``upstream_ca``: the roots upstream certificates are checked
    against (default: certifi's, as mitmproxy's)."""
    if config.mode == "intercept":
        return None
    return DirectClient(answer_size_limit(config), tls_context(upstream_ca))


def build_master(config: Settings, upstream_ca: str | None = None) -> master.Master:
    """The engine as we embed it: mitmproxy's Master with its core addons and our options, none of our addons.
    ``upstream_ca``: the roots upstream certificates are checked against (default: certifi's).

    The proxy adds its chain to it; ``bench/proxy_overhead.py`` runs it bare as the baseline our cost is
    measured against."""
    opts = options.Options()
    mitm = master.Master(opts)
    mitm.addons.add(core.Core(), proxyserver.Proxyserver(), next_layer.NextLayer(), tlsconfig.TlsConfig())
    host, port = config.listen_host_port()
    opts.update(
        **mode_options(config, host, port),
        connection_strategy="lazy",
        body_size_limit=str(answer_size_limit(config)),
        ssl_insecure=False,
    )
    if upstream_ca:
        opts.update(ssl_verify_upstream_trusted_ca=upstream_ca)
    return mitm


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def shared_limiter(config: Settings, runtime: Runtime) -> SharedLimiter | None:
    """Limits shared through Redis when ``limits.store`` names one; None: each replica limits on its own."""
    if config.limits.store is None:
        log.info("limits: per replica (no limits.store); each replica admits every key's full limit")
        return None
    log.info("limits: shared through Redis by every replica")
    return SharedLimiter(
        config.limits.store,
        replica=runtime.instance,
        prefix=config.limits.redis_prefix,
        counts=runtime.counts,
    )


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("admin: " + format, *args)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed, except under mitmproxy >= 12 (its ``Master.run`` sets an eager task factory that
    uvloop rejects)."""
    try:
        import uvloop
        from mitmproxy import version
    except ImportError:
        return None
    if int(version.VERSION.split(".")[0]) >= 12:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def freeze_startup_heap() -> None:
    """Everything loaded by now (modules, compiled schemas, SQLAlchemy, mitmproxy) lives as long as the process:
    the cyclic collector need not walk it again. Without this each full collection walks some 150,000 objects,
    which cost the served path about a tenth of its throughput (``bench/proxy_overhead.py``). For the process
    that serves (``serve``), not for a proxy embedded in another program."""
    gc.collect()
    gc.freeze()


def serving_only_speedups() -> None:
    """What only the serving process does: mitmproxy's debug-time type checks off, the startup heap frozen."""
    skip_debug_typechecks()
    freeze_startup_heap()


async def serve(config: Settings, *, ready: Callable[[ProxyServer], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully."""
    import signal

    server = ProxyServer(config)
    await server.start()
    serving_only_speedups()
    if ready is not None:
        ready(server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
