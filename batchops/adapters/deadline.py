"""One deadline for every outbound call: a total time budget that every socket operation meets.

Upstream downloads, telemetry, the GitHub API and chat webhooks all bound a call the same way::

    deadline = Deadline(10.0)                       # ten seconds from now, for all of the call
    with deadline.applied():                        # sockets of batchops' HTTP connections meet it
        reply = session.get(url, timeout=deadline.timeouts(connect=5.0), stream=True)
        for chunk in reply.iter_content(65536):
            deadline.check()                        # between chunks (and between attempts)

- :class:`Deadline` is the value: a monotonic instant, :meth:`~Deadline.remaining`,
  :meth:`~Deadline.timeout` (what the next socket operation may take: what is left, at most its own
  timeout), :meth:`~Deadline.check`, :meth:`~Deadline.extend` (a wait the far side asked for).
- Within :meth:`Deadline.applied`, each operation on a socket that batchops' connections opened
  (connect, every send, every receive) gets that timeout, and once nothing is left it raises
  :class:`DeadlineExceeded` (a ``TimeoutError``) at once. A server that drips its headers or body a
  byte at a time is cut off when the deadline passes, not reset by each byte; no watchdog thread,
  no call abandoned on a thread, no library's private class patched.
- The connections: :func:`http_connection` (``http.client``, the upstream fetcher) and
  :func:`session` (``requests``: telemetry, webhooks, and the GitHub client, which hands it to
  PyGithub through its public ``Requester.injectConnectionClasses``). Both build public classes
  of their library (``HTTPConnection.connect``, urllib3's ``ConnectionCls``, requests'
  ``HTTPAdapter.init_poolmanager``) and only wrap the socket once it is connected.

The current deadline is a context variable: each thread (each worker of the fetcher's pool) has
its own, and a socket outside any :meth:`~Deadline.applied` block keeps its plain timeouts.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_current: ContextVar[Deadline | None] = ContextVar("batchops_deadline", default=None)


class DeadlineExceeded(TimeoutError):
    """The call's deadline passed: the socket operation was not even started."""


