"""The one module that reaches into mitmproxy's (and asyncio's) private structures; everything else uses their
public API.

A whole answer fetched by ``proxy.direct`` becomes a ``Response`` without the type check of every field that
mitmproxy's constructor runs under ``__debug__`` (most of what building one costs; our parser's types are fixed),
and the serving process drops that check for the requests mitmproxy parses too (:func:`skip_debug_typechecks`).

Failover needs the live reader and writer of a server connection, which mitmproxy 11 keeps in
``Proxyserver.connections[client_id].transports[server]`` (a ``ConnectionIO``) and reads again for every chunk,
so a reader swapped in there takes effect at once. The dependency is pinned below the next major release and
``tests/proxy/test_mitm_internals.py`` checks each of these assumptions against the installed mitmproxy.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Protocol


class Transport(Protocol):
    """mitmproxy's ``ConnectionIO``: the reader and writer of one connection, replaceable while it runs."""

    reader: Any
    writer: Any


def server_transport(master: Any, client_id: str, server: Any) -> Transport | None:
    """The reader/writer pair of ``server`` (a connection opened for client ``client_id``), or None."""
    proxyserver = master.addons.get("proxyserver") if master is not None else None
    handler = getattr(proxyserver, "connections", {}).get(client_id)
    transport: Transport | None = getattr(handler, "transports", {}).get(server)
    return transport


ErrorPage = Callable[[int, str], bytes]


def replace_error_page(page: ErrorPage) -> None:
    """mitmproxy answers the errors it meets itself (upstream unreachable, a malformed or smuggling request, a
    body over ``body_size_limit``) with an HTML page from ``_http1.make_error_response``; ``page`` makes it."""
    from mitmproxy.proxy.layers.http import _http1

    setattr(_http1, "make_error_response", page)  # noqa: B010 - a module attribute mypy types as a def


def bound_request_heads(max_head_bytes: int, refuse: Callable[[bytes], bytes]) -> None:
    """mitmproxy buffers a request head without limit (its own FIXME in ``Http1Server.read_headers``): once more
    than ``max_head_bytes`` arrived without the head's end, ``refuse(first bytes)`` is sent and the connection
    closed. Idempotent."""
    from mitmproxy.proxy import commands, events
    from mitmproxy.proxy.layers.http import _http1

    original = getattr(_http1.Http1Server.read_headers, "__wrapped__", _http1.Http1Server.read_headers)

    def refused(self: Any, head: bytes) -> Generator[Any, Any, None]:
        yield commands.SendData(self.conn, refuse(head))
        yield commands.CloseConnection(self.conn)
        self.state = self.done

    def read_headers(self: Any, event: Any) -> Generator[Any, Any, None]:
        # a plain function (mitmproxy runs ``yield from self.state(event)``): the usual head costs no generator
        if len(self.buf) > max_head_bytes and isinstance(event, events.DataReceived):
            head = bytes(self.buf)[: max_head_bytes + 4]
            if b"\r\n\r\n" not in head:
                return refused(self, head)
        generator: Generator[Any, Any, None] = original(self, event)
        return generator

    read_headers.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(_http1.Http1Server, "read_headers", read_headers)  # noqa: B010 - replacing a method


def interrupt_read(reader: Any) -> bool:
    """End the read pending on asyncio ``reader`` (a ``StreamReader``) with ``CancelledError``, raised in the task
    that awaits it, without cancelling that task: what arrives later stays buffered for the next read. False when
    no read is waiting (or its data came already). The failover reader's deadlines use it: one timer per
    connection, moved by each read, instead of a timeout scope (a timer set and cancelled) per read."""
    waiter = getattr(reader, "_waiter", None)  # StreamReader's future for a read waiting on data
    if waiter is None or waiter.done():
        return False
    waiter.cancel()  # data_received skips a cancelled waiter
    return True


def skip_debug_typechecks() -> None:
    """mitmproxy checks each field of every request and response it builds against the field's annotation, under
    ``__debug__`` only (``MessageData.__post_init__``; ``python -O`` drops it): a debugging aid for code that
    builds messages by hand, ~29 of the 35 us its parser takes to read a request head, whose types are fixed. The
    process that serves (``proxy.engine.serve``) runs without it; tests and embedders keep it. Idempotent."""
    from mitmproxy import http

    # the dataclasses' generated __init__ calls __post_init__, so it stays, doing nothing
    setattr(http.MessageData, "__post_init__", _unchecked)  # noqa: B010 - replacing a method


def _unchecked(self: Any) -> None:
    return None


def built_response(
    http_version: bytes,
    status_code: int,
    reason: bytes,
    headers: Any,
    content: bytes,
    timestamp: float,
) -> Any:
    """``http.Response(http_version, status_code, reason, headers, content, None, timestamp, timestamp)`` for
    parts of known types (``headers``: an ``http.Headers``), without ``MessageData.__post_init__``'s check of
    each field against its annotation: it costs ~30 us a response, about as much as our hooks on an answer.
    ``tests/proxy/test_mitm_internals.py`` checks the result equals the constructor's."""
    from mitmproxy import http

    data = http.ResponseData.__new__(http.ResponseData)
    vars(data).update(
        http_version=http_version,
        headers=headers,
        content=content,
        trailers=None,
        timestamp_start=timestamp,
        timestamp_end=timestamp,
        status_code=status_code,
        reason=reason,
    )
    response = http.Response.__new__(http.Response)
    response.data = data
    return response
