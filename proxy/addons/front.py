"""Front: what arrives at the proxy's door is checked before any addon trusts it.

- The chat path is recognised in every spelling a router might accept (``/v1//chat/completions``,
  ``/V1/Chat/Completions/``, ``/v1/chat%2Fcompletions``) and rewritten to ``/v1/chat/completions``: every variant
  is authenticated, validated, split and recorded, none slips through to the incumbent unchecked.
- A chat request body is never streamed: it is read whole (up to ``max_body_bytes``, then a 413) so our checks
  see it. Other bodies (file uploads, downloads) stream past the proxy beyond ``STREAM_ABOVE`` bytes, as
  mitmproxy's ``stream_large_bodies`` did for every path (it would also stream a large chat body straight to
  the incumbent, past every check, so it is off).
- A request line over ``MAX_TARGET_BYTES`` gets 414, a head over ``MAX_HEAD_BYTES`` gets 431 (the limits of the
  CDN in front of api.openai.com), an HTTP/2 preface gets 505, a TLS ClientHello on the plain port a TLS alert.

The answers mitmproxy makes itself (upstream unreachable, a malformed or smuggling request, an oversize body) are
OpenAI's JSON too: :func:`install_error_pages` replaces its HTML error page, the one boundary where its text
would reach a client. Nothing internal is shown; the original message is logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from mitmproxy import http
from mitmproxy.net.http import http1
from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy import commands, events, layer

from proxy import mitm_internals, wire
from proxy.addons.route import CHAT_PATH, error_response
from proxy.fields import header
from proxy.runtime import METADATA_KEY, FlowInfo, flow_info

log = logging.getLogger(__name__)
STREAM_ABOVE = 1024 * 1024
MAX_TARGET_BYTES = 16 * 1024
MAX_HEAD_BYTES = 32 * 1024
# A fatal TLS alert (handshake_failure): the plain port speaks no TLS, and says so at once instead of hanging.
TLS_ALERT = bytes([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28])
_SLASHES = re.compile(r"/{2,}")
# What the client is told for the errors mitmproxy raises itself; its own text may name internals.
PUBLIC_MESSAGES = {
    400: "We could not parse your HTTP request. Please check its request line, headers and framing.",
    413: "Request body too large.",
    414: f"Request line too long: the limit is {MAX_TARGET_BYTES} bytes.",
    431: f"Request headers too large: the limit is {MAX_HEAD_BYTES} bytes.",
    502: "The upstream server could not be reached or gave an invalid answer. Please retry your request.",
    504: "The upstream server did not answer in time. Please retry your request.",
}


def chat_path_variant(path: str) -> str | None:
    """The canonical chat path plus query when ``path`` is one of its spellings, else None."""
    if path == CHAT_PATH:
        return path  # the usual spelling, without unquoting
    target, sep, query = path.partition("?")
    folded = _SLASHES.sub("/", unquote(target)).rstrip("/").lower()
    if folded != CHAT_PATH:
        return None
    return CHAT_PATH + sep + query


def _content_length(headers: http.Headers) -> int | None:
    value = header(headers, b"content-length")
    return int(value) if value.isdigit() else None


def _head_size(request: http.Request) -> int:
    return sum(len(k) + len(v) + 4 for k, v in request.headers.fields) + len(request.path) + 32


def proxy_error(status: int, message: str | None = None) -> http.Response:
    text = message or PUBLIC_MESSAGES.get(status) or HTTPStatus(status).phrase
    return error_response(status, wire.error_bytes(text, status=status), {"connection": "close"})


class RefuseTLS(layer.Layer):
    """The layer for a TLS ClientHello on the plain port: one alert, then close."""

    def _handle_event(self, event: events.Event) -> Generator[commands.Command, Any, None]:
        if isinstance(event, events.Start):
            yield commands.SendData(self.context.client, TLS_ALERT)
            yield commands.CloseConnection(self.context.client)


class Front:
    def next_layer(self, nextlayer: Any) -> None:
        if starts_like_tls_record(nextlayer.data_client()):
            nextlayer.layer = RefuseTLS(nextlayer.context)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        request = flow.request
        refusal = self._refusal(request)
        if refusal is not None:
            request.stream = False
            flow.response = refusal
            return
        canonical = chat_path_variant(request.path)
        flow_info(flow).chat = canonical is not None  # judged here once, for the hooks after this one
        if canonical is not None:
            request.path = canonical
            request.stream = False  # read whole: our checks need every byte, and nothing goes out before them
        else:
            length = _content_length(request.headers)
            request.stream = length is not None and length > STREAM_ABOVE

    @staticmethod
    def _refusal(request: http.Request) -> http.Response | None:
        if request.method.upper() == "PRI" or request.http_version == "HTTP/2.0":
            return proxy_error(505, "HTTP/2 without TLS (prior knowledge) is not supported: use HTTP/1.1.")
        if len(request.path) > MAX_TARGET_BYTES:
            return proxy_error(414)
        if _head_size(request) > MAX_HEAD_BYTES:
            return proxy_error(431)
        return None

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        info: FlowInfo | None = flow.metadata.get(METADATA_KEY)
        response = flow.response
        if response is None or response.stream or (info is not None and info.split):
            return  # split answers are read whole: they are normalised and recorded
        length = _content_length(response.headers)
        response.stream = length is not None and length > STREAM_ABOVE


def _error_page(status_code: int, message: str = "") -> bytes:
    """Stands in for mitmproxy's HTML error page."""
    log.warning("proxy answered %s itself: %s", status_code, message)
    page: bytes = http1.assemble_response(proxy_error(status_code))
    return page


def _refuse_head(head: bytes) -> bytes:
    """414 while the request line itself is still unfinished, else 431."""
    return _error_page(
        414 if b"\n" not in head[: MAX_TARGET_BYTES + 64] else 431, "request head over the limit"
    )


def install_error_pages() -> None:
    """Make mitmproxy's own answers OpenAI-shaped and its request heads bounded (idempotent)."""
    mitm_internals.replace_error_page(_error_page)
    mitm_internals.bound_request_heads(MAX_HEAD_BYTES, _refuse_head)
