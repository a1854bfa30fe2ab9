"""Chain: our addons, registered with mitmproxy as one, failing closed.

mitmproxy dispatches every hook event to every registered addon (and follows each with an ``update`` walk); with
nine addons of ours that dispatch cost as much as the addons themselves. The chain calls each addon's hook
directly, in order, so the data path pays for one addon. The addons stay separate classes, one per file, and are
tested on their own.

A ``request`` hook may return what answers the flow itself (``Failover``'s whole answers, ``proxy.direct``),
awaited once every request hook has run; an addon may name hooks in ``after_answer`` that run in the loop turn
after mitmproxy wrote the answer (``Record``).

It is also the one place that fails closed. mitmproxy logs an exception in a hook as "Addon error" and carries on,
which would forward a request our checks never finished with. The chain catches it instead: before an upstream
is chosen the flow is answered with OpenAI's 500 body (nothing is forwarded); after, the answer is replaced while
the client has not seen it. Either way the flow id is logged and ``hook_errors`` counted (``/metrics``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from mitmproxy import http

from proxy import wire
from proxy.runtime import METADATA_KEY

log = logging.getLogger(__name__)
SYNC_HOOKS = (
    "requestheaders",
    "request",
    "responseheaders",
    "response",
    "error",
    "server_connected",
    "server_disconnected",
    "next_layer",
)
ASYNC_HOOKS = ("server_connect", "running", "done")
HOOK_ERRORS = "hook_errors"
# OpenAI's own words for an error on its side.
SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"


def _hooks(addons: list[object], name: str, *, after: bool = False) -> list[Callable[..., Any]]:
    """The addons' hooks ``name``; ``after``: those their addon lists in ``after_answer`` (else the others)."""
    return [
        getattr(a, name)
        for a in addons
        if callable(getattr(a, name, None)) and (name in getattr(a, "after_answer", ())) == after
    ]


def server_error_response() -> http.Response:
    """The 500 a client gets when our own code failed: OpenAI's body and headers, and the connection closed."""
    from proxy.addons.route import error_response

    body = wire.error_bytes(SERVER_ERROR_MESSAGE, status=500)
    return error_response(500, body, {"connection": "close"})


class _Replacement:
    """A ``response.stream`` that drops the upstream's body and sends ours once it has ended."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __call__(self, data: bytes) -> bytes:
        return self.body if not data else b""


class Chain:
    """Calls the hooks of ``addons`` in order. Data-path hooks must be plain functions (no awaiting per request)."""

    def __init__(self, addons: list[object], counts: Counter[str] | None = None) -> None:
        self.members = (
            addons  # not `addons`: mitmproxy would register an `addons` list itself, doubling hooks
        )
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self.hooks = {name: _hooks(addons, name) for name in (*SYNC_HOOKS, *ASYNC_HOOKS)}
        # ``response`` hooks that only record what was served (``after_answer``): run once the answer is on its
        # way to the app (the next loop turn), off the time the app waits
        self.after = _hooks(addons, "response", after=True)
        self._answered: list[Any] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        for name in SYNC_HOOKS:
            bad = [h for h in self.hooks[name] if inspect.iscoroutinefunction(h)]
            if bad:
                raise TypeError(f"{bad[0].__qualname__} must not be async: it runs for every request")

    def _call(self, name: str, arg: Any) -> None:
        for hook in self.hooks[name]:
            try:
                hook(arg)
            except Exception:
                self._failed(name, hook, arg)

    def _failed(self, name: str, hook: Callable[..., Any], arg: Any) -> None:
        self.counts[HOOK_ERRORS] += 1
        flow_id = getattr(arg, "id", None) or getattr(getattr(arg, "client", None), "id", "?")
        log.exception("%s failed in %s on flow %s; failing closed", hook.__qualname__, name, flow_id)
        if isinstance(arg, http.HTTPFlow):
            fail_closed(arg, name)
        elif name == "server_connect":
            arg.server.error = "our server_connect hook failed"

    def requestheaders(self, flow: Any) -> None:
        self._call("requestheaders", flow)

    def request(self, flow: Any) -> Awaitable[None] | None:
        """The request hooks; a hook may return a coroutine function that answers the flow itself (a whole
        answer fetched directly, ``proxy.direct``): it is awaited once every request hook has run, unless one of
        them answered the flow meanwhile."""
        answer: Callable[[], Awaitable[None]] | None = None
        for hook in self.hooks["request"]:
            try:
                returned = hook(flow)
            except Exception:
                self._failed("request", hook, flow)
                continue
            if returned is not None:
                answer = returned
        if answer is None or flow.response is not None:
            return None
        return self._answer(flow, answer)

    async def _answer(self, flow: Any, answer: Callable[[], Awaitable[None]]) -> None:
        try:
            await answer()
        except Exception:
            self._failed("request", answer, flow)

    def responseheaders(self, flow: Any) -> None:
        self._call("responseheaders", flow)

    def response(self, flow: Any) -> None:
        self._call("response", flow)
        if not self.after:
            flow.metadata.pop(METADATA_KEY, None)  # done with: freed now, not by the cyclic collector later
            return
        self._answered.append(flow)
        if len(self._answered) == 1:
            if self._loop is None or self._loop.is_closed():
                self._after_answers()  # no loop of ours (a test driving hooks): now
            else:
                # mitmproxy writes the answer when this hook returns, in this loop turn
                self._loop.call_soon(self._after_answers)

    def _after_answers(self) -> None:
        flows, self._answered = self._answered, []
        for flow in flows:
            for hook in self.after:
                try:
                    hook(flow)
                except Exception:
                    self._failed("answered", hook, flow)  # the answer went out: nothing to replace
            flow.metadata.pop(METADATA_KEY, None)

    def error(self, flow: Any) -> None:
        self._call("error", flow)
        flow.metadata.pop(METADATA_KEY, None)

    def server_connected(self, data: Any) -> None:
        self._call("server_connected", data)

    def server_disconnected(self, data: Any) -> None:
        self._call("server_disconnected", data)

    def next_layer(self, data: Any) -> None:
        self._call("next_layer", data)

    async def server_connect(self, data: Any) -> None:
        for hook in self.hooks["server_connect"]:
            try:
                result = hook(data)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                self._failed("server_connect", hook, data)

    async def running(self) -> None:
        self._loop = asyncio.get_running_loop()
        for hook in self.hooks["running"]:
            result = hook()
            if inspect.isawaitable(result):
                await result

    async def done(self) -> None:
        for hook in self.hooks["done"]:
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                self._failed("done", hook, None)


def fail_closed(flow: http.HTTPFlow, event: str) -> None:
    """Answer ``flow`` with OpenAI's 500 instead of whatever our failed hook left half done."""
    if event in ("requestheaders", "request"):
        flow.request.stream = False  # the body is read (and dropped), never streamed to an upstream
        flow.response = server_error_response()
    elif event == "responseheaders":
        replacement = server_error_response()
        replacement.stream = _Replacement(replacement.raw_content or b"")
        flow.response = replacement
    elif event == "response" and flow.response is not None and not flow.response.stream:
        flow.response = server_error_response()
    # once a streamed answer has gone out (or the flow errored) there is nothing left to replace
