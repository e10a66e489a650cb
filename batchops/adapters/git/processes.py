"""git processes: one call (:func:`run`, :func:`text`), or one that lives on (cat-file, background).

Every call is one ``git`` process with a fixed argument vector (no shell), ``core.quotepath`` off
and pagers/prompts disabled, in a given directory. A failure raises
:class:`~batchops.adapters.git.errors.GitError` naming the command, the directory and git's own
message, never a traceback. :class:`batchops.adapters.git.Git` runs its commands through :func:`run`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from batchops.adapters import runner
from batchops.adapters.git.errors import GitError
from batchops.adapters.walk_ahead import BASE, git_environment

_Self = TypeVar("_Self", bound="_CatFile")
__all__ = ["BASE", "Background", "ObjectLookup", "ObjectReader", "run", "text"]


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    return git_environment(runner.process_environment(), extra)


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
    command = [*BASE, *args]
    try:
        proc = _run_to_files(command, cwd, _env(env), input)
    except FileNotFoundError:
        raise GitError(
            "git is not installed or not on PATH", hint="install git (actions/checkout needs it too)"
        ) from None
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
            git_args=args,
        )
    return proc


def _run_to_files(
    command: list[str], cwd: Path | str, env: dict[str, str], input: bytes | None
) -> subprocess.CompletedProcess[bytes]:
    """Like subprocess.run with captured output, but git writes into temporary files:
    a large output through a pipe costs many small writes and wake-ups (measured:
    twice the CPU of git itself for a 2 MB log); a file costs one read."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errors:
        proc = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=errors,
            check=False,
        )
        out.seek(0)
        errors.seek(0)
        return subprocess.CompletedProcess(command, proc.returncode, out.read(), errors.read())


def text(cwd: Path | str, args: Sequence[str], **kwargs: object) -> str:
    """Run git and return stdout as text, trailing newline removed."""
    return run(cwd, args, **kwargs).stdout.decode("utf-8", "replace").rstrip("\n")  # type: ignore[arg-type]


class _CatFile:
    """A long-lived ``git cat-file`` process fed on stdin; closed on exit."""

    def __init__(self, cwd: Path | str, mode: str) -> None:
        self._proc = subprocess.Popen(
            [*BASE, "cat-file", mode],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_env(None),
        )

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ObjectLookup(_CatFile):
    """One long-lived ``git cat-file --batch-check`` answering ``<rev>:<path>`` lookups in rounds.

    ``lookup(names)`` returns the object id of each name, or None when it does not
    exist; queries are sent in chunks so neither pipe can fill up and block.
    """

    CHUNK = 256

    def __init__(self, cwd: Path | str) -> None:
        super().__init__(cwd, "--batch-check=%(objectname) %(objecttype)")

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
                    raise GitError(
                        "git cat-file stopped answering", hint="check the repository for corruption (git fsck)"
                    )
                parts = line.split(" ")
                answers.append(parts[0] if len(parts) == 2 and parts[1] == "blob" else None)
        return answers


class Background:
    """A git process started now whose output is read later (it runs while other git commands run)."""

    def __init__(
        self, cwd: Path | str, args: Sequence[str], *, ok: Sequence[int] = (0,), input: bytes | None = None
    ) -> None:
        self._ok = tuple(ok)
        self._args = list(args)
        self._cwd = cwd
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        stdin: Any = subprocess.DEVNULL
        if input is not None:  # through a file: the process never waits for us to write
            stdin = tempfile.TemporaryFile()
            stdin.write(input)
            stdin.seek(0)
        self._proc = subprocess.Popen(
            [*BASE, *args],
            cwd=cwd,
            env=_env(None),
            stdin=stdin,
            stdout=self._out,
            stderr=self._err,
        )
        if input is not None:
            stdin.close()

    @classmethod
    def adopt(cls, proc: Any, out: Any, err: Any, cwd: Path | str, args: Sequence[str]) -> Background:
        """A process started already (:mod:`batchops.adapters.walk_ahead`), its output going to ``out``."""
        made = cls.__new__(cls)
        made._ok, made._args, made._cwd = (0,), list(args), cwd
        made._out, made._err, made._proc = out, err, proc
        return made

    def close(self) -> None:
        """Stop it if it still runs (its answer is no longer wanted) and free its files."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if not self._out.closed:
            self._out.close()
        if not self._err.closed:
            self._err.close()

    def stream(self, pause: float = 0.002) -> Iterator[bytes]:
        """The output as it is written (read at offsets: the file position git writes at stays its
        own), until the process ends; then, as :meth:`result`, a failure raises :class:`GitError`."""
        fd, offset = self._out.fileno(), 0
        while True:
            ended = self._proc.poll() is not None
            chunk = os.pread(fd, 1 << 20, offset)
            while chunk:
                yield chunk
                offset += len(chunk)
                chunk = os.pread(fd, 1 << 20, offset)
            if ended:
                break
            time.sleep(pause)
        self._out.truncate(0)  # everything was read: result() checks the exit and the errors only
        self.result()

    def result(self) -> bytes:
        code = self._proc.wait()
        self._out.seek(0)
        self._err.seek(0)
        out, err = self._out.read(), self._err.read().decode("utf-8", "replace").strip()
        self._out.close()
        self._err.close()
        if code not in self._ok:
            raise GitError(
                f"`git {' '.join(self._args[:3])}` failed in {self._cwd}: {err or f'exit code {code}'}",
                returncode=code,
                stderr=err,
            )
        return out


class ObjectReader(_CatFile):
    """One long-lived ``git cat-file --batch``: ``read(name)`` gives (type, content) or None."""

    def __init__(self, cwd: Path | str) -> None:
        super().__init__(cwd, "--batch")

    def read(self, name: str) -> tuple[str, str, bytes] | None:
        """(object id, type, content) of ``name`` (``<rev>:<path>``, an id), or None when missing."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        if "\n" in name:
            return None
        self._proc.stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().decode("utf-8", "replace").split()
        if not header:
            raise GitError("git cat-file stopped answering", hint="check the repository for corruption (git fsck)")
        if len(header) != 3 or not header[2].isdigit():
            return None  # "<name> missing" / "ambiguous"
        content = self._proc.stdout.read(int(header[2]))
        self._proc.stdout.read(1)
        return header[0], header[1], content

    def read_many(self, names: Sequence[str], chunk: int = 256) -> list[tuple[str, str, bytes] | None]:
        """``read`` for many names: queries sent a chunk at a time, then the answers read."""
        answers: list[tuple[str, str, bytes] | None] = []
        for start in range(0, len(names), chunk):
            part = names[start : start + chunk]
            self.ask(part)
            answers += self.answers(len(part))
        return answers

    def ask(self, names: Sequence[str]) -> None:
        """Send queries (at most a few hundred: their answers are read with :meth:`answers`)."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(
            b"".join(("\x00missing" if "\n" in n else n).encode("utf-8", "surrogateescape") + b"\n" for n in names)
        )
        self._proc.stdin.flush()

    def answers(self, count: int) -> list[tuple[str, str, bytes] | None]:
        """The answers to the next ``count`` queries sent, in order."""
        assert self._proc.stdout is not None
        found: list[tuple[str, str, bytes] | None] = []
        for _ in range(count):
            header = self._proc.stdout.readline().decode("utf-8", "replace").split()
            if not header:
                raise GitError("git cat-file stopped answering", hint="check the repository for corruption (git fsck)")
            if len(header) != 3 or not header[2].isdigit():
                found.append(None)
                continue
            content = self._proc.stdout.read(int(header[2]))
            self._proc.stdout.read(1)
            found.append((header[0], header[1], content))
        return found
