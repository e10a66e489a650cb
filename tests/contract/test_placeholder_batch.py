"""A placeholder batch (nothing generated, no results file) through metrics-upload: the documented
"batch-id and ecosystem" form records a run with no recipe and never fails the batch; the smallest
results file the docs show is valid for every step that reads one."""

from __future__ import annotations

import json
import re
from pathlib import Path

from batchops.adapters.store import Store
from tests.cli_helpers import run_cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "actions" / "metrics-upload.md"


def _runs(db: Path) -> list[dict]:
    with Store(db) as store:
        return store.runs()


def test_batch_id_and_ecosystem_without_a_results_file_record_a_run_with_no_recipe(tmp_path: Path) -> None:
    run = run_cli(
        [
            "metrics-upload",
            "--batch-id",
            "2026-06-26-homebrew",
            "--ecosystem",
            "homebrew",
            "--database",
            "m.db",
            "--now",
            "2026-06-26T13:15:35Z",
        ],
        tmp_path,
    )
    assert run.returncode == 0, run.log
    assert run.outputs["uploaded"] == "true" and run.outputs["destination"] == "database"
    said = "no results-file was given: recording batch 2026-06-26-homebrew of homebrew as a run with no recipe"
    assert said in run.stdout
    [stored] = _runs(tmp_path / "m.db")
    assert (stored["batch_id"], stored["ecosystem"], stored["total_recipes"]) == ("2026-06-26-homebrew", "homebrew", 0)


def test_a_results_file_the_placeholder_batch_never_wrote_falls_back_to_batch_id_and_ecosystem(tmp_path: Path) -> None:
    env = {"INPUT_RESULTS_FILE": "results.json", "INPUT_BATCH_ID": "2026-06-26-npm", "INPUT_ECOSYSTEM": "npm"}
    run = run_cli(["metrics-upload", "--database", "m.db"], tmp_path, env=env)
    assert run.returncode == 0, run.log
    assert "results.json does not exist: recording batch 2026-06-26-npm of npm" in run.stdout
    assert [r["batch_id"] for r in _runs(tmp_path / "m.db")] == ["2026-06-26-npm"]


def test_neither_form_is_one_error_naming_both(tmp_path: Path) -> None:
    run = run_cli(["metrics-upload", "--batch-id", "2026-06-26-npm"], tmp_path)
    assert run.returncode != 0 and "Traceback" not in run.log
    assert "needs results-file, or batch-id and ecosystem (ecosystem is empty)" in run.stdout


def test_the_smallest_results_file_of_the_docs_is_taken_by_every_step_that_reads_one(tmp_path: Path) -> None:
    found = re.search(r"```json\n(\{.*\"results\": \[\]\})\n```", DOC.read_text())
    assert found, "the smallest results file is shown in docs/actions/metrics-upload.md"
    smallest = found.group(1)
    (tmp_path / "results.json").write_text(smallest)
    (tmp_path / "batch-control.json").write_text('{"enabled": true}')
    assert run_cli(["validate", "results.json"], tmp_path, actions=False).returncode == 0
    upload = run_cli(["metrics-upload", "--results-file", "results.json", "--database", "m.db"], tmp_path)
    assert upload.returncode == 0, upload.log
    update = run_cli(["breaker-update", "--results-file", "results.json"], tmp_path)
    assert update.returncode == 0, update.log
    assert json.loads((tmp_path / "batch-control.json").read_text())["enabled"] is True
