"""The per-job operation journal.

Every mutation of a repository file that batchops makes (breaker transitions,
outcomes, budget minutes, operator commands, drift baselines) is recorded here as
an operation validated by ``schemas/operation.schema.json``. persist-with-retry
re-applies these operations on the remote's copy of the file when a push is
rejected, so the unit that is retried is the operation, not the text diff.

Location: see :func:`batchops.adapters.runner.journal_path`.

Format: JSON Lines. Every line is written with ``ensure_ascii=True`` (U+2028,
U+2029, U+0085 and every other non-ASCII character are ``\\u`` escapes) and read
back split on ``\\n`` only, each line through the strict JSON reader, so no text
in an operation can split or merge journal lines. A last line without its ``\\n`` (a
writer killed mid-write) was never recorded: it is ignored when read and dropped before
the next append.
"""

from __future__ import annotations

import errno
import fcntl
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


def _line(entry: dict[str, Any]) -> str:
    """One journal line (the one serializer of the journal): ASCII only, so no character
    of any value (U+2028, U+2029, U+0085, ...) can be taken for a line break by a reader."""
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=True) + "\n"


def record(entry: dict[str, Any]) -> None:
    record_all([entry])


def record_all(entries: list[dict[str, Any]]) -> None:
    """Append several operations at once: all of them are recorded, or none (the journal is left as it was)."""
    from batchops.adapters import schema  # imported late: journal <- schema <- files
    from batchops.adapters.files import resource_error

    target = path()
    for entry in entries:
        schema.validate(entry, "operation", file=str(target))
    if not entries:
        return
    data = "".join(_line(entry) for entry in entries).encode("utf-8")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND writes of one short block are atomic, so concurrent steps of a job
        # never interleave partial lines.
        fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise resource_error(exc, target) or exc from None
    try:
        # One writer at a time: the torn-tail check below must never see another
        # writer's line while it is being written (its size grows page by page).
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            # a writer killed in the middle of its block left a line without its end:
            # that operation was never recorded; drop the fragment so it cannot merge with this one
            size = _drop_torn_tail(fd, size)
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, "short write to the journal", str(target))
        except OSError as exc:
            try:
                os.ftruncate(fd, size)  # a line cut short would make the journal unreadable
            except OSError:
                pass
            raise resource_error(exc, target) or exc from None
    finally:
        os.close(fd)


def _drop_torn_tail(fd: int, size: int) -> int:
    keep = os.pread(fd, size, 0).rfind(b"\n") + 1
    os.ftruncate(fd, keep)
    return keep


def mark() -> int:
    """The journal's size now, to :func:`undo_to` if what follows fails."""
    try:
        return path().stat().st_size
    except FileNotFoundError:
        return 0


def undo_to(size: int) -> None:
    """Drop what was appended since :func:`mark` returned ``size``."""
    target = path()
    try:
        with open(target, "r+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            if handle.seek(0, os.SEEK_END) > size:
                handle.truncate(size)
    except FileNotFoundError:
        pass


def read(file: str | None = None) -> list[dict[str, Any]]:
    """The recorded operations, oldest first (only those for ``file`` when given)."""
    target = path()
    if not target.exists():
        return []
    from batchops.adapters import schema  # imported late: journal <- schema <- files

    entries = []
    lines = target.read_text(encoding="utf-8").split("\n")
    # the last piece has no line end only when its writer was killed mid-write: never recorded
    torn = len(lines) if lines[-1].strip() else 0
    for number, line in enumerate(lines, start=1):
        if not line.strip() or number == torn:
            continue
        try:
            entry = schema.parse_json_line(line, str(target), number)
        except BatchopsError as exc:
            raise BatchopsError(
                f"journal line {number} is not valid: {exc.message.removeprefix(f'line {number}: ')}",
                file=str(target),
                line=number,
                hint="the journal was edited by hand or truncated; remove the broken line",
            ) from None
        if not isinstance(entry, dict):
            raise BatchopsError(
                f"journal line {number} is not an operation (a JSON object)",
                file=str(target),
                line=number,
                hint="the journal was edited by hand or truncated; remove the broken line",
            )
        if file is None or entry.get("file") == file:
            entries.append(entry)
    return entries


def clear(file: str | None = None) -> None:
    """Drop the recorded operations (for ``file`` only when given), atomically."""
    target = path()
    if not target.exists():
        return
    keep = [] if file is None else [e for e in read() if e.get("file") != file]
    write_atomic(target, "".join(_line(e) for e in keep))


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
    write_atomic(target, "".join(_line(e) for e in keep))


# --- the prepared commit message (operator commands write it beside the journal) -----------

PREPARED_MESSAGE = "commit-message.txt"


def message_path() -> Path:
    """``commit-message.txt`` beside the journal: the message an operator command prepared."""
    return path().parent / PREPARED_MESSAGE


def read_message() -> str:
    """The prepared message, '' when there is none (or it cannot be read)."""
    try:
        return message_path().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def write_message(text: str) -> None:
    """Write the prepared message; an empty ``text`` removes it."""
    target = message_path()
    if text:
        write_atomic(target, text)
    elif target.exists():
        target.unlink()


def consume_message(named: list[str]) -> None:
    """The prepared message (naming the operation ids ``named``) has been used: once none of them is
    still pending, it is removed, so it can never describe a later, unrelated commit."""
    if set(named) & {entry.get("id") for entry in read()}:
        return
    try:
        message_path().unlink()
    except OSError:
        pass
