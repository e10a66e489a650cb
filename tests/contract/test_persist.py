"""persist-with-retry: commit the control state, re-apply operations on a rejected push, lose nothing.

Real bare remotes on disk and real git; pytest-mock only for sleeps and to
inject a competing push (the race) or a fault at a precise moment.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from batchops import cli
from batchops.adapters import controlfile, journal
from batchops.adapters.git import BOT_EMAIL, BOT_NAME, Git, GitError
from batchops.adapters.runner import parse_output_file
from batchops.core import control
from batchops.core import persist as rules
from batchops.engines import carried, persist
from batchops.errors import OperationConflict
from tests.cli_helpers import run_cli
from tests.support.gitrepo import clone, commit_all, forget_git_identity, git, make_remote
from tests.support.operations import operation

NOW = "2026-06-29T10:00:00Z"
CONTROL = json.loads(control.TEMPLATE)


@pytest.fixture(autouse=True)
def _no_git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like a fresh runner: no global git identity (tests that want one configure it)."""
    forget_git_identity(tmp_path, monkeypatch)


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    """A bare remote with the control file on main, and this job's clone of it."""
    return make_remote(tmp_path, {"batch-control.json": control.dumps(CONTROL), "README.md": "registry\n"})


def remote_control(bare: Path, branch: str = "main") -> dict[str, Any]:
    return json.loads(git(bare, "show", f"{branch}:batch-control.json"))


def remote_head(bare: Path, branch: str = "main") -> str:
    return git(bare, "rev-parse", branch)


def batchops(clone_dir: Path, *args: str, journal_file: Path | None = None) -> None:
    """Another job or an operator: the real CLI in its own clone with its own journal."""
    env = {"BATCHOPS_JOURNAL": str(journal_file)} if journal_file else {}
    run = run_cli([*args], clone_dir, env=env, actions=False)
    assert run.returncode == 0, run.log


def other_job(tmp_path: Path, bare: Path, name: str, *commands: list[str]) -> Path:
    """Clone, run batchops commands, persist: what a concurrent job does."""
    work = clone(bare, tmp_path / name)
    journal_file = tmp_path / f"{name}-journal.jsonl"
    for command in commands:
        batchops(work, *command, journal_file=journal_file)
    batchops(work, "persist-with-retry", journal_file=journal_file)
    return work


def run_persist(work: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, dict[str, str]]:
    """This job's persist, in-process (so sleeps and faults can be injected), as in a runner step."""
    monkeypatch.chdir(work)
    out = work.parent / f"{work.name}.gh-output"
    out.write_text("")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    code = cli.main(["persist-with-retry", *args])
    return code, parse_output_file(out.read_text())


def mutate(
    work: Path,
    monkeypatch: pytest.MonkeyPatch,
    op: str,
    args: dict[str, Any],
    file: str = "batch-control.json",
    **kwargs: Any,
) -> None:
    monkeypatch.chdir(work)
    controlfile.mutate(file, op, {**args, "at": NOW}, at=NOW, **kwargs)


@pytest.fixture
def race(mocker):  # type: ignore[no-untyped-def]
    """``race(action, times=1)``: run ``action()`` right before this job's next push(es)."""
    original = Git.run

    def install(action, times: int = 1):  # type: ignore[no-untyped-def]
        left = {"n": times}

        def run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            if args and args[0] == "push" and left["n"] > 0:
                left["n"] -= 1
                action()
            return original(self, *args, **kwargs)

        mocker.patch.object(Git, "run", run)

    return install


@pytest.fixture
def no_sleep(mocker):  # type: ignore[no-untyped-def]
    """time.sleep does not wait; returns the delays persist-with-retry asked for."""
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        frame = sys._getframe(1)
        for _ in range(6):  # through the mock's own frames to the caller
            if frame is None:
                break
            if frame.f_globals.get("__name__") == "batchops.engines.persist":
                delays.append(seconds)
                break
            frame = frame.f_back

    mocker.patch("time.sleep", side_effect=sleep)
    return delays


