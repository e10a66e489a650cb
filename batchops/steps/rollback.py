"""rollback: remove or restore exactly what one batch shipped, on a branch, with a PR.

How a batch is found (only history reachable from the base branch counts):

* a commit whose message has the exact line ``batch_id: ID`` (fixed string,
  whole line, never a prefix or a regex). A squash commit whose message carries
  the line (the PR body held it) is such a commit too;
* a merge commit on the base branch's first-parent line whose merged side holds
  such commits;
* a squash (or merge) of a pull request traced through the GitHub API: a merged
  PR into the base branch whose head branch or body names the batch, mapped to
  its ``merge_commit_sha``, which must be reachable from the base branch.

Every such commit *lands* on the first-parent line of the base branch at one
commit (itself, or the merge that brought it in). Per file under ``paths``, the
content before the batch is the one in the first parent of the first landing
that touched it, and the content after it is the one the last landing left.
Comparing those with the tip of the base branch gives the action:
``remove`` (the batch added it), ``restore`` (modified or deleted it),
``conflict`` (changed since by a commit not of the batch; untouched unless
``force``) or ``none`` (already as before the batch).

The planning core (``parse_history``, ``locate_landings``, ``batch_changes``,
``decide``) is pure; the git and GitHub I/O is in the functions below it and
uses a constant number of git processes, whatever the length of the history.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import tempfile
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from batchops.adapters import git as gitcmd
from batchops.adapters import runner
from batchops.cli.args import Command, add_input, add_now, clock, parse_bool, parse_list
from batchops.core import timeutil
from batchops.errors import BatchopsError, UsageError
from batchops.render import markdown

BATCH_KEY = "batch_id"
ROLLBACK_KEY = "rollback-of"
BRANCH_PREFIX = "rollback-batch-"
DEFAULT_PATHS = ["recipes/"]
ZERO = "0" * 40
_SHA = re.compile(rb"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_ID_CHARS = re.compile(r"[A-Za-z0-9._-]")

# --- batch ids ------------------------------------------------------------------------


def _batch_id_pattern() -> re.Pattern[str]:
    from batchops.adapters import schema

    return re.compile(schema._load("defs")["$defs"]["batch-id"]["pattern"])


def validate_batch_id(value: Any, *, field: str = "batch-id") -> str:
    """The batch id, or a UsageError saying exactly what is wrong with it."""
    text = value if isinstance(value, str) else ""
    example = "write it as YYYY-MM-DD or YYYY-MM-DD-token, e.g. 2026-05-01 or 2026-05-01-npm"
    if not text.strip():
        raise UsageError("is empty", field=field, hint="pass the batch id to roll back; " + example)
    if any(char.isspace() for char in text):
        what = "a newline" if ("\n" in text or "\r" in text) else "whitespace"
        raise UsageError(f"{text!r} contains {what}", field=field, hint=example)
    if text.startswith("-"):
        raise UsageError(f"{text!r} starts with '-' (it would be read as an option)", field=field, hint=example)
    bad = sorted({char for char in text if not _ID_CHARS.fullmatch(char)})
    if bad:
        raise UsageError(
            f"{text!r} contains {' '.join(repr(c) for c in bad)}; a batch id is matched as a fixed string, "
            "so regex or shell characters are not allowed",
            field=field,
            hint=example,
        )
    if len(text) > 110 or not _batch_id_pattern().fullmatch(text):
        raise UsageError(f"{text!r} is not a batch id", field=field, hint=example)
    try:
        date.fromisoformat(text[:10])
    except ValueError:
        raise UsageError(f"{text!r} does not start with a real date", field=field, hint=example) from None
    return text


def batch_line(batch_id: str) -> str:
    """The trailer line that marks a commit (or a PR body) as part of a batch."""
    return f"{BATCH_KEY}: {batch_id}"


def _has_line(message: bytes | str, line: str) -> bool:
    needle: bytes | str = line.encode() if isinstance(message, bytes) else line
    if needle not in message:  # type: ignore[operator]
        return False
    return any(part.strip() == needle for part in message.splitlines())  # type: ignore[union-attr]


def message_names_batch(message: bytes | str, batch_id: str) -> bool:
    """True when a line of ``message`` is exactly ``batch_id: ID`` (surrounding blanks ignored)."""
    return _has_line(message, batch_line(batch_id))


def head_names_batch(ref: str, batch_id: str) -> bool:
    """True when the last path segment of a head branch is ``ID`` or ``batch-ID``."""
    last = (ref or "").rsplit("/", 1)[-1]
    return last in (batch_id, f"batch-{batch_id}")


def branch_name(batch_id: str) -> str:
    return BRANCH_PREFIX + batch_id


# --- paths ----------------------------------------------------------------------------


def normalize_paths(values: Sequence[str]) -> list[str]:
    """Path prefixes relative to the repository root ('' = everything)."""
    result: list[str] = []
    for raw in values or DEFAULT_PATHS:
        text = raw.strip().replace("\\", "/")
        while text.startswith("./"):
            text = text[2:]
        text = text.rstrip("/")
        if text == ".":
            text = ""
        if text.startswith("/") or ".." in text.split("/") or any(c in text for c in "\n\r\0"):
            raise UsageError(
                f"{raw!r} is not a path inside the repository",
                field="paths",
                hint="use paths relative to the repository root, e.g. recipes/",
            )
        if text not in result:
            result.append(text)
    return result


def under(path: str, prefixes: Sequence[str]) -> bool:
    return any(p == "" or path == p or path.startswith(p + "/") for p in prefixes)


# --- history (pure) ------------------------------------------------------------------


class History:
    """The commit graph reachable from the base tip, and what the messages say.

    Built from the text of one ``git log`` (see :func:`parse_history`): the first
    parents are indexed up front (for the first-parent line); the full parent
    list and the subject of a commit are looked up in the text when needed.
    """

    def __init__(
        self,
        tip: str,
        parents: dict[str, str],
        batch_commits: list[str],
        rollbacks: list[str],
        *,
        text: str = "",
        first: dict[str, str] | None = None,
    ) -> None:
        self.tip = tip
        self.batch_commits = batch_commits  # exact batch line in the message (newest first)
        self.rollbacks = rollbacks  # exact `rollback-of: ID` line in the message
        self._parents = parents  # commit -> parents, space separated ({} when read from text)
        self._text = text
        self._first = first if first is not None else {sha: raw.split(" ", 1)[0] for sha, raw in parents.items()}
        self._mainline: list[str] | None = None
        self._position: dict[str, int] | None = None

    def __contains__(self, sha: str) -> bool:
        return sha in self._first

    def _record(self, sha: str) -> re.Match[str] | None:
        start = self._text.find(f"\x1e{sha}\x00")
        return _RECORD.match(self._text, start) if start != -1 else None

    def parents_of(self, sha: str) -> list[str]:
        if sha in self._parents:
            return self._parents[sha].split()
        record = self._record(sha) if sha in self._first else None
        return record[2].split() if record else []

    def first_parent(self, sha: str) -> str | None:
        return self._first.get(sha) or None

    def all_parents(self) -> Iterable[tuple[str, str]]:
        """(commit, parents space separated) for every commit: one pass over the log text."""
        return self._parents.items() if self._parents else _RECORD.findall(self._text)

    def subject(self, sha: str) -> str:
        """First line of a commit's message (decoded as UTF-8)."""
        record = self._record(sha)
        if record is None:
            return ""
        following = _RECORD.search(self._text, record.end(), record.end() + 4096)
        end = following.start() if following else record.end() + 4096
        line = self._text[record.end() : end].split("\n", 1)[0][:300]
        return line.encode("latin-1").decode("utf-8", "replace").strip()

    def mainline(self) -> list[str]:
        """The first-parent line of the base branch, oldest first."""
        if self._mainline is None:
            first = self._first.get
            line = []
            sha: str | None = self.tip
            while sha:
                line.append(sha)
                sha = first(sha)
            line.reverse()
            self._mainline = line
        return self._mainline

    def position(self) -> dict[str, int]:
        if self._position is None:
            self._position = {sha: index for index, sha in enumerate(self.mainline())}
        return self._position


