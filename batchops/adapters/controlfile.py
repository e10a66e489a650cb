"""The control file on disk: load (fail closed), and mutate through operations (validate, write, journal)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from batchops.adapters import journal, schema
from batchops.adapters.files import write_atomic
from batchops.core.control import TEMPLATE, dumps
from batchops.core.operations import apply
from batchops.errors import BatchopsError, ControlFileError

DEFAULT_FILE = "batch-control.json"


def load(path: str | Path, *, schema_name: str = "batch-control") -> dict[str, Any]:
    """Read and validate the control file; any problem is a ControlFileError."""
    name = str(path)
    try:
        document = schema.load_json(path, schema_name)
    except BatchopsError as exc:
        hint = exc.hint
        if exc.message == "file not found" and schema_name == "batch-control":
            hint = (
                f"commit a control file at {name} (minimal content: {TEMPLATE}) "
                "or set the action input control-file to its path"
            )
        raise ControlFileError(exc.message, hint=hint, file=exc.file, line=exc.line) from None
    if not isinstance(document, dict):
        raise ControlFileError("the top level must be a JSON object", file=name, hint="start the file with {")
    return document


def journal_name(path: str | Path) -> str:
    """How an operation names its file: relative to the working directory when inside it."""
    absolute = Path(path).resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(absolute)


def mutate(
    path: str | Path,
    op: str,
    args: dict[str, Any],
    *,
    at: str,
    schema_name: str = "batch-control",
    actor: str | None = None,
    document: dict[str, Any] | None = None,
    record: bool = True,
) -> tuple[dict[str, Any], Any]:
    """Apply operation ``op`` to the file at ``path``, validate, write, journal.

    Returns (new document, operation result). Nothing is written when the
    operation or the validation fails.
    """
    before = document if document is not None else load(path, schema_name=schema_name)
    after = copy.deepcopy(before)
    result = apply(after, op, args)
    schema.validate(after, schema_name, file=str(path))
    if after != before or not Path(path).exists():
        write_atomic(path, dumps(after))
    if record:
        journal.record(journal.new_operation(op, journal_name(path), args, at, actor, schema=schema_name))
    return after, result
