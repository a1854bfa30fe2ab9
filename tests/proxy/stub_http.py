"""What the tests' own HTTP/1.1 stand-ins (``http.server`` handlers) share."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A kept-alive HTTP/1.1 handler that logs nothing; :meth:`answer` sends a whole 200."""

    protocol_version = "HTTP/1.1"

    def answer(self, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass
