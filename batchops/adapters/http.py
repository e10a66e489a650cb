"""The upstream fetcher: concurrent GETs of small files with deadlines a slow server cannot defeat.

:class:`Fetcher` (drift-monitor's checksum files and the Node.js dist index):

- a bounded worker pool, one keep-alive connection per worker and host, on the standard
  library's ``http.client`` (per request a fifth of a ``requests.Session`` call: what lets
  1,000 files go 20x faster than one after the other on a busy two-core runner);
- **deadlines**: ``timeout`` is the total for one file (connect, headers, body, redirects
  and the one retry); a watchdog thread shuts the socket down when it passes, so a server
  that drips its headers or body a byte at a time is cut off on time, not reset per read.
  ``step_deadline`` (a ``monotonic()`` instant) bounds the whole run: no download starts
  after it and none runs past it; what it stopped is reported, not hashed;
- **complete bodies only**: a body shorter than its ``Content-Length``, a chunked body cut
  off, a connection closed early or a download stopped by a deadline is an error
  (``unverifiable`` for drift-monitor), never a checksum. (A body sent without a length
  ends when the connection closes: HTTP gives no way to tell it was cut.)
- **caps**: ``max_bytes`` per body (4 MiB by default; 32 MiB for the Node.js index), checked
  on ``Content-Length`` and while reading;
- only http and https, also after redirects (at most 5); TLS verified with the system's CA
  store; ``HTTP(S)_PROXY``/``NO_PROXY`` honoured; one retry after a connection error or a
  5xx (a keep-alive connection the server had closed is reopened without counting).
"""

from __future__ import annotations

import hashlib
import heapq
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from batchops import __version__
from batchops.core.backoff import exponential

DEFAULT_CONCURRENCY = 64  # checksum files are tiny: the run is latency-bound
DEFAULT_TIMEOUT = 30.0
MAX_BYTES = 4 * 1024 * 1024  # a checksum file is a few KiB; anything above 4 MiB is not one
USER_AGENT = f"batchops/{__version__} (drift-monitor)"

_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 5

monotonic = time.monotonic  # injectable for tests
sleep = time.sleep


@dataclass(frozen=True)
class FetchResult:
    url: str
    sha256: str | None = None
    size: int = 0
    error: str = ""
    body: bytes | None = None


class _Abort(Exception):
    """A download that must stop now (cap, deadline, bad redirect, short body); the message is the reason."""


class _Watch:
    __slots__ = ("at", "conn", "expired", "done")

    def __init__(self, at: float, conn: Any) -> None:
        self.at = at
        self.conn = conn
        self.expired = False
        self.done = False

    def __lt__(self, other: _Watch) -> bool:
        return self.at < other.at


class _Watchdog:
    """One thread that shuts down the socket of every request whose deadline has passed."""

    def __init__(self) -> None:
        self._heap: list[_Watch] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def watch(self, at: float, conn: Any) -> _Watch:
        entry = _Watch(at, conn)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="drift-deadline", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, entry)
            self._cond.notify()
        return entry

    def release(self, entry: _Watch) -> None:
        with self._cond:
            entry.done = True

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                while self._heap and self._heap[0].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0].at - monotonic()
                if wait > 0:
                    self._cond.wait(min(wait, 0.5))
                    continue
                entry = heapq.heappop(self._heap)
                if entry.done:
                    continue
                entry.expired = True
                sock = getattr(entry.conn, "sock", None)
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()