LOG_FORMAT = "%x1e%H%x00%P%x00%B"

_RECORD = re.compile("\x1e([0-9a-f]{40}(?:[0-9a-f]{24})?)\x00([0-9a-f ]*)\x00")
_FIRST = re.compile("\x1e([0-9a-f]{40}(?:[0-9a-f]{24})?)\x00([0-9a-f]*)")


def parse_history(data: bytes, tip: str, batch_id: str) -> History:
    """Parse ``git log --format=%x1e%H%x00%P%x00%B`` output (one record per commit).

    A record starts with \\x1e, the id, NUL, the parents, NUL; a message cannot
    hold a NUL, so a \\x1e inside a message never starts a false record. The
    text is decoded as Latin-1 (byte for byte, never fails); the lines searched
    for are ASCII, so matching is exact whatever the messages' encoding.
    """
    text = data.decode("latin-1")

    def records_with(line: str) -> list[str]:
        found: list[str] = []
        position = text.find(line)
        while position != -1:
            record, start = None, position
            while record is None and start > 0:  # the header of the record holding it
                start = text.rfind("\x1e", 0, start)
                if start == -1:
                    break
                record = _RECORD.match(text, start)
            if record is None:
                position = text.find(line, position + 1)
                continue
            following = _RECORD.search(text, record.end())
            end = following.start() if following else len(text)
            if _has_line(text[record.end() : end], line) and record[1] not in found:
                found.append(record[1])
            position = text.find(line, max(position + 1, end))
        return found

    return History(
        tip,
        {},
        records_with(batch_line(batch_id)),
        records_with(f"{ROLLBACK_KEY}: {batch_id}"),
        text=text,
        first=dict(_FIRST.findall(text)),
    )


@dataclass
class Landing:
    """Where (part of) the batch entered the base branch's first-parent line."""

    sha: str
    position: int
    kind: str  # commit | merge | pull-request
    batch_commits: list[str] = field(default_factory=list)
    whole: bool = False  # every file of the landing's first-parent diff belongs to the batch
    pull_requests: list[int] = field(default_factory=list)
    pull_request_urls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PullMatch:
    number: int
    merge_commit_sha: str
    head_ref: str
    html_url: str
    why: str  # "head branch" or "body"


def _landing_of(history: History, sha: str, children: dict[str, list[str]]) -> str | None:
    """The earliest first-parent commit of the base branch that contains ``sha``."""
    position = history.position()
    if sha in position:
        return sha
    best: str | None = None
    seen = {sha}
    queue = deque([sha])
    while queue:
        current = queue.popleft()
        for child in children.get(current, ()):
            if child in seen:
                continue
            seen.add(child)
            if child in position:  # do not walk past the main line: later positions only
                if best is None or position[child] < position[best]:
                    best = child
            else:
                queue.append(child)
    return best


def _children(history: History) -> dict[str, list[str]]:
    """Children links, only where a walk forward from a merged-side commit can go:
    from commits off the main line, and into merges (their non-first parents)."""
    position = history.position()
    children: dict[str, list[str]] = {}
    for sha, parents in history.all_parents():
        if sha in position and " " not in parents:
            continue
        for parent in parents.split():
            children.setdefault(parent, []).append(sha)
    return children


