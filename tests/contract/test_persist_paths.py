"""persist-with-retry ``paths``: files, folders and globs, as ``git add`` takes them; a path it cannot use is named.

Real bare remotes on disk and real git; pytest-mock only for sleeps and to
inject a competing push at a precise moment.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from batchops import cli
from batchops.adapters import controlfile, journal
from batchops.adapters.git import Git
from batchops.adapters.runner import parse_output_file
from batchops.core import control
from tests.conftest import corpus_dir
from tests.support.gitrepo import clone, forget_git_identity, git, make_remote, race_first_push

NOW = "2026-06-29T10:00:00Z"
CONTROL = json.loads(control.TEMPLATE)


@pytest.fixture(autouse=True)
def _no_git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like a fresh runner: no global git identity (tests that want one configure it)."""
    forget_git_identity(tmp_path, monkeypatch)


@pytest.fixture
def no_sleep(mocker):  # type: ignore[no-untyped-def]
    return mocker.patch("time.sleep")


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    seed = {
        "batch-control.json": control.dumps(CONTROL),
        ".gitignore": "*.log\n",
        "data/metrics/batch-runs-2026-01-01.jsonl": '{"batch_id": "old"}\n',
        "data/failures/old.jsonl": '{"recipe": "old"}\n',
        "recipes/a.toml": "name = 'a'\n",
    }
    return make_remote(tmp_path, seed)


def run_persist(work: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, dict[str, str]]:
    monkeypatch.chdir(work)
    out = work.parent / f"{work.name}.gh-output"
    out.write_text("")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    code = cli.main(["persist-with-retry", *args])
    return code, parse_output_file(out.read_text())


def trip_homebrew(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the batch job records before it persists: a failure for homebrew."""
    monkeypatch.chdir(work)
    controlfile.mutate(
        "batch-control.json", "breaker.record", {"ecosystem": "homebrew", "outcomes": ["failure"], "at": NOW}, at=NOW
    )


def tree(bare: Path, folder: str = "") -> dict[str, str]:
    listing = git(bare, "ls-tree", "-r", "--name-only", "main", *([folder] if folder else []))
    return {name: git(bare, "show", f"main:{name}") for name in listing.splitlines()}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_a_folder_is_committed_as_git_add_would_with_new_changed_and_deleted_files(remote, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    trip_homebrew(work, monkeypatch)
    write(work, {"data/failures/homebrew.jsonl": '{"recipe": "jq"}\n', "data/failures/debug.log": "ignored\n"})
    (work / "data/failures/old.jsonl").unlink()
    code, outputs = run_persist(work, monkeypatch, "--paths", "data/failures/")
    assert code == 0 and outputs["pushed"] == "true"
    assert tree(bare, "data/failures") == {
        "data/failures/homebrew.jsonl": '{"recipe": "jq"}'
    }  # the .log is ignored, old is gone
    assert json.loads(git(bare, "show", "main:batch-control.json"))["circuit_breaker"]["homebrew"]["window"] == [
        "failure"
    ]
    assert git(work, "status", "--porcelain") == "" and (work / "data/failures/debug.log").exists()
    assert git(work, "rev-parse", "HEAD") == git(bare, "rev-parse", "main")


def test_globs_take_the_files_they_match(remote, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    write(
        work,
        {
            "data/metrics/batch-runs-2026-06-29.jsonl": "{}\n",
            "data/metrics/notes.txt": "no\n",
            "recipes/b.toml": "name = 'b'\n",
        },
    )
    code, outputs = run_persist(work, monkeypatch, "--paths", "data/metrics/*.jsonl\nrecipes/*.toml")
    assert code == 0 and outputs["pushed"] == "true"
    names = set(tree(bare))
    assert {"data/metrics/batch-runs-2026-06-29.jsonl", "recipes/b.toml"} <= names
    assert "data/metrics/notes.txt" not in names


def test_the_first_users_folders_land_with_the_breaker_trip_while_another_job_pushes(
    remote, tmp_path, monkeypatch, mocker, no_sleep
) -> None:  # type: ignore[no-untyped-def]
    """The legacy pipeline's `git add batch-control.json data/metrics/ data/failures/`, with its real files."""
    bare, work = remote
    metrics = sorted((corpus_dir() / "tsuku" / "metrics" / "batch-runs").iterdir())[:5]
    failures = sorted(p for p in (corpus_dir() / "tsuku" / "failures").rglob("*") if p.is_file())[:5]
    for source in metrics:
        shutil.copy(source, work / "data" / "metrics" / source.name)
    for source in failures:
        shutil.copy(source, work / "data" / "failures" / source.name)
    trip_homebrew(work, monkeypatch)
    other = clone(bare, tmp_path / "other")
    (other / "recipes" / "c.toml").write_text("name = 'c'\n")
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "another job")
    race_first_push(mocker, Git, other)
    code, outputs = run_persist(work, monkeypatch, "--paths", "data/metrics/, data/failures/")
    assert code == 0 and outputs["attempts"] == "2"
    landed = tree(bare)
    for source in metrics:
        assert landed[f"data/metrics/{source.name}"] == source.read_text().rstrip("\n")
    for source in failures:
        assert f"data/failures/{source.name}" in landed
    assert "recipes/c.toml" in landed  # the other job's commit stays
    assert json.loads(landed["batch-control.json"])["circuit_breaker"]["homebrew"]["window"] == ["failure"]


