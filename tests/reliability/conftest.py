"""Fixtures for the reliability suite: the real proxy (tests/proxy/conftest.py) and raw-socket clients, since a
bad request is exactly what an SDK will not send."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.proxy.conftest import proxy_factory

__all__ = ["proxy_factory"]


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes


def raw_exchange(url: str, data: bytes, timeout: float = 10.0) -> RawAnswer:
    """Send ``data`` as is; read until the first answer is complete (content-length) or the connection closes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout) as sock:
        sock.sendall(data)
        raw = _read_answer(sock, time.monotonic() + timeout)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines[0].startswith("HTTP/") else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return RawAnswer(status, headers, body, raw)


def _read_answer(sock: socket.socket, deadline: float) -> bytes:
    raw = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        raw += chunk
        head, sep, body = raw.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        if sep and length is not None and len(body) >= length:
            return raw[: len(head) + 4 + length]
    return raw


def http_request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    fields = {
        "host": "proxy",
        "content-type": "application/json",
        "content-length": str(len(body)),
        **(headers or {}),
    }
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    return head.encode("latin-1") + body


class CountingListener:
    """A TCP port that accepts and counts connections, then closes them: where an upstream must never be
    called, any call shows up here."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def counting_listener() -> Iterator[CountingListener]:
    listener = CountingListener()
    yield listener
    listener.close()
