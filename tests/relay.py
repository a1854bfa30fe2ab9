"""A TCP relay the test controls, to cut a real server off (PostgreSQL, Redis) and bring it back.

``Relay(port).start()`` listens on 127.0.0.1 and forwards each connection to ``127.0.0.1:port``. ``cut()`` closes
every open connection and refuses new ones (a database that went away); ``restore()`` forwards again.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class Relay:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.open = True
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="relay", daemon=True)

    def start(self) -> Relay:
        self._thread.start()
        return self

    def url_port(self) -> int:
        return self.port

    def cut(self) -> None:
        self.open = False
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        self.open = True

    def stop(self) -> None:
        self._stopped.set()
        self.cut()
        _close(self.listener)
        self._thread.join(5)

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.open:
                _close(client)  # refused: the peer sees the connection closed at once
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, one: socket.socket, two: socket.socket) -> None:
        peers = {one: two, two: one}
        with selectors.DefaultSelector() as selector:
            for sock in peers:  # blocking sockets: select says when to read, sendall may wait for the peer
                sock.settimeout(None)
                selector.register(sock, selectors.EVENT_READ)
            while not self._stopped.is_set():
                try:
                    events = selector.select(timeout=0.2)
                    for key, _ in events:
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            raise OSError("closed")
                        peers[key.fileobj].sendall(data)  # type: ignore[index]
                except (OSError, ValueError):
                    break
        for sock in peers:
            _close(sock)
        with self._lock:
            self._sockets.difference_update(peers)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