def test_a_folder_that_does_not_exist_is_reported_and_the_control_state_still_lands(
    remote, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    trip_homebrew(work, monkeypatch)
    code, outputs = run_persist(work, monkeypatch, "--paths", "data/no-such-folder/")
    assert code == 0 and outputs["pushed"] == "true"
    assert "'data/no-such-folder/' matches no file" in capsys.readouterr().err
    assert json.loads(git(bare, "show", "main:batch-control.json"))["circuit_breaker"]["homebrew"]["window"] == [
        "failure"
    ]


def unusable(work: Path) -> dict[str, Any]:
    fifo = work / "data" / "pipe"
    os.mkfifo(fifo)
    (work / "debug.log").write_text("ignored\n")
    nested = work / "vendor" / "lib"
    nested.mkdir(parents=True)
    git(nested, "init", "-q")
    return {
        "../outside.json": "outside the git repository",
        "/etc/hostname": "outside the git repository",
        ".git/config": "inside the repository's .git folder",
        "data/pipe": "not a regular file",
        "debug.log": "cannot be committed",  # ignored by .gitignore, as git add refuses it
        "vendor/lib": "another git repository",
    }


@pytest.mark.parametrize(
    "name", ["../outside.json", "/etc/hostname", ".git/config", "data/pipe", "debug.log", "vendor/lib"]
)
def test_a_path_it_cannot_use_is_an_error_naming_it_and_nothing_is_pushed(
    remote, monkeypatch, capsys, name: str
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    problem = unusable(work)[name]
    trip_homebrew(work, monkeypatch)
    before = git(bare, "rev-parse", "main")
    code, outputs = run_persist(work, monkeypatch, "--paths", f"data/failures/, {name}")
    err = capsys.readouterr().err
    assert code == 2 and outputs == {}
    assert f"paths: {name!r}" in err and problem in err
    assert "paths: paths:" not in err  # the field is named once
    assert "Traceback" not in err and err.count("\n") == 1  # one line
    assert git(bare, "rev-parse", "main") == before
    assert len(journal.read()) == 1  # kept for a re-run


def test_an_ignored_path_is_named_with_the_reason_and_the_fix_not_gits_cut_off_heading(
    remote, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    (work / ".gitignore").write_text("*.log\nignored/\n")
    git(
        work,
        "commit",
        "-q",
        "-am",
        "ignore a folder",
        env={
            "GIT_AUTHOR_NAME": "a",
            "GIT_AUTHOR_EMAIL": "a@example.test",
            "GIT_COMMITTER_NAME": "a",
            "GIT_COMMITTER_EMAIL": "a@example.test",
        },
    )
    write(work, {"ignored/a": "x\n"})
    trip_homebrew(work, monkeypatch)
    code, _ = run_persist(work, monkeypatch, "--paths", "ignored/a")
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        "error: paths: 'ignored/a' cannot be committed: it is ignored by .gitignore, so git add skips it "
        "(fix: remove it from paths, or the .gitignore line that ignores it "
        "(`git check-ignore -v ignored/a` names that line))"
    )


def test_a_symbolic_link_out_of_the_repository_is_refused_naming_the_link(remote, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """git would commit the link, not /etc/passwd; but every later checkout reading data/metrics/ would follow it."""
    bare, work = remote
    (work / "data" / "metrics" / "link").symlink_to("/etc/passwd")
    write(work, {"data/metrics/batch-runs-2026-06-29.jsonl": '{"batch_id": "new"}\n'})
    trip_homebrew(work, monkeypatch)
    before = git(bare, "rev-parse", "main")
    code, outputs = run_persist(work, monkeypatch, "--paths", "data/metrics/")
    err = capsys.readouterr().err
    assert code == 2 and outputs == {}
    assert "paths: 'data/metrics/link' is a symbolic link to '/etc/passwd', outside the repository" in err
    assert "rm data/metrics/link" in err and err.count("\n") == 1
    assert git(bare, "rev-parse", "main") == before  # nothing pushed, the metrics file neither
    assert len(journal.read()) == 1


def test_a_symbolic_link_climbing_out_with_dot_dots_is_refused_too(remote, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    (work / "data" / "metrics" / "up").symlink_to("../../../outside.json")
    code, _ = run_persist(work, monkeypatch, "--paths", "data/metrics/")
    assert code == 2 and "'data/metrics/up' is a symbolic link to '../../../outside.json'" in capsys.readouterr().err


def test_paths_are_relative_to_the_working_directory_like_the_control_file(remote, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """actions/checkout with `path: registry`: the step runs in the workspace."""
    bare, _ = remote
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    registry = clone(bare, workspace / "registry")
    write(registry, {"data/failures/npm.jsonl": "{}\n"})
    monkeypatch.chdir(workspace)
    controlfile.mutate("registry/batch-control.json", "control.disable", {"ecosystem": "npm", "at": NOW}, at=NOW)
    code, outputs = run_persist(
        workspace, monkeypatch, "--control-file", "registry/batch-control.json", "--paths", "registry/data/failures"
    )
    assert code == 0 and outputs["pushed"] == "true"
    assert "data/failures/npm.jsonl" in tree(bare)


def test_modes_and_symbolic_links_are_kept_as_git_add_records_them(remote, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    script = work / "scripts" / "run.sh"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\necho ok\n")
    script.chmod(0o755)
    (work / "scripts" / "latest").symlink_to("run.sh")
    code, _ = run_persist(work, monkeypatch, "--paths", "scripts")
    assert code == 0
    modes = {
        line.split("\t")[1]: line.split(" ")[0] for line in git(bare, "ls-tree", "-r", "main", "scripts").splitlines()
    }
    assert modes == {"scripts/run.sh": "100755", "scripts/latest": "120000"}
    assert git(bare, "cat-file", "-p", "main:scripts/latest") == "run.sh"


def test_a_file_of_a_folder_changed_on_both_sides_is_a_conflict_naming_it(
    remote, tmp_path, monkeypatch, mocker, no_sleep, capsys
) -> None:  # type: ignore[no-untyped-def]
    bare, work = remote
    other = clone(bare, tmp_path / "other")
    (other / "data" / "failures" / "old.jsonl").write_text("theirs\n")
    git(other, "commit", "-q", "-am", "theirs")
    git(other, "push", "-q", "origin", "main")
    (work / "data" / "failures" / "old.jsonl").write_text("mine\n")
    code, _ = run_persist(work, monkeypatch, "--paths", "data/failures/")
    assert code == 1
    assert "data/failures/old.jsonl was changed by this job and, differently, on the remote" in capsys.readouterr().err
    assert git(bare, "show", "main:data/failures/old.jsonl") == "theirs"


def test_a_hand_edited_control_file_without_operations_is_carried(remote, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The runbook's jq edit, then persist: the file goes as it is (the remote has not changed it)."""
    bare, work = remote
    edited = {**CONTROL, "enabled": False, "reason": "jq edit"}
    (work / "batch-control.json").write_text(json.dumps(edited, indent=2) + "\n")
    code, outputs = run_persist(work, monkeypatch)
    assert code == 0 and outputs["pushed"] == "true"
    assert json.loads(git(bare, "show", "main:batch-control.json"))["reason"] == "jq edit"


def test_a_journaled_file_inside_a_listed_folder_is_still_re_applied_operation_by_operation(
    remote, tmp_path, monkeypatch, mocker, no_sleep
) -> None:  # type: ignore[no-untyped-def]
    """`paths: .` takes the control file too: it must merge by its operations, not as a file changed on both sides."""
    bare, work = remote
    other = clone(bare, tmp_path / "other")
    monkeypatch.chdir(other)
    monkeypatch.setenv("BATCHOPS_JOURNAL", str(tmp_path / "other.jsonl"))
    controlfile.mutate(
        "batch-control.json", "breaker.record", {"ecosystem": "npm", "outcomes": ["success"], "at": NOW}, at=NOW
    )
    git(other, "commit", "-q", "-am", "other job")
    monkeypatch.setenv("BATCHOPS_JOURNAL", str(tmp_path / "mine.jsonl"))
    trip_homebrew(work, monkeypatch)
    write(work, {"data/failures/homebrew.jsonl": "{}\n"})
    race_first_push(mocker, Git, other)
    code, outputs = run_persist(work, monkeypatch, "--paths", ".")
    assert code == 0 and outputs["attempts"] == "2"
    final = json.loads(git(bare, "show", "main:batch-control.json"))["circuit_breaker"]
    assert final["npm"]["window"] == ["success"] and final["homebrew"]["window"] == ["failure"]
    assert "data/failures/homebrew.jsonl" in tree(bare)
