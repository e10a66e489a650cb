"""Run git with errors a person can act on.

Every call is one ``git`` process with a fixed argument vector (no shell),
``core.quotepath`` off and pagers/prompts disabled, in a given directory.
A failure raises :class:`GitError` (a BatchopsError) naming the command, the
directory and git's own message, never a traceback.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from batchops.adapters import runner
from batchops.errors import BatchopsError

_BASE = ["git", "-c", "core.quotepath=off", "-c", "log.showSignature=false", "-c", "color.ui=false"]


class GitError(BatchopsError):
    """A git command failed."""

    def __init__(self, message: str, *, hint: str = "", returncode: int = 1, stderr: str = "") -> None:
        super().__init__(message, hint=hint)
        self.returncode = returncode
        self.stderr = stderr


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = runner.process_environment()
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
        proc = _run_to_files(command, cwd, _env(env), input)
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


def _run_to_files(command: list[str], cwd: Path | str, env: dict[str, str], input: bytes | None) -> subprocess.CompletedProcess[bytes]:
    """Like subprocess.run with captured output, but git writes into temporary files:
    a large output through a pipe costs many small writes and wake-ups (measured:
    twice the CPU of git itself for a 2 MB log); a file costs one read."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errors:
        proc = subprocess.run(
            command, cwd=cwd, env=env, input=input, stdin=None if input is not None else subprocess.DEVNULL,
            stdout=out, stderr=errors, check=False,
        )
        out.seek(0)
        errors.seek(0)
        return subprocess.CompletedProcess(command, proc.returncode, out.read(), errors.read())


def text(cwd: Path | str, args: Sequence[str], **kwargs: object) -> str:
    """Run git and return stdout as text, trailing newline removed."""
    return run(cwd, args, **kwargs).stdout.decode("utf-8", "replace").rstrip("\n")  # type: ignore[arg-type]


class ObjectLookup:
    """One long-lived ``git cat-file --batch-check`` answering ``<rev>:<path>`` lookups in rounds.

    ``lookup(names)`` returns the object id of each name, or None when it does not
    exist; queries are sent in chunks so neither pipe can fill up and block.
    """

    CHUNK = 256

    def __init__(self, cwd: Path | str) -> None:
        self._proc = subprocess.Popen(
            [*_BASE, "cat-file", "--batch-check=%(objectname) %(objecttype)"],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_env(None),
        )

    def lookup(self, names: Sequence[str]) -> list[str | None]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        answers: list[str | None] = []
        for start in range(0, len(names), self.CHUNK):
            chunk = names[start : start + self.CHUNK]
            for name in chunk:
                if "\n" in name:  # not expressible in this protocol: treat as missing
                    name = "\x00missing"
                self._proc.stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
            self._proc.stdin.flush()
            for _ in chunk:
                line = self._proc.stdout.readline().decode("utf-8", "replace").rstrip("\n")
                if not line:
                    raise GitError("git cat-file stopped answering", hint="check the repository for corruption (git fsck)")
                parts = line.split(" ")
                answers.append(parts[0] if len(parts) == 2 and parts[1] == "blob" else None)
        return answers

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait()

    def __enter__(self) -> ObjectLookup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def config_value(key: str, cwd: Path | str | None = None) -> str:
    """``git config KEY`` or '' when unset or git is missing."""
    try:
        proc = subprocess.run([*_BASE, "config", key], cwd=cwd, capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout.decode("utf-8", "replace").strip()


def actor() -> str:
    """Who is acting: $GITHUB_ACTOR in Actions, else git config user.name/email, else $USER."""
    if runner.setting("GITHUB_ACTOR"):
        return runner.setting("GITHUB_ACTOR")
    name = config_value("user.name")
    email = config_value("user.email")
    if name and email:
        return f"{name} <{email}>"
    return name or email or runner.setting("USER", "unknown")
