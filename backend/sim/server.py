"""A local stand-in upstream that speaks OpenAI's wire exactly, or SGLang 0.5.x's with its quirks.

Every test and the demo talk to it instead of api.openai.com or a GPU. Start it with
``alveare-migrate sim --flavor openai --port 8000`` (it prints ``sim openai listening on http://HOST:PORT``
once ready; ``--port 0`` picks a free port and prints it), or in-process with :class:`SimServer`.

Endpoints (both flavors): ``POST /v1/chat/completions`` (whole or SSE, tools, ``n``, ``response_format``,
``stop``, ``max_tokens``), ``GET /v1/models``, ``GET /health`` and ``GET /health_generate`` (200, empty).
``openai`` also answers ``GET /v1/models/{id}``.

Answers are deterministic for a request and ``--seed`` (see :mod:`backend.sim.answers`); prompts from the
bundled dataset (:mod:`backend.sim.tasks`) get their reference answer, or a weaker model's for the
``--disagree`` share of items.

Per-request controls (so one sim serves many tests):

================================  =====================================================================
``x-sim-fail: STATUS``            answer that error status (400, 401, 403, 404, 429, 500, 502, 503, 504
                                  ...) in the flavor's exact error format; 429 and 503 carry retry-after
model ``sim-error-STATUS``        the same, chosen by the model name (e.g. ``sim-error-429``)
``x-sim-fault: KIND[:K]``         ``hang`` (read, never answer), ``refuse`` (close without answering),
                                  ``cut`` (reset after K stream events, or half the body), ``malformed``
                                  (200 with broken JSON), ``error`` (a mid-stream error event after K
                                  events; a 500 for a whole answer). K defaults to ``--cut-after``
model ``sim-fault-KIND``          the same, chosen by the model name (e.g. ``sim-fault-hang``)
``x-sim-latency-ms: MS``          delay of a whole answer (default ``--latency-ms``)
``x-sim-ttft-ms: MS``             delay before a stream's headers and first event (default ``--ttft-ms``)
``x-sim-chunk-interval-ms: MS``   gap between stream events (default ``--chunk-interval-ms``)
``x-sim-chunks: K``               split each text into K stream pieces (default ``--chunks``; 0 = per word)
``x-sim-item: ID``                answer as dataset item ID (also ``metadata: {"sim_item": ID}``)
``x-sim-disagree: 1|0``           force this dataset answer to disagree with the reference, or not
================================  =====================================================================

Sim-wide faults: ``--fault refuse`` resets every connection as soon as it is accepted; ``--fault hang|cut|
malformed|error`` applies to every chat request; ``--error-rate R`` answers a share R of chat requests with
500 or 503 (a seeded, reproducible sequence). ``--require-key KEY``: other bearer keys get 401 (OpenAI's
``invalid_api_key`` body, or SGLang's ``{"error": "Unauthorized"}``). ``--rpm``/``--tpm``: the per-key rate
limit behind the ``x-ratelimit-*`` headers and 429s (openai flavor; default large).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from types import TracebackType

from backend.sim.app import SimApp
from backend.sim.http import HttpServer
from backend.sim.options import DEFAULT_MODELS, FAULTS, FLAVORS, Fault, SimOptions, parse_fault

__all__ = [
    "DEFAULT_MODELS",
    "FAULTS",
    "FLAVORS",
    "Fault",
    "SimOptions",
    "SimServer",
    "listening_line",
    "parse_fault",
    "run_sim",
    "serve",
]


def base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def listening_line(options: SimOptions, port: int) -> str:
    """The one line printed once the sim accepts connections (supervisors and tests wait for it)."""
    return f"sim {options.flavor} listening on {base_url(options.host, port)}"


async def serve(
    options: SimOptions,
    stop: asyncio.Event,
    ready: Callable[[int], None] | None = None,
    app: SimApp | None = None,
) -> None:
    """Runs the sim on the current loop until ``stop`` is set; ``ready(port)`` once it is listening."""
    server = HttpServer(app or SimApp(options), refuse=options.fault_spec == Fault("refuse"))
    port = await server.start(options.host, options.port)
    try:
        if ready is not None:
            ready(port)
        await stop.wait()
    finally:
        await server.close()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # optional speed-up (the `fast` extra)
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def run_sim(options: SimOptions) -> None:
    """Serves in the foreground until SIGTERM or SIGINT; prints the listening line to stdout first."""
    loop = _new_loop()
    stop = asyncio.Event()

    def announce(port: int) -> None:
        print(listening_line(options, port), flush=True)

    async def main() -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await serve(options, stop, announce)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
        sys.stdout.flush()


class SimServer:
    """The sim in a background thread, for tests that want it in-process::

    with SimServer(SimOptions(flavor="sglang")) as sim:
        httpx.get(sim.base_url + "/health")
    """

    def __init__(self, options: SimOptions | None = None) -> None:
        self.options = options or SimOptions()
        self.app = SimApp(self.options)  # ``app.requests_seen`` counts what reached it
        self.port = 0
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` (append ``/v1`` for the OpenAI SDK's ``base_url``)."""
        return base_url(self.options.host, self.port)

    def start(self, timeout: float = 10.0) -> SimServer:
        self._thread = threading.Thread(target=self._run, name="sim-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            self.stop()
            raise RuntimeError(f"sim did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        loop = _new_loop()
        self._loop = loop
        self._stop = asyncio.Event()

        def ready(port: int) -> None:
            self.port = port
            self._ready.set()

        try:
            loop.run_until_complete(serve(self.options, self._stop, ready, self.app))
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
