"""One git: the :class:`Git` class runs every command of a repository, with named verbs.

:class:`Git` owns what each command needs: the environment (no prompts, a low-speed limit so a
stalled transfer is cut), the identity (the bot's, set once by :meth:`Git.use_bot_identity` when
the job has none), secrets redacted from every message, and the failure as a type
(:mod:`batchops.adapters.git.errors` draws the tree: a refused push is a :class:`PushRejected`,
an unreachable host a :class:`RemoteUnreachable`, ...). Its verbs (``fetch``, ``push``,
``rev_parse``, ``cat_file``, ``is_ancestor``, ...) and plumbing (``fast_commit``: one commit
builder, written by ``git fast-import``; ``read_objects``: ``cat-file --batch``; ``staged_changes``)
parse git's output here, so callers get values.

The module-level :func:`run` and :func:`text` (in :mod:`batchops.adapters.git.processes`) remain
for the callers not yet moved onto :class:`Git`.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from batchops.adapters import runner
from batchops.adapters.git.errors import (
    AuthenticationFailed,
    BranchMissing,
    GitError,
    PushDeclined,
    PushRejected,
    RemoteError,
    RemoteTransient,
    RemoteUnreachable,
    RepositoryMissing,
    remote_error,
)
from batchops.adapters.git.processes import BASE, Background, ObjectLookup, ObjectReader, run, text

__all__ = [
    "BOT_EMAIL",
    "BOT_NAME",
    "EMPTY_TREE",
    "AuthenticationFailed",
    "Background",
    "BranchMissing",
    "Git",
    "GitError",
    "ObjectLookup",
    "ObjectReader",
    "PushDeclined",
    "PushRejected",
    "RemoteError",
    "RemoteTransient",
    "RemoteUnreachable",
    "RepositoryMissing",
    "actor",
    "config_value",
    "identity_env",
    "run",
    "text",
    "url_secrets",
]

BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
# a fetch that never triggers housekeeping, tags, submodules or the forced-update scan
_FETCH = (
    "-c",
    "gc.auto=0",
    "-c",
    "maintenance.auto=false",
    "fetch",
    "--quiet",
    "--no-tags",
    "--no-recurse-submodules",
    "--no-show-forced-updates",
)
Entry = tuple[str, str]  # (mode, object id) of a path in a tree
Change = tuple[str, Entry | None, Entry | None]  # (path, in head, staged); None: absent


def config_value(key: str, cwd: Path | str | None = None) -> str:
    """``git config KEY`` or '' when unset or git is missing."""
    try:
        proc = subprocess.run([*BASE, "config", key], cwd=cwd, capture_output=True, timeout=5, check=False)
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


def _paths_spec(paths: Sequence[str]) -> bytes:
    return b"".join(path.encode("utf-8", "surrogateescape") + b"\0" for path in paths)


def parse_batch(out: bytes, count: int) -> list[tuple[str, str, bytes] | None]:
    """The ``count`` answers of ``git cat-file --batch``: (object id, type, content), None when missing."""
    answers: list[tuple[str, str, bytes] | None] = []
    position = 0
    for _ in range(count):
        end = out.index(b"\n", position)
        header = out[position:end].decode("utf-8", "replace").split()
        position = end + 1
        if len(header) < 3 or header[-1] == "missing" or not header[-1].isdigit():
            answers.append(None)
            continue
        size = int(header[2])
        answers.append((header[0], header[1], out[position : position + size]))
        position += size + 1
    return answers


def parse_log(text: str) -> list[tuple[str, str]]:
    """The (commit id, message) records of ``git log --format=%x1e%H%n%B`` output."""
    records = []
    for record in text.split("\x1e"):
        sha, _, message = record.strip().partition("\n")
        if sha.strip():
            records.append((sha.strip(), message))
    return records


class Git:
    """git in one repository: fixed argument vectors, no prompts, secrets redacted from every error.

    ``run`` returns stdout as bytes and raises :class:`GitError` (with git's ``output``) when git
    fails and ``check`` is true; the verbs that talk to a remote raise the :class:`RemoteError`
    of the failure's kind.
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

    # --- the one runner ---------------------------------------------------------------------

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def run(
        self, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None, check: bool = True
    ) -> bytes:
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

    def text(self, *args: str, **kwargs: Any) -> str:
        return self.run(*args, **kwargs).decode("utf-8", "replace").strip()

    def ok(self, *args: str) -> bool:
        try:
            self.run(*args)
        except GitError:
            return False
        return True

    def use_bot_identity(self) -> None:
        """Commit as ``github-actions[bot]`` when the job has no identity configured (set once, here)."""
        self.env.update(identity_env(self.root))

    # --- verbs ----------------------------------------------------------------------------------

    def remote_url(self, remote: str) -> str:
        """The URL of ``remote`` ('' when there is no such remote); its credentials are redacted from then on."""
        url = self.text("remote", "get-url", remote, check=False)
        secrets, _ = url_secrets(url)
        self.secrets = [*self.secrets, *secrets]
        return url

    def fetch(self, remote: str, *refspecs: str, prune: bool = False) -> None:
        """Fetch ``refspecs``; a failure is raised as the :class:`RemoteError` of its kind."""
        try:
            self.run(*_FETCH, *(["--prune"] if prune else []), remote, *refspecs)
        except GitError as exc:
            raise remote_error(exc) from None

    def push(self, remote: str, *refspecs: str, atomic: bool = False) -> None:
        """Push ``refspecs`` (no hooks); a failure is raised as the :class:`RemoteError` of its kind."""
        try:
            self.run("push", "--porcelain", "--no-verify", *(["--atomic"] if atomic else []), remote, *refspecs)
        except GitError as exc:
            raise remote_error(exc) from None

    def rev_parse(self, rev: str) -> str:
        """The commit ``rev`` names, '' when it names none."""
        return self.text("rev-parse", "-q", "--verify", f"{rev}^{{commit}}", check=False)

    def current_branch(self) -> str:
        """The branch checked out, '' when HEAD is detached."""
        return self.text("symbolic-ref", "--short", "-q", "HEAD", check=False)

    def is_ancestor(self, ancestor: str, commit: str) -> bool:
        return self.ok("merge-base", "--is-ancestor", ancestor, commit)

    def valid_branch_name(self, name: str) -> bool:
        return self.ok("check-ref-format", f"refs/heads/{name}")

    def cat_file(self, rev: str, path: str) -> bytes | None:
        """The content of ``path`` in ``rev``, None when absent."""
        try:
            return self.run("cat-file", "blob", f"{rev}:{path}")
        except GitError:
            return None

    def refs(self, prefix: str) -> list[str]:
        """The names of the refs under ``prefix``."""
        return self.text("for-each-ref", "--format=%(refname)", prefix, check=False).split()

    def messages(self, *revisions: str) -> list[tuple[str, str]]:
        """(commit id, message) of each commit ``git log revisions`` lists, newest first."""
        return parse_log(self.text("log", "--format=%x1e%H%n%B", *revisions, "--", check=False))

    def message(self, commit: str) -> str:
        """The message of ``commit`` ('' when there is no such commit)."""
        return self.text("log", "-1", "--format=%B", commit, check=False)

    def checkout_paths(self, commit: str, paths: Sequence[str]) -> None:
        """Put ``paths`` of the working tree (and index) back to ``commit``'s version (best effort)."""
        if paths:
            self.run(
                "checkout",
                "-q",
                commit,
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
                input=_paths_spec(paths),
                check=False,
            )

    def reset_keep(self, commit: str) -> bool:
        """Move the checkout to ``commit`` keeping local changes; False when changes are in the way."""
        return self.ok("reset", "-q", "--keep", commit)

    def committer(self) -> str:
        """``Name <email>`` of the committer git would record here."""
        return self.text("var", "GIT_COMMITTER_IDENT").rsplit(" ", 2)[0]

    def commit_time(self, now: float) -> int:
        """Seconds since the epoch for a commit: ``$GIT_COMMITTER_DATE`` (ISO 8601 or ``@SECONDS``) as git
        honours it, else ``now``."""
        fixed = self.env.get("GIT_COMMITTER_DATE") or runner.setting("GIT_COMMITTER_DATE")
        fixed = fixed.strip()
        if fixed.startswith("@") and fixed[1:].isdigit():
            return int(fixed[1:])
        if fixed:
            from batchops.core import timeutil
            from batchops.errors import BatchopsError

            try:
                return int(timeutil.parse_iso(fixed, field="GIT_COMMITTER_DATE").timestamp())
            except BatchopsError:
                pass
        return int(now)

    # --- plumbing: commits built without touching the working tree ---------------------------

    def tree_entries(self, commit: str, paths: Sequence[str]) -> dict[str, Entry]:
        """(mode, object id) of each of ``paths`` present in ``commit`` (paths from the repository root)."""
        entries: dict[str, Entry] = {}
        if not commit or not paths:
            return entries
        listing = self.run("ls-tree", "-z", "--full-tree", commit, "--", *paths, check=False)
        for record in listing.split(b"\0"):
            if record:
                meta, _, name = record.partition(b"\t")
                mode, _kind, sha = meta.decode().split(" ")
                entries[name.decode("utf-8", "surrogateescape")] = (mode, sha)
        return entries

    def read_objects(self, names: Sequence[str]) -> list[tuple[str, str, bytes] | None]:
        """(object id, type, content) of each of ``names`` (``<rev>:<path>``, ids), one ``cat-file --batch``."""
        if not names:
            return []
        query = "".join(f"{name}\n" for name in names).encode("utf-8", "surrogateescape")
        return parse_batch(self.run("cat-file", "--batch", input=query), len(names))

    def blobs(self, ref: str, paths: Sequence[str]) -> tuple[str, dict[str, bytes | None]]:
        """The commit ``ref`` names and the content of each of ``paths`` in it (None: absent), one cat-file."""
        plain = [path for path in paths if "\n" not in path]
        answers = self.read_objects([f"{ref}^{{commit}}"] + [f"{ref}:{path}" for path in plain])
        head = answers[0][0] if answers[0] else ""
        found = {path: (a[2] if a and a[1] == "blob" else None) for path, a in zip(plain, answers[1:], strict=True)}
        for path in paths:  # a name the batch protocol cannot carry: asked on its own
            if path not in found:
                found[path] = self.cat_file(ref, path)
        return head, {path: found[path] for path in paths}

    def fast_commit(
        self,
        parent: str,
        changed: Mapping[str, bytes | Entry | None],
        message: str,
        committer: str,
        *,
        modes: Mapping[str, str] | None = None,
        ref: str = "refs/batchops/scratch",
        when: int = 0,
    ) -> str:
        """A commit on top of ``parent`` ('' for a root commit) with ``changed`` files (content, (mode, object id),
        or None: deleted), written by one ``git fast-import``; the index and the working tree are not touched."""
        body = message.encode("utf-8")
        stream = [
            f"commit {ref}\nmark :1\ncommitter {committer} {when} +0000\n".encode("utf-8", "surrogateescape"),
            f"data {len(body)}\n".encode() + body + b"\n",
            f"from {parent}\n".encode() if parent else b"",
        ]
        for path, content in changed.items():
            quoted = _fast_import_path(path)
            if content is None:
                stream.append(b"D " + quoted + b"\n")
            elif isinstance(content, tuple):  # an object already in the repository, by id
                stream.append(f"M {content[0]} {content[1]} ".encode() + quoted + b"\n")
            else:
                mode = (modes or {}).get(path, "100644")
                stream.append(f"M {mode} inline ".encode() + quoted + f"\ndata {len(content)}\n".encode())
                stream.append(content + b"\n")
        stream.append(b"\nget-mark :1\ndone\n")
        out = self.run("fast-import", "--quiet", "--force", "--done", input=b"".join(stream))
        return out.decode("ascii", "replace").split()[0]

    def staged_changes(
        self, head: str, specs: Sequence[str]
    ) -> tuple[list[Change], list[str], list[tuple[str, GitError]]]:
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
        return _diff_index(raw), unmatched, refused


def _diff_index(raw: bytes) -> list[Change]:
    changes: list[Change] = []
    fields = raw.split(b"\0")
    for position in range(0, len(fields) - 1, 2):
        meta, name = fields[position].decode(), fields[position + 1].decode("utf-8", "surrogateescape")
        if not meta.startswith(":"):
            continue
        old_mode, new_mode, old_sha, new_sha, _status = meta[1:].split(" ")
        base = None if set(old_sha) == {"0"} else (old_mode, old_sha)
        staged = None if set(new_sha) == {"0"} else (new_mode, new_sha)
        changes.append((name, base, staged))
    return changes


def _fast_import_path(path: str) -> bytes:
    """A path as fast-import reads it (C-style quoted)."""
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'.encode("utf-8", "surrogateescape")
