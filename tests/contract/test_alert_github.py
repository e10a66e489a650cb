"""batchops alert against the GitHub stand-in, a real webhook server and real git.

Each run is the real CLI in a subprocess, as the action runs it; the stand-in answers in the
shapes of GitHub's official description and fails the test on any request that breaks it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from batchops.core import alert
from tests.cli_helpers import REPO_ROOT, run_cli
from tests.conftest import corpus_dir
from tests.support.gitrepo import git

REPO = "tsuku/registry"


def control_history_dir() -> Path:
    """The first user's committed control files (the shared corpus beside the repository; skipped when absent)."""
    return corpus_dir() / "tsuku" / "control-history"


def control(**breakers: dict[str, Any]) -> dict[str, Any]:
    return {
        "enabled": True,
        "disabled_ecosystems": [],
        "reason": "",
        "incident_url": "",
        "disabled_by": "",
        "disabled_at": "",
        "expected_resume": "",
        "circuit_breaker": {"default": {"state": "closed", "failures": 0}, **breakers},
        "budget": {"macos_minutes_used": 0, "linux_minutes_used": 0, "week_start": "", "sampling_active": False},
    }


def tripped(consecutive: int = 1) -> dict[str, Any]:
    return {
        "state": "open",
        "failures": 5,
        "last_failure": "2026-06-01T11:00:00Z",
        "opens_at": "2026-06-01T12:00:00Z",
        "window": ["failure"] * 5,
        "consecutive_opens": consecutive,
        "opened_at": "2026-06-01T11:00:00Z",
    }


CLOSED = {"state": "closed", "failures": 0, "window": ["success"], "consecutive_opens": 0}


class Site:
    def __init__(self, tmp_path: Path, standin: Any) -> None:
        self.dir = tmp_path
        self.gh = standin
        standin.add_repo(REPO)

    def write(self, document: dict[str, Any]) -> None:
        (self.dir / "batch-control.json").write_text(json.dumps(document, indent=2))

    def env(self) -> dict[str, str]:
        # these runs are about the control file's incidents (the folder is no checkout): stale-after has its own tests
        return {**self.gh.env(REPO), "BATCHOPS_GITHUB_WRITE_INTERVAL": "0", "INPUT_STALE_AFTER": "0"}

    def alert(self, now: str, *extra: str) -> Any:
        return run_cli(["alert", "--github-token", self.gh.token, "--now", now, *extra], self.dir, env=self.env())

    def issues(self) -> list[dict[str, Any]]:
        return self.gh.issues(REPO)

    def open_for(self, key: str) -> list[int]:
        return [
            i["number"]
            for i in self.issues()
            if i["state"] == "open" and (m := alert.parse_marker(i["body"])) and m.key == key
        ]

    def comments(self, number: int) -> list[str]:
        return [c["body"] for c in self.gh.comments(REPO, number)]


@pytest.fixture
def site(tmp_path: Path, github_api: Any) -> Site:
    return Site(tmp_path, github_api)


def test_an_open_breaker_opens_one_labelled_issue_that_says_what_to_do(site: Site) -> None:
    site.write(control(npm=tripped()))
    run = site.alert("2026-06-01T12:00:00Z")
    assert run.returncode == 0, run.log
    assert run.outputs == {"opened": "1", "updated": "0", "closed": "0", "open-incidents": "1"}
    (issue,) = site.issues()
    assert issue["title"] == "Circuit breaker open: npm"
    assert [label["name"] for label in issue["labels"]] == ["batch-incident"]
    assert '`batchops breaker probe npm --reason "…" --push`' in issue["body"]
    assert "Breaker controls" in issue["body"]
    assert "batch-incident" in [label["name"] for label in site.gh.labels(REPO)]


