"""End to end: breaker-gate -> the batch's work -> breaker-update in one job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.act import copy_repository, single_job

pytestmark = [pytest.mark.act, pytest.mark.slow]

WORKFLOW = single_job(
    """      - id: gate
        uses: ./actions/breaker-gate
        with:
          ecosystem: homebrew
      - id: work
        if: steps.gate.outputs.skip != 'true'
        run: |
          cat > results.json <<'JSON'
          {"batch_id": "2026-06-26-homebrew", "ecosystem": "homebrew",
           "started_at": "2026-06-26T20:00:00Z", "completed_at": "2026-06-26T20:30:00Z",
           "macos_minutes": 7, "linux_minutes": 11,
           "results": [{"recipe_name": "jq", "result": "passed"},
                       {"recipe_name": "fd", "result": "passed"},
                       {"recipe_name": "bat", "result": "failed"},
                       {"recipe_name": "rg", "result": "skipped"}]}
          JSON
      - id: update
        if: steps.gate.outputs.skip != 'true'
        uses: ./actions/breaker-update
        with:
          results-file: results.json
      - name: save outputs
        env:
          GATE: ${{ toJSON(steps.gate.outputs) }}
          UPDATE: ${{ toJSON(steps.update.outputs) }}
        run: |
          printf '%s' "$GATE" > "$RESULT_DIR/gate.json"
          printf '%s' "$UPDATE" > "$RESULT_DIR/update.json"
          cp batch-control.json "$RESULT_DIR/batch-control.json"
"""
)


def test_probe_after_the_wait_runs_the_batch_and_closes_the_breaker(act, tmp_path: Path) -> None:
    src = copy_repository(tmp_path / "src")
    (src / "batch-control.json").write_text(
        json.dumps(
            {
                "enabled": True,
                "circuit_breaker": {
                    "homebrew": {
                        "state": "open",
                        "failures": 957,
                        "last_failure": "2026-06-26T20:51:01Z",
                        "opens_at": "2026-06-26T21:51:01Z",
                    },
                    "npm": {
                        "state": "open",
                        "failures": 696,
                        "last_failure": "2099-01-01T00:00:00Z",
                        "opens_at": "2099-01-01T01:00:00Z",
                    },
                    "default": {"state": "closed", "failures": 0},
                },
                "budget": {
                    "macos_minutes_used": 1,
                    "linux_minutes_used": 2,
                    "week_start": "",
                    "sampling_active": False,
                },
            },
            indent=2,
        )
    )
    run = act(WORKFLOW, src=src)
    assert run.ok, run.log
    assert run.result("gate.json") == {"skip": "false", "state": "half-open", "opens-at": ""}
    assert run.result("update.json") == {
        "state": "closed",
        "previous-state": "half-open",
        "failure-rate": "0",
        "tripped": "false",
    }
    written = run.result("batch-control.json")
    homebrew = written["circuit_breaker"]["homebrew"]
    assert (homebrew["state"], homebrew["window"], homebrew["consecutive_opens"]) == ("closed", [], 0)
    assert homebrew["failures"] == 1  # consecutive failures since the last success: "bat" failed after "fd" passed
    assert homebrew["probe_started_at"] == ""
    assert written["circuit_breaker"]["npm"]["state"] == "open"
    assert written["circuit_breaker"]["default"] == {"state": "closed", "failures": 0}
    assert written["budget"]["macos_minutes_used"] == 8 and written["budget"]["linux_minutes_used"] == 13
    assert "circuit breaker closed" in run.log


LEGACY_FALLBACK = single_job(
    """      - id: preflight
        uses: ./actions/preflight
      - id: breaker
        uses: ./actions/breaker-gate
        with:
          ecosystem: ${{ matrix.ecosystem || 'default' }}
      - id: update
        if: steps.breaker.outputs.skip != 'true'
        uses: ./actions/breaker-update
        with:
          ecosystem: ${{ matrix.ecosystem || 'default' }}
          outcome: failure
          macos-minutes: "3"
      - name: save outputs
        env:
          PREFLIGHT: ${{ toJSON(steps.preflight.outputs) }}
          GATE: ${{ toJSON(steps.breaker.outputs) }}
          UPDATE: ${{ toJSON(steps.update.outputs) }}
        run: |
          printf '%s' "$PREFLIGHT" > "$RESULT_DIR/preflight.json"
          printf '%s' "$GATE" > "$RESULT_DIR/gate.json"
          printf '%s' "$UPDATE" > "$RESULT_DIR/update.json"
          cp batch-control.json "$RESULT_DIR/batch-control.json"
"""
)


def test_the_legacy_workflows_default_fallback_and_runbook_edits_run_unchanged(act, tmp_path: Path) -> None:
    src = copy_repository(tmp_path / "src")
    # the runbook's weekly reset (a date) and "enable sampling" by hand, on the legacy template entry
    (src / "batch-control.json").write_text(
        json.dumps(
            {
                "enabled": True,
                "disabled_ecosystems": [],
                "circuit_breaker": {"default": {"state": "closed", "failures": 0}},
                "budget": {
                    "macos_minutes_used": 0,
                    "linux_minutes_used": 0,
                    "week_start": "2026-06-22",
                    "sampling_active": True,
                },
            },
            indent=2,
        )
    )
    run = act(LEGACY_FALLBACK, src=src, env={"BATCHOPS_NOW": "2026-06-25T12:00:00Z"})
    assert run.ok, run.log
    preflight = run.result("preflight.json")
    assert (preflight["sampling-active"], preflight["sample-rate"]) == ("true", "0.5")
    assert run.result("gate.json") == {"skip": "false", "state": "closed", "opens-at": ""}
    assert run.result("update.json")["state"] == "closed"
    written = run.result("batch-control.json")
    assert written["circuit_breaker"]["default"]["window"] == ["failure"]
    assert written["budget"]["week_start"] == "2026-06-22" and written["budget"]["macos_minutes_used"] == 3
    assert written["budget"]["sampling_active"] is True
