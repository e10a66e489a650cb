"""The per-job operation journal.

Every mutation of a repository file that batchops makes (breaker transitions,
outcomes, budget minutes, operator commands, drift baselines) is recorded here as
an operation validated by ``schemas/operation.schema.json``. persist-with-retry
re-applies these operations on the remote's copy of the file when a push is
rejected, so the unit that is retried is the operation, not the text diff.

Location: see :func:`batchops.adapters.runner.journal_path`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from batchops.adapters import runner
from batchops.adapters.files import write_atomic
from batchops.errors import BatchopsError


def path() -> Path:
    return runner.journal_path()


def new_operation(
    op: str, file: str, args: dict[str, Any], at: str, actor: str | None = None, schema: str | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": os.urandom(16).hex(), "op": op, "file": file, "args": args, "at": at}
    if actor:
        entry["actor"] = actor
    if schema:
        entry["schema"] = schema  # which schema the file is validated against when re-applied
    return entry


def record(entry: dict[str, Any]) -> None:
    from batchops.adapters import schema  # imported late: journal <- schema <- files

    schema.validate(entry, "operation", file=str(path()))
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n"
    # O_APPEND writes of one short line are atomic, so concurrent steps of a job
    # never interleave partial lines.
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def read(file: str | None = None) -> list[dict[str, Any]]:
    """The recorded operations, oldest first (only those for ``file`` when given)."""
    target = path()
    if not target.exists():
        return []
    entries = []
    for number, line in enumerate(target.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise BatchopsError(
                f"journal line {number} is not JSON",
                file=str(target),
                hint="the journal was edited by hand or truncated; remove the broken line",
            ) from None
        if file is None or entry.get("file") == file:
            entries.append(entry)
    return entries


def clear(file: str | None = None) -> None:
    """Drop the recorded operations (for ``file`` only when given), atomically."""
    target = path()
    if not target.exists():
        return
    keep = [] if file is None else [e for e in read() if e.get("file") != file]
    write_atomic(target, "".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in keep))


def remove(ids: set[str] | list[str]) -> None:
    """Drop the operations with these ids (persist-with-retry: they have been pushed), atomically."""
    target = path()
    drop = set(ids)
    if not drop or not target.exists():
        return
    entries = read()
    keep = [e for e in entries if e.get("id") not in drop]
    if len(keep) == len(entries):
        return
    write_atomic(target, "".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in keep))