def test_a_second_run_on_the_same_state_writes_nothing(site: Site) -> None:
    site.write(control(npm=tripped()))
    site.alert("2026-06-01T12:00:00Z")
    writes = len([r for r in site.gh.requests if r.method != "GET"])
    run = site.alert("2026-06-01T13:00:00Z")
    assert run.returncode == 0, run.log
    assert run.outputs == {"opened": "0", "updated": "0", "closed": "0", "open-incidents": "1"}
    assert len([r for r in site.gh.requests if r.method != "GET"]) == writes


def test_a_doubled_wait_is_one_comment(site: Site) -> None:
    site.write(control(npm=tripped(1)))
    site.alert("2026-06-01T12:00:00Z")
    site.write(control(npm=tripped(2)))
    run = site.alert("2026-06-01T14:00:00Z")
    assert run.outputs["updated"] == "1", run.log
    (comment,) = site.comments(1)
    assert "2h" in comment and "probe failed" in comment
    site.alert("2026-06-01T15:00:00Z")
    assert len(site.comments(1)) == 1


def test_flapping_within_resolve_after_keeps_one_issue_and_no_comments(site: Site) -> None:
    for hour in range(0, 12, 4):
        site.write(control(homebrew=tripped()))
        site.alert(f"2026-06-01T{hour:02d}:00:00Z")
        site.write(control(homebrew=CLOSED))
        site.alert(f"2026-06-01T{hour + 1:02d}:00:00Z")
    assert [i["number"] for i in site.issues()] == [1]
    assert site.comments(1) == []
    assert "resolved since 2026-06-01T09:00:00Z" in site.issues()[0]["body"]
    assert alert.parse_marker(site.issues()[0]["body"]).returns == 2


def test_a_stable_recovery_closes_the_issue_and_a_late_return_opens_a_new_one(site: Site) -> None:
    site.write(control(npm=tripped()))
    site.alert("2026-06-01T12:00:00Z")
    site.write(control(npm=CLOSED))
    site.alert("2026-06-01T13:00:00Z")
    assert site.open_for("breaker/npm") == [1]
    run = site.alert("2026-06-02T13:30:00Z")
    assert run.outputs["closed"] == "1", run.log
    (issue,) = site.issues()
    assert issue["state"] == "closed" and issue["state_reason"] == "completed"
    assert "stayed resolved for 1d 30m" in site.comments(1)[-1]
    site.write(control(npm=tripped()))
    run = site.alert("2026-06-05T12:00:00Z")
    assert run.outputs["opened"] == "1"
    assert site.open_for("breaker/npm") == [2]


def test_a_return_soon_after_the_close_reopens_the_issue(site: Site) -> None:
    site.write(control(npm=tripped()))
    site.alert("2026-06-01T12:00:00Z")
    site.write(control(npm=CLOSED))
    site.alert("2026-06-01T13:00:00Z")
    site.alert("2026-06-02T14:00:00Z")
    site.write(control(npm=tripped()))
    run = site.alert("2026-06-02T20:00:00Z")
    assert run.outputs["opened"] == "1", run.log
    assert site.open_for("breaker/npm") == [1]
    assert "Reopened" in site.comments(1)[-1]


def test_a_paused_platform_and_a_stopped_pipeline_each_get_an_issue(site: Site) -> None:
    document = control()
    document["budget"].update(macos_minutes_used=980, week_start="2026-06-01")
    document.update(enabled=False, reason="npm publishes empty recipes", disabled_by="Ada Operator")
    site.write(document)
    run = site.alert("2026-06-02T12:00:00Z")
    assert run.outputs["opened"] == "2", run.log
    titles = sorted(i["title"] for i in site.issues())
    assert titles == ["Batch pipeline stopped", "CI budget: macOS batches paused"]
    stop = next(i for i in site.issues() if i["title"] == "Batch pipeline stopped")
    assert "npm publishes empty recipes" in stop["body"] and "`batchops resume --push`" in stop["body"]


def test_the_legacy_history_file_never_alerts_for_the_default_template(site: Site) -> None:
    site.write(json.loads((control_history_dir() / "batch-control.20260626T205108.json").read_text()))
    run = site.alert("2026-06-26T21:00:00Z")
    assert run.outputs["opened"] == "6", run.log
    assert not [i for i in site.issues() if "default" in i["title"]]