def locate_landings(history: History, pulls: Sequence[PullMatch] = ()) -> tuple[list[Landing], list[str]]:
    """Landings of the batch on the first-parent line, oldest first, and warnings."""
    position = history.position()
    landings: dict[str, Landing] = {}
    warnings: list[str] = []
    children: dict[str, list[str]] | None = None

    def land(sha: str) -> Landing | None:
        nonlocal children
        if sha in position:
            target = sha
        else:
            if children is None:
                children = _children(history)
            target = _landing_of(history, sha, children)  # type: ignore[assignment]
            if target is None:
                return None
        if target not in landings:
            landings[target] = Landing(target, position[target], "commit" if target == sha else "merge")
        return landings[target]

    for sha in history.batch_commits:
        landing = land(sha)
        if landing is None:  # cannot happen for commits read from the base history
            continue
        if landing.sha == sha:
            landing.whole = True
        if sha not in landing.batch_commits:
            landing.batch_commits.append(sha)
    for pull in pulls:
        sha = pull.merge_commit_sha
        if sha not in history:
            warnings.append(
                f"PR #{pull.number} names the batch ({pull.why}) but its merge commit {sha[:12]} is not in the history of the base branch; ignored"
            )
            continue
        landing = land(sha)
        if landing is None:
            continue
        if landing.sha == sha:
            landing.whole = True
            if landing.kind == "commit" and not landing.batch_commits:
                landing.kind = "pull-request"
        if sha not in landing.batch_commits:
            landing.batch_commits.append(sha)
        if pull.number not in landing.pull_requests:
            landing.pull_requests.append(pull.number)
            landing.pull_request_urls.append(pull.html_url)
    return sorted(landings.values(), key=lambda landing: landing.position), warnings


def diff_requests(history: History, landings: Sequence[Landing]) -> list[tuple[str, str | None]]:
    """(commit, first parent) pairs whose diffs the plan needs: landings and merged-side batch commits."""
    wanted: dict[str, str | None] = {}
    for landing in landings:
        wanted[landing.sha] = history.first_parent(landing.sha)
        if not landing.whole:
            for sha in landing.batch_commits:
                wanted[sha] = history.first_parent(sha)
    return list(wanted.items())


# --- changes (pure) ------------------------------------------------------------------


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


def parse_diff_tree(data: bytes) -> dict[str, dict[str, Change]]:
    """Parse ``git diff-tree --stdin -r --raw -z --no-renames`` output: commit -> path -> change."""
    result: dict[str, dict[str, Change]] = {}
    tokens = data.split(b"\x00")
    current: dict[str, Change] | None = None
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not token:
            continue
        if token.startswith(b":"):
            path = tokens[index].decode("utf-8", "surrogateescape")
            index += 1
            old_mode, new_mode, old_blob, new_blob, status = token[1:].decode().split(" ")
            old = None if old_mode == "000000" else Entry(old_mode, old_blob)
            new = None if new_mode == "000000" else Entry(new_mode, new_blob)
            if current is not None:
                current[path] = Change(status[:1], old, new)
        else:
            current = result.setdefault(token.decode().split()[0], {})
    return result


@dataclass
class FileChange:
    """What the batch did to one file, across all its landings."""

    path: str
    landings: list[str]  # landing commits that touched it, oldest first
    before: Entry | None  # content before the batch's first landing that touched it
    after: Entry | None  # content the batch's last landing left
    interleaved: bool = False  # someone changed it between two landings of the batch
    steps: list[tuple[str, Entry | None, Entry | None]] = field(default_factory=list)  # (landing, old, new)


def batch_changes(
    landings: Sequence[Landing], diffs: dict[str, dict[str, Change]], paths: Sequence[str]
) -> tuple[dict[str, FileChange], list[str]]:
    """Files the batch changed under ``paths``, and those it changed outside them."""
    files: dict[str, FileChange] = {}
    outside: set[str] = set()
    for landing in landings:
        changes = diffs.get(landing.sha, {})
        if landing.whole:
            touched = set(changes)
        else:
            side: set[str] = set()
            for sha in landing.batch_commits:
                side.update(diffs.get(sha, {}))
            touched = side & set(changes)
        for path in sorted(touched):
            change = changes[path]
            if not under(path, paths):
                outside.add(path)
                continue
            record = files.get(path)
            if record is None:
                record = files[path] = FileChange(path, [landing.sha], change.old, change.new)
            else:
                if record.after != change.old:
                    record.interleaved = True
                record.landings.append(landing.sha)
                record.after = change.new
            record.steps.append((landing.sha, change.old, change.new))
    return files, sorted(outside)


@dataclass
class FilePlan:
    path: str
    action: str  # remove | restore | conflict | none
    commits: list[str]
    restore_from: str | None  # commit whose tree holds the content to restore (None for remove)
    target: Entry | None  # what the file becomes (None = absent)
    later_commits: list[dict[str, str]] = field(default_factory=list)
    forced: bool = False
    note: str = ""

    @property
    def changes_tree(self) -> bool:
        return self.action in ("remove", "restore")


def needs_history_check(change: FileChange, current: Entry | None) -> bool:
    """Changed since the batch (by content), so the later commits must be listed."""
    return change.interleaved or current != change.after


