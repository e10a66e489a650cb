"""One CLI surface: --dry-run bare or with a value on everything that changes something, writing nothing;
no message suggests `--dry-run false`; --reason on every audited change, shown by `log` with what changed;
`log --ecosystem` attributes legacy commits by what they changed in the control file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchops.adapters import journal
from tests.cli_helpers import run_cli
from tests.support.gitrepo import git, operator_checkout

NOW = "2026-06-26T21:00:00Z"
LEGACY = "control-history/batch-control.20260626T205108.json"

# every operator command that changes the control file, as an operator types it
CHANGES = [
    ["stop", "--reason", "npm outage"],
    ["resume"],
    ["disable", "npm"],
    ["enable", "homebrew"],
    ["budget", "reset"],
    ["budget", "sample", "--on"],
    ["breaker", "reset", "homebrew", "--reason", "fixed"],
    ["breaker", "probe", "homebrew", "--reason", "try now"],
    ["breaker", "open", "npm", "--reason", "upstream down"],
]
DRY_FORMS = [["--dry-run"], ["--dry-run", "true"], ["--dry-run=true"], ["--dry-run", "yes"]]


@pytest.fixture
def checkout(tmp_path: Path, corpus: Path) -> Path:
    return operator_checkout(tmp_path, (corpus / LEGACY).read_text())


def bo(checkout: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_cli([*args, "--now", NOW], checkout, actions=False, env={"COLUMNS": "200"})


def _state(checkout: Path) -> tuple[str, str, str, list[str]]:
    refs = git(checkout, "for-each-ref", "--format=%(refname) %(objectname)")
    journal_dir = journal.path().parent
    kept = sorted(p.name for p in journal_dir.iterdir()) if journal_dir.exists() else []
    return (checkout / "batch-control.json").read_text(), refs, git(checkout, "status", "--porcelain"), kept


@pytest.mark.parametrize("command", CHANGES, ids=[" ".join(c[:2]) for c in CHANGES])
@pytest.mark.parametrize("dry", DRY_FORMS, ids=lambda d: " ".join(d))
def test_every_change_takes_dry_run_bare_or_with_a_value_and_writes_nothing(
    checkout: Path, command: list[str], dry: list[str]
) -> None:
    if command[0] == "resume":
        assert bo(checkout, "stop", "--reason", "x").returncode == 0
        git(checkout, "commit", "-qam", "stop")
        journal.path().unlink()
    before = _state(checkout)
    run = bo(checkout, *command, *dry, "--push")
    assert run.returncode == 0, run.log
    assert "dry run" in run.stdout or "nothing to change" in run.stdout
    assert _state(checkout) == before, "a dry run wrote a file, a journal entry, a commit or a ref"


def test_dry_run_false_makes_the_change(checkout: Path) -> None:
    run = bo(checkout, "disable", "npm", "--dry-run", "false")
    assert run.returncode == 0, run.log
    assert "npm" in json.loads((checkout / "batch-control.json").read_text())["disabled_ecosystems"]


def test_a_bare_dry_run_before_a_positional_does_not_swallow_it(checkout: Path) -> None:
    before = _state(checkout)
    run = bo(checkout, "disable", "--dry-run", "npm")
    assert run.returncode == 0, run.log
    assert _state(checkout) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["disable", "npm", "--dry-run=maybe"],
        ["stop", "--dry-run"],
        ["breaker", "reset", "homebrew", "--dry-run"],
        ["rollback", "--dry-run"],
        ["breaker-gate", "--dry-run"],
        ["pending", "--discard", "--dry-run=perhaps"],
    ],
)
def test_no_error_ever_suggests_dry_run_false(checkout: Path, argv: list[str]) -> None:
    run = run_cli(argv, checkout)
    assert run.returncode != 0
    assert "--dry-run false" not in run.log and "--dry-run=false" not in run.log


def test_a_malformed_dry_run_value_is_fixed_by_the_bare_flag(checkout: Path) -> None:
    run = run_cli(["disable", "npm", "--dry-run=maybe"], checkout)
    assert "write --dry-run alone, e.g. `batchops disable npm --dry-run`" in run.log


def test_a_missing_flag_example_keeps_a_bare_dry_run_bare(checkout: Path) -> None:
    run = run_cli(["stop", "--dry-run"], checkout)
    assert 'e.g. `batchops stop --dry-run --reason "npm registry outage, INC-42"`' in run.log


def test_pending_discard_dry_run_says_what_it_would_drop_and_drops_nothing(checkout: Path) -> None:
    assert bo(checkout, "disable", "npm").returncode == 0
    before = _state(checkout)
    run = run_cli(["pending", "--discard", "--dry-run"], checkout, actions=False)
    assert run.returncode == 0, run.log
    assert "would discard" in run.stdout and "control.disable" in run.stdout
    assert _state(checkout) == before and len(journal.read()) == 1


# --- --reason on every audited change, and log shows it with what changed ----------------------


AUDITED = [
    (["budget", "sample", "--on"], "budget.sample", "force CI-minutes sampling on"),
    (["budget", "sample", "--off"], "budget.sample", "clear forced CI-minutes sampling"),
    (["disable", "npm"], "control.disable npm", "disable ecosystem npm"),
    (["enable", "npm"], "control.enable npm", "enable ecosystem npm"),
    (["budget", "reset"], "budget.reset", "reset the macOS and Linux CI-minutes budget"),
    (["breaker", "probe", "npm"], "breaker.probe npm", "probe the npm circuit breaker now"),
    (["stop"], "control.stop", "stop the batch pipeline"),
    (["resume"], "control.resume", "resume the batch pipeline"),
]


def test_every_audited_change_takes_a_reason_and_log_shows_it_with_what_changed(checkout: Path) -> None:
    git(checkout, "config", "user.name", "Ada Operator")
    document = json.loads((checkout / "batch-control.json").read_text())
    document["budget"].update(macos_minutes_used=100, week_start="2026-06-22T00:00:00Z")
    (checkout / "batch-control.json").write_text(json.dumps(document, indent=2) + "\n")
    git(checkout, "commit", "-qam", "update batch state")
    git(checkout, "push", "-q", "origin", "HEAD")
    for number, (command, _, _) in enumerate(AUDITED):
        run = bo(checkout, *command, "--reason", f"reason {number}", "--push")
        assert run.returncode == 0 and "nothing to change" not in run.stdout, run.log
    rows = json.loads(bo(checkout, "log", "--json", "--limit", "50").stdout)
    operator_rows = [r for r in rows if r["kind"] == "operator"][: len(AUDITED)]
    for row, (number, (_, what, change)) in zip(operator_rows, reversed(list(enumerate(AUDITED))), strict=True):
        assert row["why"] == f"reason {number}"
        assert row["what"].startswith(what) and change in row["what"], row
    text = bo(checkout, "log").stdout
    assert "force CI-minutes sampling on" in text and "clear forced CI-minutes sampling" in text


# --- log --ecosystem attributes legacy commits ---------------------------------------------------


def test_log_ecosystem_finds_legacy_commits_by_what_they_changed_in_the_file(checkout: Path) -> None:
    path = checkout / "batch-control.json"
    for failures in (1, 2, 3):
        document = json.loads(path.read_text())
        document["circuit_breaker"]["homebrew"]["failures"] = failures
        path.write_text(json.dumps(document, indent=2) + "\n")
        git(checkout, "commit", "-qam", "update batch state")
    document = json.loads(path.read_text())
    document["circuit_breaker"]["npm"]["failures"] = 9
    path.write_text(json.dumps(document, indent=2) + "\n")
    git(checkout, "commit", "-qam", "update batch state")
    homebrew = json.loads(bo(checkout, "log", "--ecosystem", "homebrew", "--json").stdout)
    assert [r["what"] for r in homebrew] == ["update batch state"] * 3
    assert all(r["touched"] == ["homebrew"] for r in homebrew)
    npm = json.loads(bo(checkout, "log", "--ecosystem", "npm", "--json").stdout)
    assert len(npm) == 1 and npm[0]["touched"] == ["npm"]
    text = bo(checkout, "log", "--ecosystem", "homebrew").stdout
    assert "changed homebrew" in text


def test_metrics_import_dry_run_reads_everything_and_writes_no_store(tmp_path: Path, corpus: Path) -> None:
    run = run_cli(["metrics", "import", str(corpus / "metrics" / "batch-runs"), "--dry-run"], tmp_path, actions=False)
    assert run.returncode == 0, run.log
    assert "dry run: 50 record(s) from 11 file(s) would be imported" in run.stdout
    assert not (tmp_path / ".batchops").exists()
