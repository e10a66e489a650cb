"""``batchops batches`` and the rollback of a batch as the first user really ships it.

Real git: a bare remote whose ``refs/pull/N/head`` hold the PR heads, batches squash-merged
with no ``batch_id:`` line on main (``2026-02-03-homebrew`` through PRs #1427, #1429, #1430,
#1431 and #1438, as the first user shipped it), unrelated PRs, an older batch; then the
same through the GitHub stand-in.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchops import cli
from tests.contract.test_rollback import batch_message, change, seed_remote
from tests.support.gitrepo import git

HOMEBREW = "2026-02-03-homebrew"
HOMEBREW_PRS = (1427, 1429, 1430, 1431, 1438)
NOW = "2026-02-10T12:00:00Z"


def at(monkeypatch: pytest.MonkeyPatch, moment: str) -> None:
    monkeypatch.setenv("GIT_AUTHOR_DATE", moment)
    monkeypatch.setenv("GIT_COMMITTER_DATE", moment)


def ship(repo: Path, number: int, files: dict[str, str | None], batch_id: str, *, numbered: bool = True) -> str:
    """A PR carrying ``batch_id`` (its head kept as refs/pull/N/head), squash-merged into main as GitHub does."""
    git(repo, "checkout", "-q", "-b", f"pr-{number}", "main")
    change(repo, files, batch_message(batch_id))
    git(repo, "push", "-q", "origin", f"HEAD:refs/pull/{number}/head")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--squash", f"pr-{number}")
    subject = "feat(recipes): add batch recipes" + (f" (#{number})" if numbered else "")
    sha = change(repo, {}, subject + "\n\nBatch generation.\n")
    git(repo, "branch", "-q", "-D", f"pr-{number}")
    return sha


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, dict[int, str]]:
    """(bare remote, clone with the PR refs fetched, PR number -> its squash on main)."""
    at(monkeypatch, "2025-12-01T09:00:00Z")
    bare, repo = seed_remote(tmp_path)
    landed: dict[int, str] = {}
    landed[900] = ship(repo, 900, {"recipes/o/old.toml": "old\n"}, "2025-12-01-npm")
    at(monkeypatch, "2026-02-01T08:00:00Z")
    unrelated = git(repo, "commit-tree", "main^{tree}", "-p", "main", "-m", "docs: unrelated work")
    git(repo, "push", "-q", "origin", *[f"{unrelated}:refs/pull/{n}/head" for n in range(1400, 1426)])
    files = {
        1427: {"recipes/a/aria2.toml": "aria2\n", "recipes/a/atuin.toml": "atuin\n"},
        1429: {"recipes/b/bat.toml": "bat\n"},
        1430: {"recipes/c/croc.toml": "croc\n", "recipes/a.toml": "a = 2 # homebrew\n"},
        1431: {"recipes/d/dust.toml": "dust\n"},
        1438: {"recipes/e/eza.toml": "eza\n"},
    }
    for hour, number in enumerate(HOMEBREW_PRS):
        at(monkeypatch, f"2026-02-03T{10 + hour:02d}:00:00Z")
        landed[number] = ship(repo, number, files[number], HOMEBREW, numbered=number != 1429)
    at(monkeypatch, "2026-02-04T10:00:00Z")
    landed[1440] = ship(repo, 1440, {"recipes/n/npm-tool.toml": "n\n"}, "2026-02-04-npm")
    at(monkeypatch, "2026-02-05T10:00:00Z")
    change(repo, {"recipes/d/dust.toml": None}, "fix(recipes): remove broken dust (#1441)")
    git(repo, "push", "-q", "origin", "main")
    git(repo, "fetch", "-q", "origin", "+refs/pull/*/head:refs/remotes/origin/pull/*/head")
    return bare, repo, landed


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_batches_lists_each_batch_that_shipped_with_its_landings_prs_and_dates(registry, capsys) -> None:
    _, repo, landed = registry

    code, out, err = run(capsys, "batches", "--since", "30d", "--now", NOW, "--working-directory", str(repo))

    assert code == 0, err
    assert out.index("2026-02-04-npm:") < out.index(f"{HOMEBREW}:")  # newest first
    assert "2025-12-01-npm" not in out  # older than 30 days
    block = out.split(f"{HOMEBREW}:")[1].split("plan its rollback")[0]
    assert block.splitlines()[0].strip() == "5 landing(s), 7 file(s)"
    for hour, number in enumerate(HOMEBREW_PRS):
        row = next(line for line in block.splitlines() if landed[number][:10] in line)
        assert f"#{number}" in row and f"2026-02-03 {10 + hour:02d}:00" in row and "squash" in row
    assert f"plan its rollback: batchops rollback --batch-id {HOMEBREW} --dry-run" in out
    assert "--dry-run false" not in out + err


def test_batches_filters_by_ecosystem_and_prints_json_for_scripts(registry, capsys) -> None:
    _, repo, landed = registry

    code, out, err = run(
        capsys,
        "batches",
        "--ecosystem",
        "homebrew",
        "--json",
        "--since",
        "2026-02-01",
        "--working-directory",
        str(repo),
    )

    assert code == 0, err
    listing = json.loads(out)
    assert [batch["batch_id"] for batch in listing["batches"]] == [HOMEBREW]
    shipped = listing["batches"][0]["landings"]
    assert [(item["sha"], item["pull_requests"]) for item in shipped] == [(landed[n], [n]) for n in HOMEBREW_PRS]
    assert shipped[0]["date"] == "2026-02-03T10:00:00Z"
    assert shipped[2]["files"] == ["recipes/a.toml", "recipes/c/croc.toml"]


def test_the_homebrew_dry_run_shows_its_five_landings_and_each_files_action(registry, capsys) -> None:
    _, repo, landed = registry

    code, out, err = run(capsys, "rollback", "--batch-id", HOMEBREW, "--dry-run", "--working-directory", str(repo))

    assert code == 0, err
    for number in HOMEBREW_PRS:
        assert f"#{number}" in next(line for line in err.splitlines() if landed[number][:10] in line)

    def action(path: str) -> str:
        row = next(line.strip() for line in err.splitlines() if line.strip().split("  ")[-1] != path and path in line)
        return row.split(path)[0].strip()

    assert action("recipes/a/aria2.toml") == "remove" and action("recipes/e/eza.toml") == "remove"
    assert action("recipes/a.toml") == "restore"
    assert action("recipes/d/dust.toml") == "already as before"
    assert "files-count=6" in out
    assert "Totals: 5 to remove, 1 to restore, 0 conflict(s) left untouched, 1 already as before the batch." in err


def test_fetch_refs_fetches_only_the_pr_refs_that_carry_the_batch(registry, tmp_path, capsys) -> None:
    bare, _, _ = registry
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(bare), str(fresh))  # as actions/checkout: no PR refs

    code, out, err = run(capsys, "batches", "--fetch-refs", HOMEBREW, "--dry-run", "--working-directory", str(fresh))
    assert code == 0, err
    assert "Would fetch the refs of PR #1427, #1429, #1430, #1431, #1438" in out
    assert git(fresh, "for-each-ref", "refs/remotes/origin/pull") == ""  # a dry run writes no ref

    code, out, err = run(capsys, "batches", "--fetch-refs", HOMEBREW, "--working-directory", str(fresh))
    assert code == 0, err
    command = out.splitlines()[-1]
    assert command.startswith("git fetch --no-tags origin +refs/pull/1427/head:refs/remotes/origin/pull/1427/head")
    fetched = git(fresh, "for-each-ref", "--format=%(refname)", "refs/remotes/origin/pull").splitlines()
    assert fetched == [f"refs/remotes/origin/pull/{n}/head" for n in HOMEBREW_PRS]
    code, out, err = run(
        capsys, "batches", "--since", "0", "--ecosystem", "homebrew", "--working-directory", str(fresh)
    )
    assert code == 0 and "5 landing(s)" in out


def test_fetch_refs_asks_github_for_the_prs_when_a_token_is_given(
    registry, github_api, monkeypatch, tmp_path, capsys
) -> None:
    bare, repo, landed = registry
    github_api.add_repo("tsuku/registry", git_dir=bare)
    for name, value in github_api.env("tsuku/registry").items():
        monkeypatch.setenv(name, value)
    for number in (1427, 1430):
        head = git(repo, "rev-parse", f"refs/remotes/origin/pull/{number}/head")
        github_api.add_pull(
            "tsuku/registry",
            number=number,
            head=f"batch/{HOMEBREW}",
            head_sha=head,
            body=f"batch_id: {HOMEBREW}",
            created_at="2026-02-03T09:00:00Z",
            merged_at="2026-02-03T12:00:00Z",
            merge_commit_sha=landed[number],
        )
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(bare), str(fresh))

    code, out, err = run(capsys, "batches", "--fetch-refs", HOMEBREW, "--json", "--working-directory", str(fresh))

    assert code == 0, err
    answer = json.loads(out)
    assert answer["how"] == "api" and answer["pull_requests"] == [1427, 1430] and answer["fetched"] is True
    assert git(fresh, "rev-parse", "refs/remotes/origin/pull/1430/head")
