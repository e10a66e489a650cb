"""End to end: a matrix of parallel jobs records outcomes and persists them to one remote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchops.core import control
from tests.support.act import COPY_STEP, copy_repository
from tests.support.gitrepo import git, make_remote

pytestmark = [pytest.mark.act, pytest.mark.slow]

ECOSYSTEMS = ["homebrew", "npm", "pypi", "cargo"]

WORKFLOW = (
    """
on: push
jobs:
  batch:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        ecosystem: [homebrew, npm, pypi, cargo]
    steps:
"""
    + COPY_STEP
    + """      - name: check out the registry (the bare remote on disk)
        run: git clone -q "$REMOTE" registry
      - name: record the batch outcome
        env:
          ECO: ${{ matrix.ecosystem }}
        run: >-
          bash scripts/batchops.sh breaker-update --ecosystem "$ECO" --outcome failure
          --linux-minutes 3 --control-file registry/batch-control.json
      - name: write this batch's failures (a folder, as the first user's pipeline does)
        env:
          ECO: ${{ matrix.ecosystem }}
        run: |
          mkdir -p registry/data/failures
          echo "ecosystem $ECO" > "registry/data/failures/$ECO.jsonl"
      - id: persist
        uses: ./actions/persist-with-retry
        with:
          control-file: registry/batch-control.json
          paths: |
            registry/data/failures/
            registry/data/metrics/
      - name: save outputs
        env:
          OUTS: ${{ toJSON(steps.persist.outputs) }}
          ECO: ${{ matrix.ecosystem }}
        run: printf '%s' "$OUTS" > "$RESULT_DIR/persist-$ECO.json"
"""
)


def test_a_parallel_matrix_lands_every_jobs_update(act, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHOPS_JOURNAL")  # each job keeps its journal under its own RUNNER_TEMP
    bare, _ = make_remote(tmp_path, {"batch-control.json": control.dumps(json.loads(control.TEMPLATE))})
    run = act(WORKFLOW, src=copy_repository(tmp_path / "src"), env={"REMOTE": str(bare)})
    assert run.ok, run.log
    outputs = [run.result(f"persist-{eco}.json") for eco in ECOSYSTEMS]
    assert all(o and o["pushed"] == "true" for o in outputs), outputs
    assert {o["commit-sha"] for o in outputs} <= set(git(bare, "rev-list", "main").split())
    final = json.loads(git(bare, "show", "main:batch-control.json"))
    assert {eco: entry["window"] for eco, entry in final["circuit_breaker"].items()} == {
        eco: ["failure"] for eco in ECOSYSTEMS
    }
    assert final["budget"]["linux_minutes_used"] == 3 * len(ECOSYSTEMS)
    # every job's folder landed with its control state (data/metrics/ matched nothing: a warning, not a failure)
    failures = git(bare, "ls-tree", "--name-only", "main", "data/failures/").splitlines()
    assert sorted(failures) == sorted(f"data/failures/{eco}.jsonl" for eco in ECOSYSTEMS)
    assert "registry/data/metrics/' matches no file" in run.log
    # the bot identity (the runner configures none) and the skip-ci message
    # (a job that lands may carry the operations other jobs posted while they retried)
    authors = git(bare, "log", "--format=%an|%s", "main").splitlines()[:-1]
    assert 1 <= len(authors) <= len(ECOSYSTEMS)
    assert set(authors) == {"github-actions[bot]|batchops: update control state [skip ci]"}
