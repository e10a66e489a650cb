"""The budget from the command line: preflight outputs, `budget reset/status`, `sample`."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli

pytestmark = pytest.mark.usefixtures("first_users_go_code_reads_every_control_file")


NOW = "2026-06-25T12:00:00Z"  # a Thursday; the week started Monday 2026-06-22


def write_control(folder: Path, **budget_fields) -> Path:  # type: ignore[no-untyped-def]
    fields = {"macos_minutes_used": 0, "linux_minutes_used": 0, "week_start": "", "sampling_active": False}
    fields.update(budget_fields)
    path = folder / "batch-control.json"
    path.write_text(json.dumps({"enabled": True, "disabled_ecosystems": [], "budget": fields}, indent=2))
    return path


def preflight(folder: Path, now: str = NOW):  # type: ignore[no-untyped-def]
    return run_cli(["preflight", "--ecosystems", "homebrew,npm", "--now", now], folder)


@pytest.mark.parametrize(
    ("macos", "linux", "active", "rate", "paused"),
    [
        (799, 0, "false", "1.0", []),
        (800, 0, "true", "0.99", []),
        (949, 3999, "true", "0.1", []),
        (950, 3999, "false", "1.0", ["macos"]),
        (950, 4000, "true", "0.99", ["macos"]),
        (999, 4750, "true", "0.0", ["macos", "linux"]),
    ],
)
def test_preflight_budget_outputs_at_the_thresholds(
    tmp_path: Path, macos: float, linux: float, active: str, rate: str, paused: list[str]
) -> None:
    write_control(tmp_path, macos_minutes_used=macos, linux_minutes_used=linux)
    run = preflight(tmp_path)
    assert run.returncode == 0, run.log
    assert run.outputs["sampling-active"] == active
    assert run.outputs["sample-rate"] == rate
    assert json.loads(run.outputs["paused-platforms"]) == paused
    assert run.outputs["can-proceed"] == "true"  # a paused platform never stops the batch
    assert json.loads(run.outputs["ecosystems"]) == ["homebrew", "npm"]


def test_preflight_summary_shows_a_gauge_per_platform_with_days_left(tmp_path: Path) -> None:
    write_control(tmp_path, macos_minutes_used=960, linux_minutes_used=4100)
    run = preflight(tmp_path)
    assert "| macOS | ██████████ 96.0% | 960 / 1,000 | 🔴 paused |" in run.summary
    assert "| Linux | ████████░░ 82.0% | 4,100 / 5,000 | 🟡 sampling | 0.88 |" in run.summary
    assert "week 2026-06-22 to 2026-06-29 (3.5 days left)" in run.summary
    assert "::warning" in run.stdout and "macOS paused" in run.stdout


def test_preflight_counts_a_due_rollover_but_leaves_the_file_alone(tmp_path: Path) -> None:
    path = write_control(tmp_path, macos_minutes_used=990, week_start="2026-06-15T00:00:00Z")
    before = path.read_text()
    run = preflight(tmp_path)
    assert run.outputs["paused-platforms"] == "[]" and run.outputs["sample-rate"] == "1.0"
    assert "The week of 2026-06-15 is over" in run.summary
    assert path.read_text() == before


def test_preflight_on_a_stopped_pipeline_still_reports_the_budget(tmp_path: Path) -> None:
    path = write_control(tmp_path, macos_minutes_used=990)
    document = json.loads(path.read_text())
    document.update(enabled=False, reason="incident")
    path.write_text(json.dumps(document))
    run = preflight(tmp_path)
    assert run.outputs["can-proceed"] == "false"
    assert json.loads(run.outputs["paused-platforms"]) == ["macos"]


def test_preflight_on_every_legacy_file_gives_full_validation(tmp_path: Path, corpus: Path) -> None:
    legacy = sorted((corpus / "control-history").glob("batch-control.*.json"))
    for path in (legacy[0], legacy[-1]):
        shutil.copy(path, tmp_path / "batch-control.json")
        run = preflight(tmp_path)
        assert (run.outputs["sampling-active"], run.outputs["sample-rate"], run.outputs["paused-platforms"]) == (
            "false",
            "1.0",
            "[]",
        ), path.name


def test_preflight_names_the_field_of_an_impossible_week_start(tmp_path: Path) -> None:
    write_control(tmp_path, week_start="2026-02-30T00:00:00Z")
    run = preflight(tmp_path)
    assert run.returncode != 0
    assert "budget.week_start" in run.stdout and "Traceback" not in run.log


# --- batchops budget ------------------------------------------------------------------------


def test_budget_reset_writes_the_file_and_prints_an_audited_commit_message(tmp_path: Path, corpus: Path) -> None:
    path = tmp_path / "batch-control.json"
    shutil.copy(corpus / "control-history" / "batch-control.20260626T205108.json", path)
    document = json.loads(path.read_text())
    document["budget"].update(macos_minutes_used=975.5, linux_minutes_used=120)
    path.write_text(json.dumps(document, indent=2))
    run = run_cli(
        ["budget", "reset", "--platform", "macos", "--now", NOW],
        tmp_path,
        env={"GITHUB_ACTOR": "octo-operator"},
        actions=False,
    )
    assert run.returncode == 0, run.log
    message = run.stdout
    assert message.startswith("batchops: reset the macOS CI-minutes budget [skip ci]")
    assert "Reset-macOS: 975.5 of 1,000 minutes (97.5%) -> 0" in message
    assert "Week: 2026-06-22T00:00:00Z" in message
    assert "Batchops-Operation: budget.reset" in message and "Batchops-Actor: octo-operator" in message
    assert f"Batchops-At: {NOW}" in message
    after = json.loads(path.read_text())
    assert list(after) == list(document)
    assert after["circuit_breaker"] == document["circuit_breaker"]
    assert after["budget"]["macos_minutes_used"] == 0 and after["budget"]["linux_minutes_used"] == 120
    # the fraction the file held is kept rounded up (whole minutes: the first user's generator decodes an int)
    assert after["budget"]["history"] == [
        {"week_start": "2026-06-22T00:00:00Z", "reset_at": NOW, "macos_minutes_used": 976}
    ]
    [entry] = journal_entries(tmp_path)
    assert entry["op"] == "budget.reset" and entry["args"]["platforms"] == ["macos"]


def journal_entries(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "journal" / "journal.jsonl").read_text().splitlines()]


def test_budget_reset_refuses_an_unknown_platform_and_an_invalid_file(tmp_path: Path) -> None:
    path = write_control(tmp_path, macos_minutes_used=10)
    before = path.read_text()
    run = run_cli(["budget", "reset", "--platform", "windows"], tmp_path, actions=False)
    assert run.returncode == 2 and "invalid choice" in run.stderr
    path.write_text('{"enabled": true, "budget": {"macos_minutes_used": -5}}')
    run = run_cli(["budget", "reset"], tmp_path, actions=False)
    assert run.returncode != 0 and "macos_minutes_used" in run.log and "Traceback" not in run.log
    assert json.loads(path.read_text())["budget"]["macos_minutes_used"] == -5
    assert before  # the first file was never touched either


def test_budget_status_shows_gauges_and_previous_weeks(tmp_path: Path) -> None:
    write_control(
        tmp_path,
        macos_minutes_used=500,
        week_start="2026-06-22T00:00:00Z",
        history=[{"week_start": "2026-06-15T00:00:00Z", "macos_minutes_used": 812, "linux_minutes_used": 3001.5}],
    )
    run = run_cli(["budget", "status", "--now", NOW], tmp_path, actions=False)
    assert run.returncode == 0, run.log
    assert re.search(r"^macOS +500 / 1,000 +50\.0% +full validation +-$", run.stdout, flags=re.M), run.stdout
    assert re.search(r"^2026-06-15 +812 +3,001\.5$", run.stdout, flags=re.M) and "|" not in run.stdout
    summary = run_cli(["budget", "status", "--now", NOW], tmp_path).summary
    assert "| macOS | █████░░░░░ 50.0% | 500 / 1,000 | 🟢 full validation | - |" in summary
    assert "| 2026-06-15 | 812 | 3,001.5 |" in summary
    data = json.loads(run_cli(["budget", "status", "--json", "--now", NOW], tmp_path, actions=False).stdout)
    assert data["platforms"]["macos"] == {"used": 500, "limit": 1000, "percent": 50.0, "state": "ok", "rate": 1.0}
    assert data["days_left"] == 3.5 and data["sample_rate"] == 1.0


def test_operator_status_includes_the_budget_gauges_and_history(tmp_path: Path) -> None:
    write_control(
        tmp_path,
        linux_minutes_used=4500,
        week_start="2026-06-22T00:00:00Z",
        history=[{"week_start": "2026-06-15T00:00:00Z", "macos_minutes_used": 3, "linux_minutes_used": 4}],
    )
    run = run_cli(["status", "--now", NOW], tmp_path, actions=False)
    assert re.search(r"^Linux +4,500 / 5,000 +90\.0% +sampling +0\.4$", run.stdout, flags=re.M), run.stdout
    assert "3.5 days left" in run.stdout and re.search(r"^2026-06-15 +3 +4$", run.stdout, flags=re.M)
    assert "|" not in run.stdout and "█" not in run.stdout  # a terminal form, not Markdown
    summary = run_cli(["status", "--now", NOW], tmp_path).summary  # the step summary keeps the Markdown gauges
    assert "| Linux | █████████░ 90.0% | 4,500 / 5,000 | 🟡 sampling | 0.4 |" in summary and "Previous weeks" in summary


# --- batchops sample ------------------------------------------------------------------------

CANDIDATES = "\n".join(f"recipe-{i}" for i in range(300)) + "\n"


def test_sample_reads_stdin_and_chooses_the_same_names_on_a_rerun(tmp_path: Path) -> None:
    first = run_cli(["sample", "--rate", "0.3", "--seed", "2026-06-25-homebrew"], tmp_path, stdin=CANDIDATES)
    again = run_cli(["sample", "--rate", "0.3", "--seed", "2026-06-25-homebrew"], tmp_path, stdin=CANDIDATES)
    assert first.returncode == 0, first.log
    chosen = first.stdout.splitlines()
    assert chosen == again.stdout.splitlines()
    assert 50 < len(chosen) < 130 and set(chosen) <= set(CANDIDATES.split())
    assert f"{len(chosen)} of 300 candidates" in first.summary


def test_sample_reads_a_file_and_takes_rate_and_seed_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "candidates.txt").write_text("# homebrew\njq\n\nfd\nripgrep\n")
    run = run_cli(["sample", "candidates.txt"], tmp_path, env={"INPUT_RATE": "1.0", "INPUT_SEED": "b1"})
    assert run.stdout.splitlines() == ["jq", "fd", "ripgrep"]
    assert run_cli(["sample", "--rate", "0", "--seed", "b1", "candidates.txt"], tmp_path).stdout == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--rate", "1.5", "--seed", "b"], "above 1"),
        (["--rate", "lots", "--seed", "b"], "not a number"),
        (["--rate", "0.5", "--seed", " "], "--seed"),
        (["--rate", "0.5", "--seed", "b", "missing.txt"], "file not found"),
    ],
)
def test_sample_refuses_bad_input_with_the_fix(tmp_path: Path, args: list[str], expected: str) -> None:
    run = run_cli(["sample", *args], tmp_path, stdin="jq\n")
    assert run.returncode == 2 and expected in run.stdout and "fix:" in run.stdout
