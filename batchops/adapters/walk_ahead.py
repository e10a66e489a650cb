"""A batch rollback's history walk, started before the CLI loads: a guess, checked before use.

A plan by batch id reads the history once (:mod:`batchops.adapters.commitgraph`), the longest wait
of a plan. ``batchops rollback`` (:mod:`batchops.__main__`) calls :func:`start` first thing: from
the command line and the ``INPUT_*`` variables it takes what the walk depends on (the checkout,
the base branch; a batch id and neither a PR nor a commit), lists the refs (one
``git for-each-ref``) and starts the walk. argparse, the step and the planner load while git walks.

The planner then works out the walk it needs as it always did, and :func:`take` hands the running
walk over only when the directory, the arguments, the standard input and the environment are
exactly those; otherwise the guess is stopped and the planner starts its own. A guess nobody took
is stopped at exit. Nothing here can fail a step: any surprise means no head start.

Standard library only (and :mod:`batchops.core.walk_refs`): it runs before anything else loads.
"""

from __future__ import annotations

import atexit
import os

from batchops.core.walk_refs import searched, walk_input

TYPE_CHECKING = False  # as typing's (which is not imported here: it would delay the walk)
if TYPE_CHECKING:  # annotations only: typing, pathlib, subprocess and tempfile load after the walk starts
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from typing import IO, Any

BASE = ["git", "-c", "core.quotepath=off", "-c", "log.showSignature=false", "-c", "color.ui=false"]
FORMAT = "%x1e%H%x00%P%x00%ct%x00%B"  # id, parents, committer time, message; records end with a NUL (-z)
WALK = ["log", "-z", f"--format={FORMAT}", "--stdin", "--"]
REF_FOLDERS = ("refs/heads", "refs/remotes", "refs/pull")  # the refs a rollback reads (history.list_refs)


def git_environment(environ: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every git process: the process's own (``environ``), no prompt, no pager."""
    env = dict(environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env["GIT_PAGER"] = "cat"
    env.update(extra or {})
    return env


class Process:
    """A child started with ``os.posix_spawnp`` (no ``subprocess`` to import first), with what
    :class:`batchops.adapters.git.Background` asks of a ``Popen``: ``poll``, ``wait``, ``kill``."""

    def __init__(self, argv: list[str], env: Mapping[str, str], stdin: int, stdout: int, stderr: int) -> None:
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2))]
        self.pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, 9)  # SIGKILL


def _temp_file(folder: str) -> IO[bytes]:
    """An unnamed file in ``folder`` (Linux), else one from :mod:`tempfile`."""
    try:
        return open(os.open(folder, os.O_TMPFILE | os.O_RDWR, 0o600), "w+b")  # noqa: SIM115 - closed by Walk
    except (AttributeError, OSError):
        import tempfile

        return tempfile.TemporaryFile()


def _git(cwd: str, args: Sequence[str]) -> list[str]:
    return [BASE[0], "-C", cwd, *BASE[1:], *args]


class Walk:
    """A started walk: its process and the files its output and errors go to."""

    def __init__(self, cwd: str, stdin: bytes, env: dict[str, str], folder: str) -> None:
        self.cwd, self.stdin, self.env = cwd, stdin, env
        self.out: IO[bytes] = _temp_file(folder)
        self.err: IO[bytes] = _temp_file(folder)
        with _temp_file(folder) as source:  # through a file: git never waits for us to write
            source.write(stdin)
            source.flush()
            source.seek(0)
            self.proc = Process(_git(cwd, WALK), env, source.fileno(), self.out.fileno(), self.err.fileno())

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.out.close()
        self.err.close()


_pending: list[Walk] = []
_SETTINGS = ("pr", "commit", "batch-id", "working-directory", "base-branch")


def _value(args: Sequence[str], flag: str) -> str | None:
    """The value of ``--flag VALUE`` / ``--flag=VALUE`` (the last one given), None when absent."""
    found = None
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            found = args[index + 1]
        elif arg.startswith(flag + "="):
            found = arg[len(flag) + 1 :]
    return found


def _setting(args: Sequence[str], environ: Mapping[str, str], name: str) -> str:
    given = _value(args, f"--{name}")
    if given is None:
        given = environ.get("INPUT_" + name.upper().replace("-", "_"), "")
    return given.strip()


def _revisions(cwd: str, base_name: str, env: dict[str, str]) -> bytes | None:
    """The walk's standard input as the planner will compute it, from one ``for-each-ref``."""
    reading, writing = os.pipe()
    with open(os.devnull, "rb") as nothing:
        try:
            args = ["for-each-ref", "--format=%(HEAD)%(refname)%00%(objectname)", *REF_FOLDERS]
            listing = Process(_git(cwd, args), env, nothing.fileno(), writing, nothing.fileno())
        finally:
            os.close(writing)
        with open(reading, "rb") as output:
            text = output.read()
    if listing.wait() != 0:
        return None
    refs: dict[str, str] = {}
    current = ""
    for line in text.decode("utf-8", "surrogateescape").splitlines():
        name, _, sha = line[1:].partition("\x00")
        if line.startswith("*"):
            current = name.removeprefix("refs/heads/")
        if not name.endswith("/HEAD"):
            refs[name] = sha
    name = base_name.removeprefix("refs/heads/") or current or "main"
    base_ref = next((ref for ref in (f"refs/heads/{name}", f"refs/remotes/origin/{name}") if ref in refs), None)
    if base_ref is None:
        return None
    return walk_input(refs[base_ref], [sha for ref, sha in refs.items() if searched(ref, base_ref, name)])


def start(args: Sequence[str], environ: Mapping[str, str]) -> None:
    """Start the walk of a plan by batch id (``args``: the rollback's command line after ``rollback``;
    ``environ``: the process's environment, where the ``INPUT_*`` variables are)."""
    try:
        if any(arg in ("--pr", "--commit") or arg.startswith(("--pr=", "--commit=")) for arg in args):
            return
        setting = {name: _setting(args, environ, name) for name in _SETTINGS}
        if setting["pr"] or setting["commit"] or not setting["batch-id"]:
            return
        cwd = os.path.realpath(setting["working-directory"] or ".")
        env = git_environment(environ)
        stdin = _revisions(cwd, setting["base-branch"], env)
        if stdin is not None:
            _pending.append(Walk(cwd, stdin, env, environ.get("TMPDIR") or "/tmp"))
            atexit.register(discard)
    except (OSError, ValueError):
        discard()


def take(cwd: Path | str, args: Sequence[str], stdin: bytes, env: dict[str, str]) -> Any:
    """The walk started ahead when it is exactly this one (directory, arguments, input, environment),
    else None (and a walk started ahead is stopped: it is not what the plan needs)."""
    if not _pending:
        return None
    walk = _pending.pop()
    if list(args) == WALK and walk.stdin == stdin and walk.env == env and walk.cwd == os.path.realpath(cwd):
        return walk
    walk.stop()
    return None


def discard() -> None:
    """Stop a walk nobody took."""
    while _pending:
        _pending.pop().stop()
