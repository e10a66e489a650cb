"""Record one batch's outcomes for one ecosystem: the breaker's window and the budget's minutes.

Typed options in (:class:`UpdateOptions`), a typed result out (:class:`UpdateResult`); the
step ``breaker-update`` builds the options from its inputs and turns the result into outputs,
annotations and its summary.

The step's operations (``breaker.record``, ``budget.add_minutes``) apply together or not at all
(:func:`batchops.adapters.controlfile.mutate_all`). Minutes are recorded whole, each job's rounded
up (GitHub bills each job in whole minutes): the first user's generator decodes them as integers.

Counted once per job: a job that recorded its results file and then failed must not be counted
again by a fallback ``breaker-update`` with ``outcome: failure`` under ``if: failure()``. Each
record is noted in the job's own temp folder (``$RUNNER_TEMP``, emptied for every job) with the
job's identity: an outcome fallback for an ecosystem this job already recorded does nothing, and
the same results file (``batch_id``) is never recorded twice in one job. Without a job identity
(``GITHUB_RUN_ID`` or ``GITHUB_JOB`` empty: a script on a self-hosted machine, another CI) there is
no job to speak of, and every call records.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, files, runner, schema
from batchops.core import breaker, budget, operations, readers
from batchops.core.breaker import Transition
from batchops.errors import BatchopsError

OUTCOME_INPUT = "outcome input"  # the source of an outcome given as the step's input


@dataclass(frozen=True)
class UpdateOptions:
    control_file: str
    ecosystem: str
    outcomes: tuple[str, ...]
    at: str  # ISO 8601, the generator's layout
    macos: float = 0.0  # minutes as given (rounded up when recorded)
    linux: float = 0.0
    skipped: int = 0
    source: str = OUTCOME_INPUT
    batch_id: str = ""
    dry_run: bool = False  # compute the transition and outputs only: nothing written, journaled or noted


@dataclass
class UpdateResult:
    document: dict[str, Any]
    outputs: dict[str, Any]
    transitions: list[Transition] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)
    minutes: dict[str, int] = field(default_factory=dict)  # what was added, whole minutes per platform
    already: dict[str, Any] | None = None  # this job's earlier record when nothing was counted again


def _current_outputs(document: dict[str, Any], ecosystem: str) -> dict[str, Any]:
    current, _ = breaker.load(document, ecosystem)
    return {
        "state": current.state,
        "previous-state": current.state,
        "failure-rate": breaker.format_rate(current.window.failure_rate),
        "tripped": False,
    }


def record(options: UpdateOptions) -> UpdateResult:
    """Record ``options``'s outcomes and minutes in the control file (or nothing, when already done)."""
    document = controlfile.load(options.control_file)
    job = _JobRecords()
    seen = job.already(options)
    if seen is not None:
        return UpdateResult(document, _current_outputs(document, options.ecosystem), already=seen)
    minutes = {"macos": budget.billed_minutes(options.macos), "linux": budget.billed_minutes(options.linux)}
    planned = _operations(options)
    applied: list[Any] = []
    if planned and options.dry_run:  # the same operations on a copy: the file, the journal and the job untouched
        document = copy.deepcopy(document)
        applied = [operations.apply(document, op, copy.deepcopy(args)) for op, args in planned]
        readers.for_readers(document)  # as the real write would: refused here when it would be refused there
        schema.validate(document, "batch-control", file=options.control_file)
    elif planned:
        document, applied = controlfile.mutate_all(options.control_file, planned, at=options.at, document=document)
    if not options.dry_run:
        job.note(options)
    if not options.outcomes:
        return UpdateResult(document, _current_outputs(document, options.ecosystem), minutes=minutes)
    raw = applied[0]
    return UpdateResult(
        document,
        {key: raw[key] for key in ("state", "previous-state", "failure-rate", "tripped")},
        [Transition(t["name"], t["from"], t["to"], t["at"], t["detail"]) for t in raw["transitions"]],
        list(raw["notes"]),
        list(raw.get("reconciled") or []),
        minutes,
    )


def _operations(options: UpdateOptions) -> list[tuple[str, dict[str, Any]]]:
    """``breaker.record`` (when there are outcomes) and ``budget.add_minutes`` (when there are minutes)."""
    planned: list[tuple[str, dict[str, Any]]] = []
    if options.outcomes:
        args = {"ecosystem": options.ecosystem, "outcomes": list(options.outcomes), "at": options.at}
        planned.append(("breaker.record", args))
    if budget.billed_minutes(options.macos) or budget.billed_minutes(options.linux):
        planned.append(("budget.add_minutes", {"macos": options.macos, "linux": options.linux, "at": options.at}))
    return planned


class _JobRecords:
    """This job's records, in ``$RUNNER_TEMP/batchops/breaker-recorded.jsonl`` (only with a job identity)."""

    def __init__(self) -> None:
        self.job = runner.job_identity()
        folder = runner.job_temp_dir() if self.job else None
        self.marker: Path | None = folder / "batchops" / "breaker-recorded.jsonl" if folder else None

    def _recorded(self) -> list[dict[str, Any]]:
        if self.marker is None or not self.marker.exists():
            return []
        found = []
        for number, line in enumerate(self.marker.read_text(encoding="utf-8").split("\n"), start=1):
            if not line.strip():
                continue
            try:
                found.append(schema.parse_json_line(line, str(self.marker), number))
            except BatchopsError:
                continue
        return found

    def already(self, options: UpdateOptions) -> dict[str, Any] | None:
        for seen in self._recorded():
            if seen.get("ecosystem") != options.ecosystem or seen.get("job", "") != self.job:
                continue
            if options.source == OUTCOME_INPUT or (options.batch_id and seen.get("batch_id") == options.batch_id):
                return seen
        return None

    def note(self, options: UpdateOptions) -> None:
        if self.marker is None:
            return
        previous = self.marker.read_text(encoding="utf-8") if self.marker.exists() else ""
        entry = {
            "job": self.job,
            "ecosystem": options.ecosystem,
            "batch_id": options.batch_id,
            "source": options.source,
        }
        files.write_atomic(self.marker, previous + json.dumps(entry) + "\n")
