"""What a newcomer typed at a terminal and what the CLI answered: the fix is copyable, the message says
what the user wrote, and nothing is silently ignored. The real CLI in a subprocess."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from batchops.core import control
from tests.cli_helpers import run_cli
from tests.support.gitrepo import git


def legacy(tmp_path: Path, corpus: Path) -> Path:
    path = tmp_path / "batch-control.json"
    shutil.copy(corpus / "control-history" / "batch-control.20260626T205108.json", path)
    return path


@pytest.mark.parametrize("typed", [["--dry-run"], ["--dry-run", "true"], ["--dry-run=false"]])
def test_dry_run_on_a_command_that_changes_nothing_echoes_what_was_typed_and_says_none_is_needed(
    tmp_path: Path, typed: list[str]
) -> None:
    (tmp_path / "batch-control.json").write_text(control.dumps(json.loads(control.TEMPLATE)))
    run = run_cli(["status", *typed, "--now", "2026-06-26T21:00:00Z"], tmp_path, actions=False)
    assert run.returncode == 2
    error = [line for line in run.log.splitlines() if line.startswith("error:")]
    assert len(error) == 1, run.log
    assert f"unrecognized argument: {' '.join(typed)} (" in error[0]
    assert "changes nothing, so it needs no dry run" in error[0]
    assert "e.g. `batchops status --now 2026-06-26T21:00:00Z`" in error[0]
    if typed == ["--dry-run"]:
        assert "--dry-run=true" not in run.log


def test_dry_run_with_push_says_that_nothing_is_pushed(tmp_path: Path, corpus: Path) -> None:
    path = legacy(tmp_path, corpus)
    before = path.read_text()
    run = run_cli(["disable", "npm", "--reason", "registry outage", "--dry-run", "--push"], tmp_path, actions=False)
    assert run.returncode == 0, run.log
    assert "--push does nothing in a dry run: nothing is written, nothing is pushed" in run.log
    assert path.read_text() == before


@pytest.mark.parametrize("url", ["notaurl", "ftp://example.com/incident", "https://"])
def test_an_incident_url_that_is_not_http_is_refused_with_an_example(tmp_path: Path, corpus: Path, url: str) -> None:
    path = legacy(tmp_path, corpus)
    before = path.read_text()
    run = run_cli(["stop", "--reason", "x", "--incident-url", url, "--dry-run"], tmp_path, actions=False)
    assert run.returncode == 2
    assert "is not an http(s) URL" in run.log
    assert "e.g. --incident-url https://github.com/OWNER/REPO/issues/1" in run.log
    assert path.read_text() == before


def test_an_http_incident_url_is_taken(tmp_path: Path, corpus: Path) -> None:
    legacy(tmp_path, corpus)
    run = run_cli(["stop", "--reason", "x", "--incident-url", "https://example.com/inc/1", "--dry-run"], tmp_path)
    assert run.returncode == 0, run.log
    assert '+  "incident_url": "https://example.com/inc/1"' in run.stdout


def test_the_known_ecosystems_of_an_error_leave_out_the_legacy_template_default_which_is_still_accepted(
    tmp_path: Path, corpus: Path
) -> None:
    legacy(tmp_path, corpus)
    run = run_cli(["disable", "nope", "--reason", "x", "--dry-run"], tmp_path, actions=False)
    assert run.returncode == 2
    assert "use a known one (github, homebrew, rubygems, crates.io, npm, pypi)," in run.log
    accepted = run_cli(["disable", "default", "--reason", "legacy fallback", "--dry-run"], tmp_path, actions=False)
    assert accepted.returncode == 0, accepted.log


def test_a_default_breaker_with_a_history_is_listed_among_the_known_ecosystems(tmp_path: Path, corpus: Path) -> None:
    path = legacy(tmp_path, corpus)
    document = json.loads(path.read_text())
    document["circuit_breaker"]["default"] = dict(document["circuit_breaker"]["npm"])
    path.write_text(json.dumps(document, indent=2) + "\n")
    run = run_cli(["disable", "nope", "--reason", "x", "--dry-run"], tmp_path, actions=False)
    assert "npm, pypi, default)" in run.log


def test_a_missing_control_file_suggests_the_flag_at_a_terminal_and_the_input_in_actions(tmp_path: Path) -> None:
    terminal = run_cli(["status", "--control-file", "missing.json"], tmp_path, actions=False)
    assert terminal.returncode != 0
    assert "or set --control-file to its path" in terminal.log
    assert "action input" not in terminal.log
    actions = run_cli(["status", "--control-file", "missing.json"], tmp_path)
    assert "or set the action input control-file to its path" in actions.log


def test_the_gate_dry_run_on_a_half_open_breaker_says_it_stays_half_open(tmp_path: Path, corpus: Path) -> None:
    path = legacy(tmp_path, corpus)
    document = json.loads(path.read_text())
    document["circuit_breaker"]["npm"].update({"state": "half-open"})
    path.write_text(json.dumps(document, indent=2) + "\n")
    run = run_cli(
        ["breaker-gate", "--ecosystem", "npm", "--dry-run", "--now", "2026-06-27T00:00:00Z"], tmp_path, actions=False
    )
    assert run.returncode == 0, run.log
    assert "half-open -> half-open" not in run.log
    assert "the gate would stay half-open and grant this batch the probe" in run.log


def test_pending_says_why_by_is_empty_for_a_journaled_gate_decision(tmp_path: Path, corpus: Path) -> None:
    legacy(tmp_path, corpus)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=Op", "-c", "user.email=op@example.com", "commit", "-qm", "init")
    gate = run_cli(["breaker-gate", "--ecosystem", "npm", "--now", "2026-06-27T00:00:00Z"], tmp_path, actions=False)
    assert gate.returncode == 0, gate.log
    listed = run_cli(["pending"], tmp_path, actions=False)
    row = next(line for line in listed.stdout.splitlines() if "breaker.gate" in line and "batch-control.json" in line)
    assert "  -   " in row
    assert (
        "by -: breaker.gate: journaled by a step (such as breaker-gate), which records a decision, not a person"
        in listed.stdout
    )
