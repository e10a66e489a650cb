"""A change: one audited operation on the control file, applied once, validated, written, journaled.

An operator command (``stop``, ``disable``, ``breaker reset``, ``budget sample``, ...) builds a
:class:`Change`; :func:`apply` loads the control file and applies the operation once, to a copy:

* when it would leave the file as it is, nothing is written or journaled (:attr:`Status.UNCHANGED`,
  with the reason);
* a dry run gives the unified diff and writes nothing (:attr:`Status.PREVIEWED`);
* otherwise the copy (validated, readable back) is written atomically and the operation is
  journaled with the actor (:attr:`Status.WRITTEN`): the journal is rolled back when the write
  fails, so neither is ever left without the other.

Landing it (``--push``) is :func:`batchops.engines.persist.persist`, with the audited commit
message as a value (:class:`batchops.core.persist.Message` ``(audited=True)``).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, files, journal, schema
from batchops.core import control, escape, operations
from batchops.errors import BatchopsError

SCHEMA = "batch-control"


class Status(Enum):
    UNCHANGED = "unchanged"  # the operation would leave the control file as it is
    PREVIEWED = "previewed"  # a dry run: the diff, nothing written
    WRITTEN = "written"  # written and journaled


@dataclass(frozen=True)
class Change:
    """One operator operation: a name of ``core/operations.py``, its arguments and its audit text."""

    control_file: str
    op: str
    args: dict[str, Any]
    title: str
    at: str  # ISO 8601, UTC
    actor: str
    body: Sequence[str] = ()
    nothing: str = ""  # what to say when it changes nothing (else the operation's own reason)
    dry_run: bool = False


@dataclass
class Applied:
    status: Status
    why: str = ""  # UNCHANGED: why nothing changes
    diff: str = ""  # PREVIEWED: the change as a unified diff


def apply(change: Change) -> Applied:
    """Apply ``change`` once (see the module docstring)."""
    path = change.control_file
    document = controlfile.load(path)
    audit = {"title": change.title, "body": [escape.one_line(line) for line in change.body]}
    full_args = {**change.args, "at": change.at, "audit": audit}
    after = copy.deepcopy(document)
    result = operations.apply(after, change.op, full_args)
    schema.validate(after, SCHEMA, file=path)
    if not control.changed_fields(document, after):
        said = result.get("why") if isinstance(result, dict) else ""
        why = change.nothing or said or "the control file already says so"
        return Applied(Status.UNCHANGED, why=str(why))
    if change.dry_run:
        return Applied(Status.PREVIEWED, diff=diff(path, document, after))
    _write(change, full_args, after)
    return Applied(Status.WRITTEN)


def _write(change: Change, full_args: dict[str, Any], after: dict[str, Any]) -> None:
    """Write the applied copy and journal the operation: both, or neither."""
    path = change.control_file
    text = control.dumps(after)
    try:  # never write a file batchops itself would refuse to read (a number out of range, ...)
        schema.parse_json_text(text, path)
    except BatchopsError as exc:
        raise BatchopsError(
            f"{change.op} would leave a file batchops cannot read ({exc.message}); nothing was applied",
            file=path,
            hint=exc.hint or "check the values given to this command",
        ) from None
    entry = journal.new_operation(
        change.op, controlfile.journal_name(path), full_args, change.at, change.actor, schema=SCHEMA
    )
    mark = journal.mark()
    journal.record_all([entry])
    try:
        files.write_atomic(Path(path), text)
    except BaseException:
        journal.undo_to(mark)
        raise


def diff(path: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    lines = difflib.unified_diff(
        control.dumps(before).splitlines(keepends=True),
        control.dumps(after).splitlines(keepends=True),
        f"a/{path}",
        f"b/{path}",
    )
    return "".join(escape.one_line(line.rstrip("\n")) + "\n" for line in lines)


def prepare_message() -> str:
    """Write ``commit-message.txt`` describing every pending operation (or remove it when none)."""
    entries = journal.read()
    message = control.commit_message(entries) if entries else ""
    journal.write_message(message)
    return message
