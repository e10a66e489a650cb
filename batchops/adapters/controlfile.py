"""The control file on disk: load (fail closed), and mutate through operations (validate, write, journal)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from batchops.adapters import journal, runner, schema
from batchops.adapters.files import write_atomic
from batchops.core import readers
from batchops.core.control import TEMPLATE, dumps
from batchops.core.operations import apply
from batchops.errors import BatchopsError, ControlFileError

DEFAULT_FILE = "batch-control.json"


def load(path: str | Path, *, schema_name: str = "batch-control") -> dict[str, Any]:
    """Read and validate the control file; any problem is a ControlFileError."""
    name = str(path)
    try:
        document = schema.load_json(path)
        if schema_name == "batch-control":
            readers.readable(document)  # a null the first user's generator wrote reads as the field's default
        schema.validate(document, schema_name, file=name, text=Path(path).read_text(encoding="utf-8"))
    except BatchopsError as exc:
        hint = exc.hint
        if exc.message == "file not found" and schema_name == "batch-control":
            hint = (
                f"commit a control file at {name} (minimal content: {TEMPLATE}) "
                f"or set {runner.field_fix('control-file')} to its path"
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
    after, results = mutate_all(
        path, [(op, args)], at=at, schema_name=schema_name, actor=actor, document=document, record=record
    )
    return after, results[0]


def mutate_all(
    path: str | Path,
    operations: list[tuple[str, dict[str, Any]]],
    *,
    at: str,
    schema_name: str = "batch-control",
    actor: str | None = None,
    document: dict[str, Any] | None = None,
    record: bool = True,
) -> tuple[dict[str, Any], list[Any]]:
    """Apply one step's operations to the file at ``path`` together: all of them or none.

    Each operation is applied in order to a copy of the document; the result is
    validated once; then the operations are journaled and the file written. When
    any operation fails, the validation fails or the write fails (disk full, ...),
    the file and the journal are left as they were.
    Returns (new document, the result of each operation).
    """
    before = document if document is not None else load(path, schema_name=schema_name)
    after = copy.deepcopy(before)
    results = []
    for op, args in operations:
        try:
            results.append(apply(after, op, args))
        except BatchopsError:
            raise
        except (ArithmeticError, ValueError, TypeError) as exc:  # e.g. a number out of range
            names = " + ".join(name for name, _ in operations)
            raise BatchopsError(
                f"{op} cannot be applied: {exc}; nothing of {names} was applied",
                file=str(path),
                hint="check the values given to this step and the numbers in the file (e.g. linux-minutes: 12.5)",
            ) from None
    if schema_name == "batch-control":
        readers.for_readers(after)  # whole minutes, the generator's time layout, no null (core/readers)
    schema.validate(after, schema_name, file=str(path))
    text = dumps(after)
    try:  # never write a file batchops itself would refuse to read (a number out of range, ...)
        schema.parse_json_text(text, str(path))
    except BatchopsError as exc:
        names = " + ".join(name for name, _ in operations)
        raise BatchopsError(
            f"{names} would leave a file batchops cannot read ({exc.message}); nothing was applied",
            file=str(path),
            hint=exc.hint or "check the values given to this step",
        ) from None
    mark = journal.mark() if record else 0
    if record:
        name = journal_name(path)
        journal.record_all(
            [journal.new_operation(op, name, args, at, actor, schema=schema_name) for op, args in operations]
        )
    try:
        if after != before or not Path(path).exists():
            write_atomic(path, text)
    except BaseException:
        if record:
            journal.undo_to(mark)
        raise
    return after, results
