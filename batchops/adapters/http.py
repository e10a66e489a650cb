"""The upstream fetcher: concurrent GETs of small files with deadlines a slow server cannot defeat.

:class:`Fetcher` (drift-monitor's checksum files and the Node.js dist index):

- a bounded worker pool, one keep-alive connection per worker and host, on the standard
  library's ``http.client`` (per request a fifth of a ``requests.Session`` call: what lets
  1,000 files go 20x faster than one after the other on a busy two-core runner);
- **deadlines** (:mod:`batchops.adapters.deadline`): ``timeout`` is the total for one file
  (connect, headers, body, redirects and the one retry), met by every socket operation, so a
  server that drips its headers or body a byte at a time is cut off on time, not reset per read.
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
  5xx, 0.2 s later, when the deadline leaves time for it (the policy :data:`RETRY`); a keep-alive
  connection the server had closed is reopened without counting.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from batchops import __version__
from batchops.adapters.deadline import Deadline, http_connection
from batchops.core.retry import Policy, stop_after_attempt, stop_after_delay, wait_exponential

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


class _Retryable(Exception):
    """A failed attempt worth one more (a connection error, a 5xx); the message is what the report says."""


def retry_policy(retries: int, deadline: Deadline) -> Policy[FetchResult]:
    """One retry after a connection error or a 5xx (0.2 s, doubling, at most 2 s), never past ``deadline``."""
    return Policy(
        stop=stop_after_attempt(retries + 1) | stop_after_delay(deadline.remaining()),
        wait=wait_exponential(base=0.2, cap=2.0),
        retry=lambda failure: isinstance(failure, _Retryable),
    )


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

    # -- connections ----------------------------------------------------------------------
    def _tls_context(self) -> Any:
        import ssl

        with self._lock:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            return self._tls

    def _connection(self, scheme: str, host: str, port: int, timeout: float) -> tuple[Any, bool]:
        """(connection, reused) for this thread; through the environment's proxy when one applies."""
        import urllib.request

        cache = getattr(self._local, "connections", None)
        if cache is None:
            cache = self._local.connections = {}
        key = (scheme, host, port)
        if key in cache:
            return cache[key], True
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
            conn: Any = http_connection("https", target_host, target_port, timeout=timeout, context=self._tls_context())
            conn.set_tunnel(host, port, headers=headers)
        elif scheme == "https":
            conn = http_connection("https", host, port, timeout=timeout, context=self._tls_context())
        else:
            conn = http_connection("http", target_host, target_port, timeout=timeout)
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

    # -- one attempt ----------------------------------------------------------------------
    def _get(self, url: str, limit: int, keep_body: bool, deadline: Deadline) -> FetchResult:
        """One attempt, following redirects, all of it within ``deadline`` (applied by the caller).

        Raises OSError/HTTPException for network trouble (TimeoutError once the deadline has
        passed), _Abort for a reason to stop now.
        """
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            parts = urlsplit(current)
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https"):
                raise _Abort("not fetched: a redirect led to a URL that is not http or https")
            host = parts.hostname or ""
            port = parts.port or (443 if scheme == "https" else 80)
            response = self._send(current, scheme, host, port, deadline)
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
                result = self._body(url, response, limit, keep_body, deadline)
                complete = result.error == ""
                return result
            finally:
                if not complete or response.will_close or deadline.expired():
                    self._drop(scheme, host, port)
        return FetchResult(url, error="too many redirects")

    def _send(self, url: str, scheme: str, host: str, port: int, deadline: Deadline) -> Any:
        """The request and the answer's status line and headers (a closed keep-alive connection reopened once)."""
        import http.client

        path = urlsplit(url)
        target_path = (path.path or "/") + (f"?{path.query}" if path.query else "")
        for fresh_try in (False, True):
            deadline.check()
            conn, reused = self._connection(scheme, host, port, self.timeout)
            try:
                conn.request(
                    "GET",
                    url if conn._batchops_proxy else target_path,
                    headers={
                        "User-Agent": USER_AGENT,
                        "Accept-Encoding": "identity",
                        **conn._batchops_proxy_headers,
                    },
                )
                return conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._drop(scheme, host, port)
                if deadline.expired():
                    raise TimeoutError from None
                if not reused or fresh_try:
                    raise
            except BaseException:
                self._drop(scheme, host, port)
                if deadline.expired():
                    raise TimeoutError from None
                raise
        raise AssertionError("unreachable: the second try returns or raises")

    @staticmethod
    def _body(url: str, response: Any, limit: int, keep_body: bool, deadline: Deadline) -> FetchResult:
        """The body, hashed as it arrives, complete or an error; the deadline checked between chunks."""
        import http.client

        declared_text = (response.getheader("Content-Length", "") or "").strip()
        declared = int(declared_text) if declared_text.isascii() and declared_text.isdigit() else None
        if declared is not None and declared > limit:
            return FetchResult(url, error=f"larger than the {limit} byte cap ({declared} bytes): not a checksum file")
        digest = hashlib.sha256()
        size = 0
        chunks: list[bytes] = []
        try:
            while chunk := response.read(65536):
                deadline.check()
                size += len(chunk)
                if size > limit:
                    return FetchResult(url, error=f"larger than the {limit} byte cap: not a checksum file")
                digest.update(chunk)
                if keep_body:
                    chunks.append(chunk)
        except http.client.IncompleteRead:
            if deadline.expired():
                raise TimeoutError from None
            raise _Abort("truncated: the connection closed before the end of the body") from None
        except OSError:
            if deadline.expired():
                raise TimeoutError from None
            raise
        deadline.check()
        if declared is not None and size != declared:
            raise _Abort(f"truncated: {size} of the {declared} bytes announced arrived before the connection closed")
        return FetchResult(url, digest.hexdigest(), size, body=b"".join(chunks) if keep_body else None)

    # -- one file ---------------------------------------------------------------------------
    def fetch(self, url: str, *, max_bytes: int | None = None, keep_body: bool = False) -> FetchResult:
        """GET ``url`` within ``timeout`` in total (and before the step's deadline)."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            return FetchResult(
                url, error=f"not fetched: only http and https URLs are checked, not {scheme or 'a relative URL'!r}"
            )
        deadline = Deadline(self.timeout, monotonic=monotonic)
        step_cut = self.step_deadline is not None and self.step_deadline < deadline.at
        if step_cut:
            deadline = Deadline.until(self.step_deadline, monotonic=monotonic)  # type: ignore[arg-type]
        if deadline.expired():
            return FetchResult(url, error=self._late())
        with deadline.applied():
            try:
                return retry_policy(self.retries, deadline).call(
                    lambda: self._attempt(url, limit, keep_body, deadline), sleep=sleep, monotonic=monotonic
                )
            except _Abort as exc:
                return FetchResult(url, error=str(exc))
            except TimeoutError:
                late = step_cut and deadline.remaining() <= 0.001
                return FetchResult(
                    url, error=self._late() if late else f"timed out: not complete within {self.timeout:g}s"
                )
            except _Retryable as exc:
                return FetchResult(url, error=str(exc))

    def _attempt(self, url: str, limit: int, keep_body: bool, deadline: Deadline) -> FetchResult:
        """One attempt as the retry policy sees it: a result, or _Retryable for a connection error or a 5xx."""
        import http.client

        try:
            result = self._get(url, limit, keep_body, deadline)
        except ConnectionRefusedError:
            raise _Retryable("network error: connection refused") from None
        except TimeoutError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            detail = " ".join(str(exc).split())[:200]  # whole in the report; the log shows a short form
            raise _Retryable(f"network error: {exc.__class__.__name__}" + (f" ({detail})" if detail else "")) from None
        if result.error.startswith("HTTP 5"):
            raise _Retryable(result.error)
        return result

    def _late(self) -> str:
        return "not fetched: the run's deadline passed before this download could complete"

    def fetch_all(self, urls: Sequence[str]) -> dict[str, FetchResult]:
        unique = list(dict.fromkeys(urls))
        if not unique:
            return {}
        with ThreadPoolExecutor(max_workers=min(self.workers, len(unique)), thread_name_prefix="drift-fetch") as pool:
            return dict(zip(unique, pool.map(self.fetch, unique), strict=True))
