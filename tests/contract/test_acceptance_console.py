"""Acceptance of the console and the drop-in, as the first user's operator on call: its real
control file, a real checkout and bare remote, the CLI in and out of Actions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchops.adapters import journal
from tests.cli_helpers import run_cli
from tests.support.gitrepo import git, operator_checkout

LEGACY = "control-history/batch-control.20260626T205108.json"  # every breaker open, opens_at 2026-06-26T21:51:01Z
LATER = "2026-12-01T10:00:00Z"  # months after: every legacy wait is long over


@pytest.fixture
def checkout(tmp_path: Path, corpus: Path) -> Path:
    return operator_checkout(tmp_path, (corpus / LEGACY).read_text())


def bo(checkout: Path, *args: str, actions: bool = False):  # type: ignore[no-untyped-def]
    return run_cli(
        [*args, "--now", LATER],
        checkout,
        actions=actions,
        env={"BATCHOPS_PERSIST_BACKOFF": "0.01,0.02", "COLUMNS": "200"},
    )


def remote_breaker(checkout: Path, ecosystem: str) -> dict:
    git(checkout, "fetch", "-q", "origin")
    return json.loads(git(checkout, "show", "origin/main:batch-control.json"))["circuit_breaker"][ecosystem]


def test_breaker_open_on_a_legacy_breaker_whose_wait_is_over_keeps_the_next_batch_out(checkout: Path) -> None:
    # without the trip the next pypi batch would be the probe; the operator wants it kept out
    assert bo(checkout, "breaker-gate", "--ecosystem", "pypi", "--dry-run", "true").outputs["skip"] == "false"
    run = bo(checkout, "breaker", "open", "pypi", "--reason", "pypi still answers 503", "--push")
    assert run.returncode == 0, run.log
    assert "nothing to change" not in run.log and "Batchops-Operation: breaker.open" in run.log
    assert remote_breaker(checkout, "pypi")["opens_at"] == "2026-12-01T11:00:00Z"
    gate = bo(checkout, "breaker-gate", "--ecosystem", "pypi", "--dry-run", "true", actions=True)
    assert (gate.outputs["skip"], gate.outputs["state"], gate.outputs["opens-at"]) == (
        "true",
        "open",
        "2026-12-01T11:00:00Z",
    )
    line = next(row for row in bo(checkout, "status").stdout.splitlines() if row.startswith("pypi"))
    assert "skipped until 2026-12-01T11:00:00Z" in line and "legacy scripts" not in line and "by hand" in line


def test_breaker_open_again_while_it_waits_changes_nothing_unless_the_wait_is_longer(checkout: Path) -> None:
    assert bo(checkout, "breaker", "open", "npm", "--reason", "outage", "--wait", "6h").returncode == 0
    again = bo(checkout, "breaker", "open", "npm", "--reason", "outage")
    assert again.returncode == 0 and "nothing to change: already open until 2026-12-01T16:00:00Z" in again.log
    longer = bo(checkout, "breaker", "open", "npm", "--reason", "outage, longer", "--wait", "12h")
    assert longer.returncode == 0, longer.log
    assert (
        json.loads((checkout / "batch-control.json").read_text())["circuit_breaker"]["npm"]["opens_at"]
        == "2026-12-01T22:00:00Z"
    )
    assert [e["op"] for e in journal.read()] == ["breaker.open", "breaker.open"]


@pytest.mark.parametrize(
    ("edit", "pointer"),
    [
        (lambda d: d["budget"].update(week_start="2026-13-01"), "/budget/week_start"),
        (
            lambda d: d["circuit_breaker"]["npm"].update(opens_at="2026-02-30T10:00:00Z"),
            "/circuit_breaker/npm/opens_at",
        ),
    ],
)
def test_validate_refuses_a_time_of_the_right_shape_that_names_no_real_day(checkout: Path, edit, pointer: str) -> None:  # type: ignore[no-untyped-def]
    # the schema takes the shape; a reader refuses it (week_start) or reads it as absent (opens_at: the probe at once)
    path = checkout / "batch-control.json"
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document, indent=2))
    run = run_cli(["validate", "batch-control.json"], checkout, actions=False)
    assert run.returncode == 1
    assert (
        f"batch-control.json: {pointer}:" in run.stdout and "is not a real date or time (fix: use 2026-" in run.stdout
    )


@pytest.mark.parametrize("command", [["status"], ["budget", "status"], ["preflight"]])
def test_a_reader_that_refuses_the_week_start_names_the_file(checkout: Path, command: list[str]) -> None:
    path = checkout / "batch-control.json"
    document = json.loads(path.read_text())
    document["budget"]["week_start"] = "2026-02-30"
    path.write_text(json.dumps(document, indent=2))
    run = bo(checkout, *command, actions=True)
    assert run.returncode != 0 and "Traceback" not in run.log
    assert "::error" in run.stdout and "batch-control.json: budget.week_start: '2026-02-30'" in run.stdout
    assert "use 2026-11-30 or 2026-11-30T00:00:00Z" in run.stdout


def test_status_says_why_ecosystems_were_disabled_by_the_runbooks_budget_procedure(checkout: Path) -> None:
    # runbook 4, "at 90%": .disabled_ecosystems += [...] | .reason = "Budget threshold exceeded", pipeline enabled
    path = checkout / "batch-control.json"
    document = json.loads(path.read_text())
    document["disabled_ecosystems"] = ["rubygems"]
    document["reason"] = "Budget threshold exceeded"
    path.write_text(json.dumps(document, indent=2))
    run = bo(checkout, "status")
    assert run.returncode == 0, run.log
    lines = run.stdout.splitlines()
    assert "disabled ecosystems  rubygems" in lines and "reason               Budget threshold exceeded" in lines


@pytest.mark.parametrize(
    ("where", "ref", "said"),
    [("outside", "HEAD", "not a git repository"), ("checkout", "origin/mian", "bad revision 'origin/mian'")],
)
def test_log_outside_a_checkout_or_with_a_wrong_ref_says_so_in_one_line(
    checkout: Path, tmp_path: Path, where: str, ref: str, said: str
) -> None:
    folder = checkout if where == "checkout" else tmp_path / "not-a-checkout"
    folder.mkdir(exist_ok=True)
    run = run_cli(["log", "--ref", ref], folder, actions=True, env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert run.returncode == 2 and "Traceback" not in run.log
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert (
        len(errors) == 1
        and f"cannot read the history of batch-control.json in {ref}" in errors[0]
        and said in errors[0]
    )
    assert "%H" not in errors[0]  # not git's format string


def test_discard_refuses_when_the_operation_sits_in_a_local_commit_and_works_after_reset(checkout: Path) -> None:
    # the operator committed the change by hand (without the prepared message), then wants it undone
    assert bo(checkout, "disable", "npm").returncode == 0
    git(checkout, "commit", "-qam", "disable npm")
    refused = run_cli(["pending", "--discard"], checkout, actions=False)
    assert refused.returncode == 1 and "already holds what" in refused.stderr and "git reset HEAD~1" in refused.stderr
    assert len(journal.read()) == 1  # nothing dropped: the operator can still follow the hint
    git(checkout, "reset", "-q", "HEAD~1")
    done = run_cli(["pending", "--discard"], checkout, actions=False)
    assert done.returncode == 0, done.log
    assert (
        json.loads((checkout / "batch-control.json").read_text())["disabled_ecosystems"] == [] and journal.read() == []
    )
    assert git(checkout, "status", "--short").strip() == ""


def test_breaker_replay_reads_the_first_users_pretty_printed_metrics_history(corpus: Path, tmp_path: Path) -> None:
    # operators.md: "to tune thresholds against your own history: batchops breaker replay FILE…"
    files = sorted(str(p) for p in (corpus / "metrics" / "batch-runs").iterdir())
    run = run_cli(["breaker", "replay", "--json", *files], tmp_path, actions=False)
    assert run.returncode == 0, run.log
    report = json.loads(run.stdout)
    text = json.dumps(report)
    assert "homebrew" in text and "mixed" in text  # old `ecosystem` records and `ecosystems` maps both read


def test_breaker_replay_names_the_line_of_a_truncated_record(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text(
        '{"at": "2026-06-26T20:51:01Z", "ecosystem": "npm", "outcome": "failure"}\n{"at": "2026-06-26T21:\n'
    )
    run = run_cli(["breaker", "replay", str(history)], tmp_path, actions=True)
    assert run.returncode != 0 and "Traceback" not in run.log
    assert f"{history}:2:" in run.stdout and "::error" in run.stdout


def test_the_gate_run_at_a_terminal_says_it_took_the_probe_and_how_to_undo_it(checkout: Path) -> None:
    run = bo(checkout, "breaker-gate", "--ecosystem", "npm")
    assert run.returncode == 0 and run.outputs["state"] == "half-open"
    assert (
        "took the half-open probe for this shell and journaled it" in run.log
        and "batchops pending --discard" in run.log
    )
    assert [e["op"] for e in journal.read()] == ["breaker.gate"]
    in_a_job = run_cli(["breaker-gate", "--ecosystem", "pypi", "--now", LATER], checkout, actions=True)
    assert in_a_job.outputs["state"] == "half-open" and "for this shell" not in in_a_job.log


def test_a_narrow_terminal_wraps_names_and_addresses_between_words_while_it_can() -> None:
    from batchops.render import terminal

    rows = [
        [
            "2026-12-01T10:05:00Z",
            "Bob Second <bob@example.org>",
            "control.disable npm",
            "registry down since 02:00",
            "773458185bf9",
        ]
    ]
    text = terminal.table(["when", "who", "what", "why", "commit"], rows, columns=80, wrap=[1, 2, 3])
    assert max(len(line) for line in text.splitlines()) <= 80
    cells = " ".join(text.split())
    assert "<bob@example.org>" in cells and "control.disable" in cells  # no word cut in two
