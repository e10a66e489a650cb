"""What git said, as a type: every fetch or push failure is classified once, by the git adapter.

The outputs are git's own (and GitHub's) words for each kind of failure; the kind is the
exception type the adapter raises, and the reason shown is git's line that says why, on one line.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchops.adapters.git import Git, PushDeclined, PushRejected, RemoteError, RepositoryMissing
from batchops.adapters.git.errors import KINDS, failure_type, git_reason, reason, refusal_hint


@pytest.mark.parametrize(
    ("stderr", "kind"),
    [
        ("fatal: Authentication failed for 'https://github.com/o/r.git/'", "auth"),
        ("fatal: could not read Username for 'https://github.com': terminal prompts disabled", "auth"),
        (
            "remote: Permission to o/r.git denied to bot.\n"
            "fatal: unable to access 'https://github.com/o/r.git/': The requested URL returned error: 403",
            "auth",
        ),
        ("git@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.", "auth"),
        ("! [rejected]        main -> main (fetch first)\nerror: failed to push some refs", "rejected"),
        ("!\ta403b0c0ffee:refs/heads/main\t[rejected] (non-fast-forward)", "rejected"),
        ("! [remote rejected] main -> main (cannot lock ref 'refs/heads/main': is at 1 but expected 2)", "rejected"),
        ("! [remote rejected] main -> main (protected branch hook declined)", "declined"),
        ("fatal: couldn't find remote ref release", "missing-branch"),
        ("fatal: unable to access 'https://github.com/o/r.git/': Could not resolve host: github.com", "unreachable"),
        (
            "fatal: unable to access 'http://127.0.0.1:9/o/r.git/': "
            "Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server",
            "unreachable",
        ),
        (
            "ssh: connect to host github.com port 22: Connection refused\n"
            "fatal: Could not read from remote repository.",
            "unreachable",
        ),
        (
            "ssh: Could not resolve hostname github.invalid: Name or service not known\n"
            "fatal: Could not read from remote repository.",
            "unreachable",
        ),
        (
            "fatal: '../remote.git' does not appear to be a git repository\n"
            "fatal: Could not read from remote repository.\n\n"
            "Please make sure you have the correct access rights\nand the repository exists.",
            "missing-remote",
        ),
        (
            "remote: Repository not found.\nfatal: repository 'https://github.com/o/gone.git/' not found",
            "missing-remote",
        ),
        ("error: RPC failed; HTTP 502 curl 22 The requested URL returned error: 502", "transient"),
        ("fatal: the remote end hung up unexpectedly", "transient"),
    ],
)
def test_git_failures_are_classified(stderr: str, kind: str) -> None:
    assert failure_type(stderr).kind == kind


CHECKED_OUT = (
    "remote: error: refusing to update checked out branch: refs/heads/main\n"
    "remote: error: By default, updating the current branch in a non-bare repository\n"
    "To /srv/registry\n"
    "!\trefs/batchops/persist:refs/heads/main\t[remote rejected] (branch is currently checked out)\n"
    "Done\n"
    "error: failed to push some refs to '/srv/registry'"
)


def test_a_checked_out_branch_on_the_remote_is_a_refusal_that_will_not_change() -> None:
    assert failure_type(CHECKED_OUT) is PushDeclined
    assert "branch is currently checked out" in reason(CHECKED_OUT)
    assert "refusing to update checked out branch" in reason(CHECKED_OUT)
    assert "updateInstead" in refusal_hint(CHECKED_OUT)


@pytest.mark.parametrize(
    "status",
    [
        "[remote rejected] (pre-receive hook declined)",
        "[remote rejected] (deny updating a hidden ref)",
        "[remote rejected] (shallow update not allowed)",
        "[remote rejected] (missing necessary objects)",
        "[remote rejected] (some reason a server invents)",
    ],
)
def test_any_remote_refusal_that_is_not_a_race_fails_at_once_with_its_reason(status: str) -> None:
    output = f"!\trefs/batchops/persist:refs/heads/main\t{status}\nerror: failed to push some refs"
    assert failure_type(output) is PushDeclined
    assert status.split("(", 1)[1].rstrip(")") in reason(output)


def test_an_atomic_push_that_failed_because_of_a_race_is_a_race() -> None:
    output = (
        "!\trefs/batchops/persist:refs/heads/main\t[rejected] (fetch first)\n"
        "!\t:refs/batchops/pending/main/ab\t[rejected] (atomic push failed)\n"
    )
    assert failure_type(output) is PushRejected


def test_the_reason_is_one_line_whatever_the_remote_sends() -> None:
    output = (
        "remote: GH006: Protected branch\u2028::error::forged\n"
        "! [remote rejected] main -> main (protected branch hook declined)"
    )
    found = reason(output)
    assert "\n" not in found and "\u2028" not in found
    assert "GH006" in found and "protected branch hook declined" in found


@given(st.text())
def test_classification_never_fails_and_reasons_are_single_lines(output: str) -> None:
    assert failure_type(output) in set(KINDS)
    found = reason(output)
    assert not re.search(r"[\r\n\u2028\u2029\u0085]", found)


@pytest.mark.parametrize(
    ("output", "said"),
    [
        (
            "ssh: connect to host github.com port 22: Connection refused\n"
            "fatal: Could not read from remote repository.\n\n"
            "Please make sure you have the correct access rights",
            "ssh: connect to host github.com port 22: Connection refused",
        ),
        (
            "fatal: '../remote.git' does not appear to be a git repository\n"
            "fatal: Could not read from remote repository.",
            "fatal: '../remote.git' does not appear to be a git repository",
        ),
        (
            "remote: Repository not found.\nfatal: repository 'https://github.com/o/gone.git/' not found",
            "remote: Repository not found.",
        ),
    ],
)
def test_the_reason_given_for_a_failed_fetch_is_the_line_that_says_why(output: str, said: str) -> None:
    assert git_reason(output) == said


def test_an_atomic_transaction_that_failed_on_a_ref_deleted_meanwhile_is_a_race() -> None:
    """Two jobs carried the same post: the second one's delete finds the ref gone."""
    output = (
        "remote: error: cannot lock ref 'refs/batchops/pending/main/9bd6': "
        "unable to resolve reference 'refs/batchops/pending/main/9bd6'\n"
        "!\t:refs/batchops/pending/main/9bd6\t[remote rejected] (atomic transaction failed)\n"
        "!\trefs/batchops/persist:refs/heads/main\t[remote rejected] (atomic transaction failed)\n"
    )
    assert failure_type(output) is PushRejected


