"""End to end: the preflight action in a workflow whose matrix comes from its output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.act import COPY_STEP, copy_repository

pytestmark = [pytest.mark.act, pytest.mark.slow]

WORKFLOW = (
    """
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      ecosystems: ${{ steps.preflight.outputs.ecosystems }}
      can-proceed: ${{ steps.preflight.outputs.can-proceed }}
    steps:
"""
    + COPY_STEP
    + """      - id: preflight
        uses: ./actions/preflight
        with:
          ecosystems: homebrew, npm, pypi
      - name: save outputs
        env:
          OUTS: ${{ toJSON(steps.preflight.outputs) }}
        run: printf '%s' "$OUTS" > "$RESULT_DIR/preflight.json"
  batch:
    needs: plan
    if: needs.plan.outputs.can-proceed == 'true'
    runs-on: ubuntu-latest
    strategy:
      matrix:
        ecosystem: ${{ fromJSON(needs.plan.outputs.ecosystems) }}
    steps:
      - env:
          ECO: ${{ matrix.ecosystem }}
        run: touch "$RESULT_DIR/ran-$ECO"
"""
)


def _src(tmp_path: Path, control: dict) -> Path:
    src = copy_repository(tmp_path / "src")
    (src / "batch-control.json").write_text(json.dumps(control, indent=2))
    return src


def test_matrix_runs_only_the_enabled_ecosystems(act, tmp_path: Path) -> None:
    src = _src(tmp_path, {"enabled": True, "disabled_ecosystems": ["npm"]})
    run = act(WORKFLOW, src=src)
    assert run.ok, run.log
    outputs = run.result("preflight.json")
    assert outputs["can-proceed"] == "true"
    assert json.loads(outputs["ecosystems"]) == ["homebrew", "pypi"]
    assert json.loads(outputs["disabled-ecosystems"]) == ["npm"]
    ran = sorted(p.name for p in run.result_dir.glob("ran-*"))
    assert ran == ["ran-homebrew", "ran-pypi"]


def test_stopped_pipeline_runs_no_batch_and_forges_no_output(act, tmp_path: Path) -> None:
    reason = "bad bottles\ncan-proceed=true\n::error::forged"
    src = _src(tmp_path, {"enabled": False, "reason": reason, "incident_url": "https://status.example/1"})
    run = act(WORKFLOW, src=src)
    assert run.ok, run.log
    outputs = run.result("preflight.json")
    assert outputs["can-proceed"] == "false"
    assert outputs["reason"] == reason
    assert not list(run.result_dir.glob("ran-*"))
    assert "https://status.example/1" in run.log


def test_corrupt_control_file_fails_the_job_closed(act, tmp_path: Path) -> None:
    src = copy_repository(tmp_path / "src")
    (src / "batch-control.json").write_text('{"enabled": true,,}')
    run = act(WORKFLOW, src=src)
    assert not run.ok
    assert "batch-control.json" in run.log and "not valid JSON" in run.log
    assert not list(run.result_dir.glob("ran-*"))
