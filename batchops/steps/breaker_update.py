"""breaker-update: record a batch's outcome(s) for one ecosystem.

The outcomes go into the breaker's sliding window (``breaker.record``: trip,
re-open, close), and the batch's CI minutes into the weekly budget
(``budget.add_minutes``): the budget is written here because breaker-update is
the step every batch job runs after its work, with the results file in hand.
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import datetime
from typing import Any

from batchops.adapters import schema
from batchops.core import breaker, timeutil
from batchops.core.breaker import FAILURE, OUTCOMES, SUCCESS
from batchops.engines import breaker_update as engine
from batchops.engines.breaker_update import UpdateOptions
from batchops.errors import UsageError
from batchops.flags import add_control_file, add_dry_run, add_input, add_now, clock, parse_bool, parse_float
from batchops.render.breaker import step_report
from batchops.steps import Step, StepResult

TITLE = "batchops breaker-update"


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(
        parser, "ecosystem", "ecosystem whose outcome is recorded (default: the results file's ecosystem)", default=""
    )
    add_input(parser, "outcome", "outcome of the batch: success or failure (exclusive with results-file)", default="")
    add_input(
        parser,
        "results-file",
        "results file (schemas/batch-results.schema.json): each passed/failed recipe is one attempt",
        default="",
    )
    add_input(
        parser,
        "macos-minutes",
        "macOS CI minutes the batch used (default: the results file's macos_minutes)",
        default="",
    )
    add_input(
        parser,
        "linux-minutes",
        "Linux CI minutes the batch used (default: the results file's linux_minutes)",
        default="",
    )
    add_control_file(parser)
    add_dry_run(parser, "compute the transition and the outputs only: nothing written, nothing journaled")
    add_now(parser)


def _minutes(value: str | None, fallback: Any, name: str) -> float:
    text = (value or "").strip()
    if text:
        return parse_float(text, field=name, minimum=0)
    return float(fallback or 0)


def _options(args: argparse.Namespace, at: str) -> UpdateOptions:
    """The step's options from its inputs (and the results file, when given)."""
    outcome = (args.outcome or "").strip()
    results_file = (args.results_file or "").strip()
    ecosystem = (args.ecosystem or "").strip()
    if bool(outcome) == bool(results_file):
        raise UsageError(
            "give exactly one of outcome and results-file" + (" (both are set)" if outcome else " (neither is set)"),
            field="outcome / results-file",
            hint="set either outcome (success or failure) or results-file (a batch-results JSON file) "
            "in the step's with:, not both",
        )
    if outcome:
        if outcome not in OUTCOMES:
            raise UsageError(f"{outcome!r} is not an outcome", field="outcome", hint="use success or failure")
        if not ecosystem:
            raise UsageError(
                "is empty",
                field="ecosystem",
                hint="add `ecosystem: homebrew` (the ecosystem of this batch) to the step's with:",
            )
        return UpdateOptions(
            args.control_file,
            breaker.check_ecosystem(ecosystem),
            (outcome,),
            at,
            macos=_minutes(args.macos_minutes, 0, "macos-minutes"),
            linux=_minutes(args.linux_minutes, 0, "linux-minutes"),
            source=engine.OUTCOME_INPUT,
        )
    document = schema.load_json(results_file, "batch-results")
    if ecosystem and ecosystem != document["ecosystem"]:
        raise UsageError(
            f"is {ecosystem!r} but {results_file} is for {document['ecosystem']!r}",
            field="ecosystem",
            hint="leave ecosystem empty to take it from the results file, or pass that ecosystem's results file",
        )
    results = document["results"]
    outcomes = [SUCCESS if r["result"] == "passed" else FAILURE for r in results if r["result"] != "skipped"]
    return UpdateOptions(
        args.control_file,
        breaker.check_ecosystem(document["ecosystem"]),
        tuple(outcomes),
        at,
        macos=_minutes(args.macos_minutes, document.get("macos_minutes"), "macos-minutes"),
        linux=_minutes(args.linux_minutes, document.get("linux_minutes"), "linux-minutes"),
        skipped=len(results) - len(outcomes),
        source=results_file,
        batch_id=str(document.get("batch_id") or ""),
    )


def run(args: argparse.Namespace) -> StepResult:
    now = clock(args)
    options = _options(args, timeutil.iso(now))
    options = dataclasses.replace(options, dry_run=parse_bool(args.dry_run, field="dry-run"))
    done = engine.record(options)
    if done.already is not None:
        return _already_recorded(options, done, now)
    if options.dry_run:
        return _dry_run(options, done, now)
    result = StepResult(outputs=done.outputs)
    lines = _report_lines(options, done, result)
    eco, outputs = options.ecosystem, done.outputs
    counted = _counted(options)
    state_line = (
        f"state: {outputs['previous-state']} → {outputs['state']}, "
        f"failure rate over the window {float(outputs['failure-rate']):.0%}"
    )
    result.say(f"{eco}: {counted}; {state_line}")
    lines.append(state_line + ".")
    result.section(step_report(f"{TITLE}: {eco}", lines, done.document, now, done.transitions))
    return result


