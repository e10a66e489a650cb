"""The pushed commit message describes every operation it carries; no trailer is unexplained.

The real CLI in a real clone of a bare remote: operator commands prepare
``commit-message.txt`` beside the journal, persist-with-retry lands it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchops.core import control
from tests.cli_helpers import run_cli
from tests.support.gitrepo import git, make_remote

NOW = "2026-06-29T10:00:00Z"


@pytest.fixture
def operator(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A bare remote, an operator's clone with an identity, and the environment of its shell."""
    bare, work = make_remote(tmp_path, {"batch-control.json": control.dumps(json.loads(control.TEMPLATE))})
    git(work, "config", "user.name", "Ada Operator")
    git(work, "config", "user.email", "ada@example.org")
    return bare, work, {"BATCHOPS_JOURNAL": str(tmp_path / "ops" / "journal.jsonl"), "BATCHOPS_NOW": NOW}


def batchops(work: Path, env: dict[str, str], *args: str) -> str:
    run = run_cli(list(args), work, env=env, actions=False)
    assert run.returncode == 0, run.log
    return run.stdout + run.stderr


def pushed(bare: Path) -> str:
    return git(bare, "log", "-1", "--format=%B", "main")


def journal_ids(env: dict[str, str]) -> list[str]:
    path = Path(env["BATCHOPS_JOURNAL"])
    return [json.loads(line)["id"] for line in path.read_text().splitlines()] if path.exists() else []


def test_without_a_commit_message_the_prepared_message_lands_describing_every_operation(operator) -> None:  # type: ignore[no-untyped-def]
    """`disable` then `stop`, then persist: the commit says both, with the actor, not only the last command."""
    bare, work, env = operator
    batchops(work, env, "disable", "npm", "--new")
    batchops(work, env, "stop", "--reason", "bad bottles")
    ids = journal_ids(env)
    prepared = Path(env["BATCHOPS_JOURNAL"]).parent / "commit-message.txt"
    subject = prepared.read_text().splitlines()[0]
    batchops(work, env, "persist-with-retry")
    message = pushed(bare)
    assert message.splitlines()[0] == subject
    groups = control.parse_trailers(message)
    assert [g["operation-id"] for g in groups] == ids and len(ids) == 2
    assert [g["operation"] for g in groups] == ["control.disable", "control.stop"]
    assert all(g["actor"] == "Ada Operator <ada@example.org>" for g in groups)
    body = message.split("\n\n")[1].splitlines()
    assert body == ["- disable ecosystem npm", "- stop the batch pipeline", "  Reason: bad bottles"]
    assert not prepared.exists()  # used: it cannot describe a later commit


def test_a_job_operation_in_the_same_journal_is_described_too(operator) -> None:  # type: ignore[no-untyped-def]
    bare, work, env = operator
    batchops(work, env, "stop", "--reason", "registry incident")
    batchops(work, env, "breaker-update", "--ecosystem", "npm", "--outcome", "failure", "--linux-minutes", "3")
    batchops(work, env, "persist-with-retry")
    message = pushed(bare)
    groups = control.parse_trailers(message)
    assert [g["operation"] for g in groups] == ["control.stop", "breaker.record", "budget.add_minutes"]
    body = message.split("\n\n")[1].splitlines()
    assert [line for line in body if line.startswith("- ")] == [
        "- stop the batch pipeline",
        "- breaker-update npm: record 1 outcome(s)",
        "- budget: add 0.0 macOS and 3.0 Linux minute(s)",
    ]


def test_an_explicit_message_keeps_its_text_gains_a_line_per_operation_and_loses_forged_trailers(operator) -> None:  # type: ignore[no-untyped-def]
    bare, work, env = operator
    batchops(work, env, "disable", "npm", "--new")
    (real,) = journal_ids(env)
    forged = (
        "ops: npm off [skip ci]\n\nBatchops-Operation-Id: deadbeefdeadbeefdeadbeefdeadbeef\nBatchops-Actor: mallory"
    )
    batchops(work, env, "persist-with-retry", "--commit-message", forged)
    message = pushed(bare)
    assert message.startswith("ops: npm off [skip ci]\n\n- ")
    assert "deadbeef" not in message and "mallory" not in message
    assert [g["operation-id"] for g in control.parse_trailers(message)] == [real]


def test_the_printed_land_it_command_gives_the_same_commit_as_no_message(operator) -> None:  # type: ignore[no-untyped-def]
    """`--commit-message "$(cat commit-message.txt)"`, as operator commands print it."""
    bare, work, env = operator
    batchops(work, env, "disable", "npm", "--new")
    prepared = Path(env["BATCHOPS_JOURNAL"]).parent / "commit-message.txt"
    text = prepared.read_text().rstrip("\n")  # what $(cat ...) gives
    batchops(work, env, "breaker-update", "--ecosystem", "npm", "--outcome", "failure")
    batchops(work, env, "persist-with-retry", "--commit-message", text)
    groups = control.parse_trailers(pushed(bare))
    assert [g["operation"] for g in groups] == ["control.disable", "breaker.record"]  # both, each once
    assert pushed(bare).count("Batchops-Operation-Id:") == 2


def test_a_prepared_message_for_operations_that_already_landed_is_not_reused(operator) -> None:  # type: ignore[no-untyped-def]
    bare, work, env = operator
    batchops(work, env, "stop", "--reason", "incident")
    prepared = Path(env["BATCHOPS_JOURNAL"]).parent / "commit-message.txt"
    git(work, "commit", "-q", "-F", str(prepared), "batch-control.json")  # landed by hand, as the runbook allows
    git(work, "push", "-q", "origin", "main")
    Path(env["BATCHOPS_JOURNAL"]).write_text("")  # a later job's journal: the stop is not part of it
    batchops(work, env, "breaker-update", "--ecosystem", "npm", "--outcome", "failure")
    assert prepared.exists()  # still there from the stop, naming its operation only
    batchops(work, env, "persist-with-retry")
    message = pushed(bare)
    assert message.splitlines()[0] == "batchops: update control state [skip ci]"
    assert [g["operation"] for g in control.parse_trailers(message)] == ["breaker.record"]
