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


class _LastRead:
    """The lower-cased map of the fields read last. Our addons read the same message several times in a row
    (a request's length, type and key; an answer's type and encoding), so each message is mapped once. A field
    tuple is immutable (a write makes a new one) and is held here, so ``is`` tells it is the same message."""

    __slots__ = ("pair",)

    def __init__(self) -> None:
        # one reference, swapped whole: a reader in another thread never sees one message's fields with
        # another's map
        self.pair: tuple[tuple[tuple[bytes, bytes], ...], dict[bytes, bytes]] = ((), {})


_last = _LastRead()


def _mapped(fields: tuple[tuple[bytes, bytes], ...]) -> dict[bytes, bytes]:
    last_fields, last_mapped = _last.pair
    if fields is last_fields:
        return last_mapped
    mapped: dict[bytes, bytes] = {}
    for key, value in fields:
        lower = key.lower()
        mapped[lower] = mapped[lower] + b", " + value if lower in mapped else value
    _last.pair = (fields, mapped)
    return mapped


def header(headers: http.Headers, name: bytes, default: str = "") -> str:
    """The value of header ``name`` (lower-case ASCII), or ``default``."""
    value = _mapped(headers.fields).get(name)
    return default if value is None else value.decode("utf-8", "surrogateescape")


def set_headers(headers: http.Headers, values: Mapping[str, str], drop: Iterable[str] = ()) -> None:
    """Set each of ``values`` (replacing a field of that name where it stands, else appending it) and remove the
    headers named in ``drop``, in one rebuild of the fields."""
    new = {name.lower().encode(): value.encode("utf-8", "surrogateescape") for name, value in values.items()}
    old = headers.fields
    present = _mapped(old)  # usually mapped already: the addon read this message just before
    gone = {lower for lower in (name.lower().encode() for name in drop) if lower in present}
    if not gone and present.keys().isdisjoint(new):  # the usual case: new fields, appended
        fields = old + tuple(new.items())
    else:
        placed: set[bytes] = set()
        rebuilt: list[tuple[bytes, bytes]] = []
        for key, value in old:
            lower = key.lower()
            if lower in gone or lower in placed:  # dropped, or a repeat of a field already set
                continue
            if lower in new:
                rebuilt.append((key, new[lower]))
                placed.add(lower)
            else:
                rebuilt.append((key, value))
        rebuilt.extend((name, value) for name, value in new.items() if name not in placed)
        fields = tuple(rebuilt)
    headers.fields = fields
    # the next hook reads this message again: its map follows from the old one, not from every field again
    mapped = {name: value for name, value in present.items() if name not in gone}
    mapped.update(new)
    _last.pair = (fields, mapped)


def replace_body(message: http.Message, body: bytes, headers: Mapping[str, str] | None = None) -> None:
    """``message.content = body`` with ``headers`` set, in one rewrite of the headers: ``content-length`` follows
    the body unless a ``transfer-encoding`` frames it, as mitmproxy's own setter does; an encoded body (gzip...)
    goes through that setter, which encodes it."""
    if header(message.headers, b"content-encoding") not in ("", "identity"):
        if headers:
            set_headers(message.headers, headers)
        message.content = body
        return
    message.raw_content = body
    framed = header(message.headers, b"transfer-encoding")
    set_headers(
        message.headers, {**(headers or {}), **({} if framed else {"content-length": str(len(body))})}
    )