class Fetcher:
    """Concurrent GETs of small files (see the module docstring)."""

    def __init__(
        self,
        *,
        workers: int = DEFAULT_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = MAX_BYTES,
        retries: int = 1,
        step_deadline: float | None = None,
    ) -> None:
        self.workers = max(1, workers)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.retries = retries
        self.step_deadline = step_deadline
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Any] = []
        self._tls: Any = None
        self._watchdog = _Watchdog()

    # -- connections ----------------------------------------------------------------------
    def _tls_context(self) -> Any:
        import ssl

        with self._lock:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            return self._tls

    def _connection(self, scheme: str, host: str, port: int, timeout: float) -> tuple[Any, bool]:
        """(connection, reused) for this thread; through the environment's proxy when one applies."""
        import http.client
        import urllib.request

        cache = getattr(self._local, "connections", None)
        if cache is None:
            cache = self._local.connections = {}
        key = (scheme, host, port)
        if key in cache:
            cached: Any = cache[key]
            if cached.sock is not None:
                cached.sock.settimeout(timeout)
            return cached, True
        proxy = "" if urllib.request.proxy_bypass(host) else urllib.request.getproxies().get(scheme, "")
        headers: dict[str, str] = {}
        target_host, target_port = host, port
        if proxy:
            parsed = urlsplit(proxy if "://" in proxy else "http://" + proxy)
            target_host, target_port = parsed.hostname or "", parsed.port or 80
            if parsed.username:
                import base64

                token = base64.b64encode(f"{parsed.username}:{parsed.password or ''}".encode()).decode()
                headers["Proxy-Authorization"] = f"Basic {token}"
        if scheme == "https" and proxy:
            conn: Any = http.client.HTTPSConnection(target_host, target_port, timeout=timeout, context=self._tls_context())
            conn.set_tunnel(host, port, headers=headers)
        elif scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._tls_context())
        else:
            conn = http.client.HTTPConnection(target_host, target_port, timeout=timeout)
        conn._batchops_proxy = bool(proxy) and scheme == "http"  # absolute-form request line
        conn._batchops_proxy_headers = headers if scheme == "http" else {}
        cache[key] = conn
        with self._lock:
            self._all.append(conn)
        return conn, False

    def _drop(self, scheme: str, host: str, port: int) -> None:
        conn = getattr(self._local, "connections", {}).pop((scheme, host, port), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._watchdog.close()

    # -- one attempt ----------------------------------------------------------------------
    def _get(self, url: str, limit: int, keep_body: bool, deadline: float) -> FetchResult:
        """One attempt, following redirects, all of it before ``deadline``.

        Raises OSError/HTTPException for network trouble, _Abort for a reason to stop now.
        """
        import http.client

        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            parts = urlsplit(current)
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https"):
                raise _Abort("not fetched: a redirect led to a URL that is not http or https")
            host = parts.hostname or ""
            port = parts.port or (443 if scheme == "https" else 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            for fresh_try in (False, True):
                remaining = deadline - monotonic()
                if remaining <= 0:
                    raise TimeoutError
                conn, reused = self._connection(scheme, host, port, remaining)
                watch = self._watchdog.watch(deadline, conn)
                target = current if conn._batchops_proxy else path
                try:
                    conn.request("GET", target, headers={
                        "User-Agent": USER_AGENT,
                        "Accept-Encoding": "identity",
                        **conn._batchops_proxy_headers,
                    })
                    response = conn.getresponse()
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    self._watchdog.release(watch)
                    self._drop(scheme, host, port)
                    if watch.expired:
                        raise TimeoutError from None
                    if not reused or fresh_try:
                        raise
                except BaseException:
                    self._watchdog.release(watch)
                    self._drop(scheme, host, port)
                    if watch.expired:
                        raise TimeoutError from None
                    raise
            complete = False
            try:
                if response.status in _REDIRECTS and response.getheader("Location"):
                    response.read(65536)
                    complete = response.isclosed()
                    current = urljoin(current, response.getheader("Location", ""))
                    continue
                if response.status != 200:
                    response.read(65536)
                    complete = response.isclosed()
                    return FetchResult(url, error=f"HTTP {response.status} from upstream")
                declared_text = (response.getheader("Content-Length", "") or "").strip()
                declared = int(declared_text) if declared_text.isascii() and declared_text.isdigit() else None
                if declared is not None and declared > limit:
                    return FetchResult(url, error=f"larger than the {limit} byte cap ({declared} bytes): not a checksum file")
                digest = hashlib.sha256()
                size = 0
                chunks: list[bytes] = []
                try:
                    while True:
                        chunk = response.read(65536)
                        if not chunk:
                            break
                        size += len(chunk)
                        if size > limit:
                            return FetchResult(url, error=f"larger than the {limit} byte cap: not a checksum file")
                        digest.update(chunk)
                        if keep_body:
                            chunks.append(chunk)
                except http.client.IncompleteRead:
                    if watch.expired:
                        raise TimeoutError from None
                    raise _Abort("truncated: the connection closed before the end of the body") from None
                except OSError:
                    if watch.expired:
                        raise TimeoutError from None
                    raise
                if watch.expired:
                    raise TimeoutError
                if declared is not None and size != declared:
                    raise _Abort(f"truncated: {size} of the {declared} bytes announced arrived before the connection closed")
                complete = True
                return FetchResult(url, digest.hexdigest(), size, body=b"".join(chunks) if keep_body else None)
            finally:
                self._watchdog.release(watch)
                if not complete or response.will_close or watch.expired:
                    self._drop(scheme, host, port)
        return FetchResult(url, error="too many redirects")

    # -- one file ---------------------------------------------------------------------------
    def fetch(self, url: str, *, max_bytes: int | None = None, keep_body: bool = False) -> FetchResult:
        """GET ``url`` within ``timeout`` in total (and before the step's deadline)."""
        import http.client

        limit = self.max_bytes if max_bytes is None else max_bytes
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            return FetchResult(url, error=f"not fetched: only http and https URLs are checked, not {scheme or 'a relative URL'!r}")
        start = monotonic()
        deadline = start + self.timeout
        step_cut = self.step_deadline is not None and self.step_deadline < deadline
        if self.step_deadline is not None:
            deadline = min(deadline, self.step_deadline)
        if deadline <= start:
            return FetchResult(url, error=self._late())
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                pause = exponential(attempt, 0.2, 2.0)
                if monotonic() + pause >= deadline:
                    break
                sleep(pause)
            try:
                result = self._get(url, limit, keep_body, deadline)
            except _Abort as exc:
                return FetchResult(url, error=str(exc))
            except TimeoutError:
                error = self._late() if step_cut and monotonic() >= deadline - 0.001 else f"timed out: not complete within {self.timeout:g}s"
                break
            except ConnectionRefusedError:
                error = "network error: connection refused"
                continue
            except (OSError, http.client.HTTPException, ValueError) as exc:
                detail = " ".join(str(exc).split())[:200]  # whole in the report; the log shows a short form
                error = f"network error: {exc.__class__.__name__}" + (f" ({detail})" if detail else "")
                continue
            if result.error.startswith("HTTP 5"):
                error = result.error
                continue
            return result
        return FetchResult(url, error=error)

    def _late(self) -> str:
        return "not fetched: the run's deadline passed before this download could complete"

    def fetch_all(self, urls: Sequence[str]) -> dict[str, FetchResult]:
        unique = list(dict.fromkeys(urls))
        if not unique:
            return {}
        with ThreadPoolExecutor(max_workers=min(self.workers, len(unique)), thread_name_prefix="drift-fetch") as pool:
            return dict(zip(unique, pool.map(self.fetch, unique), strict=True))
