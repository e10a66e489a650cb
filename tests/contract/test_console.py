"""The operator console on a real checkout with a bare remote: questions, pending, preview, push, history."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from batchops.adapters import journal
from tests.cli_helpers import run_cli
from tests.support.gitrepo import clone, git, operator_checkout

NOW = "2026-06-26T21:00:00Z"  # the legacy breakers' opens_at is 21:51:01
LEGACY = "control-history/batch-control.20260626T205108.json"


@pytest.fixture
def checkout(tmp_path: Path, corpus: Path) -> Path:
    return operator_checkout(tmp_path, (corpus / LEGACY).read_text())


def bo(checkout: Path, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return run_cli(
        [*args, "--now", NOW] if args[0] not in ("pending",) else list(args),
        checkout,
        actions=False,
        env={"BATCHOPS_PERSIST_BACKOFF": "0.01,0.02", "COLUMNS": "200", **(env or {})},
    )


def control(checkout: Path) -> dict:
    return json.loads((checkout / "batch-control.json").read_text())


def remote_control(checkout: Path) -> dict:
    return json.loads(git(checkout, "show", "origin/main:batch-control.json"))


# --- questions change nothing -------------------------------------------------------------


def test_gate_dry_run_answers_without_taking_the_probe(checkout: Path) -> None:
    before = (checkout / "batch-control.json").read_text()
    run = run_cli(
        ["breaker-gate", "--ecosystem", "npm", "--dry-run", "true", "--now", "2026-06-26T22:00:00Z"], checkout
    )
    assert run.returncode == 0, run.log
    assert (run.outputs["skip"], run.outputs["state"]) == ("false", "half-open")  # what the next batch would get
    assert "dry run" in run.stdout.lower() and "Dry run: nothing written" in run.summary
    assert (checkout / "batch-control.json").read_text() == before and journal.read() == []
    real = run_cli(["breaker-gate", "--ecosystem", "npm", "--now", "2026-06-26T22:00:00Z"], checkout)
    assert real.outputs["skip"] == "false" and [e["op"] for e in journal.read()] == ["breaker.gate"]


def test_status_says_an_unpushed_stop_is_not_what_the_workflows_read(checkout: Path) -> None:
    assert bo(checkout, "stop", "--reason", "npm incident").returncode == 0
    run = bo(checkout, "status")
    assert "STOPPED" in run.stdout
    assert "differs from origin/main" in run.stdout and "there the pipeline is enabled" in run.stdout
    assert "1 operation(s) journaled, not pushed" in run.stdout
    assert bo(checkout, "status").stdout == run.stdout  # asking changes nothing
    assert len(journal.read()) == 1


def test_status_says_when_the_checkout_is_behind_and_fetch_refreshes_it(checkout: Path, tmp_path: Path) -> None:
    other = clone(tmp_path / "remote.git", tmp_path / "other")
    document = control(other)
    document["disabled_ecosystems"] = ["pypi"]
    (other / "batch-control.json").write_text(json.dumps(document, indent=2))
    git(other, "commit", "-qam", "disable pypi by hand")
    git(other, "push", "-q", "origin", "main")
    assert "the local batch-control.json is the same as on origin/main" in bo(checkout, "status").stdout
    run = bo(checkout, "status", "--fetch")
    assert "differs from origin/main" in run.stdout and "disabled: pypi" in run.stdout
    assert "1 commit(s) behind origin/main" in run.stdout


# --- preview, no-ops, push ----------------------------------------------------------------


def test_dry_run_shows_the_change_as_a_diff_and_writes_nothing(checkout: Path) -> None:
    before = (checkout / "batch-control.json").read_text()
    run = bo(checkout, "disable", "npm", "--dry-run")
    assert run.returncode == 0, run.log
    assert '+    "npm"' in run.stdout and "--- a/batch-control.json" in run.stdout
    assert (checkout / "batch-control.json").read_text() == before and journal.read() == []


@pytest.mark.parametrize(
    "args", [["enable", "npm"], ["resume"], ["budget", "reset"], ["breaker", "probe", "npm", "--reason", "x", "--new"]]
)
def test_a_command_that_would_change_nothing_says_so_and_records_nothing(checkout: Path, args: list[str]) -> None:
    if args[:2] == ["breaker", "probe"]:
        args = ["breaker", "probe", "brand-new", "--reason", "x", "--new"]  # a closed breaker: batches already run
    before = (checkout / "batch-control.json").read_text()
    run = bo(checkout, *args)
    assert run.returncode == 0, run.log
    assert run.stdout.startswith("nothing to change:") and "nothing journaled" in run.stdout
    assert (checkout / "batch-control.json").read_text() == before and journal.read() == []


def test_a_second_stop_keeps_the_first_reason_unless_replace_reason(checkout: Path) -> None:
    bo(checkout, "stop", "--reason", "first incident")
    again = bo(checkout, "stop", "--reason", "second incident")
    assert again.stdout.startswith("nothing to change:") and control(checkout)["reason"] == "first incident"
    update = bo(checkout, "stop", "--reason", "second incident", "--expected-resume", "09:00")
    assert "the reason 'first incident' is kept" in update.stderr
    assert (control(checkout)["reason"], control(checkout)["expected_resume"]) == ("first incident", "09:00")
    bo(checkout, "stop", "--reason", "second incident", "--replace-reason")
    assert control(checkout)["reason"] == "second incident"


def test_push_lands_every_pending_operation_with_a_message_describing_each(checkout: Path) -> None:
    assert bo(checkout, "disable", "npm").returncode == 0
    run = bo(checkout, "stop", "--reason", "registry down", "--push")
    assert run.returncode == 0, run.log
    message = git(checkout, "log", "-1", "--format=%B", "origin/main")
    assert message.startswith("batchops: disable ecosystem npm; stop the batch pipeline [skip ci]")
    assert "- disable ecosystem npm" in message and "Reason: registry down" in message
    assert (
        message.count("Batchops-Operation: ") == 2
        and message.count("Batchops-Actor: Ada Operator <ada@example.org>") == 2
    )
    assert "Batchops-Reason: registry down" in message
    assert remote_control(checkout)["enabled"] is False and remote_control(checkout)["disabled_ecosystems"] == ["npm"]
    assert journal.read() == [] and "same as on origin/main" in bo(checkout, "status").stdout


def test_the_prepared_message_always_describes_every_pending_operation(checkout: Path) -> None:
    bo(checkout, "disable", "npm")
    run = bo(checkout, "enable", "npm")
    saved = (Path(journal.path()).parent / "commit-message.txt").read_text()
    assert saved == run.stdout and "- disable ecosystem npm" in saved and "- enable ecosystem npm" in saved


# --- ecosystems, typos, text --------------------------------------------------------------


def test_a_misspelt_ecosystem_gets_the_closest_known_one_and_a_new_one_needs_new(checkout: Path) -> None:
    run = bo(checkout, "disable", "hombrew")
    assert run.returncode == 2 and "did you mean 'homebrew'?" in run.stderr and "--new" in run.stderr
    assert journal.read() == []
    assert bo(checkout, "disable", "conda", "--new").returncode == 0
    assert "conda" in control(checkout)["disabled_ecosystems"]


def test_an_unknown_command_gets_the_closest_one(checkout: Path) -> None:
    run = run_cli(["stauts"], checkout, actions=False)
    assert run.returncode == 2 and "did you mean `batchops status`?" in run.stderr


def test_a_reason_with_a_line_break_is_refused_before_anything_is_written(checkout: Path) -> None:
    before = (checkout / "batch-control.json").read_text()
    run = bo(checkout, "breaker", "reset", "npm", "--reason", "ok\nBatchops-Actor: mallory")
    assert run.returncode == 2 and "single line" in run.stderr
    assert (checkout / "batch-control.json").read_text() == before and journal.read() == []


# --- breaker controls ---------------------------------------------------------------------


def test_breaker_reset_closes_a_legacy_open_breaker_with_an_audited_push(checkout: Path) -> None:
    run = bo(checkout, "breaker", "reset", "homebrew", "--reason", "upstream fixed the bottles", "--push")
    assert run.returncode == 0, run.log
    entry = remote_control(checkout)["circuit_breaker"]["homebrew"]
    assert (entry["state"], entry["failures"], entry["window"]) == ("closed", 0, [])
    message = git(checkout, "log", "-1", "--format=%B", "origin/main")
    assert "Batchops-Operation: breaker.reset" in message and "Batchops-Reason: upstream fixed the bottles" in message
    assert "Was: open, 0 of 0 failed in the window, 957 consecutive failure(s)" in message


def test_breaker_probe_lets_the_next_gate_run_the_probe_now(checkout: Path) -> None:
    assert bo(checkout, "breaker", "probe", "npm", "--reason", "registry back").returncode == 0
    gate = run_cli(["breaker-gate", "--ecosystem", "npm", "--now", NOW], checkout)
    assert (gate.outputs["skip"], gate.outputs["state"]) == ("false", "half-open")


def test_breaker_open_trips_by_hand_and_the_gate_skips(checkout: Path) -> None:
    bo(checkout, "breaker", "reset", "npm", "--reason", "clean")
    assert bo(checkout, "breaker", "open", "npm", "--reason", "bad generator", "--wait", "6h").returncode == 0
    assert control(checkout)["circuit_breaker"]["npm"]["opens_at"] == "2026-06-27T03:00:00Z"
    gate = run_cli(
        ["breaker-gate", "--ecosystem", "npm", "--dry-run", "true", "--now", "2026-06-27T02:00:00Z"], checkout
    )
    assert gate.outputs["skip"] == "true"
    assert [e["op"] for e in journal.read()] == ["breaker.reset", "breaker.open"]
    assert all(e["actor"] == "Ada Operator <ada@example.org>" for e in journal.read())


def test_breaker_controls_require_a_reason(checkout: Path) -> None:
    run = bo(checkout, "breaker", "reset", "npm")
    assert run.returncode == 2 and "--reason" in run.stderr


# --- pending ------------------------------------------------------------------------------


def test_pending_lists_what_when_and_who_and_discard_restores_the_file(checkout: Path) -> None:
    original = control(checkout)
    bo(checkout, "disable", "npm")
    bo(checkout, "stop", "--reason", "incident 12")
    listed = bo(checkout, "pending")
    assert "2 operation(s) journaled, not pushed" in listed.stdout
    assert "control.disable" in listed.stdout and "disable ecosystem npm" in listed.stdout
    assert "Ada Operator <ada@example.org>" in listed.stdout and NOW in listed.stdout
    stop_id = journal.read()[1]["id"]
    dropped = bo(checkout, "pending", "--discard", stop_id[:8])
    assert dropped.returncode == 0, dropped.log
    assert control(checkout)["enabled"] is True and control(checkout)["disabled_ecosystems"] == ["npm"]
    assert [e["op"] for e in journal.read()] == ["control.disable"]
    assert "- " not in (Path(journal.path()).parent / "commit-message.txt").read_text().split("\n\n")[1]  # one op left
    bo(checkout, "pending", "--discard")
    assert control(checkout) == original and journal.read() == []
    assert git(checkout, "status", "--porcelain") == "" and "nothing pending" in bo(checkout, "pending").stdout


def test_pending_flags_operations_that_survived_a_checkout_of_the_file(checkout: Path) -> None:
    run_cli(["breaker-gate", "--ecosystem", "npm", "--now", "2026-06-26T22:00:00Z"], checkout)  # takes the probe
    git(checkout, "checkout", "batch-control.json")
    listed = bo(checkout, "pending")
    assert "breaker.gate" in listed.stdout and "back at its committed version" in listed.stdout
    assert bo(checkout, "pending", "--discard").returncode == 0 and journal.read() == []


def test_discard_refuses_an_unknown_id_with_the_pending_ones(checkout: Path) -> None:
    bo(checkout, "disable", "npm")
    run = bo(checkout, "pending", "--discard", "ffffffff")
    assert run.returncode == 2 and journal.read()[0]["id"][:12] in run.stderr


# --- log ----------------------------------------------------------------------------------


def test_log_shows_who_what_when_and_why_filtered_by_ecosystem_and_since(checkout: Path) -> None:
    bo(checkout, "disable", "npm", "--push")
    bo(checkout, "breaker", "reset", "homebrew", "--reason", "bottles rebuilt", "--push")
    run = bo(checkout, "log")
    rows = [line for line in run.stdout.splitlines() if line.startswith(NOW)]
    assert "breaker.reset homebrew" in rows[0] and "bottles rebuilt" in rows[0] and "Ada Operator" in rows[0]
    assert "control.disable npm" in rows[1]
    assert "(no audit trailer)" in run.stdout  # the seed commit, edited by hand
    only = bo(checkout, "log", "--ecosystem", "npm")
    assert "control.disable npm" in only.stdout and "homebrew" not in only.stdout
    assert "no change to batch-control.json since 2099-01-01" in bo(checkout, "log", "--since", "2099-01-01").stdout
    assert "breaker.reset" in bo(checkout, "log", "--since", "2000-01-01").stdout
    data = json.loads(bo(checkout, "log", "--json").stdout)
    assert data[0]["why"] == "bottles rebuilt" and data[0]["kind"] == "operator"


# --- breaker-update counts a batch once per job -------------------------------------------


def test_the_failure_fallback_does_not_count_a_batch_this_job_already_recorded(tmp_path: Path) -> None:
    shutil.rmtree(tmp_path / "rt", ignore_errors=True)
    (tmp_path / "batch-control.json").write_text('{"enabled": true}')
    results = {
        "batch_id": "2026-06-26-npm",
        "ecosystem": "npm",
        "started_at": "2026-06-26T01:00:00Z",
        "completed_at": "2026-06-26T02:00:00Z",
        "results": [{"recipe_name": "a", "result": "passed"}, {"recipe_name": "b", "result": "failed"}],
    }
    (tmp_path / "results.json").write_text(json.dumps(results))
    job = {
        "RUNNER_TEMP": str(tmp_path / "rt"),
        "GITHUB_RUN_ID": "101",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_JOB": "batch",
    }
    assert run_cli(["breaker-update", "--results-file", "results.json"], tmp_path, env=job).returncode == 0
    fallback = run_cli(["breaker-update", "--ecosystem", "npm", "--outcome", "failure"], tmp_path, env=job)
    assert fallback.returncode == 0 and "not counted again" in fallback.stdout
    again = run_cli(["breaker-update", "--results-file", "results.json"], tmp_path, env=job)
    assert "not counted again" in again.stdout
    assert json.loads((tmp_path / "batch-control.json").read_text())["circuit_breaker"]["npm"]["window"] == [
        "success",
        "failure",
    ]
    other_job = run_cli(
        ["breaker-update", "--ecosystem", "npm", "--outcome", "failure"],
        tmp_path,
        env={**job, "RUNNER_TEMP": str(tmp_path / "rt2")},
    )
    assert "not counted again" not in other_job.stdout
    assert json.loads((tmp_path / "batch-control.json").read_text())["circuit_breaker"]["npm"]["window"] == [
        "success",
        "failure",
        "failure",
    ]


def test_the_fallback_alone_still_records_the_failure(tmp_path: Path) -> None:
    (tmp_path / "batch-control.json").write_text('{"enabled": true}')
    run = run_cli(
        ["breaker-update", "--ecosystem", "npm", "--outcome", "failure"],
        tmp_path,
        env={"RUNNER_TEMP": str(tmp_path / "rt")},
    )
    assert run.outputs["failure-rate"] == "1"


def test_a_later_run_reusing_the_runners_temp_folder_records_again(tmp_path: Path) -> None:
    (tmp_path / "batch-control.json").write_text('{"enabled": true}')
    for run_id in ("101", "102"):
        job = {"RUNNER_TEMP": str(tmp_path / "rt"), "GITHUB_RUN_ID": run_id, "GITHUB_JOB": "batch"}
        run = run_cli(["breaker-update", "--ecosystem", "npm", "--outcome", "failure"], tmp_path, env=job)
        assert "not counted again" not in run.stdout
    assert json.loads((tmp_path / "batch-control.json").read_text())["circuit_breaker"]["npm"]["window"] == [
        "failure",
        "failure",
    ]


@pytest.mark.parametrize("identity", [{}, {"GITHUB_RUN_ID": "101"}, {"GITHUB_JOB": "batch"}])
def test_without_a_job_identity_every_call_records_and_five_failures_in_a_row_trip(
    tmp_path: Path, identity: dict
) -> None:
    """A script on a self-hosted machine or another CI: RUNNER_TEMP set, GITHUB_RUN_ID or GITHUB_JOB empty."""
    (tmp_path / "batch-control.json").write_text('{"enabled": true}')
    env = {"RUNNER_TEMP": str(tmp_path / "rt"), **identity}
    runs = [
        run_cli(["breaker-update", "--ecosystem", "npm", "--outcome", "failure"], tmp_path, env=env) for _ in range(5)
    ]
    assert all(run.returncode == 0 and "not counted again" not in run.stdout for run in runs), runs[-1].log
    assert [run.outputs["tripped"] for run in runs] == ["false"] * 4 + ["true"]
    entry = json.loads((tmp_path / "batch-control.json").read_text())["circuit_breaker"]["npm"]
    assert entry["state"] == "open" and entry["failures"] == 5


def test_a_runner_temp_that_cannot_be_created_is_one_error_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "batch-control.json").write_text('{"enabled": true}')
    (tmp_path / "a-file").write_text("not a folder")
    runner_temp = tmp_path / "a-file" / "temp"
    job = {"RUNNER_TEMP": str(runner_temp), "GITHUB_RUN_ID": "101", "GITHUB_JOB": "batch"}
    run = run_cli(["breaker-update", "--ecosystem", "npm", "--outcome", "failure"], tmp_path, env=job)
    assert run.returncode != 0
    errors = [line for line in run.log.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and str(runner_temp) in errors[0] and "cannot be created" in errors[0], run.log
    assert "Traceback" not in run.log
    assert json.loads((tmp_path / "batch-control.json").read_text()) == {"enabled": True}  # nothing half-written


# --- at a terminal ------------------------------------------------------------------------


def test_terminal_tables_fit_the_terminal_by_wrapping_the_long_columns() -> None:
    from batchops.render import terminal

    rows = [
        [
            "npm",
            "skipped until 2026-06-26T04:00:00Z",
            "opened by the legacy scripts after 996 consecutive failures (no window recorded)",
        ]
    ]
    text = terminal.table(["ecosystem", "next batch", "why"], rows, columns=60, wrap=[2])
    assert max(len(line) for line in text.splitlines()) <= 60
    assert "skipped until 2026-06-26T04:00:00Z" in text  # the short columns stay whole
    assert " ".join(text.split()).count("996 consecutive failures") == 1


def test_status_prints_text_from_the_control_file_as_it_is_on_one_line_and_escaped(tmp_path: Path) -> None:
    (tmp_path / "batch-control.json").write_text(
        json.dumps(
            {
                "enabled": False,
                "reason": "registry down\u001b[2J",
                "disabled_by": "Ada Operator <ada@example.org>",
            }
        )
    )
    run = run_cli(["status", "--now", NOW], tmp_path, actions=False)
    assert run.returncode == 0, run.log
    assert "Ada Operator <ada@example.org>" in run.stdout and "&lt;" not in run.stdout
    assert "\u001b" not in run.stdout and "registry down" in run.stdout


def test_a_push_that_fails_leaves_the_change_written_and_pending(tmp_path: Path, corpus: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    shutil.copy(corpus / LEGACY, work / "batch-control.json")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "seed")  # no origin to push to
    run = bo(work, "disable", "npm", "--push")
    assert run.returncode != 0 and "Traceback" not in run.log
    assert "still pending" in run.stderr and "batchops pending" in run.stderr
    assert control(work)["disabled_ecosystems"] == ["npm"] and [e["op"] for e in journal.read()] == ["control.disable"]
