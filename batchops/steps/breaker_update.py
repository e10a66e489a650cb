"""breaker-update: record a batch's outcome(s) for one ecosystem.

The outcomes go into the breaker's sliding window (``breaker.record``: trip,
re-open, close), and the batch's CI minutes into the weekly budget
(``budget.add_minutes``): the budget is written here because breaker-update is
the step every batch job runs after its work, with the results file in hand.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, files, runner
from batchops.core import breaker, timeutil
from batchops.core.breaker import FAILURE, OUTCOMES, SUCCESS
from batchops.errors import UsageError
from batchops.flags import add_control_file, add_input, add_now, clock, parse_float
from batchops.render.breaker import step_report
from batchops.steps import Step, StepResult

TITLE = "batchops breaker-update"


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "ecosystem", "ecosystem whose outcome is recorded (default: the results file's ecosystem)", default="")
    add_input(parser, "outcome", "outcome of the batch: success or failure (exclusive with results-file)", default="")
    add_input(parser, "results-file", "results file (schemas/batch-results.schema.json): each passed/failed recipe is one attempt", default="")
    add_input(parser, "macos-minutes", "macOS CI minutes the batch used (default: the results file's macos_minutes)", default="")
    add_input(parser, "linux-minutes", "Linux CI minutes the batch used (default: the results file's linux_minutes)", default="")
    add_control_file(parser)
    add_now(parser)


@dataclass
class _Batch:
    ecosystem: str
    outcomes: list[str]
    macos: float = 0.0
    linux: float = 0.0
    skipped: int = 0
    source: str = ""
    batch_id: str = ""


def _minutes(value: str | None, fallback: Any, name: str) -> float:
    text = (value or "").strip()
    if text:
        return parse_float(text, field=name, minimum=0)
    return float(fallback or 0)


def _read_batch(args: argparse.Namespace) -> _Batch:
    outcome = (args.outcome or "").strip()
    results_file = (args.results_file or "").strip()
    ecosystem = (args.ecosystem or "").strip()
    if bool(outcome) == bool(results_file):
        raise UsageError(
            "give exactly one of outcome and results-file" + (" (both are set)" if outcome else " (neither is set)"),
            field="outcome / results-file",
            hint="set either outcome (success or failure) or results-file (a batch-results JSON file) in the step's with:, not both",
        )
    if outcome:
        if outcome not in OUTCOMES:
            raise UsageError(f"{outcome!r} is not an outcome", field="outcome", hint="use success or failure")
        if not ecosystem:
            raise UsageError("is empty", field="ecosystem", hint="add `ecosystem: homebrew` (the ecosystem of this batch) to the step's with:")
        return _Batch(
            breaker.check_ecosystem(ecosystem),
            [outcome],
            _minutes(args.macos_minutes, 0, "macos-minutes"),
            _minutes(args.linux_minutes, 0, "linux-minutes"),
            source="outcome input",
        )
    from batchops.adapters import schema

    document = schema.load_json(results_file, "batch-results")
    if ecosystem and ecosystem != document["ecosystem"]:
        raise UsageError(
            f"is {ecosystem!r} but {results_file} is for {document['ecosystem']!r}",
            field="ecosystem",
            hint="leave ecosystem empty to take it from the results file, or pass that ecosystem's results file",
        )
    results = document["results"]
    outcomes = [SUCCESS if r["result"] == "passed" else FAILURE for r in results if r["result"] != "skipped"]
    return _Batch(
        breaker.check_ecosystem(document["ecosystem"]),
        outcomes,
        _minutes(args.macos_minutes, document.get("macos_minutes"), "macos-minutes"),
        _minutes(args.linux_minutes, document.get("linux_minutes"), "linux-minutes"),
        skipped=len(results) - len(outcomes),
        source=results_file,
        batch_id=str(document.get("batch_id") or ""),
    )


# --- counted once per job -------------------------------------------------------------
#
# A job that recorded its results file and then failed must not be counted again by a
# fallback `breaker-update` with `outcome: failure` under `if: failure()`. Each record is
# noted in the job's own temp folder ($RUNNER_TEMP, emptied for every job): an outcome
# fallback for an ecosystem this job already recorded does nothing, and the same
# results file (batch_id) is never recorded twice in one job. Outside a runner there
# is no job to speak of, and every call records.


def _marker() -> Path | None:
    job = runner.job_temp_dir()
    return job / "batchops" / "breaker-recorded.jsonl" if job else None


def _job() -> str:
    """This job's identity (a runner may reuse its temp folder across runs)."""
    return "/".join(runner.setting(name) for name in ("GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB"))


