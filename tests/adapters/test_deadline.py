"""One deadline for outbound calls (batchops.adapters.deadline), against real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from batchops.adapters.deadline import Deadline, DeadlineExceeded, current, http_connection, session
from tests.support.local_server import dripping_server


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dripping() -> Iterator[int]:
    """A server that answers with a status line and then one header byte every 0.1 s, for a minute."""
    with dripping_server(every=0.1, length=600) as port:
        yield port


def test_the_time_left_shrinks_with_the_clock_and_bounds_each_operation() -> None:
    clock = Clock()
    deadline = Deadline(10, monotonic=clock)
    clock.now += 4
    assert deadline.remaining() == 6 and not deadline.expired()
    assert deadline.timeout(15) == 6 and deadline.timeout(2) == 2 and deadline.timeout() == 6
    assert deadline.timeouts(connect=5) == (5, 6)
    assert deadline.allows(5.9) and not deadline.allows(6)


def test_a_passed_deadline_refuses_the_next_operation_at_once() -> None:
    clock = Clock()
    deadline = Deadline(1, monotonic=clock)
    clock.now += 1
    with pytest.raises(DeadlineExceeded, match="within 1s"):
        deadline.timeout(5)
    with pytest.raises(TimeoutError):  # what every caller already catches as a timeout
        deadline.check()


def test_a_wait_the_far_side_asked_for_moves_the_deadline_and_is_counted() -> None:
    clock = Clock()
    deadline = Deadline(30, monotonic=clock)
    deadline.extend(45)
    clock.now += 60
    assert deadline.remaining() == 15 and deadline.extended == 45 and deadline.seconds == 75


def test_the_deadline_applies_within_its_block_only_and_per_thread() -> None:
    deadline = Deadline(5)
    seen: list[Deadline | None] = []
    with deadline.applied():
        assert current() is deadline
        worker = threading.Thread(target=lambda: seen.append(current()))
        worker.start()
        worker.join()
    assert current() is None and seen == [None]


def test_an_http_client_connection_is_cut_off_at_the_deadline_however_slowly_the_headers_drip(dripping: int) -> None:
    conn = http_connection("http", "127.0.0.1", dripping, timeout=5)
    started = time.monotonic()
    with Deadline(0.8).applied(), pytest.raises(TimeoutError):
        conn.request("GET", "/")
        conn.getresponse()
    took = time.monotonic() - started
    conn.close()
    assert took < 0.8 + 1.0, f"the drip held the request {took:.1f} s past a 0.8 s deadline"


def test_a_requests_session_is_cut_off_at_the_deadline_however_slowly_the_headers_drip(dripping: int) -> None:
    import requests

    made = session()
    deadline = Deadline(0.8)
    started = time.monotonic()
    with deadline.applied(), pytest.raises(requests.RequestException):
        made.get(f"http://127.0.0.1:{dripping}/", timeout=deadline.timeouts(5, 5))
    took = time.monotonic() - started
    made.close()
    assert took < 0.8 + 1.0, f"the drip held the request {took:.1f} s past a 0.8 s deadline"
    assert deadline.expired()


def test_without_a_deadline_a_connection_keeps_its_own_timeout(dripping: int) -> None:
    conn = http_connection("http", "127.0.0.1", dripping, timeout=0.3)
    conn.request("GET", "/")
    started = time.monotonic()
    response = conn.getresponse  # each byte comes within 0.3 s: only a deadline bounds the whole
    worker = threading.Thread(target=lambda: _swallow(response), daemon=True)
    worker.start()
    worker.join(1.5)
    assert worker.is_alive(), "without a deadline the per-operation timeout alone does not end the drip"
    assert time.monotonic() - started >= 1.5
    conn.sock.shutdown(socket.SHUT_RDWR)
    worker.join(5)


def _swallow(call: object) -> None:
    try:
        call()  # type: ignore[operator]
    except Exception:  # noqa: BLE001 - the test only watches whether it ends
        pass
