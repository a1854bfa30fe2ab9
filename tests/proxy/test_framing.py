"""AnswerParser: llhttp frames the answer, its headers are looked up in the head; what readers judge it by."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.framing import AnswerParser, BadAnswer, StreamReframer

ANSWER = (
    b"HTTP/1.1 200 All Good\r\n"
    b"Content-Type: application/json\r\n"
    b"X-Multi: a\r\n"
    b"x-multi: b\r\n"
    b"X-Spaced: \t padded \t\r\n"
    b"Content-Length: 11\r\n"
    b"\r\n"
    b'{"ok":true}'
)


def fed(parts: list[bytes]) -> AnswerParser:
    parser = AnswerParser()
    for part in parts:
        parser.feed(part)
    return parser


@pytest.mark.parametrize("cut", [1, 17, 40, len(ANSWER) - 12, len(ANSWER) - 1])
def test_a_head_split_across_reads_is_the_same_head(cut: int) -> None:
    whole = fed([ANSWER])
    split = fed([ANSWER[:cut], ANSWER[cut:]])
    for parser in (whole, split):
        assert parser.done and parser.status == 200
        assert parser.response is not None and parser.response.reason == b"All Good"
        assert parser.response.headers == [
            (b"Content-Type", b"application/json"),
            (b"X-Multi", b"a"),
            (b"x-multi", b"b"),
            (b"X-Spaced", b"padded"),
            (b"Content-Length", b"11"),
        ]
        assert parser.header(b"x-multi") == "a, b" and parser.header(b"content-type") == "application/json"
        parser.check_json()
        assert parser.header(b"absent") == "" and parser.take() == b'{"ok":true}'


def test_interim_answers_are_skipped_and_bytes_after_the_answer_ignored() -> None:
    interim = b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
    parser = fed([interim[:10], interim[10:] + ANSWER[:30], ANSWER[30:] + b"HTTP/1.1 200 OK\r\n"])
    assert parser.done and parser.status == 200 and parser.header(b"x-interim") == ""
    assert parser.response is not None and parser.response.headers[0] == (
        b"Content-Type",
        b"application/json",
    )


def test_a_stream_head_is_reframed_chunked_with_its_headers() -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 99\r\nx-a: 1\r\n\r\n"
    parser = fed([head + b"data: {}\n\n"])
    assert parser.is_stream and parser.response is not None
    reframed = StreamReframer.head(parser.response)
    assert reframed == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-a: 1\r\ntransfer-encoding: chunked\r\n\r\n"
    )


def test_broken_answers_raise() -> None:
    with pytest.raises(BadAnswer, match="connection closed"):
        fed([ANSWER[:50], b""])
    with pytest.raises(BadAnswer, match="broken HTTP answer"):
        fed([b"HTTP/1.1 2OO OK\r\n\r\n"])
    with pytest.raises(BadAnswer, match="malformed JSON"):
        fed([ANSWER.replace(b'{"ok":true}', b'{"ok":tru}')]).check_json()
    with pytest.raises(BadAnswer, match="broken HTTP answer"):  # obsolete line folding: llhttp refuses it
        fed([b"HTTP/1.1 200 OK\r\nx-a: 1\r\n  2\r\ncontent-length: 0\r\n\r\n"])
    with pytest.raises(BadAnswer, match="head over"):
        fed([b"HTTP/1.1 200 OK\r\n" + b"x-big: " + b"a" * 70_000])


def test_headers_are_found_by_name_in_any_case_and_the_body_is_not_the_head() -> None:
    """A header is looked up in the head's bytes: any case, repeats joined, padding stripped; a body that looks
    like header lines (or holds a blank line) is not read as the head."""
    head = b"\r\n".join(
        [
            b"HTTP/1.1 200 OK",
            b"CONTENT-TYPE:text/plain",
            b"X-Rep: 1 ",
            b"x-rep:\t2",
            b"Content-Length: 30",
            b"",
        ]
    )
    body = b"\r\n\r\nx-rep: 3\r\nx-late: 4\r\n\r\n"
    parser = fed([head + b"\r\n" + body.ljust(30, b"z")])
    assert parser.done and parser.take() == body.ljust(30, b"z")
    assert parser.header(b"content-type") == "text/plain" and parser.header(b"x-rep") == "1, 2"
    assert parser.header(b"x-late") == "" and parser.header(b"content-length") == "30"
    assert parser.response is not None and parser.response.headers[-1] == (b"Content-Length", b"30")


_NAMES = st.sampled_from(
    [b"Content-Type", b"content-encoding", b"X-Rep", b"x-rep", b"Set-Cookie", b"x-content-type", b"Type"]
)
_VALUES = st.binary(max_size=12).map(lambda v: bytes(b for b in v if 0x20 <= b < 0x7F or b == 0x09))


@settings(max_examples=200, deadline=None)
@given(fields=st.lists(st.tuples(_NAMES, _VALUES, st.sampled_from([b"", b" ", b" \t"])), max_size=8))
def test_a_header_found_in_the_head_is_the_split_fields_joined(
    fields: list[tuple[bytes, bytes, bytes]],
) -> None:
    """Looking a header up in the head's bytes gives what splitting every field and joining the repeats gives
    (llhttp decides what a field is; names that end another name, like ``x-content-type``, are not matched)."""
    lines = [b"HTTP/1.1 200 OK"] + [name + b":" + pad + value + pad for name, value, pad in fields]
    parser = AnswerParser()
    try:
        parser.feed(b"\r\n".join(lines) + b"\r\ncontent-length: 0\r\n\r\n")
    except BadAnswer:
        return  # a head llhttp refuses is never looked into
    assert parser.done and parser.response is not None
    split: dict[bytes, list[bytes]] = {}
    for name, value in parser.response.headers:
        split.setdefault(name.lower(), []).append(value)
    for name in {n.lower() for n, _, _ in fields} | {b"absent"}:
        assert parser.header(name) == b", ".join(split.get(name, [])).decode("latin-1")
