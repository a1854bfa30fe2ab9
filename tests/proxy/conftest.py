"""Fixtures for driving the real proxy: it runs in a background thread with its own event loop, listening on
127.0.0.1, in front of real sim processes (see tests/conftest.py). The official openai SDK is the client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest

from core.config import Settings, parse_config
from core.pair import Pair
from core.store import Store
from proxy.engine import ProxyServer

MODELS = {"gpt-4o-mini": "classify", "gpt-3.5-turbo": "summarise", "gpt-4.1-mini": "extract"}
SPECIALISTS = {"classify": "qwen:classify", "summarise": "qwen:summarise", "extract": "qwen:extract"}


@dataclass
class RunningProxy:
    server: ProxyServer
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    store: Store
    stopped: bool = False
    clients: list[openai.OpenAI] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.listen_url

    @property
    def admin_url(self) -> str:
        return self.server.admin_url

    def client(self, api_key: str = "sk-test", **kwargs: Any) -> openai.OpenAI:
        """An SDK client for the proxy, closed when the proxy stops."""
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 20)
        client = openai.OpenAI(base_url=self.url + "/v1", api_key=api_key, **kwargs)
        self.clients.append(client)
        return client

    def set_percent(self, percent: float) -> None:
        """Append to the rollout history, as `alveare-migrate rollout` does, and wait until the proxy applied it."""
        self.store.append_rollout(percent, actor="test", reason="test")
        deadline = time.monotonic() + 5
        while self.server.runtime.percent != percent:
            assert time.monotonic() < deadline, "the proxy did not apply the new percent within 5 s"
            time.sleep(0.02)

    def pairs(self, expected: int | None = None, timeout: float = 10.0) -> list[Pair]:
        """The recorded pairs, waiting (bounded) until ``expected`` rows are there."""
        deadline = time.monotonic() + timeout
        while True:
            rows = list(self.store.iter_pairs())
            if expected is None or len(rows) >= expected or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        for client in self.clients:
            client.close()
        asyncio.run_coroutine_threadsafe(_shutdown(self.server), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.store.close()


async def _shutdown(server: ProxyServer) -> None:
    """Stop the proxy, then cancel what is left on its loop (open client connections), as asyncio.run does."""
    await server.stop(drain_s=5)
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def make_config(tmp_path: Path, incumbent: str, candidate: str, **overrides: Any) -> Settings:
    raw: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "admin_listen": "127.0.0.1:0",
        "store": f"sqlite:///{tmp_path / 'alveare.sqlite'}",
        "incumbent": {"url": incumbent, "key_env": "TEST_INCUMBENT_KEY"},
        "candidate": {"url": candidate},
        "models": MODELS,
        "specialists": SPECIALISTS,
        "rollout_poll_s": 0.1,
        "record": {"flush_interval_s": 0.02},
    }
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        if name:
            raw.setdefault(section, {})[name] = value
        else:
            raw[key] = value
    return parse_config(raw, source="test")


def start_proxy(config: Settings, environ: dict[str, str] | None = None) -> RunningProxy:
    loop = asyncio.new_event_loop()
    server = ProxyServer(config, environ=environ or {})
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            try:
                await server.start()
            except BaseException as exc:
                failure.append(exc)
            ready.set()

        booting = loop.create_task(boot())
        loop.run_forever()
        assert booting.done()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name="proxy-under-test", daemon=True)
    thread.start()
    assert ready.wait(20), "the proxy did not start within 20 s"
    if failure:
        raise failure[0]
    return RunningProxy(server, loop, thread, Store.open(config.store))


@pytest.fixture
def proxy_factory(tmp_path: Path) -> Iterator[Callable[..., RunningProxy]]:
    """``proxy_factory(incumbent_url, candidate_url, percent=0, **config)`` -> a running proxy (stopped after)."""
    running: list[RunningProxy] = []

    def factory(incumbent: str, candidate: str, *, percent: float = 0, **overrides: Any) -> RunningProxy:
        config = make_config(tmp_path, incumbent, candidate, **overrides)
        proxy = start_proxy(config, environ={"TEST_INCUMBENT_KEY": "sk-incumbent-secret"})
        running.append(proxy)
        if percent:
            proxy.set_percent(percent)
        return proxy

    yield factory
    for proxy in running:
        proxy.stop()
