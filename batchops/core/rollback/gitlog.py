"""What git tells a rollback, as parsed values: entries, changes, commits, refs (parsers of git's output)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from batchops.core.rollback.ids import SHA


@dataclass(frozen=True)
class Entry:
    """One file in a tree: mode and blob id."""

    mode: str
    blob: str


@dataclass(frozen=True)
class Change:
    status: str
    old: Entry | None
    new: Entry | None


@dataclass
class Commit:
    """A commit as read from a log: id, parents, committer time, message (or subject)."""

    sha: str
    parents: list[str]
    time: int
    message: str = ""

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0].strip()[:300]

    @property
    def first_parent(self) -> str | None:
        return self.parents[0] if self.parents else None


@dataclass
class MainCommit:
    """A first-parent commit of the base branch that touched a file of interest."""

    sha: str
    first_parent: str | None
    time: int
    subject: str
    changes: dict[str, Change]
    parents: int = 1  # how many parents (2 or more: a merge)


@dataclass(frozen=True)
class Ref:
    name: str  # full ref name
    sha: str
    pr: int | None = None  # the pull request number of a PR ref

    @property
    def short(self) -> str:
        return self.name.removeprefix("refs/remotes/").removeprefix("refs/heads/")


_PR_REF = re.compile(r"^refs/(?:remotes/[^/]+/)?pull/([0-9]{1,9})/head$")


def pr_of_ref(name: str) -> int | None:
    match = _PR_REF.match(name)
    return int(match[1]) if match else None


def parse_refs(text: str) -> list[Ref]:
    """``git for-each-ref --format=%(refname)%00%(objectname)`` lines."""
    refs = []
    for line in text.splitlines():
        name, _, sha = line.partition("\x00")
        if SHA.fullmatch(sha):
            refs.append(Ref(name, sha, pr_of_ref(name)))
    return refs


def _record_head(head: bytes, parents: bytes, moment: bytes) -> tuple[str, list[str], int]:
    """The ``\x1e%H``, ``%P`` and ``%ct`` fields of a log record: sha, parents, commit time (0 when unreadable)."""
    try:
        when = int(moment or b"0")
    except ValueError:
        when = 0
    return head[1:].decode("ascii", "replace"), parents.decode("ascii", "replace").split(), when


def parse_commits(data: bytes) -> list[Commit]:
    """``git log -z --format=%x1e%H%x00%P%x00%ct%x00%B`` output, read field by field.

    A message cannot hold a NUL, so no message can fake the start of a record. The text
    is decoded as UTF-8 with surrogate escapes (never fails); the lines looked for are ASCII.
    """
    commits: list[Commit] = []
    tokens = data.split(b"\x00")
    index = 0
    while index + 3 < len(tokens):
        head = tokens[index].lstrip(b"\n")
        if not head.startswith(b"\x1e"):
            index += 1
            continue
        sha, parents, moment = _record_head(head, tokens[index + 1], tokens[index + 2])
        message = tokens[index + 3].decode("utf-8", "surrogateescape")
        index += 4
        if SHA.fullmatch(sha):
            commits.append(Commit(sha, parents, moment, message))
    return commits


def _entry(mode: str, blob: str) -> Entry | None:
    return None if mode == "000000" or blob.strip("0") == "" else Entry(mode, blob)


def parse_raw(meta: bytes) -> tuple[str, Entry | None, Entry | None]:
    old_mode, new_mode, old_blob, new_blob, status = meta[1:].decode("ascii", "replace").split(" ")[:5]
    return status[:1], _entry(old_mode, old_blob), _entry(new_mode, new_blob)


def parse_diff_tree(data: bytes) -> dict[str, dict[str, Change]]:
    """``git diff-tree --stdin -r --raw -z --no-renames`` output: commit -> path -> change."""
    result: dict[str, dict[str, Change]] = {}
    tokens = data.split(b"\x00")
    current: dict[str, Change] | None = None
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not token:
            continue
        if token.startswith(b":") and index < len(tokens):
            path = tokens[index].decode("utf-8", "surrogateescape")
            index += 1
            status, old, new = parse_raw(token)
            if current is not None:
                current[path] = Change(status, old, new)
        else:
            current = result.setdefault(token.decode("ascii", "replace").split()[0], {})
    return result


def parse_mainline(data: bytes) -> list[MainCommit]:
    """``git log --first-parent -z --raw --no-abbrev --format=%x1e%H%x00%P%x00%ct%x00%s%x00 -- PATHS``:
    newest first. Read token by token: a path can hold any byte but NUL."""
    commits: list[MainCommit] = []
    tokens = data.split(b"\x00")
    index = 0
    current: MainCommit | None = None
    while index < len(tokens):
        token = tokens[index].lstrip(b"\n")
        if token.startswith(b"\x1e") and index + 3 < len(tokens):
            sha, parents, moment = _record_head(token, tokens[index + 1], tokens[index + 2])
            subject = tokens[index + 3].decode("utf-8", "replace").strip()[:300]
            current = MainCommit(sha, parents[0] if parents else None, moment, subject, {}, max(1, len(parents)))
            commits.append(current)
            index += 4
        elif token.startswith(b":") and index + 1 < len(tokens):
            status, old, new = parse_raw(token)
            path = tokens[index + 1].decode("utf-8", "surrogateescape")
            if current is not None:
                current.changes[path] = Change(status, old, new)
            index += 2
        else:
            index += 1
    return commits
