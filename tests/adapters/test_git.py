"""The one git wrapper: errors a person can act on with secrets redacted, commits built without
touching the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchops.adapters import git as gitcmd
from batchops.adapters.git import BOT_EMAIL, BOT_NAME, Git, GitError
from batchops.errors import BatchopsError
from tests.support.gitrepo import commit_all, git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    (root / "a.txt").write_text("a\n")
    commit_all(root, "seed")
    return root


def test_a_failure_is_a_user_error_with_gits_words_and_no_secret(repo: Path) -> None:
    wrapper = Git(repo)
    wrapper.secrets = ["s3cr3t-token"]
    with pytest.raises(GitError) as raised:
        wrapper.run("push", "https://bot:s3cr3t-token@127.0.0.1:9/r.git", "main")
    assert isinstance(raised.value, BatchopsError)
    assert "s3cr3t-token" not in raised.value.message + raised.value.output + raised.value.stderr + " ".join(
        raised.value.git_args
    )
    assert raised.value.git_args[0] == "push"


def test_url_credentials_are_found_and_hidden_from_the_shown_url() -> None:
    secrets, shown = gitcmd.url_secrets("https://x-access-token:ghs_abc@github.com/o/r.git")
    assert secrets == ["ghs_abc"] and shown == "https://github.com/o/r.git"
    assert gitcmd.url_secrets("/srv/registry.git") == ([], "/srv/registry.git")


def test_the_bot_identity_applies_only_when_none_is_configured(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(key, raising=False)
    assert gitcmd.identity_env(repo)["GIT_COMMITTER_EMAIL"] == BOT_EMAIL
    assert gitcmd.identity_env(repo)["GIT_AUTHOR_NAME"] == BOT_NAME
    git(repo, "config", "user.name", "Release Bot")
    git(repo, "config", "user.email", "release@example.test")
    assert gitcmd.identity_env(repo) == {}


def test_a_commit_is_built_from_contents_object_ids_and_deletions_without_touching_the_checkout(repo: Path) -> None:
    wrapper = Git(repo)
    head = wrapper.text("rev-parse", "HEAD")
    blob = wrapper.text("hash-object", "-w", "--stdin", input=b"by id\n")
    odd = 'odd "name"\nwith a newline.txt'
    commit = wrapper.fast_commit(
        head,
        {"new.txt": b"inline\n", "byid.txt": ("100755", blob), "a.txt": None, odd: b"x"},
        "built\n",
        "Bot <bot@example.test>",
        when=1,
    )
    assert wrapper.text("log", "-1", "--format=%s|%cn", commit) == "built|Bot"
    listing = wrapper.tree_entries(commit, ["new.txt", "byid.txt", "a.txt", odd])
    assert set(listing) == {"new.txt", "byid.txt", odd} and listing["byid.txt"] == ("100755", blob)
    _, contents = wrapper.blobs(commit, ["new.txt", odd, "a.txt"])
    assert contents == {"new.txt": b"inline\n", odd: b"x", "a.txt": None}
    assert (repo / "a.txt").exists() and wrapper.text("status", "--porcelain") == ""


def test_staged_changes_are_what_git_add_would_stage_and_the_index_is_left_alone(repo: Path) -> None:
    (repo / ".gitignore").write_text("*.log\n")
    (repo / "data").mkdir()
    (repo / "data" / "new.json").write_text("{}\n")
    (repo / "data" / "skip.log").write_text("x\n")
    (repo / "a.txt").unlink()
    wrapper = Git(repo)
    head = wrapper.text("rev-parse", "HEAD")
    changes, unmatched, refused = wrapper.staged_changes(head, [":(top)data", ":(top)a.txt", ":(top)missing/"])
    assert {path for path, _, _ in changes} == {"data/new.json", "a.txt"}
    assert dict((path, staged) for path, _, staged in changes)["a.txt"] is None
    assert unmatched == [":(top)missing/"] and refused == []
    assert wrapper.text("status", "--porcelain", "--", "a.txt") == "D a.txt"  # the real index still has it
    assert not list((repo / ".git").glob("batchops-index-*"))


def test_the_verbs_answer_with_values_and_absence_is_not_an_error(repo: Path) -> None:
    wrapper = Git(repo)
    head = wrapper.rev_parse("HEAD")
    assert len(head) == 40 and wrapper.rev_parse("no-such-ref") == ""
    assert wrapper.current_branch() == "main" and wrapper.valid_branch_name("main")
    assert not wrapper.valid_branch_name("two..dots")
    assert wrapper.cat_file(head, "a.txt") == b"a\n" and wrapper.cat_file(head, "missing.txt") is None
    assert wrapper.is_ancestor(head, head) and wrapper.message(head) == "seed"


def test_cat_file_batch_answers_are_parsed_in_order_whatever_the_content(repo: Path) -> None:
    binary = b"line one\nline two\n\x00 missing\n"  # newlines and the word git uses for an absent object
    (repo / "b.bin").write_bytes(binary)
    commit_all(repo, "binary")
    wrapper = Git(repo)
    answers = wrapper.read_objects(["HEAD:b.bin", "HEAD:none.txt", "HEAD:a.txt", "0" * 40])
    assert [a[1:] if a else None for a in answers] == [("blob", binary), None, ("blob", b"a\n"), None]
    head, blobs = wrapper.blobs("HEAD", ["a.txt", "none.txt", "b.bin"])
    assert head == wrapper.rev_parse("HEAD") and blobs == {"a.txt": b"a\n", "none.txt": None, "b.bin": binary}


def test_a_root_commit_is_built_without_a_parent(repo: Path) -> None:
    wrapper = Git(repo)
    commit = wrapper.fast_commit("", {"operations.json": b"{}"}, "posted", "Job <job@example.test>", when=1_700_000_000)
    assert git(repo, "rev-list", "--count", commit) == "1"
    assert (
        git(repo, "show", f"{commit}:operations.json") == "{}"
        and git(repo, "log", "-1", "--format=%s", commit) == "posted"
    )


def test_messages_are_read_back_whole_newest_first(repo: Path) -> None:
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "second\n\nbody line\n\nBatchops-Operation-Id: " + "a" * 32)
    wrapper = Git(repo)
    (newest, body), (oldest, subject) = wrapper.messages("-n2", "HEAD")
    assert newest == wrapper.rev_parse("HEAD") and oldest == wrapper.rev_parse("HEAD~1")
    assert body.startswith("second\n\nbody line\n\nBatchops-Operation-Id: " + "a" * 32) and subject.strip() == "seed"