# --- the happy path -----------------------------------------------------------------------


def test_pushes_the_control_file_as_the_bot_with_the_operation_trailers(remote, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    entry = journal.read()[0]
    code, outputs = run_persist(work, monkeypatch)
    assert code == 0
    assert outputs == {"pushed": "true", "attempts": "1", "commit-sha": remote_head(bare)}
    assert remote_control(bare)["disabled_ecosystems"] == ["npm"]
    author = git(bare, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "main")
    bot = f"{BOT_NAME} <{BOT_EMAIL}>"
    assert author == f"{bot}|{bot}"
    message = git(bare, "log", "-1", "--format=%B", "main")
    assert message.startswith("batchops: update control state [skip ci]")
    assert f"Batchops-Operation-Id: {entry['id']}" in message
    # the checkout is now the pushed commit, clean, and the journal no longer carries the operation
    assert git(work, "rev-parse", "HEAD") == remote_head(bare)
    assert git(work, "status", "--porcelain") == ""
    assert journal.read() == []


def test_a_configured_identity_and_message_are_used(remote, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    git(work, "config", "user.name", "Release Bot")
    git(work, "config", "user.email", "release@example.test")
    mutate(work, monkeypatch, "control.stop", {"reason": "checksum drift"})
    code, outputs = run_persist(work, monkeypatch, "--commit-message", "chore: stop batches [skip ci]")
    assert code == 0 and outputs["pushed"] == "true"
    assert (
        git(bare, "log", "-1", "--format=%an <%ae>|%s", "main")
        == "Release Bot <release@example.test>|chore: stop batches [skip ci]"
    )


def test_no_change_makes_no_commit_and_reports_pushed_false(remote, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    before = remote_head(bare)
    code, outputs = run_persist(work, monkeypatch)
    assert code == 0
    assert outputs == {"pushed": "false", "attempts": "1", "commit-sha": ""}
    assert remote_head(bare) == before


def test_an_operation_that_changes_nothing_on_the_remote_makes_no_commit(remote, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    other_job(tmp_path, bare, "operator", ["disable", "npm", "--new"])
    before = remote_head(bare)
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})  # on this job's older copy
    code, outputs = run_persist(work, monkeypatch)
    assert code == 0 and outputs["pushed"] == "false"
    assert remote_head(bare) == before
    assert journal.read() == []  # satisfied: not carried into a later persist


# --- re-application respects what others did ---------------------------------------------------


def test_rejected_push_reapplies_on_the_remote_copy_and_an_operator_stop_that_landed_first_stays(
    remote, tmp_path, monkeypatch, race, no_sleep
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "homebrew"})
    race(lambda: other_job(tmp_path, bare, "operator", ["stop", "--reason", "bad bottles", "--now", NOW]))
    code, outputs = run_persist(work, monkeypatch)
    assert code == 0
    assert outputs["pushed"] == "true" and outputs["attempts"] == "2"
    final = remote_control(bare)
    assert final["enabled"] is False and final["reason"] == "bad bottles"  # the operator's stop stays
    assert final["disabled_ecosystems"] == ["homebrew"]  # and this job's update landed
    assert len(no_sleep) == 1
    assert json.loads((work / "batch-control.json").read_text()) == final
    assert git(work, "status", "--porcelain") == ""
    # history is linear: this job's commit sits on top of the operator's
    assert git(bare, "rev-list", "--count", "main") == "3"


def test_the_engine_waits_through_the_clock_it_is_given_and_names_each_attempts_outcome(
    remote, tmp_path, monkeypatch, race, mocker
) -> None:  # type: ignore[no-untyped-def]
    """The engine, called as a command calls it: options in, a result out; its waits go to the injected clock."""
    bare, work = remote
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "homebrew"})
    race(lambda: other_job(tmp_path, bare, "operator", ["stop", "--reason", "bad bottles", "--now", NOW]))
    waits: list[float] = []
    outcomes = mocker.spy(persist, "attempt")
    clock = persist.Clock(sleep=waits.append, monotonic=time.monotonic, time=time.time)
    landed = persist.persist(persist.Options(clock=clock, rng=random.Random(7), backoff=rules.Backoff(0.1, 8)))
    assert landed.pushed and landed.attempts == 2 and landed.commit_sha == remote_head(bare)
    assert [call for call in outcomes.spy_return_list] == [persist.Outcome.REJECTED, persist.Outcome.PUSHED]
    assert len(waits) == 1 and 0.0 <= waits[0] <= 8.0  # full jitter below the cap, waited through the clock
    assert remote_control(bare)["disabled_ecosystems"] == ["homebrew"] and journal.read() == []


