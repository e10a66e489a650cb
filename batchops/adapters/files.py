"""Files on disk: atomic writes (never a half-written file), resource errors a person can act on.

Every file batchops writes goes through :func:`write_atomic`: a temp file
``.<name>.<random>.tmp`` in the same folder, flushed, synced and renamed over
the target. A writer holds a lock on its temp file while it writes, so a temp
file nobody holds (left by a writer killed mid-write) is stale and is removed
the next time batchops writes that file.

A full disk, a file-size limit, a quota, a read-only file system or a refused
permission is a :class:`~batchops.errors.BatchopsError` naming the file and the
fix (:func:`resource_error`), never a traceback; the target is left as it was.
"""

from __future__ import annotations

import errno
import os
import re
import time
from pathlib import Path

from batchops.errors import BatchopsError

try:  # POSIX: the lock that tells a live writer's temp file from a stale one
    import fcntl
except ImportError:  # pragma: no cover - not on the runners batchops supports
    fcntl = None  # type: ignore[assignment]

STALE_AFTER = 2.0  # seconds: younger temp files are never judged (a writer may be about to lock it)

# errno -> (what happened, how to fix it)
RESOURCE_ERRORS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: (
        "no space left on the device",
        "free disk space on the runner (or write to another disk), then re-run",
    ),
    errno.EFBIG: (
        "the file is larger than the file-size limit allows",
        "raise the limit (`ulimit -f unlimited`) or free space, then re-run",
    ),
    errno.EDQUOT: ("the disk quota is exhausted", "free space within the quota or raise it, then re-run"),
    errno.EROFS: (
        "the file system is read-only",
        "write to a writable folder (e.g. $RUNNER_TEMP or the checkout), then re-run",
    ),
    errno.EACCES: (
        "permission denied",
        "make the file and its folder writable by this user (`ls -l` shows the owner), then re-run",
    ),
    errno.EPERM: (
        "operation not permitted",
        "make the file and its folder writable by this user (`ls -l` shows the owner), then re-run",
    ),
}


def resource_error(exc: OSError, path: str | Path | None = None) -> BatchopsError | None:
    """A user error naming the file for a resource problem (disk full, quota, read-only, ...), else None."""
    if exc.errno not in RESOURCE_ERRORS:
        return None
    what, fix = RESOURCE_ERRORS[exc.errno]
    name = str(path if path is not None else (exc.filename or ""))
    return BatchopsError(
        f"cannot write: {what} (errno {errno.errorcode.get(exc.errno or 0, exc.errno)})", file=name or None, hint=fix
    )


_TEMP_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def _create_temp(target: Path) -> tuple[int, str]:
    """A new file ``.NAME.XXXXXXXX.tmp`` beside ``target``, created exclusively (mode 0600), as
    ``tempfile.mkstemp`` makes it; without importing tempfile (and shutil, random), which the hot path
    would pay for in every step."""
    for _ in range(100):
        letters = "".join(_TEMP_LETTERS[byte % len(_TEMP_LETTERS)] for byte in os.urandom(8))
        name = str(target.parent / f".{target.name}.{letters}.tmp")
        try:
            return os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary name", str(target.parent))


def _stale_name(target: Path) -> re.Pattern[str]:
    # the random part of a temp file (_create_temp): 8 characters of [a-z0-9_]
    return re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")


def clean_stale(target: str | Path, *, now: float | None = None) -> list[Path]:
    """Remove the stale temp files beside ``target`` (no writer holds them, older than STALE_AFTER)."""
    target = Path(target)
    pattern = _stale_name(target)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    current = time.time() if now is None else now
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            if (
                not entry.is_file(follow_symlinks=False)
                or current - entry.stat(follow_symlinks=False).st_mtime < STALE_AFTER
            ):
                continue
            fd = os.open(entry.path, os.O_RDONLY)
        except OSError:
            continue
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live writer holds it
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


def write_atomic(path: str | Path, text: str | bytes, *, durable: bool = True) -> None:
    """Write through a temp file in the same folder and rename: never a half-written file.

    ``durable``: the data reaches the disk before the rename (fsync); a file the job makes for
    itself in its temp folder (a plan) need not outlive a crash of the machine, which takes the
    folder with it. A resource error (disk full, quota, read-only, permission) raises a
    BatchopsError naming ``path``; the old content stays and no temp file is left.
    """
    target = Path(path)
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    tmp = ""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(target)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if durable:
                os.fsync(fd)
            mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
            os.fchmod(fd, mode)
            os.replace(tmp, target)
            tmp = ""
        finally:
            os.close(fd)
    except OSError as exc:
        _discard(tmp)
        problem = resource_error(exc, target)
        if problem is not None:
            raise problem from None
        raise
    except BaseException:
        _discard(tmp)
        raise
    clean_stale(target)


def _discard(tmp: str) -> None:
    if tmp:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def os_error(exc: OSError) -> BatchopsError:
    """Any OSError naming a file, as a user error: a resource problem with its fix, else the system's words."""
    problem = resource_error(exc)
    if problem is not None:
        return problem
    name = exc.filename if exc.filename is not None else None
    return BatchopsError(
        f"cannot use this file: {exc.strerror or exc.__class__.__name__}",
        file=str(name) if name is not None else None,
        hint="check the path and its permissions, then re-run",
    )
