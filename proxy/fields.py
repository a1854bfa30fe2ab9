"""Header access on the served path, straight on mitmproxy's raw fields.

``Headers.get`` decodes and lower-cases every field for every lookup, and each assignment rebuilds the whole
tuple; with the dozen lookups and writes a split request makes, that cost more than all our checks together
(``bench/proxy_overhead.py``). These read the ``(bytes, bytes)`` fields once and write them in one rebuild, with
mitmproxy's own semantics: names are case-insensitive, repeated fields are joined with ``", "``, values are
UTF-8 with undecodable bytes kept as surrogates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mitmproxy import http


def header(headers: http.Headers, name: bytes, default: str = "") -> str:
    """The value of header ``name`` (lower-case ASCII), or ``default``."""
    size = len(name)
    found: list[bytes] = []
    for key, value in headers.fields:
        if len(key) == size and key.lower() == name:
            found.append(value)
    if not found:
        return default
    return (found[0] if len(found) == 1 else b", ".join(found)).decode("utf-8", "surrogateescape")


def set_headers(headers: http.Headers, values: Mapping[str, str], drop: Iterable[str] = ()) -> None:
    """Set each of ``values`` (replacing a field of that name where it stands, else appending it) and remove the
    headers named in ``drop``, in one rebuild of the fields."""
    new = {name.lower().encode(): value.encode("utf-8", "surrogateescape") for name, value in values.items()}
    gone = {name.lower().encode() for name in drop}
    placed: set[bytes] = set()
    fields: list[tuple[bytes, bytes]] = []
    for key, value in headers.fields:
        lower = key.lower()
        if lower in gone or lower in placed:  # dropped, or a repeat of a field already set
            continue
        if lower in new:
            fields.append((key, new[lower]))
            placed.add(lower)
        else:
            fields.append((key, value))
    fields.extend((name, value) for name, value in new.items() if name not in placed)
    headers.fields = tuple(fields)
