"""The served path's header access on mitmproxy's raw fields agrees with mitmproxy's own ``Headers``."""

from __future__ import annotations

import gzip

from hypothesis import given
from hypothesis import strategies as st
from mitmproxy import http
from mitmproxy.test import tutils

from proxy.fields import header, replace_body, set_headers

NAMES = [b"Content-Type", b"content-type", b"Set-Cookie", b"Server", b"x-request-id", b"X-Note"]


def answer_headers() -> http.Headers:
    return http.Headers(
        [
            (b"Content-Type", b"application/json"),
            (b"Set-Cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
            (b"Server", b"uvicorn"),
            (b"X-Note", "caf\u00e9".encode()),
        ]
    )


def test_a_read_is_what_mitmproxy_reads() -> None:
    headers = answer_headers()
    for name in ("content-type", "set-cookie", "server", "x-note", "absent"):
        assert header(headers, name.encode(), "-") == headers.get(name, "-")
    assert header(headers, b"set-cookie") == "a=1, b=2"


def test_a_write_replaces_in_place_appends_and_drops_in_one_rewrite() -> None:
    headers = answer_headers()
    set_headers(headers, {"SET-COOKIE": "c=3", "x-request-id": "req_1"}, drop=["server"])
    assert headers.fields == (
        (b"Content-Type", b"application/json"),
        (b"Set-Cookie", b"c=3"),  # the first field of the name keeps its place, its repeat goes
        (b"X-Note", "caf\u00e9".encode()),
        (b"x-request-id", b"req_1"),
    )
    set_headers(headers, {"x-alveare-upstream": "incumbent"})
    assert headers.fields[-1] == (b"x-alveare-upstream", b"incumbent")


def test_a_new_body_sets_its_length_unless_chunked_and_encoded_bodies_are_encoded() -> None:
    plain = tutils.tresp(content=b"old")
    replace_body(plain, b'{"new": true}', {"content-type": "application/json"})
    assert plain.raw_content == b'{"new": true}' and plain.headers["content-length"] == "13"
    chunked = tutils.tresp(content=b"old")
    chunked.headers["transfer-encoding"] = "chunked"
    del chunked.headers["content-length"]
    replace_body(chunked, b"new")
    assert "content-length" not in chunked.headers
    zipped = tutils.tresp(content=b"")
    zipped.headers["content-encoding"] = "gzip"
    replace_body(zipped, b"new")
    assert gzip.decompress(zipped.raw_content or b"") == b"new"
    assert zipped.headers["content-length"] == str(len(zipped.raw_content or b""))


def test_a_read_after_a_write_sees_the_write() -> None:
    headers = answer_headers()
    assert header(headers, b"server") == "uvicorn"
    set_headers(headers, {"server": "openai"})
    assert header(headers, b"server") == "openai"
    headers["Server"] = "mitmproxy's own setter"
    assert header(headers, b"server") == "mitmproxy's own setter"


@given(
    st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from([b"1", b"x y", b""])), max_size=8),
    st.dictionaries(st.sampled_from([n.decode() for n in NAMES]), st.sampled_from(["v", "w w"]), max_size=3),
    st.lists(st.sampled_from([n.decode().upper() for n in NAMES]), max_size=2),
)
def test_a_read_after_a_write_is_what_mitmproxy_reads(
    fields: list[tuple[bytes, bytes]], values: dict[str, str], drop: list[str]
) -> None:
    headers = http.Headers(fields)
    header(headers, b"content-type")  # mapped before the write, as the addons' own reads leave it
    set_headers(headers, values, drop)
    fresh = http.Headers(headers.fields)  # mitmproxy's reading of the rewritten fields
    for name in NAMES:
        assert header(headers, name.lower(), "-") == fresh.get(name.decode(), "-")
