"""One upstream HTTP/1.1 answer, parsed as it arrives, so the proxy can judge it before the client sees it.

mitmproxy parses an upstream's answer itself and has no notion of a bad one: a body cut half way becomes its 502
page, a stream that stalls holds the client forever, a stream cut short reaches the client truncated. The
readers in ``proxy.addons.failover`` sit under mitmproxy and parse the same bytes first with httptools (llhttp,
the C parser behind uvicorn; judging an OpenAI answer with 18 headers takes about 10 us here, h11 took 140):

- a whole (non-streamed) answer is held until it is complete and, for a 2xx JSON answer, until it parses; a bad
  one never reaches mitmproxy, so a candidate's can still be replaced by the incumbent's;
- a stream is re-framed as chunked with whole SSE events only, so that whenever it has to end early (stall,
  reset, cut) it can end cleanly: one OpenAI error event, then the end of the body.
"""

from __future__ import annotations

import re
import time
from http import HTTPStatus

import httptools

from proxy import wire
from proxy.sse import SSEEvents

MAX_HEAD_BYTES = 64 * 1024


class BadAnswer(Exception):
    """The upstream's answer is broken (reset, cut, malformed HTTP or JSON); the message says how."""


class Head:
    """An answer's status line and headers, as the upstream wrote them. A header is found in the head's bytes
    when asked for (a few are, per answer); the fields are split into a list only if they are all wanted (a
    stream's head, re-framed)."""

    __slots__ = ("_block", "_fields", "_lower", "_named", "status_code")

    def __init__(self, status_code: int, block: bytes) -> None:
        self.status_code = status_code
        self._block = block  # the status line and the header lines, without the blank line that ends them
        self._lower = block.lower()  # ASCII lower-casing keeps every offset
        self._named: dict[bytes, str] = {}
        self._fields: tuple[bytes, list[tuple[bytes, bytes]]] | None = None

    def has(self, name: bytes) -> bool:
        """Whether a header ``name`` (lowercase) is present."""
        return self._lower.find(b"\n" + name + b":") >= 0

    def value(self, name: bytes) -> str:
        """Header ``name`` (lowercase), repeated fields joined with ``", "``; "" when absent."""
        found = self._named.get(name)
        if found is None:
            found = self._named[name] = self._find(name)
        return found

    def _find(self, name: bytes) -> str:
        # llhttp accepted this head: no space before a colon, no folded lines, so each field starts a line
        lower, needle = self._lower, b"\n" + name + b":"
        at = lower.find(needle)
        if at < 0:
            return ""
        values: list[bytes] = []
        while at >= 0:
            start = at + len(needle)
            end = lower.find(b"\n", start)
            end = len(lower) if end < 0 else end
            values.append(self._block[start:end].strip(b" \t\r"))
            at = lower.find(needle, end)
        return b", ".join(values).decode("latin-1")

    def _split(self) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        if self._fields is None:
            self._fields = _split_head(self._block)
        return self._fields

    @property
    def reason(self) -> bytes:
        return self._split()[0]

    @property
    def http_version(self) -> bytes:
        """``HTTP/1.1`` or ``HTTP/1.0``, as the status line says."""
        return self._block[:8]

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return self._split()[1]