def test_dry_run_reads_and_says_what_it_would_do_but_writes_nothing(site: Site, tmp_path: Path) -> None:
    hook = Hook(200)
    with hook:
        site.write(control(npm=tripped(), pypi=tripped()))
        run = site.alert("2026-06-01T12:00:00Z", "--dry-run", "true", "--webhook-url", hook.url)
    assert run.returncode == 0, run.log
    assert run.outputs["opened"] == "2"
    assert "dry run, would open: Circuit breaker open: npm" in run.stdout
    assert site.issues() == [] and site.gh.labels(REPO) == []
    assert [r for r in site.gh.requests if r.method != "GET"] == []
    assert hook.received == []


def test_an_issue_that_two_runs_opened_is_closed_as_the_duplicate_of_the_older(site: Site) -> None:
    site.write(control(npm=tripped()))
    body = alert.issue_body(
        alert.incidents(control(npm=tripped()), alert.timeutil.parse_iso("2026-06-01T12:00:00Z"))[0],
        alert.Marker("breaker/npm", milestones={"wait": "1h"}),
        "2026-06-01T12:00:00Z",
    )
    site.gh.add_issue(REPO, "Circuit breaker open: npm", body, labels=["batch-incident"])
    site.gh.add_issue(REPO, "Circuit breaker open: npm", body, labels=["batch-incident"])
    run = site.alert("2026-06-01T12:05:00Z")
    assert run.returncode == 0, run.log
    assert site.open_for("breaker/npm") == [1]
    assert "Duplicate of #1" in site.comments(2)[0]
    assert site.alert("2026-06-01T12:10:00Z").outputs["opened"] == "0"


