"""Hostile endpoints and hostile files for metrics: slow-loris servers, huge replies, credentials
in URLs, spool files that name another host, numbers JSON cannot hold.

The servers are real sockets on 127.0.0.1 that misbehave on purpose; the deadlines asserted
are generous multiples of the configured ones (a deadline that holds, not a speed target).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchops.adapters import telemetry
from batchops.core import metrics
from batchops.core.metrics import Delivery, RetryPolicy
from batchops.engines.metrics import spool_document, write_spool
from tests.cli_helpers import run_cli
from tests.support.metrics import TOKEN, results_doc, write_results


class Misbehaving:
    """A TCP server that answers every connection with ``behave(conn)``; counts bytes it sent."""

    def __init__(self, behave: Callable[[socket.socket, Misbehaving], None]) -> None:
        self.behave = behave
        self.sent = 0
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.stopped = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _loop(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.requests.append(conn.recv(65536))
            self.behave(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def drip(self, conn: socket.socket, data: bytes, every: float = 0.1) -> None:
        for byte in data:
            if self.stopped.is_set():
                return
            conn.sendall(bytes([byte]))
            self.sent += 1
            time.sleep(every)

    def stop(self) -> None:
        self.stopped.set()
        self.sock.close()


@pytest.fixture
def misbehaving() -> Iterator[Callable[[Callable[[socket.socket, Misbehaving], None]], Misbehaving]]:
    servers: list[Misbehaving] = []

    def start(behave: Callable[[socket.socket, Misbehaving], None]) -> Misbehaving:
        servers.append(Misbehaving(behave))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def header_drip(conn: socket.socket, server: Misbehaving) -> None:
    server.drip(conn, b"HTTP/1.1 201 Created\r\nX-Slow: " + b"a" * 400)


def body_drip(conn: socket.socket, server: Misbehaving) -> None:
    conn.sendall(b"HTTP/1.1 503 Busy\r\nContent-Length: 400\r\n\r\n")
    server.drip(conn, b"x" * 400)


@pytest.mark.parametrize("behave", [header_drip, body_drip], ids=["header-drip", "body-drip"])
def test_a_slow_loris_server_cannot_stretch_the_step_past_max_time(tmp_path: Path, misbehaving, behave) -> None:  # type: ignore[no-untyped-def]
    server = misbehaving(behave)  # would take 40 s to finish its answer
    write_results(tmp_path)
    began = time.monotonic()
    run = run_cli(
        [
            "metrics-upload",
            "--results-file",
            "results.json",
            "--endpoint",
            server.url,
            "--token",
            TOKEN,
            "--max-time",
            "1.5",
            "--request-timeout",
            "1",
            "--spool-dir",
            "spool",
        ],
        tmp_path,
    )
    took = time.monotonic() - began
    assert run.returncode == 0 and run.outputs["destination"] == "spool", run.log
    assert took < 8, f"took {took:.1f}s with max-time 1.5s"  # includes starting Python; the drip alone lasts 40 s
    assert "within 1s" in run.log or "did not finish" in run.log or "HTTP 503" in run.log


def test_one_request_is_cut_off_at_its_deadline_whatever_the_server_drips() -> None:
    server = Misbehaving(header_drip)
    try:
        began = time.monotonic()
        reply = telemetry.request(
            telemetry.new_session(), "POST", server.url + "/batch-metrics", headers={}, body=b"{}", seconds=0.5
        )
        took = time.monotonic() - began
    finally:
        server.stop()
    assert reply.status is None and reply.error == "no response within 0.5s"
    assert took < 2.5


def test_a_huge_reply_is_not_read_beyond_the_cap(misbehaving) -> None:  # type: ignore[no-untyped-def]
    size = 200 * 1024 * 1024

    def huge(conn: socket.socket, server: Misbehaving) -> None:
        conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n" % size)
        chunk = b"x" * 65536
        while server.sent < size:
            conn.sendall(chunk)
            server.sent += len(chunk)

    server = misbehaving(huge)
    payload = metrics.build_payload(results_doc())
    delivery = telemetry.post(
        server.url, TOKEN, payload, metrics.idempotency_key(payload), RetryPolicy(max_time=10, request_timeout=5)
    )
    time.sleep(0.2)
    assert (delivery.ok, delivery.status) == (True, 201)
    assert server.sent < 32 * 1024 * 1024, f"the client read {server.sent} bytes of a 200 MiB reply"


def test_a_huge_refusal_is_reported_shortened_to_one_line(misbehaving) -> None:  # type: ignore[no-untyped-def]
    def refuse(conn: socket.socket, server: Misbehaving) -> None:
        body = b"Bad request: " + b"y\n" * (3 * 1024 * 1024)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    server = misbehaving(refuse)
    payload = metrics.build_payload(results_doc())
    delivery = telemetry.post(server.url, TOKEN, payload, "k" * 64, RetryPolicy(max_time=10, request_timeout=5))
    assert delivery.status == 400 and delivery.kind == "rejected"
    assert "\n" not in delivery.reason and len(delivery.reason) <= telemetry.MAX_REASON


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://bot:SECRET-pass@127.0.0.1:9",
        "https://SECRET-pass@telemetry.example.com",
        "https://telemetry.example.com/?token=SECRET-pass",
    ],
)
def test_credentials_in_the_endpoint_url_are_refused_and_never_written(tmp_path: Path, endpoint: str) -> None:
    write_results(tmp_path)
    run = run_cli(
        ["metrics-upload", "--results-file", "results.json", "--endpoint", endpoint, "--spool-dir", "spool"], tmp_path
    )
    assert run.returncode == 2
    assert "token" in run.stdout and "SECRET-pass" not in run.log + run.summary
    assert not (tmp_path / "spool").exists()


def test_a_spool_file_naming_another_host_never_receives_the_token(tmp_path: Path, misbehaving) -> None:  # type: ignore[no-untyped-def]
    def accept(conn: socket.socket, server: Misbehaving) -> None:
        conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")

    attacker = misbehaving(accept)
    ours = misbehaving(accept)
    payload = metrics.build_payload(results_doc())
    key = metrics.idempotency_key(payload)
    document = spool_document(
        payload, key, attacker.url, Delivery(ok=False, error="HTTP 503"), at=datetime(2026, 2, 6, tzinfo=UTC)
    )
    write_spool(tmp_path / "spool", document)

    refused = run_cli(["metrics-replay", "--spool-dir", "spool", "--token", TOKEN], tmp_path)
    sent = run_cli(["metrics-replay", "--spool-dir", "spool", "--endpoint", ours.url, "--token", TOKEN], tmp_path)

    assert refused.returncode == 2 and attacker.requests == []
    assert sent.returncode == 0 and sent.outputs["sent"] == "1"
    assert attacker.requests == [] and TOKEN.encode() in ours.requests[0]


def test_a_spool_file_with_credentials_in_its_endpoint_is_sent_without_them_and_without_a_token(
    tmp_path: Path, misbehaving
) -> None:  # type: ignore[no-untyped-def]
    def accept(conn: socket.socket, server: Misbehaving) -> None:
        conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")

    server = misbehaving(accept)
    payload = metrics.build_payload(results_doc())
    folder = tmp_path / "spool"
    folder.mkdir()
    entry = {
        "spool_version": 1,
        "idempotency_key": metrics.idempotency_key(payload),
        "endpoint": server.url.replace("://", "://bot:SECRET-pass@"),
        "payload": payload,
    }
    (folder / "crafted.json").write_text(json.dumps(entry))
    run = run_cli(["metrics-replay", "--spool-dir", "spool"], tmp_path)
    assert run.returncode == 0 and run.outputs["sent"] == "1"
    assert b"Authorization" not in server.requests[0] and b"SECRET" not in server.requests[0]
    assert "SECRET-pass" not in run.log + run.summary


@pytest.mark.parametrize(
    ("literal", "field"),
    [
        ("NaN", "linux_minutes"),
        ("Infinity", "macos_minutes"),
        ("1e400", "linux_minutes"),
        ("9" * 5000, "linux_minutes"),
        ("-Infinity", "duration_seconds"),
    ],
    ids=["nan", "infinity", "overflow", "5000-digits", "negative-infinity"],
)
def test_numbers_json_cannot_hold_are_refused_at_the_boundary_naming_the_file(
    tmp_path: Path, literal: str, field: str
) -> None:
    text = (
        json.dumps(results_doc(), indent=2)
        .replace('"duration_seconds": 41.2', '"duration_seconds": 0')
        .replace(f'"{field}": ', f'"{field}": {literal}, "_was": ', 1)
    )
    (tmp_path / "results.json").write_text(text)
    run = run_cli(["metrics-upload", "--results-file", "results.json", "--spool-dir", "spool"], tmp_path)
    assert run.returncode != 0
    error = next(line for line in run.stdout.splitlines() if line.startswith("::error"))
    assert "results.json" in error and "line=" in error
    expected = "/results/0/duration_seconds" if field == "duration_seconds" else f"/{field}"
    assert expected in error
    assert not (tmp_path / "spool").exists() and not (tmp_path / ".batchops").exists()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600) | st.text(max_size=600).map(lambda t: json.dumps({"error": t}).encode()))
def test_any_reply_body_gives_a_reason_of_one_short_printable_line(body: bytes) -> None:
    reason = telemetry.reason_of(telemetry.Reply(status=400, body=body))
    assert len(reason) <= telemetry.MAX_REASON
    assert all(ch.isprintable() for ch in reason)