def _recorded() -> list[dict[str, Any]]:
    marker = _marker()
    if marker is None or not marker.exists():
        return []
    found = []
    from batchops.adapters import schema
    from batchops.errors import BatchopsError

    for number, line in enumerate(marker.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            found.append(schema.parse_json_line(line, str(marker), number))
        except BatchopsError:
            continue
    return found


def _note_recorded(batch: _Batch) -> None:
    marker = _marker()
    if marker is None:
        return
    previous = marker.read_text(encoding="utf-8") if marker.exists() else ""
    line = json.dumps({"job": _job(), "ecosystem": batch.ecosystem, "batch_id": batch.batch_id, "source": batch.source}) + "\n"
    files.write_atomic(marker, previous + line)


def _already(batch: _Batch) -> dict[str, Any] | None:
    for seen in _recorded():
        if seen.get("ecosystem") != batch.ecosystem or seen.get("job", "") != _job():
            continue
        if batch.source == "outcome input" or (batch.batch_id and seen.get("batch_id") == batch.batch_id):
            return seen
    return None


def run(args: argparse.Namespace) -> StepResult:
    batch = _read_batch(args)
    now = clock(args)
    at = timeutil.iso(now)
    path = args.control_file
    document = controlfile.load(path)
    seen = _already(batch)
    if seen is not None:
        current, _ = breaker.load(document, batch.ecosystem)
        result = StepResult(outputs={
            "state": current.state,
            "previous-state": current.state,
            "failure-rate": breaker.format_rate(current.window.failure_rate),
            "tripped": False,
        })
        what = f"batch {seen['batch_id']}" if seen.get("batch_id") else "an outcome"
        given = "the outcome input" if batch.source == "outcome input" else f"results file {batch.source}"
        message = (
            f"{batch.ecosystem}: this job already recorded {what} from {seen.get('source') or 'an earlier step'}; "
            f"{given} is not counted again (nothing written)"
        )
        result.notice(message, title=TITLE)
        result.section(step_report(f"{TITLE}: {batch.ecosystem} — already recorded", [message + "."], document, now, []))
        return result
    # the step's operations apply together or not at all (adapters/controlfile.mutate_all)
    operations: list[tuple[str, dict[str, Any]]] = []
    if batch.outcomes:
        operations.append(("breaker.record", {"ecosystem": batch.ecosystem, "outcomes": batch.outcomes, "at": at}))
    if batch.macos > 0 or batch.linux > 0:
        operations.append(("budget.add_minutes", {"macos": batch.macos, "linux": batch.linux, "at": at}))
    if operations:
        document, applied = controlfile.mutate_all(path, operations, at=at, document=document)
    if batch.outcomes:
        raw = applied[0]
        transitions = [breaker.Transition(t["name"], t["from"], t["to"], t["at"], t["detail"]) for t in raw["transitions"]]
        notes = raw["notes"]
        outputs = {key: raw[key] for key in ("state", "previous-state", "failure-rate", "tripped")}
    else:
        current, _ = breaker.load(document, batch.ecosystem)
        transitions, notes = [], []
        outputs = {
            "state": current.state,
            "previous-state": current.state,
            "failure-rate": breaker.format_rate(current.window.failure_rate),
            "tripped": False,
        }
    _note_recorded(batch)
    result = StepResult(outputs=outputs)
    title = TITLE
    eco = batch.ecosystem
    passed = batch.outcomes.count(SUCCESS)
    failed = batch.outcomes.count(FAILURE)
    counted = f"{len(batch.outcomes)} attempt(s): {passed} succeeded, {failed} failed" + (
        f", {batch.skipped} skipped (not counted)" if batch.skipped else ""
    )
    lines = [f"{eco}: {counted} (from {batch.source})."]
    if not batch.outcomes:
        result.notice(f"{eco}: no passed or failed result to record; the breaker is unchanged", title=title)
        lines.append("Nothing recorded: every result was skipped.")
    for move in transitions:
        if move.name == "trip":
            message = f"{eco}: circuit breaker OPENED ({move.detail}); batches are skipped until {breaker.load(document, eco)[0].opens_at}"
            result.warning(message, title=title)
        elif move.name == "reopen":
            message = f"{eco}: half-open probe failed, circuit breaker re-opened ({move.detail}) until {breaker.load(document, eco)[0].opens_at}"
            result.warning(message, title=title)
        else:
            message = f"{eco}: half-open probe succeeded, circuit breaker closed and its window cleared ({move.detail})"
            result.notice(message, title=title)
        lines.append(message + ".")
    if batch.outcomes and raw.get("reconciled"):
        message = f"{eco}: a legacy script wrote the breaker after batchops ({'; '.join(raw['reconciled'])}); reconciled, the legacy fields win (docs/migration.md)"
        result.notice(message, title=title)
        lines.append(message + ".")
    if "success-while-open" in notes:
        message = f"{eco}: success reported while the breaker is open; it stays open until a half-open probe succeeds (no open→closed jump)"
        result.notice(message, title=title)
        lines.append(message + ".")
    if batch.macos > 0 or batch.linux > 0:
        lines.append(f"Budget: added {batch.macos:g} macOS and {batch.linux:g} Linux minute(s).")
    state_line = f"state: {outputs['previous-state']} → {outputs['state']}, failure rate over the window {float(outputs['failure-rate']):.0%}"
    result.say(f"{eco}: {counted}; {state_line}")
    lines.append(state_line + ".")
    result.section(step_report(f"{title}: {eco}", lines, document, now, transitions))
    return result


STEP = Step(
    name="breaker-update",
    help="record a batch's outcome(s) for one ecosystem: window, transitions, budget minutes",
    configure=_configure,
    run=run,
)
