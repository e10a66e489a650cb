"""Operator commands replace the runbook's jq edits: validated, atomic, audited."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from batchops import cli
from batchops.adapters import journal
from batchops.core import control, operations
from tests.cli_helpers import run_cli
from tests.support.gitrepo import git, make_remote

pytestmark = pytest.mark.usefixtures("first_users_go_code_reads_every_control_file")


NOW = "2026-06-26T21:00:00Z"


def legacy(tmp_path: Path, corpus: Path) -> Path:
    path = tmp_path / "batch-control.json"
    shutil.copy(corpus / "control-history" / "batch-control.20260626T205108.json", path)
    return path


def test_stop_records_the_incident_and_keeps_everything_else(tmp_path: Path, corpus: Path) -> None:
    path = legacy(tmp_path, corpus)
    before = json.loads(path.read_text())
    before["x_team_note"] = {"keep": "me"}
    path.write_text(json.dumps(before, indent=2))
    run = run_cli(
        [
            "stop",
            "--reason",
            "homebrew checksum drift",
            "--incident-url",
            "https://example.test/i/9",
            "--expected-resume",
            "2026-06-27",
            "--now",
            NOW,
        ],
        tmp_path,
        env={"GITHUB_ACTOR": "octo-operator"},
        actions=False,
    )
    assert run.returncode == 0, run.log
    after = json.loads(path.read_text())
    assert list(after) == list(before)  # key order kept, unknown key kept
    assert after["x_team_note"] == {"keep": "me"}
    assert after["circuit_breaker"] == before["circuit_breaker"]
    assert (after["enabled"], after["reason"], after["incident_url"], after["expected_resume"]) == (
        False,
        "homebrew checksum drift",
        "https://example.test/i/9",
        "2026-06-27",
    )
    assert after["disabled_by"] == "octo-operator" and after["disabled_at"] == NOW
    message = run.stdout
    assert message.startswith("batchops: stop the batch pipeline [skip ci]")
    assert "Reason: homebrew checksum drift" in message
    assert "Batchops-Operation: control.stop" in message and "Batchops-Actor: octo-operator" in message
    assert f"Batchops-At: {NOW}" in message


def test_stop_takes_the_operator_from_git_config_outside_actions(tmp_path: Path, corpus: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("BATCHOPS_JOURNAL")  # outside Actions the journal lives in .git/batchops
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.name", "Ada Operator")
    git(tmp_path, "config", "user.email", "ada@example.test")
    legacy(tmp_path, corpus)
    run = run_cli(
        ["stop", "--reason", "bad batch", "--now", NOW],
        tmp_path,
        actions=False,
        env={"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "", "GIT_COMMITTER_NAME": ""},
    )
    assert run.returncode == 0, run.log
    assert json.loads((tmp_path / "batch-control.json").read_text())["disabled_by"] == "Ada Operator <ada@example.test>"
    # the message is also saved for `git commit -F`
    saved = tmp_path / ".git" / "batchops" / "commit-message.txt"
    assert saved.read_text() == run.stdout


def test_resume_clears_the_incident_fields(tmp_path: Path, corpus: Path) -> None:
    path = legacy(tmp_path, corpus)
    run_cli(["stop", "--reason", "x", "--now", NOW], tmp_path, actions=False)
    run = run_cli(["resume", "--now", NOW], tmp_path, actions=False)
    assert run.returncode == 0
    after = json.loads(path.read_text())
    assert after["enabled"] is True
    assert [after[k] for k in ("reason", "incident_url", "disabled_by", "disabled_at", "expected_resume")] == [""] * 5
    assert "Was stopped: x" in run.stdout


def test_dry_run_takes_a_value_and_dry_run_false_writes(tmp_path: Path, corpus: Path) -> None:
    path = legacy(tmp_path, corpus)
    before = path.read_text()
    for flags in (["--dry-run"], ["--dry-run", "true"], ["--dry-run=yes"]):
        run = run_cli(["disable", "npm", *flags, "--now", NOW], tmp_path, actions=False)
        assert run.returncode == 0 and "dry run: nothing written" in run.stdout and '+    "npm"' in run.stdout
        assert path.read_text() == before
    run = run_cli(["disable", "npm", "--dry-run", "false", "--now", NOW], tmp_path, actions=False)
    assert run.returncode == 0 and json.loads(path.read_text())["disabled_ecosystems"] == ["npm"]


def test_disable_and_enable_are_idempotent(tmp_path: Path, corpus: Path) -> None:
    path = legacy(tmp_path, corpus)
    for _ in range(2):
        assert run_cli(["disable", "npm", "--now", NOW], tmp_path, actions=False).returncode == 0
    assert json.loads(path.read_text())["disabled_ecosystems"] == ["npm"]
    assert run_cli(["enable", "npm", "--now", NOW], tmp_path, actions=False).returncode == 0
    assert json.loads(path.read_text())["disabled_ecosystems"] == []


def test_each_change_is_recorded_in_the_journal(tmp_path: Path, corpus: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    legacy(tmp_path, corpus)
    journal_file = tmp_path / "j" / "journal.jsonl"
    env = {"BATCHOPS_JOURNAL": str(journal_file)}
    run_cli(["disable", "pypi", "--now", NOW], tmp_path, actions=False, env=env)
    run_cli(["stop", "--reason", "r", "--now", NOW], tmp_path, actions=False, env=env)
    monkeypatch.setenv("BATCHOPS_JOURNAL", str(journal_file))
    entries = journal.read()
    assert [e["op"] for e in entries] == ["control.disable", "control.stop"]
    assert entries[0]["file"] == "batch-control.json" and entries[0]["args"]["ecosystem"] == "pypi"


def test_invalid_control_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "batch-control.json"
    path.write_text('{"enabled": "nope"}')
    run = run_cli(["stop", "--reason", "x"], tmp_path)
    assert run.returncode == 1
    assert path.read_text() == '{"enabled": "nope"}'
    assert "/enabled" in run.stdout and "::error" in run.stdout


def test_bad_operator_input_is_refused_with_the_fix(tmp_path: Path, corpus: Path) -> None:
    path = legacy(tmp_path, corpus)
    before = path.read_text()
    assert "single line" in run_cli(["stop", "--reason", "a\nb"], tmp_path).stdout
    assert "not an ecosystem name" in run_cli(["disable", "Home Brew"], tmp_path).stdout
    assert path.read_text() == before
    assert not list(tmp_path.glob(".batch-control.json.*"))  # no temp file left behind


def test_status_shows_switch_disabled_ecosystems_breakers_and_budget(tmp_path: Path, corpus: Path) -> None:
    legacy(tmp_path, corpus)
    run_cli(["disable", "npm", "--now", NOW], tmp_path, actions=False)
    run = run_cli(["status", "--now", NOW], tmp_path, actions=False)
    assert run.returncode == 0
    assert "enabled" in run.stdout and "npm" in run.stdout
    assert "homebrew" in run.stdout and "open" in run.stdout
    assert "macOS" in run.stdout


def test_unknown_command_and_no_traceback(tmp_path: Path) -> None:
    run = run_cli(["frobnicate"], tmp_path, actions=False)
    assert run.returncode == 2 and "unknown command" in run.stderr and "Traceback" not in run.log


def test_stop_push_applies_the_stop_once_here_and_once_on_the_remotes_copy_and_lands_its_audited_message(
    tmp_path: Path,
    monkeypatch,
    mocker,  # type: ignore[no-untyped-def]
) -> None:
    """``--push`` hands the audited message to the persist engine as a value: no commit-message.txt on the way."""
    bare, work = make_remote(tmp_path, {"batch-control.json": control.dumps(json.loads(control.TEMPLATE))})
    git(work, "config", "user.name", "Ada Operator")
    git(work, "config", "user.email", "ada@example.org")
    monkeypatch.chdir(work)
    monkeypatch.setenv("BATCHOPS_JOURNAL", str(tmp_path / "journal.jsonl"))
    applied = mocker.spy(operations, "apply")
    read_message = mocker.spy(journal, "read_message")
    assert cli.main(["stop", "--reason", "registry down", "--push", "--now", NOW]) == 0
    assert [call.args[1] for call in applied.call_args_list] == ["control.stop", "control.stop"]
    assert read_message.call_count == 0 and not journal.message_path().exists()
    message = git(bare, "log", "-1", "--format=%B", "main")
    assert message.startswith("batchops: stop the batch pipeline [skip ci]") and "Reason: registry down" in message
    assert "Batchops-Operation: control.stop" in message and "Batchops-Actor: Ada Operator <ada@example.org>" in message
    assert json.loads(git(bare, "show", "main:batch-control.json"))["enabled"] is False and journal.read() == []
