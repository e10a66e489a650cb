"""Run git with errors a person can act on.

Every call is one ``git`` process with a fixed argument vector (no shell),
``core.quotepath`` off and pagers/prompts disabled, in a given directory.
A failure raises :class:`GitError` (a BatchopsError) naming the command, the
directory and git's own message, never a traceback.
"""

from __future__ import annotations

import subprocess
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from batchops.adapters import runner
from batchops.errors import BatchopsError

_Self = TypeVar("_Self", bound="_CatFile")
_BASE = ["git", "-c", "core.quotepath=off", "-c", "log.showSignature=false", "-c", "color.ui=false"]


BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"


class GitError(BatchopsError):
    """A git command failed: ``stderr`` and ``output`` (stderr then stdout) hold git's words, secrets redacted."""

    def __init__(
        self, message: str, *, hint: str = "", returncode: int = 1, stderr: str = "", output: str = "", git_args: Sequence[str] = ()
    ) -> None:
        super().__init__(message, hint=hint)
        self.returncode = returncode
        self.stderr = stderr
        self.output = output or stderr
        self.git_args = list(git_args)


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
            git_args=args,
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


class _CatFile:
    """A long-lived ``git cat-file`` process fed on stdin; closed on exit."""

    def __init__(self, cwd: Path | str, mode: str) -> None:
        self._proc = subprocess.Popen(
            [*_BASE, "cat-file", mode], cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=_env(None),
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
                    raise GitError("git cat-file stopped answering", hint="check the repository for corruption (git fsck)")
                parts = line.split(" ")
                answers.append(parts[0] if len(parts) == 2 and parts[1] == "blob" else None)
        return answers



class Background:
    """A git process started now whose output is read later (it runs while other git commands run)."""

    def __init__(self, cwd: Path | str, args: Sequence[str], *, ok: Sequence[int] = (0,), input: bytes | None = None) -> None:
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
            [*_BASE, *args], cwd=cwd, env=_env(None), stdin=stdin, stdout=self._out, stderr=self._err,
        )
        if input is not None:
            stdin.close()

    def close(self) -> None:
        """Stop it if it still runs (its answer is no longer wanted) and free its files."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if not self._out.closed:
            self._out.close()
        if not self._err.closed:
            self._err.close()

    def result(self) -> bytes:
        code = self._proc.wait()
        self._out.seek(0)
        self._err.seek(0)
        out, err = self._out.read(), self._err.read().decode("utf-8", "replace").strip()
        self._out.close()
        self._err.close()
        if code not in self._ok:
            raise GitError(f"`git {' '.join(self._args[:3])}` failed in {self._cwd}: {err or f'exit code {code}'}", returncode=code, stderr=err)
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
        assert self._proc.stdin is not None and self._proc.stdout is not None
        answers: list[tuple[str, str, bytes] | None] = []
        for start in range(0, len(names), chunk):
            part = names[start : start + chunk]
            self._proc.stdin.write(b"".join(("\x00missing" if "\n" in n else n).encode("utf-8", "surrogateescape") + b"\n" for n in part))
            self._proc.stdin.flush()
            for _ in part:
                header = self._proc.stdout.readline().decode("utf-8", "replace").split()
                if not header:
                    raise GitError("git cat-file stopped answering", hint="check the repository for corruption (git fsck)")
                if len(header) != 3 or not header[2].isdigit():
                    answers.append(None)
                    continue
                content = self._proc.stdout.read(int(header[2]))
                self._proc.stdout.read(1)
                answers.append((header[0], header[1], content))
        return answers



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


def identity_env(cwd: Path | str) -> dict[str, str]:
    """The bot identity (``github-actions[bot]``) when the job has none configured (actions/checkout sets none)."""
    def configured(key: str) -> str:  # no timeout: its polling would sleep
        return run(cwd, ["config", key], check=False).stdout.decode("utf-8", "replace").strip()

    name = runner.setting("GIT_COMMITTER_NAME") or configured("user.name")
    email = runner.setting("GIT_COMMITTER_EMAIL") or runner.setting("EMAIL") or configured("user.email")
    if name and email:
        return {}
    return {
        "GIT_AUTHOR_NAME": BOT_NAME,
        "GIT_AUTHOR_EMAIL": BOT_EMAIL,
        "GIT_COMMITTER_NAME": BOT_NAME,
        "GIT_COMMITTER_EMAIL": BOT_EMAIL,
    }


def url_secrets(url: str) -> tuple[list[str], str]:
    """Credentials embedded in a remote URL, and the URL with them removed (for messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [], "(remote URL)"
    if "@" not in parts.netloc or not parts.scheme.startswith("http"):
        return [], url
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    found = [s for s in (password, user if len(user) >= 20 else "") if s]
    return found, urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class Git:
    """git in one repository: fixed argument vectors, no prompts, secrets redacted from every error.

    ``run`` returns stdout as bytes and raises :class:`GitError` (with git's
    ``output`` for classification) when git fails and ``check`` is true.
    """

    def __init__(self, root: Path | str, env: Mapping[str, str] | None = None) -> None:
        self.root = Path(root)
        self.env: dict[str, str] = {
            # a transfer slower than 1000 bytes/s for 60 s is stalled: git cuts it and the caller may retry
            "GIT_HTTP_LOW_SPEED_LIMIT": runner.setting("GIT_HTTP_LOW_SPEED_LIMIT", "1000"),
            "GIT_HTTP_LOW_SPEED_TIME": runner.setting("GIT_HTTP_LOW_SPEED_TIME", "60"),
            "GIT_TERMINAL_PROMPT": "0",
            "GCM_INTERACTIVE": "never",
            **(env or {}),
        }
        self.secrets: list[str] = []

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def run(self, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None, check: bool = True) -> bytes:
        proc = run(self.root, args, input=input, env={**self.env, **(env or {})}, check=False)
        if check and proc.returncode != 0:
            stderr = self.redact(proc.stderr.decode("utf-8", "replace").strip())
            output = self.redact((proc.stderr + b"\n" + proc.stdout).decode("utf-8", "replace").strip())
            shown = " ".join(args[:2]) + (" ..." if len(args) > 2 else "")
            first = next((line for line in stderr.splitlines() if line.strip()), f"exit code {proc.returncode}")
            raise GitError(
                self.redact(f"`git {shown}` failed in {self.root}: {first}"),
                hint="check that the directory is a git checkout and the refs exist",
                returncode=proc.returncode,
                stderr=stderr,
                output=output,
                git_args=[self.redact(arg) for arg in args],
            )
        return proc.stdout

    def text(self, *args: str, **kwargs: object) -> str:
        return self.run(*args, **kwargs).decode("utf-8", "replace").strip()  # type: ignore[arg-type]

    def ok(self, *args: str) -> bool:
        try:
            self.run(*args)
        except GitError:
            return False
        return True

    # --- plumbing shared by the steps that build commits without touching the working tree ---

    def committer(self) -> str:
        """``Name <email>`` of the committer git would record here."""
        return self.text("var", "GIT_COMMITTER_IDENT").rsplit(" ", 2)[0]

    def tree_entries(self, commit: str, paths: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(mode, object id) of each of ``paths`` present in ``commit`` (paths from the repository root)."""
        entries: dict[str, tuple[str, str]] = {}
        if not commit or not paths:
            return entries
        listing = self.run("ls-tree", "-z", "--full-tree", commit, "--", *paths, check=False)
        for record in listing.split(b"\0"):
            if record:
                meta, _, name = record.partition(b"\t")
                mode, _kind, sha = meta.decode().split(" ")
                entries[name.decode("utf-8", "surrogateescape")] = (mode, sha)
        return entries

    def blobs(self, ref: str, paths: Sequence[str]) -> tuple[str, dict[str, bytes | None]]:
        """The commit ``ref`` names and the content of each of ``paths`` in it (None: absent), one cat-file."""
        plain = [path for path in paths if "\n" not in path]
        queries = [f"{ref}^{{commit}}"] + [f"{ref}:{path}" for path in plain]
        out = self.run("cat-file", "--batch", input=("\n".join(queries) + "\n").encode("utf-8", "surrogateescape"))
        results: list[bytes | None] = []
        head = ""
        position = 0
        for index, _ in enumerate(queries):
            end = out.index(b"\n", position)
            header = out[position:end].decode("utf-8", "replace").split()
            position = end + 1
            if len(header) < 3 or header[-1] == "missing" or not header[-1].isdigit():
                results.append(None)
                continue
            size = int(header[2])
            content = out[position : position + size]
            position += size + 1
            if index == 0:
                head = header[0]
            results.append(content if header[1] == "blob" else None)
        found = dict(zip(plain, results[1:], strict=True))
        for path in paths:  # a name the batch protocol cannot carry: asked on its own
            if path not in found:
                proc = run(self.root, ["cat-file", "blob", f"{ref}:{path}"], env=self.env, check=False)
                found[path] = proc.stdout if proc.returncode == 0 else None
        return head, {path: found[path] for path in paths}

    def fast_commit(
        self,
        parent: str,
        changed: Mapping[str, bytes | tuple[str, str] | None],
        message: str,
        committer: str,
        *,
        modes: Mapping[str, str] | None = None,
        ref: str = "refs/batchops/scratch",
        when: int = 0,
    ) -> str:
        """A commit on top of ``parent`` with ``changed`` files (content, (mode, object id), or None: deleted),
        written by one ``git fast-import``; the index and the working tree are not touched."""
        body = message.encode("utf-8")
        stream = [
            f"commit {ref}\nmark :1\ncommitter {committer} {when} +0000\n".encode("utf-8", "surrogateescape"),
            f"data {len(body)}\n".encode() + body + b"\n",
            f"from {parent}\n".encode(),
        ]
        for path, content in changed.items():
            quoted = _fast_import_path(path)
            if content is None:
                stream.append(b"D " + quoted + b"\n")
            elif isinstance(content, tuple):  # an object already in the repository, by id
                stream.append(f"M {content[0]} {content[1]} ".encode() + quoted + b"\n")
            else:
                mode = (modes or {}).get(path, "100644")
                stream.append(f"M {mode} inline ".encode() + quoted + f"\ndata {len(content)}\n".encode() + content + b"\n")
        stream.append(b"\nget-mark :1\ndone\n")
        out = self.run("fast-import", "--quiet", "--force", "--done", input=b"".join(stream))
        return out.decode("ascii", "replace").split()[0]

    def staged_changes(
        self, head: str, specs: Sequence[str]
    ) -> tuple[list[tuple[str, tuple[str, str] | None, tuple[str, str] | None]], list[str], list[tuple[str, GitError]]]:
        """What ``git add -A -- SPEC`` of each of ``specs`` would stage, in a temporary index.

        Returns the paths that differ from ``head`` as (path, (mode, id) in head, (mode, id) staged),
        None standing for absent; the specs that matched no file; and the specs git refused, with
        its error. The repository's own index is not touched.
        """
        index = Path(self.text("rev-parse", "--absolute-git-dir")) / f"batchops-index-{uuid.uuid4().hex}"
        env = {"GIT_INDEX_FILE": str(index)}
        unmatched: list[str] = []
        refused: list[tuple[str, GitError]] = []
        used: list[str] = []
        try:
            self.run("read-tree", *([head] if head else ["--empty"]), env=env)
            for spec in specs:
                try:
                    self.run("add", "-A", "--", spec, env=env)
                except GitError as exc:
                    if "did not match any files" in exc.output:
                        unmatched.append(spec)
                    else:
                        refused.append((spec, exc))
                    continue
                used.append(spec)
            if refused or not used:
                return [], unmatched, refused
            raw = self.run("diff-index", "--cached", "-z", "--no-renames", head or EMPTY_TREE, "--", *used, env=env)
        finally:
            index.unlink(missing_ok=True)
        changes: list[tuple[str, tuple[str, str] | None, tuple[str, str] | None]] = []
        fields = raw.split(b"\0")
        for position in range(0, len(fields) - 1, 2):
            meta, name = fields[position].decode(), fields[position + 1].decode("utf-8", "surrogateescape")
            if not meta.startswith(":"):
                continue
            old_mode, new_mode, old_sha, new_sha, _status = meta[1:].split(" ")
            base = None if set(old_sha) == {"0"} else (old_mode, old_sha)
            staged = None if set(new_sha) == {"0"} else (new_mode, new_sha)
            changes.append((name, base, staged))
        return changes, unmatched, refused


EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def _fast_import_path(path: str) -> bytes:
    """A path as fast-import reads it (C-style quoted)."""
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'.encode("utf-8", "surrogateescape")
