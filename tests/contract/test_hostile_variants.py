"""Variants of the hostile-input classes: other fields, other encodings, other readers of the same text."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchops.adapters import github, webhook
from batchops.adapters.git import PushDeclined
from batchops.adapters.git.errors import failure_type
from batchops.core import rollback
from tests.cli_helpers import run_cli
from tests.support.local_server import dripping_server

# what str.splitlines() splits on beyond \n and \r: git does not
NOT_GIT_LINE_BREAKS = ["\u2028", "\u2029", "\x85", "\x1c", "\x1d", "\x1e", "\x0b", "\x0c"]


@pytest.mark.parametrize("brk", NOT_GIT_LINE_BREAKS, ids=[repr(b) for b in NOT_GIT_LINE_BREAKS])
def test_a_batch_line_git_does_not_see_does_not_make_a_commit_or_pr_part_of_the_batch(tmp_path: Path, brk: str) -> None:
    body = f"Update a recipe\n\nnotes{brk}batch_id: 2026-05-02-other\n"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(tmp_path),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            body,
        ],
        check=True,
    )
    raw = subprocess.run(
        ["git", "-C", str(tmp_path), "log", "-1", "--format=%B"], check=True, capture_output=True
    ).stdout
    grep = subprocess.run(
        ["git", "-C", str(tmp_path), "log", "--format=%H", "--grep=^batch_id: 2026-05-02-other$"], capture_output=True
    ).stdout
    assert grep == b""  # git sees no such line
    assert not rollback.message_names_batch(raw, "2026-05-02-other")  # the commit, as bytes
    assert not rollback.message_names_batch(body, "2026-05-02-other")  # a PR body, as text


def test_a_batch_line_is_found_with_crlf_endings_and_surrounding_blanks() -> None:
    assert rollback.message_names_batch("Batch\r\n\r\n  batch_id: 2026-05-02-a \r\n", "2026-05-02-a")
    assert rollback.message_names_batch(b"Batch\n\nbatch_id: 2026-05-02-a\n", "2026-05-02-a")


@pytest.mark.parametrize("literal", ["9007199254740993", "-9007199254740993", "9007199254740992.5"])
def test_a_number_flag_just_past_two_to_the_53_is_refused_not_rounded(tmp_path: Path, literal: str) -> None:
    (tmp_path / "batch-control.json").write_text(json.dumps({"enabled": True}))
    run = run_cli(
        ["breaker-update", "--ecosystem", "npm", "--outcome", "success", "--macos-minutes", literal],
        tmp_path,
        actions=False,
    )
    assert run.returncode != 0
    assert f"macos-minutes: {literal} is out of range" in run.stderr


@pytest.mark.parametrize("actions", [True, False], ids=["in-actions", "terminal"])
def test_preflight_outputs_never_print_the_credentials_of_a_url_in_the_reason(tmp_path: Path, actions: bool) -> None:
    reason = "mirror https://bot:SECRETTOKEN@mirror.example.test/x is down"
    (tmp_path / "batch-control.json").write_text(json.dumps({"enabled": False, "reason": reason}))
    run = run_cli(["preflight", "--ecosystems", "homebrew"], tmp_path, actions=actions)
    assert run.returncode == 0, run.log
    assert "SECRETTOKEN" not in run.stdout + run.stderr
    assert "https://***@mirror.example.test/x" in run.stdout + run.stderr


@pytest.fixture
def dripping_github() -> Iterator[str]:
    """A loopback 'GitHub' that answers one header byte every 0.2 s, for minutes."""
    with dripping_server(every=0.2, length=2000) as port:
        yield f"http://127.0.0.1:{port}"


def test_a_github_server_that_drips_its_reply_cannot_stretch_a_call_past_its_deadline(dripping_github: str) -> None:
    gh = github.client("t0ken-value", base_url=dripping_github, timeout=1, deadline=1, write_interval=0)
    started = time.monotonic()
    with pytest.raises(github.GitHubUnavailable) as raised:
        gh.get_repo("owner/name")
    elapsed = time.monotonic() - started
    assert elapsed < 1 + 2.5, f"a dripping server held the call {elapsed:.1f} s"
    error = github.GitHubError.wrap(raised.value, "reading owner/name")
    assert error.message.startswith("reading owner/name: ") and "no complete answer within 1 s" in error.message


REFUSALS_THAT_WILL_NOT_CHANGE = {
    "payload too large": (
        "error: RPC failed; HTTP 413 curl 22 The requested URL returned error: 413\n"
        "fatal: the remote end hung up unexpectedly"
    ),
    "branch missing here": (
        "error: src refspec batchops/x does not match any\nerror: failed to push some refs to 'origin'"
    ),
    "ruleset": (
        "remote: error: GH013: Repository rule violations found for refs/heads/main.\n"
        " ! [remote rejected] main -> main (push declined due to repository rule violations)"
    ),
}


@pytest.mark.parametrize("output", REFUSALS_THAT_WILL_NOT_CHANGE.values(), ids=REFUSALS_THAT_WILL_NOT_CHANGE.keys())
def test_a_push_refusal_no_retry_can_change_fails_at_once(output: str) -> None:
    assert failure_type(output) is PushDeclined


def test_a_real_refspec_refusal_is_declined_by_git_s_own_words(tmp_path: Path) -> None:
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    push = subprocess.run(
        ["git", "-C", str(work), "push", str(remote), "no-such-branch"], capture_output=True, text=True
    )
    assert push.returncode != 0
    assert failure_type(push.stderr) is PushDeclined


def test_a_journal_line_cut_short_by_a_killed_writer_is_ignored_and_never_merges_with_the_next(tmp_path: Path) -> None:
    (tmp_path / "batch-control.json").write_text(json.dumps({"enabled": True}))
    journal_file = tmp_path / "journal.jsonl"
    env = {"BATCHOPS_JOURNAL": str(journal_file)}
    assert run_cli(["stop", "--reason", "mirror down"], tmp_path, env=env, actions=False).returncode == 0
    with journal_file.open("ab") as handle:  # what a writer SIGKILLed inside its write(2) leaves
        handle.write(b'{"id":"0123456789abcdef0123456789abcdef","op":"control.res')
    pending = run_cli(["pending"], tmp_path, env=env, actions=False)
    assert pending.returncode == 0, pending.log
    assert "control.stop" in pending.stdout and "control.res" not in pending.stdout.replace("control.resume", "")
    assert run_cli(["resume"], tmp_path, env=env, actions=False).returncode == 0
    lines = journal_file.read_text().split("\n")
    assert lines[-1] == "" and [json.loads(line)["op"] for line in lines[:-1]] == ["control.stop", "control.resume"]


def test_a_webhook_that_answers_201_with_an_endless_body_counts_as_delivered_without_reading_it() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(2)
    sent = [0]

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 4294967296\r\n\r\n")
                chunk = b"x" * 65536
                while sent[0] < 1 << 32:
                    conn.sendall(chunk)
                    sent[0] += len(chunk)
            except OSError:
                return

    threading.Thread(target=answer, daemon=True).start()
    try:
        assert (
            webhook.post(f"http://127.0.0.1:{server.getsockname()[1]}/hook", "batchops incident opened", deadline=5)
            == ""
        )
    finally:
        server.close()
    assert sent[0] < 64 << 20  # the reply's body was not read (the socket buffers hold a few MiB at most)


def _run_with_file_size_limit(
    args: list[str], cwd: Path, env: dict[str, str], limit: int
) -> subprocess.CompletedProcess[str]:
    import os
    import resource
    import sys

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    full.update({"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "GITHUB_ACTIONS": "true", **env})
    return subprocess.run(
        [sys.executable, "-m", "batchops", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        preexec_fn=limited,
        timeout=60,
    )


def test_a_full_step_summary_is_one_warning_naming_it_and_the_gate_still_answers(tmp_path: Path) -> None:
    (tmp_path / "batch-control.json").write_text(json.dumps({"enabled": True}))
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    summary.write_bytes(b"x" * 200_000)  # already past the limit below: every append fails (EFBIG)
    outputs.touch()
    run = _run_with_file_size_limit(
        ["breaker-gate", "--ecosystem", "npm"],
        tmp_path,
        {
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_OUTPUT": str(outputs),
            "BATCHOPS_JOURNAL": str(tmp_path / "j.jsonl"),
        },
        100_000,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert f"::warning title=batchops::{summary}: the step summary could not be written" in run.stdout
    assert "skip<<" in outputs.read_text()


def test_an_output_file_that_cannot_grow_is_one_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "batch-control.json").write_text(json.dumps({"enabled": True}))
    outputs = tmp_path / "outputs"
    outputs.write_bytes(b"x" * 200_000)
    run = _run_with_file_size_limit(
        ["breaker-gate", "--ecosystem", "npm"],
        tmp_path,
        {"GITHUB_OUTPUT": str(outputs), "BATCHOPS_JOURNAL": str(tmp_path / "j.jsonl")},
        100_000,
    )
    assert run.returncode != 0 and "Traceback" not in run.stderr
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) >= 1 and f"file={outputs}" in errors[0] and "cannot write" in errors[0]


HOSTILE_PAGES = {
    "overflowing number": (
        b'{"runs": [{"ecosystem": "npm", "started_at": "2026-02-01T12:00:00Z", "passed": 1e400}], "next_cursor": null}'
    ),
    "NaN": (
        b'{"runs": [{"ecosystem": "npm", "started_at": "2026-02-01T12:00:00Z", "passed": NaN}], "next_cursor": null}'
    ),
    "duplicate key": b'{"runs": [], "runs": [{"ecosystem": "npm"}], "next_cursor": null}',
    "5000 digits": b'{"runs": [{"ecosystem": "npm", "passed": ' + b"9" * 5000 + b'}], "next_cursor": null}',
}


@contextlib.contextmanager
def serving(page: bytes, content_type: str | None = None) -> Iterator[tuple[str, list[int]]]:
    """An HTTP server on 127.0.0.1 answering every GET with ``page``; yields its URL and a count of the requests."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked[0] += 1
            self.send_response(200)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    server.socket.settimeout(0.5)  # accept() never waits for ever
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("page", HOSTILE_PAGES.values(), ids=HOSTILE_PAGES.keys())
def test_a_runs_page_with_numbers_or_keys_no_reader_agrees_on_is_refused(page: bytes) -> None:
    from batchops.adapters import telemetry

    with serving(page, "application/json") as (url, _asked):
        with pytest.raises(telemetry.ReadError, match="not usable JSON"):
            telemetry.get_runs(url, "read-token-1234", since=None, until=None)


@pytest.mark.parametrize("cursor", ['"again"', '{"a": 1}', "7"], ids=["repeated", "object", "number"])
def test_a_runs_endpoint_that_would_page_forever_is_refused_at_once(cursor: str) -> None:
    from batchops.adapters import telemetry

    page = b'{"runs": [], "next_cursor": ' + cursor.encode() + b"}"
    with serving(page) as (url, asked):
        with pytest.raises(telemetry.ReadError, match="next_cursor"):
            telemetry.get_runs(url, "read-token-1234", since=None, until=None)
    assert asked[0] <= 2
