"""Run git with errors a person can act on.

Every call is one ``git`` process with a fixed argument vector (no shell),
``core.quotepath`` off and pagers/prompts disabled, in a given directory.
A failure raises :class:`GitError` (a BatchopsError) naming the command, the
directory and git's own message, never a traceback.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import BatchopsError

_BASE = ["git", "-c", "core.quotepath=off", "-c", "log.showSignature=false", "-c", "color.ui=false"]


class GitError(BatchopsError):
    """A git command failed."""

    def __init__(self, message: str, *, hint: str = "", returncode: int = 1, stderr: str = "") -> None:
        super().__init__(message, hint=hint)
        self.returncode = returncode
        self.stderr = stderr


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env["GIT_PAGER"] = "cat"
    env.update(extra or {})
    return env


def run(
    cwd: Path | str,
    args: Sequence[str],
    *,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    hint: str = "",
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git args`` in ``cwd``; stdout and stderr are bytes."""
    command = [*_BASE, *args]
    try:
        proc = subprocess.run(command, cwd=cwd, input=input, capture_output=True, env=_env(env), check=False)
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH", hint="install git (actions/checkout needs it too)") from None
    except NotADirectoryError:
        raise GitError(f"{cwd} is not a directory", hint="point working-directory at a git checkout") from None
    if check and proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        shown = " ".join(args[:3]) + (" ..." if len(args) > 3 else "")
        raise GitError(
            f"`git {shown}` failed in {cwd}: {stderr or f'exit code {proc.returncode}'}",
            hint=hint or "check that the directory is a git checkout and the refs exist",
            returncode=proc.returncode,
            stderr=stderr,
        )
    return proc


def text(cwd: Path | str, args: Sequence[str], **kwargs: object) -> str:
    """Run git and return stdout as text, trailing newline removed."""
    return run(cwd, args, **kwargs).stdout.decode("utf-8", "replace").rstrip("\n")  # type: ignore[arg-type]