def decide(
    files: dict[str, FileChange],
    current: dict[str, Entry],
    later: dict[str, list[dict[str, str]]],
    parent_of: dict[str, str | None],
    *,
    force: bool = False,
) -> list[FilePlan]:
    """The action for every file the batch changed (pure)."""
    plans: list[FilePlan] = []
    for path in sorted(files):
        change = files[path]
        now = current.get(path)
        target = change.before
        restore_from = parent_of.get(change.landings[0]) if target is not None else None
        plan = FilePlan(path, "none", list(change.landings), restore_from, target)
        if change.before == change.after and not change.interleaved:
            plan.note = "the batch left it as it found it"
        elif now == target:
            plan.note = "already as before the batch (rolled back earlier?)"
        else:
            wanted = "remove" if target is None else "restore"
            if needs_history_check(change, now):
                plan.later_commits = later.get(path, [])
                if force:
                    plan.action, plan.forced = wanted, True
                    plan.note = "changed after the batch; overwritten because of force"
                else:
                    plan.action = "conflict"
                    plan.note = "changed after the batch by a commit not of the batch; left untouched (force restores it anyway)"
            else:
                plan.action = wanted
                plan.note = "added by the batch" if target is None else (
                    "deleted by the batch" if change.after is None else "modified by the batch"
                )
        plans.append(plan)
    return plans


def counts(plans: Iterable[FilePlan]) -> dict[str, int]:
    tally = {"remove": 0, "restore": 0, "conflict": 0, "none": 0}
    for plan in plans:
        tally[plan.action] += 1
    return tally


def plan_document(
    *,
    batch_id: str,
    base_branch: str,
    base_sha: str,
    paths: Sequence[str],
    landings: Sequence[Landing],
    plans: Sequence[FilePlan],
    outside: Sequence[str],
    rollbacks: Sequence[str],
    dry_run: bool,
    force: bool,
    generated_at: str,
) -> dict[str, Any]:
    """The plan as JSON (schemas/rollback-plan.schema.json)."""
    return {
        "version": 1,
        "batch_id": batch_id,
        "base_branch": base_branch,
        "base_sha": base_sha,
        "paths": [p or "." for p in paths],
        "dry_run": dry_run,
        "force": force,
        "generated_at": generated_at,
        "landings": [
            {
                "sha": landing.sha,
                "kind": landing.kind,
                "batch_commits": list(landing.batch_commits),
                "pull_requests": list(landing.pull_requests),
                "pull_request_urls": list(landing.pull_request_urls),
            }
            for landing in landings
        ],
        "files": [
            {
                "path": plan.path,
                "action": plan.action,
                "forced": plan.forced,
                "commits": list(plan.commits),
                "restore_from": plan.restore_from,
                "later_commits": list(plan.later_commits),
                "note": plan.note,
            }
            for plan in plans
        ],
        "counts": counts(plans),
        "outside_paths": list(outside),
        "rolled_back_by": list(rollbacks),
        "result": {"branch": "", "commit": "", "pr_url": ""},
    }


# --- rendering -----------------------------------------------------------------------

_ICON = {"remove": "🗑️ remove", "restore": "↩️ restore", "conflict": "⚠️ conflict", "none": "✔️ none"}


def _short(shas: Sequence[str]) -> str:
    return ", ".join(sha[:10] for sha in shas)


def plan_table(document: dict[str, Any], *, limit: int = 500) -> str:
    rows = []
    for item in document["files"][:limit]:
        later = ", ".join(f"{c['sha'][:10]} {c['subject']}".strip() for c in item["later_commits"][:3])
        if len(item["later_commits"]) > 3:
            later += f" (+{len(item['later_commits']) - 3} more)"
        action = _ICON[item["action"]] + (" (forced)" if item["forced"] else "")
        rows.append([action, item["path"], _short(item["commits"]), later or "-", item["note"]])
    table = markdown.md_table(["action", "file", "batch commits on base", "changed after by", "note"], rows)
    if len(document["files"]) > limit:
        table += f"\n… and {len(document['files']) - limit} more file(s); see the plan file.\n"
    return table


def render_markdown(document: dict[str, Any], *, heading: str = "###") -> str:
    c = document["counts"]
    batch = document["batch_id"]
    lines = [
        f"{heading} batchops rollback: batch `{batch}`" + (" (dry run)" if document["dry_run"] else ""),
        "",
        f"Base {markdown.md_escape(document['base_branch'])} at `{document['base_sha'][:12]}`, paths "
        + ", ".join(markdown.md_escape(p) for p in document["paths"])
        + f": **{c['remove']}** to remove, **{c['restore']}** to restore, **{c['conflict']}** conflict(s), "
        f"{c['none']} already as before.",
        "",
    ]
    landings = document["landings"]
    if landings:
        lines.append(
            "Found on the base branch: "
            + "; ".join(
                f"{item['kind']} `{item['sha'][:10]}`"
                + (f" (PR {', '.join('#' + str(n) for n in item['pull_requests'])})" if item["pull_requests"] else "")
                for item in landings
            )
            + "."
        )
        lines.append("")
    if document["files"]:
        lines.append(plan_table(document))
    if document["outside_paths"]:
        lines.append(
            f"Not rolled back (outside the paths): {len(document['outside_paths'])} file(s): "
            + ", ".join(markdown.md_escape(p) for p in document["outside_paths"][:20])
            + (" …" if len(document["outside_paths"]) > 20 else "")
        )
        lines.append("")
    if document["rolled_back_by"]:
        lines.append("Earlier rollback commit(s) on the base branch: " + _short(document["rolled_back_by"]))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def pr_body(document: dict[str, Any]) -> str:
    return (
        render_markdown(document, heading="##")
        + "\nCreated by `batchops rollback`. Conflicts were left untouched; review them by hand.\n\n"
        + f"{ROLLBACK_KEY}: {document['batch_id']}\n"
    )


