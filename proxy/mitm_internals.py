"""The one module that reaches into mitmproxy's private structures; everything else uses its public API.

Failover needs the live reader and writer of a server connection, which mitmproxy 11 keeps in
``Proxyserver.connections[client_id].transports[server]`` (a ``ConnectionIO``) and reads again for every chunk,
so a reader swapped in there takes effect at once. The dependency is pinned below the next major release and
``tests/proxy/test_mitm_internals.py`` checks each of these assumptions against the installed mitmproxy.
"""

from __future__ import annotations

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