def test_two_concurrent_runs_leave_one_open_issue(site: Site) -> None:
    site.write(control(npm=tripped(), pypi=tripped()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    env.update(site.env(), PYTHONPATH=str(REPO_ROOT))
    command = [
        sys.executable,
        "-m",
        "batchops",
        "alert",
        "--github-token",
        site.gh.token,
        "--now",
        "2026-06-01T12:00:00Z",
    ]
    runs = [
        subprocess.Popen(command, cwd=site.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    logs = [p.communicate(timeout=60)[0] for p in runs]
    assert [p.returncode for p in runs] == [0, 0], logs
    assert len(site.open_for("breaker/npm")) == 1 and len(site.open_for("breaker/pypi")) == 1


def test_a_run_that_finds_another_runs_issue_after_opening_its_own_closes_its_own(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The race, made certain: the other run opens the issue between this run's listing and its create."""
    from batchops import cli
    from batchops.engines import alert as engine

    site.write(control(npm=tripped()))
    listed = engine._issue_states

    def listing_then_the_other_run_opens(*args: Any, **kwargs: Any) -> Any:
        found = listed(*args, **kwargs)
        incident = alert.incidents(control(npm=tripped()), alert.timeutil.parse_iso("2026-06-01T12:00:00Z"))[0]
        site.gh.add_issue(
            REPO,
            incident.title,
            alert.issue_body(incident, alert.Marker(incident.key, milestones=incident.milestones), "x"),
            labels=["batch-incident"],
        )
        return found

    monkeypatch.setattr(engine, "_issue_states", listing_then_the_other_run_opens)
    for name, value in site.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(site.dir)
    assert cli.main(["alert", "--github-token", site.gh.token, "--now", "2026-06-01T12:00:00Z"]) == 0
    assert "opened=0" in capsys.readouterr().out
    assert site.open_for("breaker/npm") == [1]
    (ours,) = [i for i in site.issues() if i["number"] == 2]
    assert ours["state"] == "closed" and ours["state_reason"] == "not_planned"
    assert "Duplicate of #1" in site.comments(2)[0]


def test_an_issue_that_lost_its_label_is_found_by_its_marker(site: Site) -> None:
    site.write(control(npm=tripped()))
    site.alert("2026-06-01T12:00:00Z")
    issue = site.gh._repo(REPO).issues[1]
    issue.labels = []
    run = site.alert("2026-06-01T13:00:00Z")
    assert run.outputs["opened"] == "0", run.log
    assert len(site.issues()) == 1


def test_an_outsiders_issue_with_a_copied_marker_is_not_taken_for_the_incident(site: Site) -> None:
    site.write(control(npm=tripped()))
    incident = alert.incidents(control(npm=tripped()), alert.timeutil.parse_iso("2026-06-01T12:00:00Z"))[0]
    site.gh.add_issue(
        REPO,
        "hi",
        alert.issue_body(incident, alert.Marker(incident.key, milestones=incident.milestones), "x"),
        user="mallory",
    )
    run = site.alert("2026-06-01T12:00:00Z")
    assert run.outputs["opened"] == "1", run.log
    assert site.open_for("breaker/npm") == [1, 2]  # the real issue is #2; #1 (mallory's) got nothing
    assert site.comments(1) == []
    assert [i["user"]["login"] for i in site.issues() if i["number"] == 2] == ["batchops-bot"]


def test_a_token_github_refuses_fails_closed_with_one_error(site: Site) -> None:
    site.write(control(npm=tripped()))
    run = run_cli(
        ["alert", "--github-token", "not-the-token", "--now", "2026-06-01T12:00:00Z"],
        site.dir,
        env={**site.env(), "GITHUB_TOKEN": "not-the-token"},
    )
    assert run.returncode != 0
    assert run.outputs == {"opened": "0", "updated": "0", "closed": "0", "open-incidents": ""}
    (error,) = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert "Bad credentials" in error and "github-token" in error
    assert "Traceback" not in run.log and site.issues() == []


def test_a_github_refusal_is_one_error_naming_the_fix_and_fails_closed(site: Site) -> None:
    site.write(control(npm=tripped()))
    site.gh.inject(
        "POST",
        "/repos/*/issues",
        403,
        body={"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest"},
    )
    run = site.alert("2026-06-01T12:00:00Z")
    assert run.returncode == 1
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "Resource not accessible by integration" in errors[0] and "issues: write" in errors[0]
    assert "Traceback" not in run.log


# --- the webhook -----------------------------------------------------------------------------


class Hook:
    """A chat webhook on 127.0.0.1 answering ``status``, or hanging when ``hang``."""

    def __init__(self, status: int = 200, *, hang: bool = False) -> None:
        self.status = status
        self.hang = hang
        self.received: list[dict[str, Any]] = []
        self.release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                hook.received.append(json.loads(self.rfile.read(length) or b"{}"))
                if hook.hang:
                    hook.release.wait(30)
                    return
                self.send_response(hook.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

        self.server.socket.settimeout(0.5)  # accept() never waits for ever
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/SECRETPART"

    def __enter__(self) -> Hook:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_ok() -> Iterator[Hook]:
    with Hook(200) as hook:
        yield hook


def test_the_webhook_is_told_when_an_incident_opens_and_closes_with_slack_text(site: Site, hook_ok: Hook) -> None:
    site.write(control(npm=tripped()))
    site.alert("2026-06-01T12:00:00Z", "--webhook-url", hook_ok.url)
    site.write(control(npm=CLOSED))
    site.alert("2026-06-01T13:00:00Z", "--webhook-url", hook_ok.url)  # recovered: not yet news
    site.alert("2026-06-02T14:00:00Z", "--webhook-url", hook_ok.url)
    texts = [m["text"] for m in hook_ok.received]
    assert len(texts) == 2
    assert texts[0].startswith("batchops incident opened: Circuit breaker open: npm") and "/issues/1" in texts[0]
    assert texts[1].startswith("batchops incident closed: breaker/npm")


@pytest.mark.parametrize("hang", [False, True], ids=["answers-500", "hangs"])
def test_a_failing_webhook_warns_and_never_fails_the_step(site: Site, hang: bool) -> None:
    with Hook(500, hang=hang) as hook:
        site.write(control(npm=tripped(), pypi=tripped()))
        started = time.monotonic()
        run = run_cli(
            ["alert", "--github-token", site.gh.token, "--now", "2026-06-01T12:00:00Z", "--webhook-url", hook.url],
            site.dir,
            env={**site.env(), "BATCHOPS_WEBHOOK_DEADLINE": "1"},
        )
        elapsed = time.monotonic() - started
    assert run.returncode == 0, run.log
    assert run.outputs["opened"] == "2"
    warnings = [line for line in run.stdout.splitlines() if line.startswith("::warning")]
    assert len(warnings) == 1 and "webhook not delivered" in warnings[0] and "2 message(s) not sent" in warnings[0]
    assert len(hook.received) == 1  # a dead webhook is tried once per run, not once per incident
    assert ("did not answer within" in warnings[0]) if hang else ("HTTP 500" in warnings[0])
    assert [line for line in run.log.splitlines() if "SECRETPART" in line] == [
        f"::add-mask::{hook.url}"
    ]  # the runner hides it
    assert "127.0.0.1" not in warnings[0] and "SECRETPART" not in run.summary
    assert elapsed < 10


# --- replay ------------------------------------------------------------------------------------


def test_replay_of_the_first_users_history_prints_what_alert_would_have_said(tmp_path: Path) -> None:
    files = sorted(str(p) for p in control_history_dir().glob("batch-control.*.json"))
    run = run_cli(["alert", "replay", *files], tmp_path, actions=False)
    assert run.returncode == 0, run.log
    lines = run.stdout.splitlines()
    assert lines[0].startswith("2026-02-01T16:29:46Z  #1    open") and "Circuit breaker open: homebrew" in lines[0]
    assert any("close" in line and "breaker/homebrew stayed resolved for 1d" in line for line in lines)
    assert "8 issue(s) opened" in run.stdout and "breaker/default" not in run.stdout
    assert "  breaker/npm: #5 open" in lines


def test_replay_from_git_uses_the_commit_times(tmp_path: Path) -> None:
    repo = tmp_path / "registry"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    steps = [
        ("2026-06-01T10:00:00Z", control(npm=tripped())),
        ("2026-06-01T11:00:00Z", control(npm=CLOSED)),
        ("2026-06-03T11:00:00Z", control(npm=CLOSED, pypi=tripped())),
    ]
    for stamp, document in steps:
        (repo / "batch-control.json").write_text(json.dumps(document))
        git(repo, "add", "-A")
        git(
            repo, "commit", "-q", "-m", f"state at {stamp}", env={"GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp}
        )
    run = run_cli(["alert", "replay", "--git", "batch-control.json", "--every", "0"], repo, actions=False)
    assert run.returncode == 0, run.log
    actions = sorted(line.split()[:3] for line in run.stdout.splitlines() if line.startswith("2026-"))
    assert actions == [
        ["2026-06-01T10:00:00Z", "#1", "open"],
        ["2026-06-01T11:00:00Z", "#1", "update"],
        ["2026-06-03T11:00:00Z", "#1", "close"],
        ["2026-06-03T11:00:00Z", "#2", "open"],
    ]


def test_replay_of_a_file_without_a_time_names_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "batch-control.json").write_text(json.dumps(control()))
    run = run_cli(["alert", "replay", "batch-control.json"], tmp_path)
    assert run.returncode != 0
    (error,) = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert "batch-control.json" in error and "--times" in error
    (tmp_path / "times.txt").write_text("2026-06-01T10:00:00Z batch-control.json\n")
    run = run_cli(["alert", "replay", "--times", "times.txt"], tmp_path, actions=False)
    assert run.returncode == 0 and "no incident in this history" in run.stdout