class AnswerParser:
    """Feeds an upstream's bytes to httptools (llhttp, the parser behind uvicorn) and collects one response.

    llhttp judges the framing; the few headers the readers judge an answer by are then looked up in the bytes
    of the head it accepted (:class:`Head`), not split from it one by one (a callback per header line from C
    costs more than the answer's whole check). 1xx interim answers are skipped; bytes after the answer's end
    are not this answer's and are ignored."""

    def __init__(self) -> None:
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self.response: Head | None = None
        self.data: list[bytes] = []  # body bytes (de-chunked) not yet taken
        self.done = False
        self.first_body: float | None = None  # when the body's first byte came (``time.perf_counter``)
        self._head = bytearray()  # what came before the head's end
        self._delimited = False  # content-length or chunked: the body's end is marked, not the connection's

    def feed(self, chunk: bytes) -> None:
        """``chunk`` from the connection (``b""``: it closed). Raises :class:`BadAnswer` on a broken answer."""
        parser = self.parser
        if self.done or parser is None:
            return
        if not chunk:
            if self.response is not None and not self._delimited:
                self.done = True  # a body delimited by the connection's end
                return
            raise BadAnswer("connection closed before the answer was complete")
        if self.response is None:
            self._head += chunk
        try:
            parser.feed_data(chunk)
        except httptools.HttpParserUpgrade:
            raise BadAnswer("broken HTTP answer: an upgrade") from None
        except httptools.HttpParserError as exc:
            if not self.done:
                raise BadAnswer(f"broken HTTP answer: {exc}") from None
        if self.done:
            # The C parser holds our callbacks, so the two form a cycle; dropping it once the answer is complete
            # lets reference counting free both, not the cyclic collector (a walk per ~700 such objects).
            self.parser = None
        elif self.response is None and len(self._head) > MAX_HEAD_BYTES:
            raise BadAnswer(f"broken HTTP answer: head over {MAX_HEAD_BYTES} bytes")

    # --- httptools callbacks ----------------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        if self.done:
            return
        assert self.parser is not None  # called from its feed_data
        status = self.parser.get_status_code()
        start, end = _head_end(self._head)
        if 100 <= status < 200:
            del self._head[:end]  # the real answer follows
            return
        head = Head(status, bytes(self._head[:start]))
        self._head = bytearray()
        self._delimited = (
            status in (204, 304) or head.has(b"content-length") or head.has(b"transfer-encoding")
        )
        self.response = head

    def on_body(self, body: bytes) -> None:
        if not self.done:
            if self.first_body is None:
                self.first_body = time.perf_counter()
            self.data.append(body)

    def on_message_complete(self) -> None:
        if self.response is not None:
            self.done = True

    # ----------------------------------------------------------------------------------------------------

    @property
    def status(self) -> int:
        return self.response.status_code if self.response is not None else 0

    def header(self, name: bytes) -> str:
        """The answer's ``name`` header (lowercase), repeated fields joined with ``", "``; "" when absent."""
        return self.response.value(name) if self.response is not None else ""

    @property
    def delimited(self) -> bool:
        """The body's end is marked (content-length, chunked, or none by its status), not the connection's."""
        return self._delimited

    @property
    def is_stream(self) -> bool:
        return "text/event-stream" in self.header(b"content-type") and self.status < 400

    def take(self) -> bytes:
        data, self.data = b"".join(self.data), []
        return data

    def check_json(self) -> None:
        """A 2xx JSON answer must parse (an encoded body is left to the recorder)."""
        if not 200 <= self.status < 300 or "json" not in self.header(b"content-type"):
            return
        if self.header(b"content-encoding") not in ("", "identity"):
            return
        try:
            wire.loads(b"".join(self.data))
        except (ValueError, RecursionError):
            raise BadAnswer("malformed JSON answer") from None


class StreamReframer:
    """Re-emits a streamed answer as chunked HTTP/1.1 holding back partial SSE events, so it can end any time."""

    def __init__(self) -> None:
        self.events = SSEEvents()

    @staticmethod
    def head(response: Head) -> bytes:
        lines = [b"HTTP/1.1 %d %s" % (response.status_code, response.reason or b"OK")]
        for name, value in response.headers:
            if name.lower() not in (b"content-length", b"transfer-encoding"):
                lines.append(name + b": " + value)
        lines.append(b"transfer-encoding: chunked")
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def body(self, data: bytes) -> bytes:
        """The whole events ``data`` completes, chunked: the first in a chunk of its own. mitmproxy hands each
        chunk on as it parses it, and the hooks (the candidate's events rewritten) run per chunk: a burst of
        events read at once then reaches the app first event first, not once the last is rewritten."""
        first, rest = self.events.feed_first_apart(data)
        return chunk(first) + chunk(rest)

    def end(self) -> bytes:
        return chunk(self.events.flush()) + b"0\r\n\r\n"

    def fail(self, message: str) -> bytes:
        """Drop any partial event, send OpenAI's error event, end the body."""
        self.events = SSEEvents()
        return chunk(error_event(message)) + b"0\r\n\r\n"


def _head_end(data: bytearray) -> tuple[int, int]:
    """Where the head in ``data`` ends: its last line's end, and the first byte after the blank line (llhttp
    accepts CRLF line ends only)."""
    at = data.find(b"\r\n\r\n")
    return (at, at + 4) if at >= 0 else (len(data), len(data))


_LINE_END = re.compile(rb"\r?\n")


def _split_head(block: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The reason phrase and the header fields of a head llhttp accepted (its status line first; llhttp refuses
    folded lines)."""
    lines = _LINE_END.split(block)
    parts = lines[0].split(b" ", 2)
    reason = parts[2].strip() if len(parts) > 2 else b""
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name, value.strip(b" \t")))
    return reason, headers


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data) if data else b""


def error_event(message: str) -> bytes:
    payload = wire.error_object(message, status=500)
    return b"data: " + wire.dumps(payload) + b"\n\n"


def error_answer(status: int, message: str) -> bytes:
    """A whole OpenAI error answer, as raw HTTP/1.1 that ends the connection."""
    body = wire.error_bytes(message, status=status)
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nx-request-id: {wire.new_request_id()}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body
