"""A batch commit merged into the base branch twice lands at the first merge that brought it in."""

from __future__ import annotations

from pathlib import Path

from batchops.adapters import schema
from batchops.steps import rollback
from tests.support.gitrepo import commit_all, git

BATCH = "2026-05-01-npm"


def _write(repo: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)


def test_side_commit_merged_again_later_lands_at_the_earliest_merge_on_the_main_line(tmp_path: Path) -> None:
    # main:  seed - M1 - M2      (first parents)
    #           \    /    /
    # batch:     B ------ L      B carries the id; L (no id) is merged again later
    repo = tmp_path / "work"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    _write(repo, {"recipes/a.toml": "a = 1\n", "README.md": "registry\n"})
    commit_all(repo, "seed")
    git(repo, "checkout", "-q", "-b", "batch")
    _write(repo, {"recipes/new.toml": "n\n"})
    batch_commit = commit_all(repo, f"feat(recipes): add batch recipes\n\nbatch_id: {BATCH}\n")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge pull request #12 from tsuku/batch", "batch")
    first_merge = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "batch")
    _write(repo, {"README.md": "later\n"})
    commit_all(repo, "docs: later work on the branch")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge pull request #13 from tsuku/batch", "batch")
    git(repo, "branch", "-q", "-D", "batch")

    outcome = rollback.plan_rollback(repo, BATCH, generated_at="2026-06-01T00:00:00Z")
    schema.validate(outcome.document, "rollback-plan", file="plan")
    landings = [(item["sha"], item["kind"], item["batch_commits"]) for item in outcome.document["landings"]]
    assert landings == [(first_merge, "merge", [batch_commit])]
    assert {item["path"]: item["action"] for item in outcome.document["files"]} == {"recipes/new.toml": "remove"}
