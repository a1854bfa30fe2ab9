"""The contract proxy/mitm_internals.py relies on, checked against the installed mitmproxy.

If a mitmproxy release breaks one of these, failover would silently stop seeing the candidate's bytes; this
test fails first and names the assumption.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect

import pytest
from mitmproxy import version
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy import server
from mitmproxy.test import taddons

from proxy import mitm_internals
from proxy.mitm_internals import interrupt_read, server_transport


def test_the_pinned_major_release_is_installed() -> None:
    assert version.VERSION.split(".")[0] == "11", "review proxy/mitm_internals.py before moving the pin"


def test_a_connection_io_holds_a_replaceable_reader_and_writer() -> None:
    fields = {f.name for f in dataclasses.fields(server.ConnectionIO)}
    assert {"reader", "writer"} <= fields
    io = server.ConnectionIO()
    io.reader = "swapped"  # not frozen: a reader can be swapped while the connection runs
    assert io.reader == "swapped"


def test_handlers_read_the_transport_again_for_every_chunk() -> None:
    source = inspect.getsource(server.ConnectionHandler.handle_connection)
    assert "self.transports[connection].reader" in source
    assert "transports" in server.ConnectionHandler.__annotations__


def test_the_proxyserver_keeps_its_handlers_by_client_id() -> None:
    assert isinstance(Proxyserver().connections, dict)


def test_server_transport_finds_the_io_under_a_real_master() -> None:
    async def look() -> None:  # a master belongs to a running loop, as in the proxy
        with taddons.context(Proxyserver()) as tctx:
            assert server_transport(tctx.master, "client-1", object()) is None  # no such connection
            assert server_transport(None, "client-1", object()) is None

    asyncio.run(look())


def test_mitmproxy_makes_its_error_pages_in_one_replaceable_function() -> None:
    from mitmproxy.proxy.layers.http import _http1

    assert "make_error_response(" in inspect.getsource(_http1.Http1Server.send)
    assert "make_error_response(" in inspect.getsource(_http1.Http1Server.read_headers)
    assert "make_error_response(" in inspect.getsource(_http1)


def test_a_failed_upstream_write_cancels_its_connection() -> None:
    """Why failover wraps the writer (QuietWriter): mitmproxy would cancel the connection before its reader
    could judge the answer."""
    assert "handler.cancel" in inspect.getsource(server.ConnectionHandler.drain_writers)


def test_a_pending_stream_read_is_interrupted_and_later_data_kept() -> None:
    """asyncio's StreamReader parks a waiting read on ``_waiter``; cancelling that future ends the read (and no
    other) without a cancellation of the task, and data fed afterwards is read by the next read (failover's
    deadlines rely on it)."""

    async def scenario() -> tuple[bool, int, bytes, bool]:
        reader = asyncio.StreamReader()
        assert not interrupt_read(reader)  # nothing waits
        pending = asyncio.ensure_future(reader.read(100))
        await asyncio.sleep(0)
        interrupted = interrupt_read(reader)
        reader.feed_data(b"late")  # in the same loop turn: the cancelled waiter is skipped, the bytes kept
        with contextlib.suppress(asyncio.CancelledError):
            await pending
        return interrupted, pending.cancelling(), await reader.read(100), pending.cancelled()

    interrupted, task_cancels, later, cancelled = asyncio.run(scenario())
    assert interrupted and cancelled and task_cancels == 0
    assert later == b"late"


def test_a_built_response_is_the_constructors_response() -> None:
    """``built_response`` skips only the constructor's type check: same state, same bytes on the wire, and a
    change made through the public API (as our hooks make) lands the same way."""
    from mitmproxy import http
    from mitmproxy.net.http.http1 import assemble_response

    fields = ((b"content-type", b"application/json"), (b"content-length", b"2"))
    parts = (b"HTTP/1.1", 200, b"OK", http.Headers(fields), b"{}")
    built = mitm_internals.built_response(*parts, 1700000000.5)
    made = http.Response(*parts, None, 1700000000.5, 1700000000.5)
    assert built.get_state() == made.get_state()
    assert assemble_response(built) == assemble_response(made)
    for response in (built, made):
        response.headers["x-request-id"] = "req_1"
        response.content = b'{"a":1}'
    assert assemble_response(built) == assemble_response(made)
    assert built.get_state() == made.get_state()


def test_the_debug_type_check_is_skipped_and_parsing_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """mitmproxy's per-message type check is the dataclass's ``__post_init__`` (a wrong type raises); once
    skipped, a wrong type passes, and a request its parser reads is the same request as before."""
    from mitmproxy import http
    from mitmproxy.net.http.http1 import read

    def wrong() -> object:
        return http.RequestData(
            host="h", port="80", method=b"GET", scheme=b"http", authority=b"", path=b"/", http_version=b"HTTP/1.1",
            headers=http.Headers(), content=None, trailers=None, timestamp_start=0.0, timestamp_end=None,
        )  # fmt: skip

    head = [b"POST /v1/chat/completions HTTP/1.1\r\n", b"host: 127.0.0.1:8080\r\n", b"content-length: 2\r\n"]
    before = read.read_request_head(head).get_state()
    with pytest.raises(TypeError):
        wrong()  # the check this skips is where it is assumed to be
    monkeypatch.setattr(http.MessageData, "__post_init__", http.MessageData.__post_init__)  # restored after
    mitm_internals.skip_debug_typechecks()
    mitm_internals.skip_debug_typechecks()  # idempotent
    assert isinstance(wrong(), http.RequestData)
    after = read.read_request_head(head).get_state()
    assert {k: v for k, v in after.items() if k != "timestamp_start"} == {
        k: v for k, v in before.items() if k != "timestamp_start"
    }