# --- raised by the verbs, against real repositories -------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.test",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.test",
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def two_clones(tmp_path: Path) -> tuple[Path, Path, Path]:
    bare = tmp_path / "remote.git"
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    first, second = tmp_path / "first", tmp_path / "second"
    _git(tmp_path, "clone", "-q", str(bare), str(first))
    (first / "a.txt").write_text("a\n")
    _git(first, "add", "-A")
    _git(first, "commit", "-qm", "a")
    _git(first, "push", "-q", "origin", "HEAD:main")
    _git(tmp_path, "clone", "-q", str(bare), str(second))
    return bare, first, second


def test_a_push_that_lost_the_race_is_raised_as_push_rejected(two_clones: tuple[Path, Path, Path]) -> None:
    _, first, second = two_clones
    for work, text in ((first, "first\n"), (second, "second\n")):
        (work / "a.txt").write_text(text)
        _git(work, "commit", "-qam", text.strip())
    Git(first).push("origin", "HEAD:refs/heads/main")
    with pytest.raises(PushRejected) as raised:
        Git(second).push("origin", "HEAD:refs/heads/main")
    assert raised.value.kind == "rejected" and "rejected" in raised.value.output


def test_a_checked_out_branch_of_a_non_bare_remote_is_raised_as_declined(tmp_path: Path) -> None:
    remote, work = tmp_path / "remote", tmp_path / "work"
    _git(tmp_path, "init", "-q", "-b", "main", str(remote))
    (remote / "a.txt").write_text("a\n")
    _git(remote, "add", "-A")
    _git(remote, "commit", "-qm", "a")
    _git(tmp_path, "clone", "-q", str(remote), str(work))
    (work / "a.txt").write_text("b\n")
    _git(work, "commit", "-qam", "b")
    with pytest.raises(PushDeclined) as raised:
        Git(work).push("origin", "HEAD:refs/heads/main")
    assert "updateInstead" in refusal_hint(raised.value.output)


def test_a_fetch_from_an_address_with_no_repository_is_raised_as_repository_missing(
    two_clones: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, first, _ = two_clones
    _git(first, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    with pytest.raises(RepositoryMissing) as raised:
        Git(first).fetch("origin", "+refs/heads/main:refs/remotes/origin/main")
    assert isinstance(raised.value, RemoteError) and "gone.git" in git_reason(raised.value.output)