def commit_message(document: dict[str, Any], plans: Sequence[FilePlan]) -> str:
    batch = document["batch_id"]
    changed = [p for p in plans if p.changes_tree]
    lines = [f"Roll back batch {batch}", ""]
    lines.append(f"Removes or restores {len(changed)} file(s) that batch {batch} shipped:")
    lines.append("")
    for plan in changed:
        lines.append(f"- {plan.action} {plan.path}" + (" (forced)" if plan.forced else ""))
    conflicts = [p for p in plans if p.action == "conflict"]
    if conflicts:
        lines += ["", "Left untouched (changed after the batch):", ""]
        lines += [f"- {p.path}" for p in conflicts]
    lines += ["", f"{ROLLBACK_KEY}: {batch}", ""]
    text = "\n".join(lines)
    assert not any(line.strip().startswith(BATCH_KEY + ":") for line in text.splitlines())
    return text


# --- git I/O -------------------------------------------------------------------------


@dataclass
class Base:
    name: str
    ref: str
    sha: str
    differs_from_origin: bool = False


def resolve_base(cwd: Path, requested: str) -> tuple[Base, set[str]]:
    """The base branch (the local branch, else origin's copy) and every branch ref that exists."""
    out = gitcmd.run(
        cwd,
        ["for-each-ref", "--format=%(refname)%00%(objectname)", "refs/heads", "refs/remotes/origin"],
        hint="run the rollback inside a git checkout",
    ).stdout.decode("utf-8", "replace")
    refs = dict(line.split("\x00", 1) for line in out.splitlines() if "\x00" in line)
    name = requested.strip()
    if name.startswith("refs/heads/"):
        name = name[len("refs/heads/") :]
    if not name:
        current = gitcmd.run(cwd, ["symbolic-ref", "--short", "-q", "HEAD"], check=False).stdout.decode().strip()
        name = current or "main"
    local, tracking = f"refs/heads/{name}", f"refs/remotes/origin/{name}"
    for ref in (local, tracking):
        if ref in refs:
            differs = ref == local and tracking in refs and refs[tracking] != refs[local]
            return Base(name, ref, refs[ref], differs), set(refs)
    raise BatchopsError(
        f"base branch {name!r} not found (neither origin/{name} nor a local branch {name})",
        field="base-branch",
        hint="name an existing branch; with actions/checkout use fetch-depth: 0 so every branch and the full history are there",
    )


def check_not_shallow(cwd: Path) -> None:
    shallow = gitcmd.text(cwd, ["rev-parse", "--is-shallow-repository"])
    if shallow == "true":
        raise BatchopsError(
            "the checkout is shallow: the batch's commits may be missing from the history",
            hint="use actions/checkout with `fetch-depth: 0` (or run `git fetch --unshallow`)",
        )


def read_history(cwd: Path, base: Base, batch_id: str) -> History:
    data = gitcmd.run(cwd, ["log", f"--format={LOG_FORMAT}", base.sha, "--"]).stdout
    return parse_history(data, base.sha, batch_id)


def read_diffs(cwd: Path, requests: Sequence[tuple[str, str | None]]) -> dict[str, dict[str, Change]]:
    if not requests:
        return {}
    lines = "".join(f"{sha} {parent}\n" if parent else f"{sha}\n" for sha, parent in requests)
    data = gitcmd.run(cwd, ["diff-tree", "--stdin", "-r", "--raw", "-z", "--no-renames", "--root"], input=lines.encode()).stdout
    return parse_diff_tree(data)


def read_tree(cwd: Path, sha: str, paths: Sequence[str], files: Sequence[str] = ()) -> dict[str, Entry]:
    """Mode and blob of the files under ``paths`` at ``sha`` (only ``files`` when given and few)."""
    args = ["ls-tree", "-r", "-z", "--full-tree", sha]
    prefixes = [p for p in paths if p]
    if files and len(files) <= 2000:
        args += ["--", *files]
    elif prefixes and len(prefixes) == len(paths):
        args += ["--", *prefixes]
    data = gitcmd.run(cwd, args).stdout
    tree: dict[str, Entry] = {}
    for item in data.split(b"\x00"):
        if not item:
            continue
        meta, _, path = item.partition(b"\t")
        mode, kind, blob = meta.decode().split(" ")
        if kind != "blob":
            continue
        name = path.decode("utf-8", "surrogateescape")
        if under(name, paths):
            tree[name] = Entry(mode, blob)
    return tree


@dataclass
class Probe:
    """Bisection state: the file is ``expected`` at mainline index ``lo`` and not at ``hi``."""

    path: str
    lo: int
    hi: int
    expected: str | None  # blob id, None = absent


def later_change_probes(
    history: History, files: dict[str, FileChange], current: dict[str, Entry], flagged: Sequence[str]
) -> list[Probe]:
    """One probe per divergence from the batch's content: between two landings, and after the last."""
    position = history.position()
    tip = len(history.mainline()) - 1
    probes: list[Probe] = []
    for path in flagged:
        change = files[path]
        for (sha, _, new), (next_sha, old, _) in zip(change.steps, change.steps[1:], strict=False):
            if new != old and (new is None or old is None or new.blob != old.blob):
                probes.append(Probe(path, position[sha], position[next_sha] - 1, new.blob if new else None))
        now = current.get(path)
        after = change.after
        if (now is None) != (after is None) or (now and after and now.blob != after.blob):
            probes.append(Probe(path, position[change.landings[-1]], tip, after.blob if after else None))
    return [probe for probe in probes if probe.hi > probe.lo]