def _dry_run(options: UpdateOptions, done: engine.UpdateResult, now: datetime) -> StepResult:
    """The outputs the update would give and what it would record; the file, the journal and the job untouched."""
    eco, outputs = options.ecosystem, done.outputs
    result = StepResult(outputs=outputs)
    recorded = [f"{eco}: {_counted(options)} (from {options.source})"] if options.outcomes else []
    if any(done.minutes.values()):
        recorded.append(_minutes_line(options, done.minutes).removesuffix(".").replace("added", "add", 1))
    state_line = (
        f"state: {outputs['previous-state']} → {outputs['state']}, "
        f"failure rate over the window {float(outputs['failure-rate']):.0%}"
    )
    opens_at = breaker.load(done.document, eco)[0].opens_at
    moves = [_transition_message(eco, move, opens_at)[1] for move in done.transitions]
    would = "; ".join(recorded) or f"{eco}: nothing (no passed or failed result, no minutes)"
    result.say(f"dry run: would record {would}; {state_line}. Nothing written, nothing journaled.")
    for move in moves:
        result.say(f"dry run: would happen: {move}")
    lines = [f"Dry run: would record {line}." for line in recorded] or ["Dry run: nothing to record."]
    lines += [f"Would happen: {move}." for move in moves]
    lines += [f"Would be {state_line}.", "Dry run: nothing written, nothing journaled."]
    result.section(step_report(f"{TITLE}: {eco} — dry run", lines, done.document, now, done.transitions))
    return result


def _counted(options: UpdateOptions) -> str:
    passed, failed = options.outcomes.count(SUCCESS), options.outcomes.count(FAILURE)
    skipped = f", {options.skipped} skipped (not counted)" if options.skipped else ""
    return f"{len(options.outcomes)} attempt(s): {passed} succeeded, {failed} failed{skipped}"


def _already_recorded(options: UpdateOptions, done: engine.UpdateResult, now: datetime) -> StepResult:
    seen = done.already or {}
    result = StepResult(outputs=done.outputs)
    what = f"batch {seen['batch_id']}" if seen.get("batch_id") else "an outcome"
    given = "the outcome input" if options.source == engine.OUTCOME_INPUT else f"results file {options.source}"
    message = (
        f"{options.ecosystem}: this job already recorded {what} from {seen.get('source') or 'an earlier step'}; "
        f"{given} is not counted again (nothing written)"
    )
    result.notice(message, title=TITLE)
    title = f"{TITLE}: {options.ecosystem} — already recorded"
    result.section(step_report(title, [message + "."], done.document, now, []))
    return result


def _transition_message(eco: str, move: breaker.Transition, opens_at: str) -> tuple[str, str]:
    if move.name == "trip":
        return "warning", f"{eco}: circuit breaker OPENED ({move.detail}); batches are skipped until {opens_at}"
    if move.name == "reopen":
        return "warning", f"{eco}: half-open probe failed, circuit breaker re-opened ({move.detail}) until {opens_at}"
    return "notice", f"{eco}: half-open probe succeeded, circuit breaker closed and its window cleared ({move.detail})"


def _report_lines(options: UpdateOptions, done: engine.UpdateResult, result: StepResult) -> list[str]:
    """The summary's lines; the annotations go to ``result`` on the way."""
    eco = options.ecosystem
    lines = [f"{eco}: {_counted(options)} (from {options.source})."]
    if not options.outcomes:
        result.notice(f"{eco}: no passed or failed result to record; the breaker is unchanged", title=TITLE)
        lines.append("Nothing recorded: every result was skipped.")
    opens_at = breaker.load(done.document, eco)[0].opens_at
    for move in done.transitions:
        level, message = _transition_message(eco, move, opens_at)
        (result.warning if level == "warning" else result.notice)(message, title=TITLE)
        lines.append(message + ".")
    if done.reconciled:
        message = (
            f"{eco}: a legacy script wrote the breaker after batchops ({'; '.join(done.reconciled)}); "
            "reconciled, the legacy fields win (docs/migration.md)"
        )
        result.notice(message, title=TITLE)
        lines.append(message + ".")
    if "success-while-open" in done.notes:
        message = (
            f"{eco}: success reported while the breaker is open; it stays open until a half-open probe succeeds "
            "(no open→closed jump)"
        )
        result.notice(message, title=TITLE)
        lines.append(message + ".")
    if any(done.minutes.values()):
        lines.append(_minutes_line(options, done.minutes))
    return lines


def _minutes_line(options: UpdateOptions, minutes: dict[str, int]) -> str:
    """``Budget: added 3 macOS (2.25 rounded up) and 0 Linux minute(s).``"""
    given = {"macos": options.macos, "linux": options.linux}
    parts = []
    for platform, label in (("macos", "macOS"), ("linux", "Linux")):
        rounded = f" ({given[platform]:g} rounded up)" if minutes[platform] != given[platform] else ""
        parts.append(f"{minutes[platform]} {label}{rounded}")
    return f"Budget: added {parts[0]} and {parts[1]} minute(s) (GitHub bills each job in whole minutes)."


STEP = Step(
    name="breaker-update",
    help="record a batch's outcome(s) for one ecosystem: window, transitions, budget minutes",
    configure=_configure,
    run=run,
)