def test_two_jobs_recording_the_same_ecosystem_both_count(remote, tmp_path, monkeypatch, race, no_sleep) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    batchops(
        work, "breaker-update", "--ecosystem", "homebrew", "--outcome", "failure", "--linux-minutes", "7", "--now", NOW
    )
    race(
        lambda: other_job(
            tmp_path,
            bare,
            "job-b",
            ["breaker-update", "--ecosystem", "homebrew", "--outcome", "success", "--linux-minutes", "5", "--now", NOW],
        )
    )
    code, outputs = run_persist(work, monkeypatch)
    assert code == 0 and outputs["attempts"] == "2"
    final = remote_control(bare)
    assert sorted(final["circuit_breaker"]["homebrew"]["window"]) == ["failure", "success"]
    assert final["budget"]["linux_minutes_used"] == 12


def test_a_second_persist_in_the_same_job_does_not_reapply_what_was_pushed(remote, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    assert run_persist(work, monkeypatch)[0] == 0
    operator = other_job(tmp_path, bare, "operator", ["enable", "npm"])
    assert operator.exists()
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "pypi"})
    code, outputs = run_persist(work, monkeypatch)
    assert code == 0 and outputs["pushed"] == "true"
    assert remote_control(bare)["disabled_ecosystems"] == ["pypi"]  # npm stays enabled


