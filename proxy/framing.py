"""One upstream HTTP/1.1 answer, parsed as it arrives, so the proxy can judge it before the client sees it.

mitmproxy parses an upstream's answer itself and has no notion of a bad one: a body cut half way becomes its 502
page, a stream that stalls holds the client forever, a stream cut short reaches the client truncated. The
readers in ``proxy.addons.failover`` sit under mitmproxy and parse the same bytes first with h11 (the parser
behind httpx's HTTP/1.1):

- a whole (non-streamed) answer is held until it is complete and, for a 2xx JSON answer, until it parses; a bad
  one never reaches mitmproxy, so a candidate's can still be replaced by the incumbent's;
- a stream is re-framed as chunked with whole SSE events only, so that whenever it has to end early (stall,
  reset, cut) it can end cleanly: one OpenAI error event, then the end of the body.
"""

from __future__ import annotations

import json
from http import HTTPStatus

import h11

from proxy import wire
from proxy.sse import SSEEvents

MAX_HEAD_BYTES = 64 * 1024


class BadAnswer(Exception):
    """The upstream's answer is broken (reset, cut, malformed HTTP or JSON); the message says how."""


class AnswerParser:
    """Feeds an upstream's bytes to h11 (as the client of one request) and collects one response."""

    def __init__(self) -> None:
        self.conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.conn.send(
            h11.Request(method="POST", target="/", headers=[("host", "upstream"), ("content-length", "0")])
        )
        self.conn.send(h11.EndOfMessage())
        self.response: h11.Response | None = None
        self.data: list[bytes] = []  # body bytes (de-chunked) not yet taken
        self.done = False

    def feed(self, chunk: bytes) -> None:
        """``chunk`` from the connection (``b""``: it closed). Raises :class:`BadAnswer` on a broken answer."""
        try:
            self.conn.receive_data(chunk)
            self._events()
        except h11.RemoteProtocolError as exc:
            raise BadAnswer(f"broken HTTP answer: {exc}") from None
        if not chunk and not self.done:
            raise BadAnswer("connection closed before the answer was complete")

    def _events(self) -> None:
        while not self.done:
            event = self.conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Response):
                self.response = event
            elif isinstance(event, h11.Data):
                self.data.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self.done = True
            elif isinstance(event, h11.ConnectionClosed):
                raise BadAnswer("connection closed before the answer was complete")

    @property
    def status(self) -> int:
        return self.response.status_code if self.response is not None else 0

    def header(self, name: bytes) -> str:
        if self.response is None:
            return ""
        return ", ".join(v.decode("latin-1") for k, v in self.response.headers if k == name)

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
            json.loads(b"".join(self.data))
        except (ValueError, RecursionError):
            raise BadAnswer("malformed JSON answer") from None


class StreamReframer:
    """Re-emits a streamed answer as chunked HTTP/1.1 holding back partial SSE events, so it can end any time."""

    def __init__(self) -> None:
        self.events = SSEEvents()

    @staticmethod
    def head(response: h11.Response) -> bytes:
        lines = [b"HTTP/1.1 %d %s" % (response.status_code, response.reason or b"OK")]
        for name, value in response.headers.raw_items():
            if name.lower() not in (b"content-length", b"transfer-encoding"):
                lines.append(name + b": " + value)
        lines.append(b"transfer-encoding: chunked")
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def body(self, data: bytes) -> bytes:
        return chunk(b"".join(self.events.feed(data)))

    def end(self) -> bytes:
        return chunk(self.events.flush()) + b"0\r\n\r\n"

    def fail(self, message: str) -> bytes:
        """Drop any partial event, send OpenAI's error event, end the body."""
        self.events = SSEEvents()
        return chunk(error_event(message)) + b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data) if data else b""


def error_event(message: str) -> bytes:
    payload = wire.error_object(message, status=500)
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def error_answer(status: int, message: str) -> bytes:
    """A whole OpenAI error answer, as raw HTTP/1.1 that ends the connection."""
    body = wire.error_bytes(message, status=status)
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nx-request-id: {wire.new_request_id()}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body
