"""Chain: our addons, registered with mitmproxy as one.

mitmproxy dispatches every hook event to every registered addon (and follows each with an ``update`` walk); with
nine addons of ours that dispatch cost as much as the addons themselves. The chain calls each addon's hook
directly, in order, so the data path pays for one addon. The addons stay separate classes, one per file, and are
tested on their own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

SYNC_HOOKS = (
    "requestheaders",
    "request",
    "responseheaders",
    "response",
    "error",
    "server_connected",
    "server_disconnected",
)
ASYNC_HOOKS = ("server_connect", "running", "done")


def _hooks(addons: list[object], name: str) -> list[Callable[..., Any]]:
    return [getattr(a, name) for a in addons if callable(getattr(a, name, None))]


class Chain:
    """Calls the hooks of ``addons`` in order. Data-path hooks must be plain functions (no awaiting per request)."""

    def __init__(self, addons: list[object]) -> None:
        self.members = (
            addons  # not `addons`: mitmproxy would register an `addons` list itself, doubling hooks
        )
        self.hooks = {name: _hooks(addons, name) for name in (*SYNC_HOOKS, *ASYNC_HOOKS)}
        for name in SYNC_HOOKS:
            bad = [h for h in self.hooks[name] if inspect.iscoroutinefunction(h)]
            if bad:
                raise TypeError(f"{bad[0].__qualname__} must not be async: it runs for every request")

    def _call(self, name: str, arg: Any) -> None:
        for hook in self.hooks[name]:
            hook(arg)

    def requestheaders(self, flow: Any) -> None:
        self._call("requestheaders", flow)

    def request(self, flow: Any) -> None:
        self._call("request", flow)

    def responseheaders(self, flow: Any) -> None:
        self._call("responseheaders", flow)

    def response(self, flow: Any) -> None:
        self._call("response", flow)

    def error(self, flow: Any) -> None:
        self._call("error", flow)

    def server_connected(self, data: Any) -> None:
        self._call("server_connected", data)

    def server_disconnected(self, data: Any) -> None:
        self._call("server_disconnected", data)

    async def server_connect(self, data: Any) -> None:
        for hook in self.hooks["server_connect"]:
            result = hook(data)
            if inspect.isawaitable(result):
                await result

    async def running(self) -> None:
        for hook in self.hooks["running"]:
            result = hook()
            if inspect.isawaitable(result):
                await result

    async def done(self) -> None:
        for hook in self.hooks["done"]:
            result = hook()
            if inspect.isawaitable(result):
                await result
