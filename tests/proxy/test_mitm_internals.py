"""The contract proxy/mitm_internals.py relies on, checked against the installed mitmproxy.

If a mitmproxy release breaks one of these, failover would silently stop seeing the candidate's bytes; this
test fails first and names the assumption.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect

from mitmproxy import version
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy import server
from mitmproxy.test import taddons

from proxy.mitm_internals import server_transport


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