class Deadline:
    """A total time budget for one call, measured on ``monotonic`` (injectable for tests)."""

    __slots__ = ("at", "extended", "monotonic", "seconds")

    def __init__(self, seconds: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.seconds = float(seconds)
        self.monotonic = monotonic
        self.at = monotonic() + self.seconds
        self.extended = 0.0  # seconds added by extend()

    @classmethod
    def until(cls, instant: float, *, monotonic: Callable[[], float] = time.monotonic) -> Deadline:
        """The deadline at ``instant`` (a value of ``monotonic``)."""
        return cls(instant - monotonic(), monotonic=monotonic)

    def remaining(self) -> float:
        return self.at - self.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def check(self) -> None:
        """Raise :class:`DeadlineExceeded` once the deadline has passed (between chunks, between attempts)."""
        if self.expired():
            raise DeadlineExceeded(f"not complete within {self.seconds:g}s")

    def allows(self, pause: float) -> bool:
        """Whether waiting ``pause`` seconds still leaves time for another attempt."""
        return pause < self.remaining()

    def extend(self, seconds: float) -> None:
        """Move the deadline ``seconds`` later (a wait the far side asked for, which is not an outage)."""
        self.at += seconds
        self.seconds += seconds
        self.extended += seconds

    def timeout(self, per_operation: float | None = None) -> float:
        """The timeout of the next socket operation: what is left, at most ``per_operation``."""
        left = self.remaining()
        if left <= 0:
            raise DeadlineExceeded(f"not complete within {self.seconds:g}s")
        return left if per_operation is None else min(float(per_operation), left)

    def timeouts(self, connect: float | None = None, read: float | None = None) -> tuple[float, float]:
        """``(connect, read)`` timeouts for ``requests``: each at most what is left."""
        return self.timeout(connect), self.timeout(read)

    @contextmanager
    def applied(self) -> Iterator[Deadline]:
        """Within the block, every operation on a socket of batchops' connections meets this deadline."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)


def current() -> Deadline | None:
    """The deadline the sockets of this thread meet now (``None`` outside any :meth:`Deadline.applied`)."""
    return _current.get()


# --- the socket ------------------------------------------------------------------------------------


class GuardedSocket:
    """A connected socket (plain or TLS) whose every operation meets the current deadline.

    Reads through :meth:`makefile` (what ``http.client`` uses) come back here, so they are guarded
    too; everything else (``fileno``, ``shutdown``, ``getpeername`` …) goes to the socket as it is.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._timeout: float | None = sock.gettimeout()
        self._io_refs = 0
        self._closed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def _arm(self) -> None:
        deadline = _current.get()
        self._sock.settimeout(self._timeout if deadline is None else deadline.timeout(self._timeout))

    def settimeout(self, value: float | None) -> None:
        self._timeout = value
        self._sock.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def recv(self, *args: Any) -> bytes:
        self._arm()
        return self._sock.recv(*args)  # type: ignore[no-any-return]

    def recv_into(self, *args: Any) -> int:
        self._arm()
        return self._sock.recv_into(*args)  # type: ignore[no-any-return]

    def send(self, *args: Any) -> int:
        self._arm()
        return self._sock.send(*args)  # type: ignore[no-any-return]

    def sendall(self, *args: Any) -> None:
        self._arm()  # the timeout of sendall bounds all of it
        self._sock.sendall(*args)

    def makefile(self, mode: str = "r", buffering: int | None = None, **_: Any) -> Any:
        """A buffered file over this object, as ``socket.makefile`` builds one over a socket."""
        raw_mode = "rb" if "r" in mode else "wb"
        raw = socket.SocketIO(self, raw_mode)  # type: ignore[arg-type]
        self._io_refs += 1
        size = io.DEFAULT_BUFFER_SIZE if buffering in (None, -1) else buffering
        if size == 0:
            return raw
        return io.BufferedReader(raw, size) if raw_mode == "rb" else io.BufferedWriter(raw, size)

    def _decref_socketios(self) -> None:
        self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._sock.close()

    def close(self) -> None:
        """Close now, or when the last file made by :meth:`makefile` closes (as a socket does)."""
        self._closed = True
        if self._io_refs <= 0:
            self._sock.close()


# --- http.client (the upstream fetcher) -------------------------------------------------------------


def http_connection(scheme: str, host: str, port: int, *, timeout: float, context: Any = None) -> Any:
    """An ``http.client`` connection to ``host:port`` whose socket meets the current deadline."""
    import http.client

    class Connection(http.client.HTTPConnection):
        def connect(self) -> None:
            _connect_within_deadline(self, super().connect)

    class SecureConnection(http.client.HTTPSConnection):
        def connect(self) -> None:
            _connect_within_deadline(self, super().connect)

    if scheme == "https":
        return SecureConnection(host, port, timeout=timeout, context=context)
    return Connection(host, port, timeout=timeout)


def _connect_within_deadline(connection: Any, connect: Callable[[], None]) -> None:
    """Connect (TCP, and TLS where it applies) within what is left of the current deadline, then guard the socket."""
    original = connection.timeout
    per_operation = float(original) if isinstance(original, (int, float)) else None
    deadline = _current.get()
    if deadline is not None:
        connection.timeout = deadline.timeout(per_operation)
    try:
        connect()
    finally:
        connection.timeout = original
    guarded = GuardedSocket(connection.sock)
    guarded.settimeout(per_operation)  # later calls on a kept-alive connection get their own deadline
    connection.sock = guarded


# --- requests (telemetry, webhooks, the GitHub client) -----------------------------------------------


def _pool_classes() -> dict[str, type]:
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Connection(HTTPConnection):
        def connect(self) -> None:
            _connect_within_deadline(self, super().connect)

    class SecureConnection(HTTPSConnection):
        def connect(self) -> None:
            _connect_within_deadline(self, super().connect)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = SecureConnection

    for made, base in (
        (Connection, HTTPConnection),
        (SecureConnection, HTTPSConnection),
        (Pool, HTTPConnectionPool),
        (SecurePool, HTTPSConnectionPool),
    ):
        made.__name__ = made.__qualname__ = base.__name__  # errors name them as urllib3 does
    return {"http": Pool, "https": SecurePool}


def adapter(**kwargs: Any) -> Any:
    """A ``requests`` transport adapter whose connections meet the current deadline (``HTTPAdapter`` arguments)."""
    from requests.adapters import HTTPAdapter

    pools = _pool_classes()

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **options: Any) -> None:
            super().init_poolmanager(*args, **options)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, *args: Any, **options: Any) -> Any:
            manager = super().proxy_manager_for(*args, **options)
            manager.pool_classes_by_scheme = pools
            return manager

    return Adapter(**kwargs)


def session(**adapter_options: Any) -> Any:
    """A ``requests`` session whose connections meet the current deadline; ~/.netrc never adds credentials."""
    import requests

    made = requests.Session()
    made.auth = _no_auth  # proxies and CA bundles from the environment apply; .netrc does not
    transport = adapter(**({"max_retries": 0} | adapter_options))
    made.mount("http://", transport)
    made.mount("https://", transport)
    return made


def _no_auth(request: Any) -> Any:
    return request