def bisect_later_changes(
    cwd: Path, history: History, probes: list[Probe]
) -> dict[str, list[dict[str, str]]]:
    """The first commit after the batch (per divergence) that changed each file.

    Bisects the first-parent line with ``<commit>:<path>`` lookups in one
    ``git cat-file`` process: O(log n) lookups per file instead of a diff of
    every later commit.
    """
    if not probes:
        return {}
    mainline = history.mainline()
    with gitcmd.ObjectLookup(cwd) as objects:
        active = [probe for probe in probes if probe.hi - probe.lo > 1]
        while active:
            middles = [(probe.lo + probe.hi) // 2 for probe in active]
            blobs = objects.lookup([f"{mainline[mid]}:{probe.path}" for probe, mid in zip(active, middles, strict=True)])
            for probe, mid, blob in zip(active, middles, blobs, strict=True):
                if blob == probe.expected:
                    probe.lo = mid
                else:
                    probe.hi = mid
            active = [probe for probe in active if probe.hi - probe.lo > 1]
    later: dict[str, list[dict[str, str]]] = {}
    for probe in probes:
        sha = mainline[probe.hi]
        entries = later.setdefault(probe.path, [])
        if all(entry["sha"] != sha for entry in entries):
            entries.append({"sha": sha, "subject": history.subject(sha)})
    return later


def find_elsewhere(cwd: Path, batch_id: str, base: Base) -> list[str]:
    """Refs outside the base branch that carry the batch (for the error message only)."""
    proc = gitcmd.run(
        cwd,
        ["log", "--all", "--not", base.sha, "--fixed-strings", f"--grep={batch_line(batch_id)}", "--format=%H%x00%D%x00%B%x1e"],
        check=False,
    )
    refs: list[str] = []
    for record in proc.stdout.split(b"\x1e"):
        parts = record.strip(b"\n").split(b"\x00", 2)
        if len(parts) == 3 and message_names_batch(parts[2], batch_id):
            for ref in parts[1].decode("utf-8", "replace").split(", "):
                ref = ref.removeprefix("HEAD -> ").strip()
                if ref and ref not in refs:
                    refs.append(ref)
            if not parts[1] and "(unnamed)" not in refs:
                refs.append(parts[0].decode()[:12])
    return refs


def _identity_env(cwd: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    configured = gitcmd.run(cwd, ["config", "--get", "user.email"], check=False).stdout.strip()
    if not configured and not os.environ.get("GIT_COMMITTER_EMAIL"):
        name, email = "github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com"
        env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    return env


def create_branch(cwd: Path, base: Base, branch: str, plans: Sequence[FilePlan], message: str) -> str:
    """One commit on ``branch`` (created from the base tip), built in a temporary index.

    Neither the work tree nor the real index is touched; the branch must not exist.
    """
    with tempfile.TemporaryDirectory(prefix="batchops-rollback-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **_identity_env(cwd)}
        gitcmd.run(cwd, ["read-tree", base.sha], env=env)
        info = b"".join(
            (f"{p.target.mode} {p.target.blob}\t" if p.target else f"0 {ZERO}\t").encode()
            + p.path.encode("utf-8", "surrogateescape")
            + b"\x00"
            for p in plans
            if p.changes_tree
        )
        gitcmd.run(cwd, ["update-index", "-z", "--index-info"], input=info, env=env)
        tree = gitcmd.text(cwd, ["write-tree"], env=env)
        commit = gitcmd.text(cwd, ["commit-tree", tree, "-p", base.sha, "-F", "-"], input=message.encode(), env=env)
    gitcmd.run(
        cwd,
        ["update-ref", "-m", "batchops rollback", f"refs/heads/{branch}", commit, ""],
        hint=f"the branch {branch} already exists; delete it (git branch -D {branch}) to start over",
    )
    return commit


def remote_branch_exists(cwd: Path, remote: str, branch: str) -> bool:
    out = gitcmd.run(
        cwd, ["ls-remote", "--heads", remote, f"refs/heads/{branch}"],
        hint=f"check that the remote {remote!r} exists and is reachable",
    ).stdout
    return bool(out.strip())


def push_branch(cwd: Path, remote: str, branch: str, commit: str) -> None:
    proc = gitcmd.run(
        cwd, ["push", "--porcelain", f"--force-with-lease=refs/heads/{branch}:", remote, f"{commit}:refs/heads/{branch}"],
        check=False,
    )
    if proc.returncode != 0:
        gitcmd.run(cwd, ["update-ref", "-d", f"refs/heads/{branch}", commit], check=False)
        detail = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
        raise BatchopsError(
            f"could not push {branch} to {remote}: {detail[-1] if detail else 'exit ' + str(proc.returncode)}",
            hint="give the job `permissions: contents: write` and check out with persist-credentials (the default), "
            "or delete a leftover remote branch of an earlier rollback",
        )


# --- GitHub I/O ----------------------------------------------------------------------


def _github(token: str) -> Any:
    from github import Auth, Github

    base_url = os.environ.get("GITHUB_API_URL") or "https://api.github.com"
    return Github(base_url=base_url, auth=Auth.Token(token), per_page=100, timeout=30, retry=None, lazy=True)


def _github_error(exc: Exception, doing: str, hint: str) -> BatchopsError:
    status = getattr(exc, "status", None)
    data = getattr(exc, "data", None)
    detail = data.get("message") if isinstance(data, dict) else None
    return BatchopsError(f"GitHub API error while {doing}: {status or ''} {detail or exc.__class__.__name__}".strip(), hint=hint)


def find_merged_pulls(token: str, repository: str, base_branch: str, batch_id: str) -> list[PullMatch]:
    """Merged PRs into ``base_branch`` whose head branch or body names the batch.

    PRs are listed by last update, newest first, and the listing stops at PRs last
    updated two days before the batch's date: a PR merged for the batch was updated
    on or after that date.
    """
    from github import GithubException

    cutoff = date.fromisoformat(batch_id[:10]) - timedelta(days=2)
    matches: list[PullMatch] = []
    try:
        repo = _github(token).get_repo(repository)
        for pull in repo.get_pulls(state="closed", base=base_branch, sort="updated", direction="desc"):
            updated = pull.updated_at
            if updated is not None and updated.date() < cutoff:
                break
            if pull.merged_at is None or not pull.merge_commit_sha:
                continue
            head = pull.head.ref if pull.head is not None else ""
            why = ""
            if head_names_batch(head, batch_id):
                why = f"head branch {head}"
            elif message_names_batch(pull.body or "", batch_id):
                why = "PR body"
            if why:
                matches.append(PullMatch(pull.number, pull.merge_commit_sha, head, pull.html_url or "", why))
    except GithubException as exc:
        raise _github_error(
            exc, "listing merged pull requests",
            "give the job `permissions: pull-requests: read` and check GITHUB_API_URL / the repository name",
        ) from None
    except OSError as exc:
        raise BatchopsError(f"cannot reach the GitHub API: {exc}", hint="check GITHUB_API_URL") from None
    return matches


def open_pull(token: str, repository: str, base_branch: str, branch: str, title: str, body: str) -> str:
    from github import GithubException

    try:
        pull = _github(token).get_repo(repository).create_pull(base=base_branch, head=branch, title=title, body=body)
    except GithubException as exc:
        raise _github_error(
            exc, f"opening the pull request for {branch}",
            "give the job `permissions: pull-requests: write`; the branch was pushed, open the PR by hand",
        ) from None
    except OSError as exc:
        raise BatchopsError(f"cannot reach the GitHub API: {exc}", hint="check GITHUB_API_URL") from None
    return pull.html_url or ""


def repository_from_remote(cwd: Path, remote: str) -> str:
    url = gitcmd.run(cwd, ["remote", "get-url", remote], check=False).stdout.decode().strip()
    match = re.search(r"[/:]([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$", url)
    if match and ("github" in url or os.environ.get("GITHUB_SERVER_URL", "") in url):
        return f"{match[1]}/{match[2]}"
    return ""


# --- the step ------------------------------------------------------------------------


@dataclass
class Outcome:
    document: dict[str, Any]
    plans: list[FilePlan]
    base: Base
    warnings: list[str]
    existing_refs: set[str]


def plan_rollback(
    cwd: Path,
    batch_id: str,
    *,
    paths: Sequence[str] = DEFAULT_PATHS,
    base_branch: str = "",
    token: str = "",
    repository: str = "",
    force: bool = False,
    dry_run: bool = True,
    generated_at: str = "",
) -> Outcome:
    """Find the batch on the base branch and decide per file (reads git and the API; writes nothing)."""
    batch_id = validate_batch_id(batch_id)
    prefixes = normalize_paths(paths)
    base, refs = resolve_base(cwd, base_branch)
    check_not_shallow(cwd)
    history = read_history(cwd, base, batch_id)
    warnings: list[str] = []
    if base.differs_from_origin:
        warnings.append(
            f"the local branch {base.name} differs from origin/{base.name}; the plan uses the local one "
            f"(run `git pull` or `git fetch` first if that is not what you want)"
        )
    pulls: list[PullMatch] = []
    if token and repository:
        pulls = find_merged_pulls(token, repository, base.name, batch_id)
    elif token:
        warnings.append("github-token given but the repository is unknown (set GITHUB_REPOSITORY or `repository`); squash merges not traced")
    landings, more = locate_landings(history, pulls)
    warnings += more
    if not landings:
        raise _not_found(cwd, batch_id, base, token=bool(token))
    diffs = read_diffs(cwd, diff_requests(history, landings))
    files, outside = batch_changes(landings, diffs, prefixes)
    current = read_tree(cwd, base.sha, prefixes, sorted(files)) if files else {}
    flagged = [path for path, change in files.items() if needs_history_check(change, current.get(path))]
    later = bisect_later_changes(cwd, history, later_change_probes(history, files, current, flagged))
    parent_of = {landing.sha: history.first_parent(landing.sha) for landing in landings}
    plans = decide(files, current, later, parent_of, force=force)
    document = plan_document(
        batch_id=batch_id, base_branch=base.name, base_sha=base.sha, paths=prefixes, landings=landings,
        plans=plans, outside=outside, rollbacks=history.rollbacks, dry_run=dry_run, force=force,
        generated_at=generated_at or timeutil.iso(runner.now()),
    )
    return Outcome(document, plans, base, warnings, refs)


def _not_found(cwd: Path, batch_id: str, base: Base, *, token: bool) -> BatchopsError:
    elsewhere = find_elsewhere(cwd, batch_id, base)
    message = f"batch {batch_id} not found in the history of {base.name}: no commit has the line `{batch_line(batch_id)}`"
    if token:
        message += " and no merged pull request names it"
    if elsewhere:
        message += "; it is only on refs that were never merged: " + ", ".join(elsewhere[:5]) + " (an unmerged batch shipped nothing)"
    hint = "check the batch id and the base-branch"
    if not token:
        hint += "; if its PR was squash-merged, pass github-token so the merged PR can be traced"
    return BatchopsError(message, field="batch-id", hint=hint)


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "batch-id", "the batch to roll back: YYYY-MM-DD or YYYY-MM-DD-token")
    add_input(parser, "dry-run", "only compute and report the plan: no branch, no commit, no push", default="false")
    add_input(parser, "paths", "path prefixes to roll back (JSON array or comma/newline list)", default="recipes/")
    add_input(parser, "base-branch", "branch whose history counts (default: the current branch, else main)", default="")
    add_input(parser, "github-token", "token to trace squash-merged PRs and open the rollback PR", default="")
    add_input(parser, "force", "also restore files changed after the batch (conflicts)", default="false")
    add_input(parser, "plan-file", "where to write the plan JSON (default: under RUNNER_TEMP or the temp dir)", default="")
    add_input(parser, "repository", "owner/name on GitHub (default: GITHUB_REPOSITORY, else the origin URL)", default="")
    add_input(parser, "remote", "remote to push the rollback branch to", default="origin")
    add_input(parser, "working-directory", "the git checkout to work in", default=".")
    parser.add_argument(
        "--print-trailer", metavar="BATCH_ID", default=None,
        help="print the `batch_id: ID` line to put in a batch PR's body (survives squash merges), then exit",
    )
    add_now(parser)


def _default_plan_file(batch_id: str) -> Path:
    root = os.environ.get("RUNNER_TEMP") or tempfile.gettempdir()
    return Path(root) / f"batchops-rollback-{batch_id}.json"


def _run(args: argparse.Namespace) -> int:
    if args.print_trailer is not None:
        print(batch_line(validate_batch_id(args.print_trailer, field="print-trailer")))
        return 0
    token = (args.github_token or "").strip()
    runner.mask(token)
    batch_id = validate_batch_id(args.batch_id or "")
    dry_run = parse_bool(args.dry_run, field="dry-run")
    force = parse_bool(args.force, field="force")
    paths = parse_list(args.paths, field="paths") or DEFAULT_PATHS
    cwd = Path(args.working_directory or ".")
    remote = (args.remote or "origin").strip()
    repository = (args.repository or os.environ.get("GITHUB_REPOSITORY", "")).strip()
    if token and not repository:
        repository = repository_from_remote(cwd, remote)
    plan_file = Path(args.plan_file) if args.plan_file else _default_plan_file(batch_id)

    outcome = plan_rollback(
        cwd, batch_id, paths=paths, base_branch=args.base_branch or "", token=token, repository=repository,
        force=force, dry_run=dry_run, generated_at=timeutil.iso(clock(args)),
    )
    document, plans = outcome.document, outcome.plans
    for warning in outcome.warnings:
        runner.warning(warning, title="batchops rollback")
    changed = [p for p in plans if p.changes_tree]
    conflicts = [p for p in plans if p.action == "conflict"]
    branch = branch_name(batch_id)
    outputs: dict[str, Any] = {"branch": "", "pr-url": "", "files-count": len(changed), "plan-file": str(plan_file)}
    notes: list[str] = []

    if conflicts:
        runner.warning(
            f"{len(conflicts)} file(s) changed after batch {batch_id} by other commits were left untouched: "
            + ", ".join(p.path for p in conflicts[:10])
            + ("" if len(conflicts) <= 10 else ", …")
            + ". Review them, or re-run with force: true to restore them anyway.",
            title="batchops rollback",
        )
    if not changed:
        if plans and all(p.action == "none" for p in plans):
            notes.append(f"Nothing to roll back: every file batch {batch_id} changed is already as it was before the batch.")
        elif not plans:
            notes.append(f"Nothing to roll back: batch {batch_id} changed no file under {', '.join(document['paths'])}.")
        else:
            notes.append("Nothing rolled back: every remaining file is a conflict.")
        runner.notice(notes[-1], title="batchops rollback")
    elif dry_run:
        notes.append(f"Dry run: nothing changed. Without dry-run, branch `{branch}` would get one commit changing {len(changed)} file(s).")
    else:
        local = f"refs/heads/{branch}" in outcome.existing_refs
        if local or f"refs/remotes/{remote}/{branch}" in outcome.existing_refs or remote_branch_exists(cwd, remote, branch):
            where = "locally" if local else f"on {remote}"
            raise BatchopsError(
                f"branch {branch} already exists {where}: batch {batch_id} already has a rollback in progress",
                hint=f"review and merge its pull request, or delete the branch (git push {remote} --delete {branch}; git branch -D {branch}) to start over",
            )
        commit = create_branch(cwd, outcome.base, branch, plans, commit_message(document, plans))
        push_branch(cwd, remote, branch, commit)
        outputs["branch"] = branch
        document["result"].update(branch=branch, commit=commit)
        title = f"Roll back batch {batch_id}"
        body = pr_body(document)
        if token and repository:
            outputs["pr-url"] = open_pull(token, repository, outcome.base.name, branch, title, body)
            document["result"]["pr_url"] = outputs["pr-url"]
            notes.append(f"Opened {outputs['pr-url']} from `{branch}` ({commit[:10]}).")
        else:
            body_file = plan_file.with_suffix(".pr-body.md")
            from batchops.adapters.files import write_atomic

            write_atomic(body_file, body)
            command = shlex.join([
                "gh", "pr", "create", *(["--repo", repository] if repository else []),
                "--base", outcome.base.name, "--head", branch, "--title", title, "--body-file", str(body_file),
            ])
            notes.append(f"Pushed `{branch}` ({commit[:10]}). No github-token: open the PR with\n\n```sh\n{command}\n```")
            runner.notice(f"pushed {branch}; open the pull request with: {command}", title="batchops rollback")

    _write_plan(plan_file, document)
    runner.set_outputs(outputs)
    markdown = render_markdown(document) + "\n" + "\n\n".join(notes) + "\n"
    runner.log_untrusted(markdown)
    runner.summary(markdown)
    return 0


def _write_plan(path: Path, document: dict[str, Any]) -> None:
    from batchops.adapters import schema
    from batchops.adapters.files import write_atomic

    schema.validate(document, "rollback-plan", file=str(path))
    write_atomic(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")


ROLLBACK = Command(
    help="remove or restore exactly what one batch shipped, on a new branch, and open a PR",
    configure=_configure,
    run=_run,
)