def test_operations_already_on_the_remote_are_not_applied_again(remote, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An operator committed `batchops stop` by hand (its message names the operation id) and later resumed."""
    bare, work = remote
    monkeypatch.chdir(work)
    batchops(work, "stop", "--reason", "incident", "--now", NOW)
    message = Path(journal.path()).parent / "commit-message.txt"
    git(work, "commit", "-q", "-F", str(message), "batch-control.json")
    git(work, "push", "-q", "origin", "main")
    other_job(tmp_path, bare, "operator", ["resume", "--now", NOW])
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    code, _ = run_persist(work, monkeypatch)
    assert code == 0
    final = remote_control(bare)
    assert final["enabled"] is True  # the stale stop in the journal was not re-applied
    assert final["disabled_ecosystems"] == ["npm"]


def test_a_push_that_landed_though_git_reported_a_failure_is_not_applied_twice(
    remote, monkeypatch, mocker, no_sleep
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    batchops(work, "breaker-update", "--ecosystem", "npm", "--outcome", "failure", "--now", NOW)
    original = Git.run
    calls = {"push": 0}

    def run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = original(self, *args, **kwargs)
        if args[0] == "push":
            calls["push"] += 1
            if calls["push"] == 1:  # the connection dropped after the remote took the push
                raise GitError("push failed", returncode=128, stderr="fatal: the remote end hung up unexpectedly")
        return result

    mocker.patch.object(Git, "run", run)
    code, outputs = run_persist(work, monkeypatch)
    assert code == 0
    assert outputs["pushed"] == "true" and outputs["commit-sha"] == remote_head(bare)
    assert remote_control(bare)["circuit_breaker"]["npm"]["window"] == ["failure"]
    assert calls["push"] == 1


# --- when re-applying is impossible: clear error, nothing pushed ----------------------------------


@operation("persisttest.claim")
def _claim(document: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    owner = document.get("x_claimed_by")
    if owner not in (None, args["owner"]):
        raise OperationConflict(f"already claimed by {owner}", field="x_claimed_by", hint="let the owner release it")
    document["x_claimed_by"] = args["owner"]
    return {}


@operation("persisttest.append_disabled")
def _append_disabled(document: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    document.setdefault("disabled_ecosystems", []).append(args["ecosystem"])  # blind: may duplicate
    return {}


def push_from_elsewhere(tmp_path: Path, bare: Path, name: str, files: dict[str, str]) -> str:
    other = clone(bare, tmp_path / name)
    for rel, text in files.items():
        (other / rel).write_text(text)
    sha = commit_all(other, f"{name} edits")
    git(other, "push", "-q", "origin", "main")
    return sha


def test_an_operation_in_conflict_with_the_remote_stops_and_pushes_nothing(
    remote, tmp_path, monkeypatch, race, no_sleep
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    mutate(work, monkeypatch, "persisttest.claim", {"owner": "job-a"})
    race(
        lambda: push_from_elsewhere(
            tmp_path, bare, "job-b", {"batch-control.json": control.dumps({**CONTROL, "x_claimed_by": "job-b"})}
        )
    )
    code, outputs = run_persist(work, monkeypatch)
    head = remote_head(bare)
    assert code != 0 and outputs == {}
    assert remote_control(bare)["x_claimed_by"] == "job-b"
    assert remote_head(bare) == head
    assert len(journal.read()) == 1  # kept for a re-run


def test_a_reapplied_state_that_fails_validation_stops_and_pushes_nothing(
    remote, tmp_path, monkeypatch, race, no_sleep, capsys
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    mutate(work, monkeypatch, "persisttest.append_disabled", {"ecosystem": "npm"})
    pushed = {}
    race(
        lambda: pushed.setdefault(
            "sha",
            push_from_elsewhere(
                tmp_path, bare, "op", {"batch-control.json": control.dumps({**CONTROL, "disabled_ecosystems": ["npm"]})}
            ),
        )
    )
    code, _ = run_persist(work, monkeypatch)
    assert code != 0
    assert remote_head(bare) == pushed["sha"]
    err = capsys.readouterr().err
    assert "batch-control.json" in err and "invalid" in err and "disabled_ecosystems" in err


def test_a_corrupt_remote_control_file_is_a_clear_error_and_nothing_is_pushed(
    remote, tmp_path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    corrupt = push_from_elsewhere(tmp_path, bare, "vandal", {"batch-control.json": '{"enabled": true,,}'})
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    code, outputs = run_persist(work, monkeypatch)
    assert code == 1 and outputs == {}
    assert remote_head(bare) == corrupt
    err = capsys.readouterr().err
    assert "batch-control.json" in err and "corrupt" in err and "not valid JSON" in err
    assert "nothing was pushed" in err


# --- faults ----------------------------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_moved_remote_fails_at_once_with_gits_reason_and_the_fix(remote, monkeypatch, no_sleep, capsys) -> None:  # type: ignore[no-untyped-def]
    """`mv ../remote.git ../remote.gone`: one attempt, not 40 over two minutes."""
    bare, work = remote
    bare.rename(bare.with_name("remote.gone"))
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    code, outputs = run_persist(work, monkeypatch)
    err = capsys.readouterr().err
    assert code == 1 and outputs == {}
    assert no_sleep == []  # not retried
    assert "does not appear to be a git repository" in err and str(bare) in err
    assert "git remote set-url origin" in err  # the fix
    assert "max-attempts" not in err
    assert len(journal.read()) == 1  # nothing lost


def test_an_unreachable_host_is_tried_a_couple_of_times_each_retry_logged_then_fails_with_its_reason(
    remote, monkeypatch, no_sleep, capsys
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    git(work, "remote", "set-url", "origin", f"http://127.0.0.1:{_closed_port()}/registry.git")
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    code, _ = run_persist(work, monkeypatch)
    err = capsys.readouterr().err
    assert code == 1
    assert len(no_sleep) == persist.rules.UNREACHABLE_ATTEMPTS - 1
    retries = [line for line in err.splitlines() if line.startswith("attempt ")]
    assert len(retries) == len(no_sleep) and all("Couldn't connect to server" in line for line in retries)
    assert f"failed {persist.rules.UNREACHABLE_ATTEMPTS} times in a row" in err and "cannot be reached" in err
    assert "git ls-remote origin" in err  # the fix
    assert len(journal.read()) == 1


def test_a_network_blip_is_retried_until_the_remote_answers_again(remote, monkeypatch, mocker) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    git(work, "remote", "set-url", "origin", f"http://127.0.0.1:{_closed_port()}/registry.git")
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        git(work, "remote", "set-url", "origin", str(bare))  # the network is back

    mocker.patch("time.sleep", side_effect=sleep)
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    code, outputs = run_persist(work, monkeypatch)
    assert code == 0 and outputs["pushed"] == "true" and outputs["attempts"] == "2"
    assert remote_control(bare)["disabled_ecosystems"] == ["npm"]


def test_giving_up_after_max_attempts_keeps_the_operations_and_logs_every_retry(
    remote, monkeypatch, mocker, no_sleep, capsys
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    real_run = Git.run

    def failing_fetch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if "fetch" in args:  # fault injection: the host answers 502 every time
            raise GitError(
                "fetch failed", output="error: RPC failed; HTTP 502 curl 22 The requested URL returned error: 502"
            )
        return real_run(self, *args, **kwargs)

    mocker.patch.object(Git, "run", failing_fetch)
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    code, _ = run_persist(work, monkeypatch, "--max-attempts", "3")
    err = capsys.readouterr().err
    assert code == 1
    assert len(no_sleep) == 2
    assert [line.split(" in ")[0] for line in err.splitlines() if line.startswith("attempt ")] == [
        "attempt 2/3",
        "attempt 3/3",
    ]
    assert "gave up after 3 attempts" in err and "HTTP 502" in err
    assert len(journal.read()) == 1


class _Unauthorized(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def auth_server():  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    server.socket.settimeout(0.5)  # accept() never waits for ever
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_authentication_failure_stops_at_once_and_never_prints_the_token(
    remote, auth_server, monkeypatch, no_sleep, capsys
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    token = "ghs_" + "S3cr3tT0k3n" * 3
    git(work, "remote", "set-url", "origin", f"http://x-access-token:{token}@{auth_server}/tsuku/registry.git")
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    code, _ = run_persist(work, monkeypatch)
    captured = capsys.readouterr()
    log = captured.out + captured.err
    assert code == 1
    assert len(no_sleep) == 0  # not retried
    assert "authentication failed" in log
    assert "contents: write" in log  # the fix
    assert token not in log.replace(f"::add-mask::{token}", "")  # only ever inside the mask command


def test_a_token_in_the_remote_url_is_masked_in_actions(remote, auth_server, monkeypatch, no_sleep, capsys) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    token = "ghp_" + "A1b2C3d4" * 4
    git(work, "remote", "set-url", "origin", f"https://x-access-token:{token}@{auth_server}/r.git")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    run_persist(work, monkeypatch)
    out = capsys.readouterr().out
    assert out.startswith(f"::add-mask::{token}") or f"\n::add-mask::{token}" in out
    assert out.count(token) == 1  # only inside the mask command


def test_a_protected_branch_is_a_clear_error_not_a_retry(remote, monkeypatch, no_sleep, capsys) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'GH006: Protected branch update failed for refs/heads/main.' >&2\nexit 1\n")
    hook.chmod(0o755)
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    code, _ = run_persist(work, monkeypatch)
    assert code == 1 and len(no_sleep) == 0
    assert "declined" in capsys.readouterr().err


# --- other files: `paths`, journaled files with their own schema -------------------------------


def test_paths_carries_a_file_written_without_operations(remote, tmp_path, monkeypatch, race, no_sleep) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    (work / "drift").mkdir()
    (work / "drift" / "baseline.json").write_text('{"recipes": {}}\n')
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    race(lambda: other_job(tmp_path, bare, "job-b", ["disable", "pypi", "--new"]))
    code, outputs = run_persist(work, monkeypatch, "--paths", "drift/baseline.json")
    assert code == 0 and outputs["attempts"] == "2"
    assert git(bare, "show", "main:drift/baseline.json") == '{"recipes": {}}'
    assert sorted(remote_control(bare)["disabled_ecosystems"]) == ["npm", "pypi"]


def test_a_file_without_operations_changed_on_both_sides_is_a_conflict(
    remote, tmp_path, monkeypatch, race, no_sleep, capsys
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    (work / "README.md").write_text("mine\n")
    race(lambda: push_from_elsewhere(tmp_path, bare, "other", {"README.md": "theirs\n"}))
    code, _ = run_persist(work, monkeypatch, "--paths", "README.md")
    assert code == 1
    assert git(bare, "show", "main:README.md") == "theirs"
    assert "no recorded operations" in capsys.readouterr().err


def test_a_journaled_second_file_is_reapplied_and_validated_with_its_recorded_schema(
    remote, tmp_path, monkeypatch, race, no_sleep
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    seed = clone(bare, tmp_path / "seed2")
    (seed / "staging").mkdir()
    (seed / "staging" / "control.json").write_text(control.dumps(CONTROL))
    commit_all(seed, "staging control")
    git(seed, "push", "-q", "origin", "main")
    git(work, "pull", "-q", "origin", "main")
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "cargo"}, file="staging/control.json")
    assert journal.read()[0]["schema"] == "batch-control"
    race(
        lambda: push_from_elsewhere(
            tmp_path, bare, "other", {"staging/control.json": control.dumps({**CONTROL, "disabled_ecosystems": ["go"]})}
        )
    )
    code, _ = run_persist(work, monkeypatch)
    assert code == 0
    assert json.loads(git(bare, "show", "main:staging/control.json"))["disabled_ecosystems"] == ["go", "cargo"]


def test_the_repository_is_the_one_holding_the_control_file(remote, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """actions/checkout with `path: registry`: the control file lives in a subfolder of the workspace."""
    bare, _ = remote
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    clone(bare, workspace / "registry")
    monkeypatch.chdir(workspace)
    controlfile.mutate("registry/batch-control.json", "control.disable", {"ecosystem": "npm", "at": NOW}, at=NOW)
    code, outputs = run_persist(workspace, monkeypatch, "--control-file", "registry/batch-control.json")
    assert code == 0 and outputs["pushed"] == "true"
    assert remote_control(bare)["disabled_ecosystems"] == ["npm"]


def test_a_detached_head_needs_a_branch(remote, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    git(work, "checkout", "-q", "--detach")
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    code, _ = run_persist(work, monkeypatch)
    assert code == 2 and "branch" in capsys.readouterr().err
    code, outputs = run_persist(work, monkeypatch, "--branch", "main")
    assert code == 0 and outputs["pushed"] == "true"
    assert remote_control(bare)["disabled_ecosystems"] == ["npm"]


def test_a_branch_missing_on_the_remote_is_a_usage_error(remote, monkeypatch, no_sleep, capsys) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    code, _ = run_persist(work, monkeypatch, "--branch", "release")
    assert code == 2 and len(no_sleep) == 0
    assert "'release' does not exist" in capsys.readouterr().err


def test_inputs_come_from_the_action_environment(remote, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    monkeypatch.setenv("INPUT_COMMIT_MESSAGE", "ops: record npm [skip ci]")
    monkeypatch.setenv("INPUT_BRANCH", "main")
    monkeypatch.setenv("INPUT_MAX_ATTEMPTS", "5")
    code, outputs = run_persist(work, monkeypatch)
    assert code == 0 and outputs["pushed"] == "true"
    assert git(bare, "log", "-1", "--format=%s", "main") == "ops: record npm [skip ci]"


def test_a_bad_max_attempts_is_a_usage_error(remote, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, work = remote
    assert run_persist(work, monkeypatch, "--max-attempts", "0")[0] == 2


# --- the journal ------------------------------------------------------------------------------


def test_journal_entries_name_the_schema_of_their_file(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "batch-control.json").write_text(control.dumps(CONTROL))
    controlfile.mutate("batch-control.json", "control.disable", {"ecosystem": "npm", "at": NOW}, at=NOW)
    entry = journal.read()[0]
    assert entry["schema"] == "batch-control" and entry["file"] == "batch-control.json"
    journal.remove({entry["id"]})
    assert journal.read() == [] and os.path.exists(journal.path())


# --- posted operations: whichever job lands next carries them ----------------------------


def _post_for(work: Path, entries: list[dict[str, Any]], name: str) -> str:
    """What a rejected job does: publish its operations under refs/batchops/pending/<branch>/."""
    ref = f"{carried.PENDING}/main/{name}"
    posted = [{**entry, "file": "batch-control.json"} for entry in entries]
    assert carried.post(Git(work), ref, posted, "Job <job@example.test>", now=time.time())
    return ref


def test_the_next_job_to_land_carries_the_operations_a_rejected_job_posted(
    remote, tmp_path, monkeypatch, race, mocker
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    (entry,) = journal.read()
    # this job loses its first push to job B, posts its operation and backs off;
    # meanwhile job C lands its own change and carries this job's operation
    race(lambda: other_job(tmp_path, bare, "job-b", ["disable", "crates.io", "--new"]))
    started_c: list[bool] = []

    def backoff(_: float) -> None:
        frame = sys._getframe(1)
        for _depth in range(8):  # only persist's own backoff, not a subprocess wait loop
            if frame is None or frame.f_globals.get("__name__") == "batchops.engines.persist":
                break
            frame = frame.f_back
        if frame is not None and frame.f_globals.get("__name__") == "batchops.engines.persist" and not started_c:
            started_c.append(True)
            other_job(tmp_path, bare, "job-c", ["disable", "pypi", "--new"])

    mocker.patch("time.sleep", side_effect=backoff)
    code, outputs = run_persist(work, monkeypatch)
    assert code == 0 and outputs["pushed"] == "true" and outputs["attempts"] == "2"
    carrier = outputs["commit-sha"]
    # job C's commit, with job C's prepared message, describes this job's operation too
    assert git(bare, "log", "-1", "--format=%s", carrier).startswith("batchops: disable ecosystem pypi")
    body = git(bare, "log", "-1", "--format=%B", carrier)
    assert f"Batchops-Operation-Id: {entry['id']}" in body
    assert "- control.disable: ecosystem=npm" in body.splitlines()
    assert carrier == remote_head(bare)  # job C's commit: this job pushed nothing itself
    assert remote_control(bare)["disabled_ecosystems"] == ["crates.io", "pypi", "npm"]
    assert git(bare, "for-each-ref", "refs/batchops/") == ""  # the post went with C's push, atomically
    assert journal.read() == []


def test_a_post_is_carried_once_even_when_its_job_comes_back(remote, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    job_a = clone(bare, tmp_path / "job-a")
    monkeypatch.setenv("BATCHOPS_JOURNAL", str(tmp_path / "a.jsonl"))
    mutate(job_a, monkeypatch, "budget.add_minutes", {"macos": 0, "linux": 7})
    (entry_a,) = journal.read()
    _post_for(job_a, [entry_a], "job-a")
    monkeypatch.setenv("BATCHOPS_JOURNAL", str(tmp_path / "c.jsonl"))
    mutate(work, monkeypatch, "budget.add_minutes", {"macos": 0, "linux": 5})
    assert run_persist(work, monkeypatch)[0] == 0  # carries job A's minutes on its first attempt
    assert remote_control(bare)["budget"]["linux_minutes_used"] == 12
    monkeypatch.setenv("BATCHOPS_JOURNAL", str(tmp_path / "a.jsonl"))
    code, outputs = run_persist(job_a, monkeypatch)
    assert code == 0 and outputs["pushed"] == "false"  # already there: nothing to push
    assert remote_control(bare)["budget"]["linux_minutes_used"] == 12  # counted once
    assert journal.read() == []


def test_a_posted_operation_that_no_longer_applies_is_left_to_its_own_job(
    remote, tmp_path, monkeypatch, race, no_sleep
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    job_a = clone(bare, tmp_path / "job-a")
    bad = journal.new_operation("control.disable", "batch-control.json", {"ecosystem": "Not Valid", "at": NOW}, NOW)
    posted = _post_for(job_a, [bad], "job-a")
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    race(lambda: other_job(tmp_path, bare, "job-b", ["disable", "crates.io", "--new"]))
    code, outputs = run_persist(work, monkeypatch)
    assert code == 0 and outputs["pushed"] == "true"
    assert remote_control(bare)["disabled_ecosystems"] == ["crates.io", "npm"]
    assert posted in git(bare, "for-each-ref", "--format=%(refname)")  # not carried, not deleted


def test_a_forged_post_is_never_carried_and_cannot_name_an_operation_in_a_commit(
    remote, tmp_path, monkeypatch, race, no_sleep
) -> None:  # type: ignore[no-untyped-def]
    """Posts come from the remote: an entry that is not a valid operation (here an id that would forge a trailer)."""
    bare, work = remote
    job_a = clone(bare, tmp_path / "job-a")
    forged = journal.new_operation("control.disable", "batch-control.json", {"ecosystem": "pypi", "at": NOW}, NOW)
    forged["id"] = "x\nBatchops-Operation-Id: " + "f" * 32
    posted = _post_for(job_a, [forged], "job-a")
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    race(lambda: other_job(tmp_path, bare, "job-b", ["disable", "crates.io", "--new"]))
    code, _ = run_persist(work, monkeypatch)
    assert code == 0
    assert remote_control(bare)["disabled_ecosystems"] == ["crates.io", "npm"]  # not pypi
    assert "f" * 32 not in git(bare, "log", "--format=%B", "main")
    assert posted in git(bare, "for-each-ref", "--format=%(refname)")  # left alone


def test_the_uncontended_path_posts_nothing(remote, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})
    code, outputs = run_persist(work, monkeypatch)
    assert code == 0 and outputs["attempts"] == "1"
    assert git(bare, "for-each-ref", "refs/batchops/") == ""


def test_a_posted_job_leaves_the_landing_to_the_first_post_then_lands_itself(
    remote, tmp_path, monkeypatch, race, no_sleep
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    # job X, whose post sorts first, posts while this job retries, then vanishes
    job_x = clone(bare, tmp_path / "job-x")
    monkeypatch.setenv("BATCHOPS_JOURNAL", str(tmp_path / "x.jsonl"))
    mutate(job_x, monkeypatch, "control.disable", {"ecosystem": "pypi"})
    (entry_x,) = journal.read()
    monkeypatch.setenv("BATCHOPS_JOURNAL", str(tmp_path / "me.jsonl"))
    mutate(work, monkeypatch, "control.disable", {"ecosystem": "npm"})

    def job_b_lands_then_job_x_posts() -> None:
        other_job(tmp_path, bare, "job-b", ["disable", "crates.io", "--new"])
        _post_for(job_x, [entry_x], "0")

    race(job_b_lands_then_job_x_posts)
    code, outputs = run_persist(work, monkeypatch)
    # rejected once, then waits MAX_YIELDS rounds for job X, then lands both
    assert code == 0 and outputs["attempts"] == str(2 + persist.MAX_YIELDS)
    assert remote_control(bare)["disabled_ecosystems"] == ["crates.io", "npm", "pypi"]
    assert git(bare, "for-each-ref", "refs/batchops/") == ""
