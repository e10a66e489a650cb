"""metrics-upload against real HTTP servers on 127.0.0.1 with injected faults.

Only the backoff clock and sleep are replaced (``batchops.adapters.telemetry.monotonic`` /
``sleep``); every request goes over a real socket to either pytest-httpserver or
``batchops metrics serve`` running in a thread with a scripted fault queue.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from batchops import cli
from batchops.adapters.runner import parse_output_file
from batchops.adapters.store import Store
from batchops.commands import metrics as commands
from batchops.core import metrics
from batchops.core.metrics import RetryPolicy
from tests.support.metrics import TOKEN, results_doc, write_results


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_clock(mocker) -> FakeClock:  # type: ignore[no-untyped-def]
    clock = FakeClock()
    mocker.patch("batchops.adapters.telemetry.monotonic", clock.monotonic)
    mocker.patch("batchops.adapters.telemetry.sleep", clock.sleep)
    return clock


@dataclass
class Upload:
    code: int
    log: str
    outputs: dict[str, str]
    summary: str
    spool: list[Path]

    def everything(self) -> str:
        return self.log + json.dumps(self.outputs) + self.summary + "".join(p.read_text() for p in self.spool)


@pytest.fixture
def upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `batchops metrics-upload` in-process as a runner step would (outputs, summary)."""
    monkeypatch.chdir(tmp_path)
    write_results(tmp_path)
    spool_dir = tmp_path / "spool"

    def run(*args: str, env: dict[str, str] | None = None) -> Upload:
        out, summary = tmp_path / "out.txt", tmp_path / "summary.md"
        out.write_text("")
        summary.write_text("")
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
        monkeypatch.setenv("GITHUB_OUTPUT", str(out))
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        code = cli.main(["metrics-upload", "--results-file", "results.json", "--spool-dir", str(spool_dir), *args])
        captured = capsys.readouterr()
        return Upload(
            code,
            captured.out + captured.err,
            parse_output_file(out.read_text()),
            summary.read_text(),
            sorted(spool_dir.rglob("*.json")),
        )

    return run


# --- a `metrics serve` with scripted faults -------------------------------------------


class FaultyHandler(commands.MetricsHandler):
    """Pops one fault per request: an int status (answered without storing), ("slow", s),
    or "lost-reply" (the run is stored, then the reply is a 500)."""

    def handle_post(self) -> int:
        fault = self.server.faults.pop(0) if self.server.faults else None  # type: ignore[attr-defined]
        self.server.seen.append(dict(self.headers))  # type: ignore[attr-defined]
        if isinstance(fault, tuple) and fault[0] == "slow":
            time.sleep(fault[1])
            try:
                return super().handle_post()
            except OSError:  # the client gave up waiting: the reply has nowhere to go
                return 0
            finally:
                self.server.finished.set()  # type: ignore[attr-defined]
        elif isinstance(fault, tuple):
            self._drain()
            self._send(fault[0], {"error": "injected"}, fault[1])
            return fault[0]
        elif isinstance(fault, int):
            self._drain()
            self._send(fault, {"error": "injected"})
            return fault
        self.lose_reply = fault == "lost-reply"
        return super().handle_post()

    def send_result(self, status: int, body: dict[str, Any]) -> None:
        if getattr(self, "lose_reply", False):
            self._send(500, {"error": "stored, but the reply was lost"})
        else:
            super().send_result(status, body)


