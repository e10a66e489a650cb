"""End to end: preflight's budget outputs steer a workflow (skip a paused platform, sample)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchops.core import budget
from tests.support.act import COPY_STEP, copy_repository

pytestmark = [pytest.mark.act, pytest.mark.slow]

BATCH_ID = "2026-06-25-homebrew"

WORKFLOW = (
    """
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      sample-rate: ${{ steps.preflight.outputs.sample-rate }}
      paused-platforms: ${{ steps.preflight.outputs.paused-platforms }}
    steps:
"""
    + COPY_STEP
    + """      - uses: ./
      - id: preflight
        uses: ./actions/preflight
        with:
          ecosystems: homebrew
      - name: sample the candidates
        env:
          RATE: ${{ steps.preflight.outputs.sample-rate }}
          BATCH_ID: """
    + BATCH_ID
    + """
        run: batchops sample --rate "$RATE" --seed "$BATCH_ID" candidates.txt > "$RESULT_DIR/chosen.txt"
      - name: save outputs
        env:
          OUTS: ${{ toJSON(steps.preflight.outputs) }}
        run: printf '%s' "$OUTS" > "$RESULT_DIR/preflight.json"
  validate:
    needs: plan
    strategy:
      matrix:
        platform: [macos, linux]
    runs-on: ubuntu-latest
    steps:
      - name: validate on this platform unless its budget is paused
        if: ${{ !contains(fromJSON(needs.plan.outputs.paused-platforms), matrix.platform) }}
        env:
          PLATFORM: ${{ matrix.platform }}
        run: touch "$RESULT_DIR/ran-$PLATFORM"
"""
)


def test_paused_macos_is_skipped_and_linux_validates_a_stable_sample(act, tmp_path: Path) -> None:
    src = copy_repository(tmp_path / "src")
    control = {
        "enabled": True,
        "budget": {"macos_minutes_used": 960, "linux_minutes_used": 4375, "week_start": "", "sampling_active": False},
    }
    (src / "batch-control.json").write_text(json.dumps(control, indent=2))
    names = [f"recipe-{i}" for i in range(60)]
    (src / "candidates.txt").write_text("\n".join(names) + "\n")

    run = act(WORKFLOW, src=src, env={"BATCHOPS_NOW": "2026-06-25T12:00:00Z"})

    assert run.ok, run.log
    outputs = run.result("preflight.json")
    assert outputs["can-proceed"] == "true"
    assert json.loads(outputs["paused-platforms"]) == ["macos"]
    assert (outputs["sampling-active"], outputs["sample-rate"]) == ("true", "0.55")
    chosen = (run.result_dir / "chosen.txt").read_text().splitlines()
    assert chosen == budget.sample(names, 0.55, BATCH_ID)
    assert 0 < len(chosen) < len(names)
    assert sorted(p.name for p in run.result_dir.glob("ran-*")) == ["ran-linux"]
