"""breaker-gate, breaker-update and `breaker replay` as a workflow step runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from batchops.adapters import journal
from tests.cli_helpers import run_cli

pytestmark = pytest.mark.usefixtures("first_users_go_code_reads_every_control_file")


LEGACY = "batch-control.20260626T205108.json"  # every ecosystem open until 21:51:01


def legacy(tmp_path: Path, corpus: Path, name: str = LEGACY) -> Path:
    path = tmp_path / "batch-control.json"
    shutil.copy(corpus / "control-history" / name, path)
    return path


def control(tmp_path: Path, breakers: dict | None = None, **extra) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "batch-control.json"
    path.write_text(json.dumps({"enabled": True, "circuit_breaker": breakers or {}, **extra}, indent=2))
    return path


def results(tmp_path: Path, passed: int, failed: int, skipped: int = 0, **extra) -> Path:  # type: ignore[no-untyped-def]
    rows = [{"recipe_name": f"ok-{i}", "result": "passed"} for i in range(passed)]
    rows += [{"recipe_name": f"bad-{i}", "result": "failed", "error_message": "::error::forged"} for i in range(failed)]
    rows += [{"recipe_name": f"skip-{i}", "result": "skipped"} for i in range(skipped)]
    path = tmp_path / "results.json"
    path.write_text(
        json.dumps(
            {
                "batch_id": "2026-06-26-homebrew",
                "ecosystem": "homebrew",
                "started_at": "2026-06-26T20:00:00Z",
                "completed_at": "2026-06-26T20:40:00Z",
                "results": rows,
                **extra,
            }
        )
    )
    return path


def entry(path: Path, name: str = "homebrew") -> dict:
    return json.loads(path.read_text())["circuit_breaker"][name]


# --- breaker-gate -------------------------------------------------------------------


def test_gate_on_a_closed_breaker_runs_and_writes_nothing(tmp_path: Path) -> None:
    path = control(tmp_path, {"homebrew": {"state": "closed", "failures": 2}})
    before = path.read_text()
    run = run_cli(["breaker-gate", "--ecosystem", "homebrew", "--now", "2026-06-26T21:00:00Z"], tmp_path)
    assert run.returncode == 0, run.log
    assert run.outputs == {"skip": "false", "state": "closed", "opens-at": ""}
    assert path.read_text() == before and journal.read() == []


def test_gate_on_an_open_breaker_skips_with_a_warning_until_opens_at(tmp_path: Path, corpus: Path) -> None:
    path = legacy(tmp_path, corpus)
    before = path.read_text()
    run = run_cli(["breaker-gate", "--ecosystem", "homebrew", "--now", "2026-06-26T21:51:00Z"], tmp_path)
    assert run.returncode == 0, run.log
    assert run.outputs == {"skip": "true", "state": "open", "opens-at": "2026-06-26T21:51:01Z"}
    assert "::warning title=batchops breaker-gate::homebrew: batch skipped" in run.stdout
    assert path.read_text() == before


def test_gate_after_the_wait_makes_this_batch_the_probe_and_journals_it(tmp_path: Path, corpus: Path) -> None:
    path = legacy(tmp_path, corpus)
    run = run_cli(["breaker-gate", "--now", "2026-06-26T21:51:01Z"], tmp_path, env={"INPUT_ECOSYSTEM": "homebrew"})
    assert run.outputs == {"skip": "false", "state": "half-open", "opens-at": ""}
    written = entry(path)
    assert written["state"] == "half-open" and written["probe_started_at"] == "2026-06-26T21:51:01Z"
    assert written["failures"] == 957 and written["opens_at"] == "2026-06-26T21:51:01Z"
    assert entry(path, "npm")["state"] == "open"
    assert [(op["op"], op["args"]) for op in journal.read()] == [
        ("breaker.gate", {"ecosystem": "homebrew", "at": "2026-06-26T21:51:01Z"})
    ]
    assert "open --> half_open: grant-probe" in run.summary
    assert "| homebrew | 🟡 half-open |" in run.summary and "| npm | 🔴 open |" in run.summary
    # a second job asking while the probe is out is skipped
    second = run_cli(["breaker-gate", "--ecosystem", "homebrew", "--now", "2026-06-26T21:55:00Z"], tmp_path)
    assert second.outputs["skip"] == "true" and second.outputs["state"] == "half-open"


def test_gate_fails_closed_on_a_corrupt_control_file(tmp_path: Path) -> None:
    (tmp_path / "batch-control.json").write_text('{"enabled": true,,}')
    run = run_cli(["breaker-gate", "--ecosystem", "homebrew"], tmp_path)
    assert run.returncode != 0
    assert run.outputs["skip"] == "true"
    assert "::error" in run.stdout and "not valid JSON" in run.stdout and "Traceback" not in run.log


@pytest.mark.parametrize(("ecosystem", "problem"), [("", "is empty"), ("Home Brew", "not an ecosystem name")])
def test_gate_rejects_a_bad_ecosystem_input(tmp_path: Path, ecosystem: str, problem: str) -> None:
    control(tmp_path)
    run = run_cli(["breaker-gate", "--ecosystem", ecosystem], tmp_path)
    assert run.returncode == 2 and problem in run.stdout and "::error" in run.stdout
    assert run.outputs["skip"] == "true" and "Traceback" not in run.log


def test_gate_reports_an_impossible_config_with_the_fix(tmp_path: Path) -> None:
    control(tmp_path, breaker_config={"window_size": 4})
    run = run_cli(["breaker-gate", "--ecosystem", "npm"], tmp_path)
    assert run.returncode == 1 and "could never trip" in run.stdout and "minimum_attempts" in run.stdout


# --- breaker-update -----------------------------------------------------------------


def test_update_from_a_results_file_counts_passed_and_failed_but_not_skipped(tmp_path: Path) -> None:
    path = control(tmp_path)
    res = results(tmp_path, passed=3, failed=2, skipped=4)
    run = run_cli(["breaker-update", "--results-file", str(res), "--now", "2026-06-26T20:41:00Z"], tmp_path)
    assert run.returncode == 0, run.log
    assert run.outputs == {"state": "closed", "previous-state": "closed", "failure-rate": "0.4", "tripped": "false"}
    written = entry(path)
    assert sorted(written["window"]) == ["failure"] * 2 + ["success"] * 3
    assert "5 attempt(s): 3 succeeded, 2 failed, 4 skipped (not counted)" in run.summary
    assert "forged" not in run.log  # recipe error messages are not echoed


def test_update_that_trips_the_breaker_says_so(tmp_path: Path) -> None:
    path = control(tmp_path)
    res = results(tmp_path, passed=2, failed=4)
    run = run_cli(
        ["breaker-update", "--results-file", str(res), "--ecosystem", "homebrew", "--now", "2026-06-26T20:41:00Z"],
        tmp_path,
    )
    assert run.outputs["tripped"] == "true" and run.outputs["state"] == "open"
    assert entry(path)["opens_at"] == "2026-06-26T21:41:00Z"
    assert "::warning title=batchops breaker-update::homebrew: circuit breaker OPENED" in run.stdout
    assert "closed --> open: trip" in run.summary


def test_update_outcome_success_closes_a_half_open_breaker(tmp_path: Path) -> None:
    path = control(
        tmp_path,
        {
            "homebrew": {
                "state": "half-open",
                "failures": 9,
                "window": ["failure"] * 9,
                "consecutive_opens": 3,
                "probe_started_at": "2026-06-26T20:00:00Z",
            }
        },
    )
    run = run_cli(
        ["breaker-update", "--ecosystem", "homebrew", "--outcome", "success", "--now", "2026-06-26T20:30:00Z"], tmp_path
    )
    assert run.outputs == {"state": "closed", "previous-state": "half-open", "failure-rate": "0", "tripped": "false"}
    written = entry(path)
    assert (written["window"], written["failures"], written["consecutive_opens"]) == ([], 0, 0)
    assert "half_open --> closed: close" in run.summary


def test_update_success_while_open_keeps_it_open_with_a_notice(tmp_path: Path, corpus: Path) -> None:
    path = legacy(tmp_path, corpus)
    run = run_cli(
        ["breaker-update", "--ecosystem", "npm", "--outcome", "success", "--now", "2026-06-26T21:00:00Z"], tmp_path
    )
    assert run.outputs["state"] == "open" and run.outputs["previous-state"] == "open"
    assert "::notice" in run.stdout and "no open→closed jump" in run.stdout
    assert entry(path, "npm")["state"] == "open"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ([], "neither is set"),
        (["--outcome", "success", "--results-file", "r.json"], "both are set"),
        (["--outcome", "maybe"], "'maybe' is not an outcome"),
        (["--outcome", "failure", "--ecosystem", ""], "ecosystem: is empty"),
        (["--results-file", "missing.json"], "file not found"),
        (["--outcome", "failure", "--macos-minutes", "ten"], "'ten' is not a number"),
    ],
)
def test_update_input_errors_are_one_annotation_and_no_change(tmp_path: Path, args: list[str], problem: str) -> None:
    path = control(tmp_path, {"homebrew": {"state": "closed", "failures": 0}})
    before = path.read_text()
    full = ["breaker-update", *args]
    if "--ecosystem" not in args:
        full += ["--ecosystem", "homebrew"]
    run = run_cli(full, tmp_path)
    assert run.returncode != 0
    assert problem in run.stdout and run.stdout.count("::error") == 1
    assert "Traceback" not in run.log and path.read_text() == before
    assert "❌ batchops error" in run.summary


def test_update_refuses_a_results_file_of_another_ecosystem(tmp_path: Path) -> None:
    control(tmp_path)
    res = results(tmp_path, passed=1, failed=0)
    run = run_cli(["breaker-update", "--results-file", str(res), "--ecosystem", "npm"], tmp_path)
    assert run.returncode == 2 and "is for 'homebrew'" in run.stdout


def test_update_with_only_skipped_results_changes_nothing(tmp_path: Path) -> None:
    path = control(tmp_path)
    before = path.read_text()
    res = results(tmp_path, passed=0, failed=0, skipped=3)
    run = run_cli(["breaker-update", "--results-file", str(res)], tmp_path)
    assert run.returncode == 0 and run.outputs["state"] == "closed" and run.outputs["tripped"] == "false"
    assert path.read_text() == before and journal.read() == []


def test_outputs_print_as_name_value_lines_outside_actions(tmp_path: Path) -> None:
    control(tmp_path)
    run = run_cli(
        ["breaker-update", "--ecosystem", "npm", "--outcome", "failure", "--now", "2026-06-26T20:00:00Z"],
        tmp_path,
        actions=False,
    )
    assert run.returncode == 0
    assert run.outputs == {"state": "closed", "previous-state": "closed", "failure-rate": "1", "tripped": "false"}


# --- budget minutes -----------------------------------------------------------------


def test_update_adds_the_batch_minutes_to_the_budget_rounded_up_to_whole_minutes(tmp_path: Path) -> None:
    path = control(
        tmp_path,
        budget={
            "macos_minutes_used": 10,
            "linux_minutes_used": 5,
            "week_start": "2026-06-22T00:00:00Z",
            "sampling_active": False,
        },
    )
    run = run_cli(
        [
            "breaker-update",
            "--ecosystem",
            "homebrew",
            "--outcome",
            "success",
            "--macos-minutes",
            "12.5",
            "--linux-minutes",
            "30",
            "--now",
            "2026-06-26T20:00:00Z",
        ],
        tmp_path,
    )
    assert run.returncode == 0, run.log
    budget = json.loads(path.read_text())["budget"]
    assert (budget["macos_minutes_used"], budget["linux_minutes_used"]) == (23, 35)  # 12.5 is billed as 13
    assert [op["op"] for op in journal.read()] == ["breaker.record", "budget.add_minutes"]
    assert journal.read()[1]["args"] == {"macos": 12.5, "linux": 30.0, "at": "2026-06-26T20:00:00Z"}


def test_update_takes_the_minutes_from_the_results_file_when_the_inputs_are_empty(tmp_path: Path) -> None:
    path = control(
        tmp_path,
        budget={
            "macos_minutes_used": 0,
            "linux_minutes_used": 0,
            "week_start": "2026-06-22T00:00:00Z",
            "sampling_active": False,
        },
    )
    res = results(tmp_path, passed=1, failed=0, macos_minutes=4, linux_minutes=0)
    run = run_cli(
        ["breaker-update", "--results-file", str(res), "--now", "2026-06-26T20:00:00Z"],
        tmp_path,
        env={"INPUT_MACOS_MINUTES": "", "INPUT_LINUX_MINUTES": ""},
    )
    assert run.returncode == 0, run.log
    assert json.loads(path.read_text())["budget"]["macos_minutes_used"] == 4


def test_update_without_minutes_leaves_the_budget_alone(tmp_path: Path) -> None:
    control(tmp_path)
    run_cli(["breaker-update", "--ecosystem", "homebrew", "--outcome", "failure"], tmp_path)
    assert [op["op"] for op in journal.read()] == ["breaker.record"]


# --- status -------------------------------------------------------------------------


def test_status_shows_the_breaker_table(tmp_path: Path, corpus: Path) -> None:
    legacy(tmp_path, corpus)
    run = run_cli(["status", "--now", "2026-06-26T21:00:00Z"], tmp_path)
    assert "| homebrew | 🔴 open | ░░░░░░░░░░ 0% | 0/10 | 957 | 2026-06-26T21:51:01Z (in 51m) |" in run.summary
    assert "| default |" not in run.summary


def test_status_at_a_terminal_says_why_a_legacy_breaker_is_open_and_until_when(tmp_path: Path, corpus: Path) -> None:
    legacy(tmp_path, corpus)
    run = run_cli(["status", "--now", "2026-06-26T21:00:00Z"], tmp_path, actions=False, env={"COLUMNS": "200"})
    line = next(row for row in run.stdout.splitlines() if row.startswith("homebrew "))
    assert "skipped until 2026-06-26T21:51:01Z (in 51m)" in line
    assert "opened by the legacy scripts after 957 consecutive failures (no window recorded)" in line
    assert "0%" not in line and "|" not in run.stdout


def test_status_of_a_young_closed_breaker_says_it_cannot_trip_yet(tmp_path: Path) -> None:
    path = tmp_path / "batch-control.json"
    path.write_text(
        json.dumps(
            {"enabled": True, "circuit_breaker": {"npm": {"state": "closed", "failures": 1, "window": ["failure"]}}}
        )
    )
    run = run_cli(["status", "--now", "2026-06-26T21:00:00Z"], tmp_path, actions=False, env={"COLUMNS": "200"})
    line = next(row for row in run.stdout.splitlines() if row.startswith("npm "))
    assert "runs" in line and "1 of 1 failed (100%); cannot trip before 5 attempts" in line


# --- replay -------------------------------------------------------------------------


def test_replay_of_outcomes_counts_the_skipped_batches(tmp_path: Path) -> None:
    lines = [{"at": f"2026-06-01T0{i}:00:00Z", "ecosystem": "npm", "outcome": "failure"} for i in range(5)]
    lines += [
        {"at": "2026-06-01T04:30:00Z", "ecosystem": "npm", "outcome": "success"},  # skipped: open until 05:00
        {"at": "2026-06-01T05:10:00Z", "ecosystem": "npm", "outcome": "success"},  # the probe: closes
        {"at": "2026-06-01T05:20:00Z", "ecosystem": "pypi", "outcome": "success"},
    ]
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    run = run_cli(["breaker", "replay", str(history), "--json"], tmp_path, actions=False)
    assert run.returncode == 0, run.log
    report = json.loads(run.stdout)
    assert (report["batches"], report["skipped"]) == (8, 1)
    names = [(e["ecosystem"], e["name"]) for e in report["timeline"]]
    assert names == [("npm", "trip"), ("npm", "skipped"), ("npm", "grant-probe"), ("npm", "close")]
    assert report["ecosystems"]["npm"]["final_state"] == "closed"


def test_replay_config_flags_change_the_outcome(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text(
        "".join(
            json.dumps({"at": f"2026-06-01T00:0{i}:00Z", "ecosystem": "npm", "outcome": o}) + "\n"
            for i, o in enumerate(["failure", "success", "failure", "success"])
        )
    )
    default = json.loads(run_cli(["breaker", "replay", str(history), "--json"], tmp_path, actions=False).stdout)
    tuned = json.loads(
        run_cli(
            ["breaker", "replay", str(history), "--json", "--min-attempts", "3", "--threshold", "0.5", "--wait", "2h"],
            tmp_path,
            actions=False,
        ).stdout
    )
    assert default["ecosystems"]["npm"]["opens"] == 0
    assert tuned["ecosystems"]["npm"]["opens"] == 1 and tuned["skipped"] == 1
    assert tuned["config"]["wait"] == "2h"


def test_replay_reads_the_corpus_failure_records(tmp_path: Path, corpus: Path) -> None:
    files = sorted(str(p) for p in (corpus / "failures").glob("*.jsonl"))
    run = run_cli(["breaker", "replay", *files, "--json"], tmp_path, actions=False)
    assert run.returncode == 0, run.log
    report = json.loads(run.stdout)
    assert report["batches"] == len(files)
    homebrew = report["ecosystems"]["homebrew"]
    assert homebrew["failures"] == homebrew["attempts"] > 16  # every record is a failed attempt
    waits = [
        e["detail"].rsplit("waits ", 1)[1]
        for e in report["timeline"]
        if e["ecosystem"] == "homebrew" and "waits" in e["detail"]
    ]
    assert waits[:6] == ["1h", "2h", "4h", "8h", "16h", "1d"] and set(waits[6:]) == {"1d"}
    assert report["ecosystems"]["unknown"]["attempts"] == 2  # batch-*.jsonl: recipe lines, no ecosystem
    text = run_cli(["breaker", "replay", *files], tmp_path, actions=False).stdout
    assert "0 of 33 batch(es) would have been skipped." in text


def test_replay_names_the_bad_line(tmp_path: Path) -> None:
    history = tmp_path / "bad.jsonl"
    history.write_text('{"at": "2026-06-01T00:00:00Z", "ecosystem": "npm", "outcome": "failure"}\n{"hello": 1}\n')
    run = run_cli(["breaker", "replay", str(history)], tmp_path, actions=False)
    assert run.returncode == 1 and "bad.jsonl:2" in run.stderr and "Traceback" not in run.log


def test_replay_refuses_an_ecosystem_name_that_could_forge_a_workflow_command(tmp_path: Path) -> None:
    history = tmp_path / "evil.jsonl"
    history.write_text(
        json.dumps({"at": "2026-06-01T00:00:00Z", "ecosystem": "::error::forged", "outcome": "failure"}) + "\n"
    )
    run = run_cli(["breaker", "replay", str(history)], tmp_path)
    assert run.returncode == 1 and "evil.jsonl" in run.stdout
    assert "::error::forged" not in run.stdout and "Traceback" not in run.log


def test_replay_rejects_an_impossible_config(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text("")
    run = run_cli(["breaker", "replay", str(history), "--window", "3"], tmp_path, actions=False)
    assert run.returncode == 2 and "could never trip" in run.stderr


def test_the_gate_path_imports_no_network_or_github_library(tmp_path: Path, corpus: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.cli_helpers import REPO_ROOT

    legacy(tmp_path, corpus)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    env["PYTHONPATH"] = str(REPO_ROOT)
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "batchops",
            "breaker-gate",
            "--ecosystem",
            "npm",
            "--now",
            "2026-06-26T21:00:00Z",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "batchops.core.breaker" in modules
    assert not {m for m in modules if m.split(".")[0] in ("requests", "github", "urllib3", "http")}