@pytest.fixture
def faulty(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = commands.make_server(str(tmp_path / "served.db"), TOKEN, handler=FaultyHandler)
    server.faults = []  # type: ignore[attr-defined]
    server.seen = []  # type: ignore[attr-defined]
    server.finished = threading.Event()  # type: ignore[attr-defined]
    server.start()
    yield server
    server.shutdown()
    server.server_close()


def stored_runs(server: commands.MetricsServer) -> int:
    with Store(server.database) as db:
        return db.count()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the contract on the wire ---------------------------------------------------------


def test_upload_posts_the_payload_with_bearer_token_and_idempotency_key(upload, httpserver: HTTPServer) -> None:  # type: ignore[no-untyped-def]
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(json.dumps({"id": 1}), status=201, content_type="application/json")

    httpserver.expect_oneshot_request("/api/batch-metrics", method="POST").respond_with_handler(handler)
    result = upload("--endpoint", httpserver.url_for("/api/"), "--token", TOKEN)
    assert result.code == 0, result.log
    assert result.outputs["uploaded"] == "true" and result.outputs["destination"] == "endpoint"
    assert result.outputs["spooled-file"] == ""
    request = seen[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Idempotency-Key"] == result.outputs["idempotency-key"]
    assert request.headers["Content-Type"] == "application/json"
    assert request.get_json() == metrics.build_payload(results_doc())


def test_server_error_is_retried_with_growing_backoff_until_accepted(upload, faulty, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    faulty.faults.extend([500, 503, 502])
    result = upload("--endpoint", faulty.url, "--token", TOKEN)
    assert result.code == 0 and result.outputs["uploaded"] == "true", result.log
    assert len(faulty.seen) == 4
    assert len({h["Idempotency-Key"] for h in faulty.seen}) == 1
    assert len(fake_clock.sleeps) == 3
    assert (
        0.5 <= fake_clock.sleeps[0] <= 1.0 and 1.0 <= fake_clock.sleeps[1] <= 2.0 and 2.0 <= fake_clock.sleeps[2] <= 4.0
    )
    assert stored_runs(faulty) == 1
    assert "attempt 2: HTTP 503" in result.log


def test_429_waits_as_long_as_retry_after_says(upload, faulty, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    faulty.faults.append((429, {"Retry-After": "7"}))
    result = upload("--endpoint", faulty.url, "--token", TOKEN)
    assert result.outputs["uploaded"] == "true", result.log
    assert fake_clock.sleeps == [7.0]


def test_retry_after_beyond_the_cap_is_capped(upload, faulty, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    faulty.faults.append((503, {"Retry-After": "3600"}))
    result = upload("--endpoint", faulty.url, "--token", TOKEN, "--max-time", "120")
    assert result.outputs["uploaded"] == "true", result.log
    assert fake_clock.sleeps == [RetryPolicy().retry_after_cap]


def test_endpoint_down_for_longer_than_max_time_spools_and_the_step_still_succeeds(
    upload, faulty, fake_clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    faulty.faults.extend([503] * 100)
    result = upload("--endpoint", faulty.url, "--token", TOKEN, "--max-time", "20")
    assert result.code == 0
    assert result.outputs["uploaded"] == "false" and result.outputs["destination"] == "spool"
    assert sum(fake_clock.sleeps) < 20
    assert len(faulty.seen) == len(fake_clock.sleeps) + 1, result.log
    spooled = json.loads(Path(result.outputs["spooled-file"]).read_text())
    assert spooled["payload"] == metrics.build_payload(results_doc())
    assert spooled["idempotency_key"] == result.outputs["idempotency-key"]
    assert spooled["endpoint"] == faulty.url and spooled["attempts"] == len(faulty.seen)
    assert "::warning" in result.log and "metrics-replay" in result.log
    assert "not delivered" in result.summary


def test_slow_response_times_out_and_is_retried(upload, faulty, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    faulty.faults.append(("slow", 1.5))
    result = upload("--endpoint", faulty.url, "--token", TOKEN, "--request-timeout", "0.3")
    assert result.outputs["uploaded"] == "true", result.log
    assert "no response within 0.3s" in result.log
    assert len(fake_clock.sleeps) == 1
    assert faulty.finished.wait(10)  # the timed-out attempt did arrive and was processed late
    assert len(faulty.seen) == 2
    assert stored_runs(faulty) == 1  # ...and the retry carried the same key: counted once


def test_refused_connection_is_retried_then_spooled(upload, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    result = upload("--endpoint", f"http://127.0.0.1:{closed_port()}", "--token", TOKEN, "--max-time", "10")
    assert result.code == 0
    assert result.outputs["uploaded"] == "false"
    assert Path(result.outputs["spooled-file"]).is_file()
    assert "connection refused" in result.log
    assert len(fake_clock.sleeps) >= 2


def test_reply_lost_after_the_run_was_stored_is_counted_once(upload, faulty, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    faulty.faults.append("lost-reply")
    result = upload("--endpoint", faulty.url, "--token", TOKEN)
    assert result.outputs["uploaded"] == "true"
    assert result.outputs["duplicate"] == "true"  # the retry found the stored run
    assert len(faulty.seen) == 2
    assert stored_runs(faulty) == 1


def test_rerun_of_the_job_does_not_count_the_run_twice(upload, faulty) -> None:  # type: ignore[no-untyped-def]
    assert upload("--endpoint", faulty.url, "--token", TOKEN).outputs["duplicate"] == "false"
    assert upload("--endpoint", faulty.url, "--token", TOKEN).outputs["duplicate"] == "true"
    assert stored_runs(faulty) == 1


def test_spool_then_replay_twice_stores_one_row(upload, faulty, fake_clock: FakeClock, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    faulty.faults.extend([503] * 50)
    result = upload("--endpoint", faulty.url, "--token", TOKEN, "--max-time", "5")
    spooled = Path(result.outputs["spooled-file"])
    copy = spooled.read_text()
    faulty.faults.clear()
    assert (
        cli.main(["metrics-replay", "--spool-dir", str(spooled.parent), "--endpoint", faulty.url, "--token", TOKEN])
        == 0
    )
    assert not spooled.exists()
    spooled.write_text(copy)
    assert (
        cli.main(["metrics-replay", "--spool-dir", str(spooled.parent), "--endpoint", faulty.url, "--token", TOKEN])
        == 0
    )
    assert (
        cli.main(["metrics-replay", "--spool-dir", str(spooled.parent), "--endpoint", faulty.url, "--token", TOKEN])
        == 0
    )
    assert stored_runs(faulty) == 1


# --- permanent errors -----------------------------------------------------------------


def test_bad_token_is_not_retried_and_the_warning_names_the_secret(upload, faulty, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    result = upload("--endpoint", faulty.url, "--token", "rotated-away-token")
    assert result.code == 0
    assert result.outputs["uploaded"] == "false" and result.outputs["spooled-file"]
    assert len(faulty.seen) == 1 and fake_clock.sleeps == []
    assert "HTTP 401" in result.log and "`token` input" in result.log


def test_rejected_payload_is_a_dead_letter_not_retried(upload, faulty, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    faulty.faults.append(422)
    result = upload("--endpoint", faulty.url, "--token", TOKEN)
    assert result.code == 0 and result.outputs["destination"] == "rejected"
    dead = Path(result.outputs["spooled-file"])
    assert dead.parent.name == "rejected" and json.loads(dead.read_text())["status"] == 422
    assert len(faulty.seen) == 1 and fake_clock.sleeps == []
    assert "refused the payload for good (HTTP 422: injected)" in result.log


def test_plain_text_reason_reaches_the_log_the_summary_and_the_dead_letter(upload, httpserver: HTTPServer) -> None:  # type: ignore[no-untyped-def]
    reason = "Bad request: results[0].ecosystem is required"
    httpserver.expect_request("/batch-metrics", method="POST").respond_with_data(
        reason, status=400, content_type="text/plain"
    )
    result = upload("--endpoint", httpserver.url_for("/"), "--token", TOKEN)
    assert result.code == 0 and result.outputs["uploaded"] == "false"
    assert f"HTTP 400: {reason}" in result.log and f"HTTP 400: {reason}" in result.summary
    assert "contract" in result.log and "contract" in result.summary  # the hint points at the payload and the contract
    [dead] = result.spool
    entry = json.loads(dead.read_text())
    assert (entry["status"], entry["reason"], entry["last_error"]) == (400, reason, f"HTTP 400: {reason}")
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("status", "body", "hint"),
    [
        (401, "Unauthorized", "`token` input"),
        (404, "Not found", "check the endpoint URL"),
        (413, '{"error": "too big"}', "larger than the endpoint accepts"),
    ],
)
def test_the_warning_hint_follows_the_status(upload, httpserver: HTTPServer, status: int, body: str, hint: str) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/batch-metrics", method="POST").respond_with_data(body, status=status)
    result = upload("--endpoint", httpserver.url_for("/"), "--token", TOKEN)
    warning = next(line for line in result.log.splitlines() if line.startswith("::warning"))
    assert hint in warning and f"HTTP {status}" in warning
    assert result.outputs["destination"] == "rejected"


def test_server_errors_are_retried_then_spooled_not_dead_lettered(
    upload, httpserver: HTTPServer, fake_clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/batch-metrics", method="POST").respond_with_data(
        "Failed to insert batch metrics", status=500
    )
    result = upload("--endpoint", httpserver.url_for("/"), "--token", TOKEN, "--max-time", "5")
    assert result.outputs["destination"] == "spool"
    [spooled] = result.spool
    assert (
        spooled.parent.name == "spool" and json.loads(spooled.read_text())["reason"] == "Failed to insert batch metrics"
    )
    assert len(httpserver.log) >= 2


# --- does the endpoint count a run once? --------------------------------------------


def test_an_endpoint_that_does_not_honour_the_key_is_named_once_in_the_summary(upload, httpserver: HTTPServer) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/batch-metrics", method="POST").respond_with_json({"batch_run_id": 7}, status=201)
    result = upload("--endpoint", httpserver.url_for("/"), "--token", TOKEN)
    assert result.outputs["uploaded"] == "true"
    assert result.summary.count("does not say that it honours Idempotency-Key") == 1
    assert "counted again" in result.summary


def test_our_endpoints_say_they_honour_the_key_and_no_note_is_written(upload, faulty) -> None:  # type: ignore[no-untyped-def]
    result = upload("--endpoint", faulty.url, "--token", TOKEN)
    assert result.outputs["uploaded"] == "true"
    assert "honours Idempotency-Key" not in result.summary


def test_a_200_from_an_endpoint_that_does_not_honour_the_key_is_not_called_a_duplicate(
    upload, httpserver: HTTPServer
) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/batch-metrics", method="POST").respond_with_json({"ok": True}, status=200)
    result = upload("--endpoint", httpserver.url_for("/"), "--token", TOKEN)
    assert (result.outputs["uploaded"], result.outputs["duplicate"]) == ("true", "false")


def test_malformed_endpoint_is_a_configuration_error(upload) -> None:  # type: ignore[no-untyped-def]
    result = upload("--endpoint", "telemetry.example.com", "--token", TOKEN)
    assert result.code == 2 and "endpoint" in result.log and "http(s) URL" in result.log


# --- the token never leaks ------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["accepted", "refused", "unauthorized", "server-error"])
def test_token_appears_nowhere_but_in_the_mask_command(scenario: str, upload, faulty, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    secret = "s3cr3t-Value-7781"
    endpoint = faulty.url
    if scenario == "refused":
        endpoint = f"http://127.0.0.1:{closed_port()}"
    elif scenario == "unauthorized":
        faulty.token = "other-token"
    elif scenario == "server-error":
        faulty.faults.extend([500] * 100)
    if scenario != "unauthorized":
        faulty.token = secret
    result = upload("--endpoint", endpoint, "--max-time", "5", env={"INPUT_TOKEN": secret})
    assert result.code == 0
    lines = result.log.splitlines()
    assert lines[0] == f"::add-mask::{secret}"  # the mask comes before anything else
    rest = (
        "\n".join(lines[1:])
        + json.dumps(result.outputs)
        + result.summary
        + "".join(p.read_text() for p in result.spool)
    )
    assert secret not in rest
    if scenario != "accepted":
        assert result.spool, "the undelivered payload is spooled"


def test_endpoint_reply_cannot_inject_workflow_commands(upload, httpserver: HTTPServer) -> None:  # type: ignore[no-untyped-def]
    evil = json.dumps({"error": "bad\n::error::forged\nuploaded=true"})
    httpserver.expect_request("/batch-metrics", method="POST").respond_with_data(
        evil, status=400, content_type="application/json"
    )
    result = upload("--endpoint", httpserver.url_for("/"), "--token", TOKEN)
    assert result.outputs["uploaded"] == "false"
    assert not any(line.startswith("::error::forged") for line in result.log.splitlines())
    assert "bad ::error::forged uploaded=true" in result.log
