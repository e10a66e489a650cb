"""Public names that were renamed keep working: the old form does what it did, with a warning on stderr."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cli_helpers import run_cli

BATCH = "2026-05-01-npm"


def test_rollback_print_trailer_still_prints_only_the_line_for_the_pr_body(tmp_path: Path) -> None:
    run = run_cli(["rollback", "--print-trailer", BATCH], tmp_path, actions=False)
    assert run.returncode == 0 and run.stdout == f"batch_id: {BATCH}\n"
    assert "deprecated" in run.stderr and "batchops batch-trailer ID" in run.stderr


def test_rollback_print_trailer_in_a_workflow_leaves_the_captured_body_clean(tmp_path: Path) -> None:
    # the documented use: body="$(batchops rollback --print-trailer "$BATCH_ID")"
    run = run_cli(["rollback", f"--print-trailer={BATCH}"], tmp_path)
    assert run.returncode == 0 and run.stdout == f"batch_id: {BATCH}\n"
    assert run.stderr.startswith("::warning title=batchops::") and "batch-trailer" in run.stderr


def test_rollback_print_trailer_refuses_a_bad_batch_id_as_batch_trailer_does(tmp_path: Path) -> None:
    old = run_cli(["rollback", "--print-trailer", "2026-05-01 x"], tmp_path, actions=False)
    new = run_cli(["batch-trailer", "2026-05-01 x"], tmp_path, actions=False)
    assert old.returncode == new.returncode == 2 and old.stdout == new.stdout == ""
    assert "contains whitespace" in old.stderr


def test_rollback_without_print_trailer_is_the_step_not_the_alias(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    run = run_cli(["rollback", "--batch-id", BATCH, "--dry-run", "true"], tmp_path, actions=False)
    assert run.returncode != 0 and "deprecated" not in run.stderr
    assert run.outputs["files-count"] == "0" and "base branch 'main' not found" in run.stderr  # the step's own answer
