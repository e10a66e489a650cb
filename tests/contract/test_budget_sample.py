"""``batchops budget sample --on|--off``: the operator's forced sampling, audited like every operator command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.support.gitrepo import git, make_remote

pytestmark = pytest.mark.usefixtures("first_users_go_code_reads_every_control_file")


NOW = "2026-06-25T12:00:00Z"


def write_control(path: Path, **budget: object) -> Path:
    fields = {
        "macos_minutes_used": 100,
        "linux_minutes_used": 0,
        "week_start": "2026-06-22",
        "sampling_active": False,
        **budget,
    }
    target = path / "batch-control.json"
    target.write_text(json.dumps({"enabled": True, "budget": fields}, indent=2) + "\n")
    return target


def test_sample_on_forces_sampling_and_prints_an_audited_commit_message(tmp_path: Path) -> None:
    control = write_control(tmp_path)
    run = run_cli(["budget", "sample", "--on", "--now", NOW], tmp_path)
    assert run.returncode == 0, run.log
    assert json.loads(control.read_text())["budget"]["sampling_active"] is True
    assert "force CI-minutes sampling on for this week" in run.stdout
    assert "Sample-Rate: 1.0 -> 0.5 (usage alone: 1.0)" in run.stdout
    assert "Batchops-Operation: budget.sample" in run.stdout
    preflight = run_cli(["preflight", "--now", NOW], tmp_path)
    assert (preflight.outputs["sampling-active"], preflight.outputs["sample-rate"]) == ("true", "0.5")
    assert "forced by an operator" in preflight.log


def test_sample_off_clears_the_flag_the_runbook_set_by_hand(tmp_path: Path) -> None:
    control = write_control(tmp_path, sampling_active=True)
    run = run_cli(["budget", "sample", "--off", "--now", NOW], tmp_path)
    assert run.returncode == 0, run.log
    assert json.loads(control.read_text())["budget"] == {
        "macos_minutes_used": 100,
        "linux_minutes_used": 0,
        "week_start": "2026-06-22",
        "sampling_active": False,
    }
    assert run_cli(["preflight", "--now", NOW], tmp_path).outputs["sample-rate"] == "1.0"


def test_sample_dry_run_and_a_repeated_switch_write_nothing(tmp_path: Path) -> None:
    control = write_control(tmp_path)
    before = control.read_text()
    dry = run_cli(["budget", "sample", "--on", "--dry-run", "--now", NOW], tmp_path)
    assert dry.returncode == 0 and '+    "sampling_active": true' in dry.stdout and control.read_text() == before
    again = run_cli(["budget", "sample", "--off", "--now", NOW], tmp_path)
    assert again.returncode == 0 and "nothing to change: sampling is not forced" in again.stdout
    assert control.read_text() == before


def test_sample_needs_exactly_one_of_on_and_off(tmp_path: Path) -> None:
    write_control(tmp_path)
    for args in (["budget", "sample"], ["budget", "sample", "--on", "--off"]):
        run = run_cli(args, tmp_path)
        assert run.returncode == 2 and "Traceback" not in run.log


def test_sample_push_lands_the_flag_on_the_remote(tmp_path: Path) -> None:
    bare, clone = make_remote(
        tmp_path, {"batch-control.json": json.dumps({"enabled": True, "budget": {}}, indent=2) + "\n"}
    )
    run = run_cli(["budget", "sample", "--on", "--push", "--now", NOW], clone)
    assert run.returncode == 0, run.log
    landed = json.loads(git(clone, "--git-dir", str(bare), "show", "main:batch-control.json"))
    assert landed["budget"]["sampling_active"] is True
    assert "Batchops-Operation: budget.sample" in git(clone, "--git-dir", str(bare), "log", "-1", "--format=%B", "main")
