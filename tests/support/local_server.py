"""The lifecycle every test server on 127.0.0.1 shares: serve a handler class in a thread, stop, ``with``."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LocalServer:
    """Base of the test servers: ``start()`` builds the handler and calls ``serve``; ``stop()`` ends it."""

    _server: ThreadingHTTPServer | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> Self:
        """Listen on 127.0.0.1 at a free port, answering with ``handler`` in daemon threads."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # accept() never waits for ever: a connection gone between the poll and the accept would
        # otherwise hold serve_forever, and stop() with it, until another one arrives
        self._server.socket.settimeout(0.5)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def dripping_server(*, every: float, length: int) -> Iterator[int]:
    """A raw socket server on 127.0.0.1 that answers a status line, then one header byte every ``every``
    seconds (``length`` bytes in all): the server a per-call deadline must cut off. Yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * length:
                    if stop.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(every)
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()
