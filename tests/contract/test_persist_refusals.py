"""persist-with-retry: a refusal that will not change fails at once with the remote's reason; races are retried.

Real remotes on disk (bare and non-bare), real hooks; time.sleep is patched
only to count the backoffs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchops import cli
from batchops.adapters import controlfile, journal
from batchops.adapters.runner import parse_output_file
from batchops.core import control
from tests.support.gitrepo import clone, forget_git_identity, git, make_remote, race_first_push

NOW = "2026-06-29T10:00:00Z"


@pytest.fixture(autouse=True)
def _no_git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like a fresh runner: no global git identity (tests that want one configure it)."""
    forget_git_identity(tmp_path, monkeypatch)


@pytest.fixture
def sleeps(mocker):  # type: ignore[no-untyped-def]
    return mocker.patch("time.sleep")


def persist(work: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, dict[str, str]]:
    monkeypatch.chdir(work)
    out = work.parent / "gh-output"
    out.write_text("")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    return cli.main(["persist-with-retry", *args]), parse_output_file(out.read_text())


def record(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)
    controlfile.mutate(
        "batch-control.json", "breaker.record", {"ecosystem": "npm", "outcomes": ["failure"], "at": NOW}, at=NOW
    )


def test_a_non_bare_remote_with_the_branch_checked_out_fails_at_once_with_its_reason(
    tmp_path, monkeypatch, sleeps, capsys
) -> None:  # type: ignore[no-untyped-def]
    """The issue's case: 40 attempts over 157 s and `failed to push some refs`; now one attempt and the reason."""
    upstream = tmp_path / "upstream"
    git(tmp_path, "init", "-q", "-b", "main", str(upstream))
    (upstream / "batch-control.json").write_text(control.dumps(json.loads(control.TEMPLATE)))
    git(upstream, "add", "-A")
    git(upstream, "commit", "-q", "-m", "seed")
    work = clone(upstream, tmp_path / "work")
    record(work, monkeypatch)
    code, outputs = persist(work, monkeypatch)
    err = capsys.readouterr().err
    assert code == 1 and outputs == {}
    assert sleeps.call_count == 0  # not retried
    assert "branch is currently checked out" in err
    assert "receive.denyCurrentBranch updateInstead" in err  # the fix
    assert "failed to push some refs" not in err.split("(fix:")[0]  # the reason, not git's summary
    assert len(journal.read()) == 1  # nothing lost


def test_a_hook_that_declines_fails_at_once_with_the_hooks_own_words(tmp_path, monkeypatch, sleeps, capsys) -> None:  # type: ignore[no-untyped-def]
    bare, work = make_remote(tmp_path, {"batch-control.json": control.dumps(json.loads(control.TEMPLATE))})
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'policy: control-plane commits need a ticket id' >&2\nexit 1\n")
    hook.chmod(0o755)
    record(work, monkeypatch)
    code, _ = persist(work, monkeypatch)
    err = capsys.readouterr().err
    assert code == 1 and sleeps.call_count == 0
    assert "pre-receive hook declined" in err and "policy: control-plane commits need a ticket id" in err


def test_a_hook_message_cannot_inject_a_workflow_command(tmp_path, monkeypatch, sleeps, capsys) -> None:  # type: ignore[no-untyped-def]
    bare, work = make_remote(tmp_path, {"batch-control.json": control.dumps(json.loads(control.TEMPLATE))})
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nprintf 'no\\342\\200\\250::error::PWN\\n' >&2\nexit 1\n")
    hook.chmod(0o755)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    record(work, monkeypatch)
    code, _ = persist(work, monkeypatch)
    out = capsys.readouterr().out
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "::error::PWN" not in out.replace(errors[0], "")
    assert "\u2028" not in out


def test_a_race_is_retried_and_lands(tmp_path, monkeypatch, mocker, sleeps) -> None:  # type: ignore[no-untyped-def]
    from batchops.adapters.git import Git

    bare, work = make_remote(tmp_path, {"batch-control.json": control.dumps(json.loads(control.TEMPLATE)), "x": "1\n"})
    other = clone(bare, tmp_path / "other")
    (other / "x").write_text("2\n")
    git(other, "commit", "-q", "-am", "other")
    race_first_push(mocker, Git, other)
    record(work, monkeypatch)
    code, outputs = persist(work, monkeypatch)
    assert code == 0 and outputs["attempts"] == "2" and sleeps.call_count == 1
    assert git(bare, "show", "main:x") == "2"
