"""An upstream on 127.0.0.1 serving checksum files (and the Node.js dist index), with faults.

``put(path, body, status=, delay=, headers=, fault=)`` sets what a path answers and returns
its URL. Faults, as a hostile or broken server behaves:

- ``"short"``: announces ``Content-Length`` for the whole body, sends half, closes;
- ``"chunked-cut"``: a chunked body whose connection closes before the last chunk;
- ``"drip-headers"`` / ``"drip-body"``: sends the headers (or the body) one byte every
  ``drip`` seconds (a slow-loris server: each read is fast, the whole never ends);
- ``"no-length"``: no ``Content-Length``, the body ends when the connection closes.

``hits[path]`` counts requests, ``connections`` TCP connections, ``peak_active`` the most
requests served at once; ``latency`` delays every answer.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.support.local_server import LocalServer


@dataclass
class Served:
    body: bytes = b""
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] | None = None
    fault: str = ""
    drip: float = 0.2


class Upstream(LocalServer):
    """Checksum files on http://127.0.0.1:PORT; ``files[path]`` is what each path answers."""

    def __init__(self, latency: float = 0.0) -> None:
        self.files: dict[str, Served] = {}
        self.hits: dict[str, int] = {}
        self.connections = 0
        self.active = 0
        self.peak_active = 0
        self.latency = latency
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def put(
        self,
        path: str,
        body: bytes | str,
        *,
        status: int = 200,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
        fault: str = "",
        drip: float = 0.2,
    ) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.files[path] = Served(data, status, delay, headers, fault, drip)
        return self.url + path

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.put(path, b"moved", status=status, headers={"Location": location})

    def start(self) -> Upstream:
        upstream = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with upstream.lock:
                    upstream.connections += 1

            def do_GET(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                with upstream.lock:
                    upstream.hits[path] = upstream.hits.get(path, 0) + 1
                    upstream.active += 1
                    upstream.peak_active = max(upstream.peak_active, upstream.active)
                try:
                    self._answer(path)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True
                finally:
                    with upstream.lock:
                        upstream.active -= 1

            def _drip(self, data: bytes, pause: float) -> None:
                for n in range(len(data)):
                    self.wfile.write(data[n : n + 1])
                    self.wfile.flush()
                    time.sleep(pause)

            def _answer(self, path: str) -> None:
                served = upstream.files.get(path, Served(b"not found", 404))
                if upstream.latency:
                    time.sleep(upstream.latency)
                if served.delay:
                    time.sleep(served.delay)
                body = served.body
                if served.fault == "drip-headers":
                    head = (
                        f"HTTP/1.1 {served.status} OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                        + "X-Pad: "
                        + "a" * 200
                        + "\r\n\r\n"
                    )
                    self._drip(head.encode(), served.drip)
                    self.wfile.write(body)
                    return
                self.send_response(served.status)
                self.send_header("Content-Type", "text/plain")
                if served.fault == "chunked-cut":
                    self.send_header("Transfer-Encoding", "chunked")
                elif served.fault == "no-length":
                    self.send_header("Connection", "close")
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(body)))
                for key, value in (served.headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if served.fault == "short":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif served.fault == "chunked-cut":
                    half = body[: len(body) // 2]
                    self.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif served.fault == "drip-body":
                    self._drip(body, served.drip)
                else:
                    self.wfile.write(body)

        return self.serve(_Handler)

    def nodejs_index(self, versions: list[tuple[str, str]]) -> str:
        """Serve ``/dist/index.json`` (newest first) and return the dist base URL."""
        self.put(
            "/dist/index.json", json.dumps([{"version": v, "date": d, "files": ["linux-x64"]} for v, d in versions])
        )
        return self.url + "/dist"
