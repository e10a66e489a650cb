"""End to end through the actions: the gate's dry run takes nothing; a failed job's fallback counts nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.act import copy_repository, single_job

pytestmark = [pytest.mark.act, pytest.mark.slow]

WORKFLOW = single_job(
    """      - id: ask
        uses: ./actions/breaker-gate
        with:
          ecosystem: homebrew
          dry-run: true
      - name: the question wrote nothing
        run: cp batch-control.json "$RESULT_DIR/after-question.json"
      - id: gate
        uses: ./actions/breaker-gate
        with:
          ecosystem: homebrew
      - id: work
        run: |
          cat > results.json <<'JSON'
          {"batch_id": "2026-06-26-homebrew", "ecosystem": "homebrew",
           "started_at": "2026-06-26T20:00:00Z", "completed_at": "2026-06-26T20:30:00Z",
           "results": [{"recipe_name": "jq", "result": "passed"}, {"recipe_name": "fd", "result": "failed"}]}
          JSON
      - id: update
        uses: ./actions/breaker-update
        with:
          results-file: results.json
      - name: the job fails after recording
        id: later
        continue-on-error: true
        run: exit 1
      - id: fallback
        if: steps.later.outcome == 'failure'
        uses: ./actions/breaker-update
        with:
          ecosystem: homebrew
          outcome: failure
      - name: save outputs
        env:
          ASK: ${{ toJSON(steps.ask.outputs) }}
        run: |
          printf '%s' "$ASK" > "$RESULT_DIR/ask.json"
          cp batch-control.json "$RESULT_DIR/batch-control.json"
"""
)


def test_a_dry_run_gate_answers_and_the_fallback_does_not_count_the_batch_twice(act, tmp_path: Path) -> None:
    src = copy_repository(tmp_path / "src")
    # a legacy open breaker whose wait is over: the real gate would take the probe, the question must not
    control = {
        "enabled": True,
        "circuit_breaker": {"homebrew": {"state": "open", "failures": 957, "opens_at": "2026-01-01T00:00:00Z"}},
    }
    (src / "batch-control.json").write_text(json.dumps(control, indent=2))
    run = act(WORKFLOW, src=src)
    assert run.ok, run.log
    assert run.result("ask.json") == {"skip": "false", "state": "half-open", "opens-at": ""}
    assert run.result("after-question.json") == control
    homebrew = run.result("batch-control.json")["circuit_breaker"]["homebrew"]
    assert homebrew["window"] == ["success", "failure"]  # the results once, the fallback not at all
    assert homebrew["state"] == "open"  # the probe failed half of its attempts: re-opened
    assert "not counted again" in run.log
