"""End to end: a workflow_dispatch rollback (dry run, then for real) of a squash-merged batch
through the composite action."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.act import COPY_STEP, copy_repository
from tests.support.gitrepo import commit_all, git

pytestmark = [pytest.mark.act, pytest.mark.slow]

BATCH = "2026-05-01-npm"

WORKFLOW = (
    """
on:
  workflow_dispatch:
    inputs:
      batch-id:
        description: batch to roll back
        required: true
        type: string
      dry-run:
        description: only print the plan
        type: boolean
        default: true
permissions: {}
jobs:
  rollback:
    runs-on: ubuntu-latest
    steps:
"""
    + COPY_STEP
    + """      - name: check out the registry (full history)
        run: git clone -q "$REGISTRY" registry
      - name: fetch the PR refs (as docs/actions/rollback.md says)
        working-directory: registry
        run: git fetch -q --no-tags origin '+refs/pull/*/head:refs/remotes/origin/pull/*/head'
      - id: rollback
        uses: ./actions/rollback
        with:
          batch-id: ${{ inputs.batch-id }}
          dry-run: ${{ inputs.dry-run }}
          working-directory: registry
      - name: save outputs
        env:
          OUTS: ${{ toJSON(steps.rollback.outputs) }}
          PLAN: ${{ steps.rollback.outputs.plan-file }}
        run: |
          printf '%s' "$OUTS" > "$RESULT_DIR/rollback.json"
          cp "$PLAN" "$RESULT_DIR/plan.json"
"""
)


def _registry(tmp_path: Path) -> Path:
    """A bare remote whose main got one batch as GitHub squash-merges it: the batch commit (with
    its `batch_id:` line) only on refs/pull/7/head, main's commit without it; it added one recipe
    and modified another."""
    bare = tmp_path / "registry.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    work = tmp_path / "seed"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    git(work, "remote", "add", "origin", str(bare))
    (work / "recipes").mkdir()
    (work / "recipes" / "jq.toml").write_text("version = 1\n")
    commit_all(work, "seed")
    git(work, "checkout", "-q", "-b", "batch/20260501-101010")
    (work / "recipes" / "jq.toml").write_text("version = 2\n")
    (work / "recipes" / "left-pad.toml").write_text("new\n")
    commit_all(work, f"feat(recipes): add batch {BATCH} recipes\n\nbatch_id: {BATCH}\n")
    git(work, "push", "-q", "origin", "HEAD:refs/pull/7/head")
    git(work, "checkout", "-q", "main")
    git(work, "merge", "-q", "--squash", "batch/20260501-101010")
    commit_all(work, "feat(recipes): add batch recipes (2 recipes)\n\nBatch generation of 2 packages.\n")
    git(work, "push", "-q", "origin", "main")
    return bare


def test_dispatch_dry_run_then_rollback_pushes_the_branch(act, tmp_path: Path) -> None:
    bare = _registry(tmp_path)
    src = copy_repository(tmp_path / "src")

    def dispatch(batch_id: str, dry_run: str):  # type: ignore[no-untyped-def]
        for old in (tmp_path / "act-results").glob("*.json"):
            old.unlink()
        return act(
            WORKFLOW,
            src=src,
            event="workflow_dispatch",
            env={"REGISTRY": str(bare)},
            inputs={"batch-id": batch_id, "dry-run": dry_run},
        )

    dry = dispatch(BATCH, "true")
    assert dry.ok, dry.log
    outputs = dry.result("rollback.json")
    assert outputs["branch"] == "" and outputs["files-count"] == "2"
    plan = dry.result("plan.json")
    assert {f["path"]: f["action"] for f in plan["files"]} == {
        "recipes/jq.toml": "restore",
        "recipes/left-pad.toml": "remove",
    }
    assert git(bare, "branch", "--list") == "* main"  # nothing pushed

    real = dispatch(BATCH, "false")
    assert real.ok, real.log
    outputs = real.result("rollback.json")
    assert outputs["branch"] == f"rollback-batch-{BATCH}" and outputs["pr-url"] == ""
    assert git(bare, "show", f"rollback-batch-{BATCH}:recipes/jq.toml") == "version = 1"
    assert f"rollback-of: {BATCH}" in git(bare, "log", "-1", "--format=%B", f"rollback-batch-{BATCH}")
    assert "gh pr create" in real.log

    bad = dispatch("2026-05-01 npm", "true")
    assert not bad.ok
    assert "batch-id" in bad.log and "whitespace" in bad.log
    assert bad.result("rollback.json") is None
