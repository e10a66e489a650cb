"""Rollback planning: what one batch (or one PR, or one commit) shipped, and what each file becomes.

Pure: the git history comes in as parsed values (see :mod:`batchops.adapters.history`);
nothing here reads git, the network, the clock or the environment.

How a batch is traced (the first user's batches reach the base branch as squash merges
that carry neither the ``batch_id:`` line nor, often, a ``(#N)``):

* **sources**: the batch's own commits, found by the exact line ``batch_id: ID`` (a fixed
  string on a line of its own, never a prefix or a regex) on the base branch and on the
  other refs of the checkout (PR refs ``refs/remotes/origin/pull/*/head``,
  ``refs/pull/*/head``, branches). Each sets some files to some content.
* **carriers**: the tips of refs that carry a source commit (a PR's head with hand fixes
  on top); the content a batch file has at such a tip counts as the batch's content too.
* a **landing** of the batch for a file is a first-parent commit of the base branch that
  sets the file to one of those contents (not earlier than the commit the content comes
  from), or a merge on the first-parent line whose merged side holds a source commit
  touching the file. ``(#N)`` in a landing's subject, a carrier PR ref, or the GitHub API
  name the pull request; a carrier PR whose merge shipped none of the batch's files is
  reported, never acted on.

Per file, the content before the batch is the one in the first parent of its first
landing, the batch's content the one its last landing left. Compared with the base tip:
``remove`` (the batch added it), ``restore`` (modified or deleted it), ``conflict``
(changed since by a commit not of the batch: left untouched unless ``force``) or ``none``
(already as before the batch).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from batchops.errors import BatchopsError, UsageError

BATCH_KEY = "batch_id"
ROLLBACK_KEY = "rollback-of"
BRANCH_PREFIX = "rollback-"
DEFAULT_PATHS = ["recipes/"]
ZERO = "0" * 40

# the batch-id rule of schemas/defs.schema.json (a test holds the two together)
BATCH_ID_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(-[A-Za-z0-9._][A-Za-z0-9._-]{0,99})?")
_ID_CHARS = re.compile(r"[A-Za-z0-9._-]")
SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_PR_SUBJECT = re.compile(r"\(#([0-9]{1,9})\)\s*$")
_PR_MERGE = re.compile(r"^Merge pull request #([0-9]{1,9}) from ")

# --- selectors ---------------------------------------------------------------------------


def validate_batch_id(value: Any, *, field: str = "batch-id") -> str:
    """The batch id, or a UsageError saying exactly what is wrong with it."""
    text = value if isinstance(value, str) else ""
    example = "write it as YYYY-MM-DD or YYYY-MM-DD-token, e.g. 2026-05-01 or 2026-05-01-npm"
    if not text.strip():
        raise UsageError("is empty", field=field, hint="pass the batch id to roll back; " + example)
    if any(char.isspace() for char in text):
        what = "a newline" if any(c in text for c in "\n\r\x85\u2028\u2029") else "whitespace"
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
    if len(text) > 110 or not BATCH_ID_PATTERN.fullmatch(text):
        raise UsageError(f"{text!r} is not a batch id", field=field, hint=example)
    try:
        date.fromisoformat(text[:10])
    except ValueError:
        raise UsageError(f"{text!r} does not start with a real date", field=field, hint=example) from None
    return text


def validate_pr(value: Any, *, field: str = "pr") -> int:
    text = str(value if value is not None else "").strip().removeprefix("#")
    if not text.isascii() or not text.isdigit() or not 0 < len(text) <= 9 or int(text) < 1:
        raise UsageError(f"{value!r} is not a pull request number", field=field, hint="pass the number, e.g. 2174 or #2174")
    return int(text)


def validate_commit(value: Any, *, field: str = "commit") -> str:
    text = str(value if value is not None else "").strip()
    if not re.fullmatch(r"[0-9a-fA-F]{4,64}", text):
        raise UsageError(
            f"{value!r} is not a commit id", field=field,
            hint="pass a commit of the base branch as hex, e.g. 1e5f0710b or the full 40-character id",
        )
    return text.lower()


@dataclass(frozen=True)
class Selector:
    """What to roll back: one batch id, one pull request, or one commit of the base branch."""

    kind: str  # batch-id | pr | commit
    value: str

    @property
    def label(self) -> str:
        return {"batch-id": f"batch {self.value}", "pr": f"PR #{self.value}", "commit": f"commit {self.value[:12]}"}[self.kind]

    @property
    def slug(self) -> str:
        """The part of names (branch, plan file) that says what is rolled back."""
        return {"batch-id": f"batch-{self.value}", "pr": f"pr-{self.value}", "commit": f"commit-{self.value[:12]}"}[self.kind]


def choose_selector(batch_id: str, pr: str, commit: str) -> Selector:
    """Exactly one of batch-id, pr, commit."""
    given = [(name, value.strip()) for name, value in (("batch-id", batch_id), ("pr", pr), ("commit", commit)) if (value or "").strip()]
    if not given:
        raise UsageError(
            "is empty, and neither pr nor commit is given: nothing to roll back", field="batch-id",
            hint="pass batch-id as YYYY-MM-DD or YYYY-MM-DD-token (e.g. 2026-05-01-npm), or pr (e.g. 2174), or commit (a commit of the base branch)",
        )
    if len(given) > 1:
        raise UsageError(
            f"{' and '.join(name for name, _ in given)} given together", field=given[1][0],
            hint="pass exactly one of batch-id, pr, commit",
        )
    name, value = given[0]
    if name == "batch-id":
        return Selector(name, validate_batch_id(value))
    if name == "pr":
        return Selector(name, str(validate_pr(value)))
    return Selector(name, validate_commit(value))


def batch_line(batch_id: str) -> str:
    """The trailer line that marks a commit (or a PR body, hence its squash) as part of a batch."""
    return f"{BATCH_KEY}: {batch_id}"


def has_line(message: bytes | str, line: str) -> bool:
    """True when a line of ``message`` is exactly ``line`` (surrounding spaces and tabs ignored).

    Lines as git reads them: split on ``\n`` only (a ``\r`` before it dropped), so a
    U+2028, U+0085 or ``\x1c`` inside a PR body or a commit message cannot make a batch
    line that git does not see; bytes and text give the same answer.
    """
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    if line not in text:
        return False
    return any(part.removesuffix("\r").strip(" \t") == line for part in text.split("\n"))


def message_names_batch(message: bytes | str, batch_id: str) -> bool:
    return has_line(message, batch_line(batch_id))


def branch_name(selector: Selector) -> str:
    return BRANCH_PREFIX + selector.slug


def pr_number_in_subject(subject: str) -> int | None:
    """``(#N)`` at the end of a squash subject, or GitHub's ``Merge pull request #N from``."""
    match = _PR_SUBJECT.search(subject) or _PR_MERGE.match(subject)
    return int(match[1]) if match else None


# --- paths -----------------------------------------------------------------------------


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


def quote_path(path: str) -> str:
    """A path on one line: control characters, quotes and backslashes escaped as git does."""
    if path.isprintable() and '"' not in path and "\\" not in path:
        return path
    out = []
    for char in path:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif not char.isprintable():
            out.append("".join(f"\\{byte:03o}" for byte in char.encode("utf-8", "surrogateescape")))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


# --- what git tells (parsed values) -----------------------------------------------------


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


_MERGE_REF = re.compile(r"^refs/(?:remotes/[^/]+/)?pull/[0-9]{1,9}/merge$")


def is_test_merge_ref(name: str) -> bool:
    return bool(_MERGE_REF.match(name))


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


# --- the selection and its landings --------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One content the selection gives a file: the blob (None = deleted), where it comes from."""

    blob: str | None
    origin: str  # source commit id, or the ref name of a carrier tip
    time: int  # committer time of the commit the content comes from
    pulls: tuple[int, ...] = ()  # PR refs that carry it


@dataclass
class Selection:
    """Everything that can say where the selection landed (filled by the adapters)."""

    selector: Selector
    sources: list[Commit] = field(default_factory=list)  # commits carrying the selection (batch line / PR commits)
    in_base: set[str] = field(default_factory=set)  # sources reachable from the base tip
    carriers: dict[str, list[str]] = field(default_factory=dict)  # ref name -> source commits it carries
    refs: dict[str, Ref] = field(default_factory=dict)
    diffs: dict[str, dict[str, Change]] = field(default_factory=dict)  # source / direct landing -> first-parent diff
    tips: dict[tuple[str, str], str | None] = field(default_factory=dict)  # (ref, path) -> blob at the tip
    direct: dict[str, str] = field(default_factory=dict)  # mainline commit -> why all its files count
    side_landings: dict[str, str] = field(default_factory=dict)  # merged-side source -> the mainline merge holding it
    rollbacks: list[str] = field(default_factory=list)  # commits with `rollback-of: <value>`
    pr_names: dict[str, list[int]] = field(default_factory=dict)  # mainline commit -> PR numbers (API, subject)
    pr_urls: dict[int, str] = field(default_factory=dict)
    refs_searched: int = 0
    searched: list[str] = field(default_factory=list)  # recipe names whose dependents are looked up
    search: Any = None  # the adapters' pending lookup of those dependents


def targets(selection: Selection) -> dict[str, list[Target]]:
    """Per file, every content the selection gives it (source commits first, then carrier tips)."""
    result: dict[str, list[Target]] = {}
    times = {c.sha: c.time for c in selection.sources}
    pulls_of: dict[str, list[int]] = {}
    for ref, carried in selection.carriers.items():
        number = selection.refs[ref].pr if ref in selection.refs else None
        for sha in carried:
            if number is not None:
                pulls_of.setdefault(sha, []).append(number)
    for commit in selection.sources:
        for path, change in selection.diffs.get(commit.sha, {}).items():
            blob = change.new.blob if change.new else None
            result.setdefault(path, []).append(Target(blob, commit.sha, commit.time, tuple(sorted(set(pulls_of.get(commit.sha, []))))))
    for ref, carried in selection.carriers.items():
        if not carried:
            continue
        number = selection.refs[ref].pr if ref in selection.refs else None
        earliest = min((times.get(sha, 0) for sha in carried), default=0)
        paths = {p for sha in carried for p in selection.diffs.get(sha, {})}
        for path in sorted(paths):
            key = (ref, path)
            if key not in selection.tips:
                continue
            blob = selection.tips[key]
            if any(t.blob == blob and t.origin in carried for t in result.get(path, ())):
                continue  # the tip still has the commit's content
            result.setdefault(path, []).append(Target(blob, ref, earliest, (number,) if number else ()))
    return result


def interesting_paths(selection: Selection) -> list[str]:
    paths = {p for commit in selection.sources for p in selection.diffs.get(commit.sha, {})}
    for sha in selection.direct:
        paths.update(selection.diffs.get(sha, {}))
    return sorted(paths)


@dataclass
class Landing:
    """A first-parent commit of the base branch that shipped (part of) the selection."""

    sha: str
    kind: str  # commit | merge | squash | pull-request
    subject: str = ""
    files: list[str] = field(default_factory=list)
    batch_commits: list[str] = field(default_factory=list)  # source commits whose content it shipped
    pull_requests: list[int] = field(default_factory=list)  # confirmed: (#N), API, a PR ref's own merge
    candidates: list[int] = field(default_factory=list)  # PR refs carrying the content when unconfirmed
    alike: list[int] = field(default_factory=list)  # other PR refs with part of that content (retries), not credited
    pull_request_urls: list[str] = field(default_factory=list)


def find_landings(selection: Selection, mainline: Sequence[MainCommit]) -> list[Landing]:
    """Landings, oldest first. ``mainline`` is the path-limited first-parent log, newest first."""
    content = targets(selection)
    source_ids = {c.sha for c in selection.sources}
    rollback_ids = set(selection.rollbacks)
    side: dict[str, set[str]] = {}
    for sha, merge in selection.side_landings.items():
        side.setdefault(merge, set()).update(selection.diffs.get(sha, {}))
    side_sources: dict[str, list[str]] = {}
    for sha, merge in selection.side_landings.items():
        side_sources.setdefault(merge, []).append(sha)
    landings: list[Landing] = []
    for commit in reversed(mainline):
        if commit.sha in rollback_ids:
            continue
        landing = Landing(commit.sha, "commit", commit.subject)
        origins: list[str] = []
        carriers: set[int] = set()
        per_file: list[set[int]] = []  # per file it shipped, the PR refs whose content it is
        deletions: list[str] = []
        for path, change in sorted(commit.changes.items()):
            blob = change.new.blob if change.new else None
            hit = False
            if commit.sha in selection.direct or commit.sha in source_ids:
                hit = True
            elif path in side.get(commit.sha, ()):
                hit = True
            else:
                matched: set[int] = set()
                for target in content.get(path, ()):
                    if target.blob == blob and commit.time >= target.time:
                        hit = True
                        if target.origin in source_ids:
                            origins.append(target.origin)
                        matched.update(target.pulls)
                carriers |= matched
                if matched and blob is not None:
                    per_file.append(matched)
                if hit and blob is None:
                    deletions.append(path)  # a deletion alone proves nothing: kept only beside content
                    continue
            if hit:
                landing.files.append(path)
        if not landing.files:
            continue
        landing.files = sorted(landing.files + deletions)
        if commit.sha in source_ids:
            landing.kind = "commit"
            origins.insert(0, commit.sha)
        elif commit.sha in selection.direct:
            landing.kind = selection.direct[commit.sha]
        elif commit.sha in side:
            landing.kind = "merge"
            origins = side_sources[commit.sha] + origins
        else:
            landing.kind = "squash"
        landing.batch_commits = list(dict.fromkeys(origins))
        named = list(selection.pr_names.get(commit.sha, []))
        number = pr_number_in_subject(commit.subject)
        if number is not None and number not in named:
            named.append(number)
        landing.pull_requests = sorted(set(named))
        if not landing.pull_requests:
            # retries of one batch carry the same recipes: the PRs whose content is in every file it shipped
            common = set.intersection(*per_file) if per_file else set()
            landing.candidates = sorted(common or carriers)
            landing.alike = sorted(carriers - set(landing.candidates))
            if len(landing.candidates) == 1:
                landing.pull_requests, landing.candidates = landing.candidates, []
        landing.pull_request_urls = [selection.pr_urls[n] for n in landing.pull_requests if n in selection.pr_urls]
        landings.append(landing)
    return landings


# --- files -----------------------------------------------------------------------------------


@dataclass
class FileChange:
    """What the selection did to one file, across its landings, and what happened since."""

    path: str
    landings: list[str]
    before: Entry | None  # before its first landing
    after: Entry | None  # what its last landing left
    restore_from: str | None
    current: Entry | None  # at the base tip
    interleaved: bool = False
    later: list[tuple[str, str]] = field(default_factory=list)  # (sha, subject) of other commits after the first landing


def file_changes(
    landings: Sequence[Landing], mainline: Sequence[MainCommit], paths: Sequence[str]
) -> tuple[dict[str, FileChange], list[str]]:
    """Files landed under ``paths`` (with their history since), and those landed outside them."""
    landed: dict[str, set[str]] = {}
    for landing in landings:
        for path in landing.files:
            landed.setdefault(path, set()).add(landing.sha)
    files: dict[str, FileChange] = {}
    outside: set[str] = set()
    for commit in reversed(mainline):  # oldest first
        for path, change in commit.changes.items():
            if path not in landed:
                continue
            if not under(path, paths):
                outside.add(path)
                continue
            record = files.get(path)
            is_landing = commit.sha in landed[path]
            if record is None:
                if not is_landing:
                    continue  # before the selection: not its business
                files[path] = FileChange(path, [commit.sha], change.old, change.new, commit.first_parent, change.new)
                continue
            record.current = change.new
            if is_landing:
                if record.later:
                    record.interleaved = True
                record.landings.append(commit.sha)
                record.after = change.new
            else:
                record.later.append((commit.sha, commit.subject))
    return files, sorted(outside)


@dataclass
class FilePlan:
    path: str
    action: str  # remove | restore | conflict | none
    commits: list[str]
    restore_from: str | None
    target: Entry | None  # what the file becomes (None = absent)
    later_commits: list[dict[str, str]] = field(default_factory=list)
    forced: bool = False
    note: str = ""

    @property
    def changes_tree(self) -> bool:
        return self.action in ("remove", "restore")


def changed_since(change: FileChange) -> bool:
    return change.interleaved or change.current != change.after


def decide(files: Mapping[str, FileChange], *, force: bool = False, what: str = "the batch") -> list[FilePlan]:
    """The action for every file the selection shipped."""
    plans: list[FilePlan] = []
    for path in sorted(files):
        change = files[path]
        target = change.before
        plan = FilePlan(path, "none", list(change.landings), change.restore_from if target is not None else None, target)
        now = change.current
        if change.before == change.after and not change.interleaved:
            plan.note = f"{what} left it as it found it"
        elif now == target:
            plan.note = f"already as before {what} (rolled back earlier?)"
        else:
            wanted = "remove" if target is None else "restore"
            if changed_since(change):
                plan.later_commits = [{"sha": sha, "subject": subject} for sha, subject in change.later[:20]]
                if force:
                    plan.action, plan.forced = wanted, True
                    plan.note = f"changed after {what}; overwritten because of force"
                else:
                    plan.action = "conflict"
                    plan.note = f"changed after {what} by a commit not of it; left untouched (force restores it anyway)"
            else:
                plan.action = wanted
                plan.note = f"added by {what}" if target is None else (
                    f"deleted by {what}" if change.after is None else f"modified by {what}"
                )
        plans.append(plan)
    return plans


def counts(plans: Iterable[FilePlan]) -> dict[str, int]:
    tally = {"remove": 0, "restore": 0, "conflict": 0, "none": 0}
    for plan in plans:
        tally[plan.action] += 1
    return tally


# --- reports ------------------------------------------------------------------------------------


def carrier_prs(selection: Selection) -> list[int]:
    """Numbers of the PR refs that carry commits of the selection."""
    numbers = set()
    for ref, carried in selection.carriers.items():
        number = selection.refs[ref].pr if ref in selection.refs else None
        if carried and number is not None:
            numbers.add(number)
    return sorted(numbers)


def unshipped_carriers(selection: Selection, landings: Sequence[Landing], merges: Mapping[int, str]) -> list[dict[str, Any]]:
    """PR refs carrying the selection's commits whose merge shipped none of its files (reported only)."""
    credited = {n for landing in landings for n in (*landing.pull_requests, *landing.candidates)}
    landing_ids = {landing.sha for landing in landings}
    alike = {n: landing for landing in reversed(landings) for n in landing.alike}
    reported = []
    for number in carrier_prs(selection):
        if number in credited:
            continue
        merge = merges.get(number, "")
        if merge and merge in landing_ids:
            continue
        if number in alike and not merge:
            landing = alike[number]
            shipped_as = ", ".join(f"#{n}" for n in (landing.pull_requests or landing.candidates))
            note = (
                f"PR #{number} carries commits of {selection.selector.label} with part of the content that "
                f"{landing.sha[:12]} shipped{' (as PR ' + shipped_as + ')' if shipped_as else ''}, but not all of it: "
                "another attempt, not merged itself; not acted on"
            )
        elif merge:
            note = f"PR #{number} carries commits of {selection.selector.label}, but its merge {merge[:12]} shipped none of its files; not acted on"
        else:
            note = f"PR #{number} carries commits of {selection.selector.label}; no commit of the base branch shipped their content (not merged, or merged without them); not acted on"
        reported.append({"pull_request": number, "merge_commit": merge, "note": note})
    return reported


def recipe_name(path: str, document: Mapping[str, Any] | None = None) -> str:
    meta = document.get("metadata") if isinstance(document, Mapping) else None
    if isinstance(meta, Mapping) and isinstance(meta.get("name"), str) and meta["name"].strip():
        return meta["name"].strip()
    stem = path.rsplit("/", 1)[-1]
    return stem[:-5] if stem.endswith(".toml") else stem


def recipe_dependencies(text: str) -> set[str] | None:
    """Names a recipe depends on (``dependencies`` / ``runtime_dependencies``, top level,
    ``[metadata]`` or any step), or None when it is not TOML."""
    try:
        document = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return None
    names: set[str] = set()

    def collect(table: Any) -> None:
        if not isinstance(table, Mapping):
            return
        for key in ("dependencies", "runtime_dependencies"):
            value = table.get(key)
            if isinstance(value, list):
                names.update(v.strip() for v in value if isinstance(v, str) and v.strip())

    collect(document)
    collect(document.get("metadata"))
    steps = document.get("steps")
    if isinstance(steps, list):
        for step in steps:
            collect(step)
    return names


def parse_recipe(path: str, text: str) -> tuple[str, set[str]]:
    try:
        document = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return recipe_name(path), set()
    return recipe_name(path, document), recipe_dependencies(text) or set()


def dependents(removed: Mapping[str, str], recipes: Mapping[str, str], leaving: Iterable[str]) -> list[dict[str, Any]]:
    """Recipes outside the rollback that depend on a recipe it removes.

    ``removed``: path -> recipe name of every recipe the plan removes; ``recipes``:
    path -> text of recipes at the base tip that may depend on them; ``leaving``: paths the
    plan removes (they do not count as dependents)."""
    gone = set(leaving)
    by_name: dict[str, list[str]] = {}
    for path, name in removed.items():
        by_name.setdefault(name, []).append(path)
    found = []
    for path in sorted(recipes):
        if path in gone:
            continue
        name, needs = parse_recipe(path, recipes[path])
        broken = sorted(needs & set(by_name))
        if broken:
            found.append({"path": path, "recipe": name, "depends_on": broken})
    return found


def plan_document(
    *,
    selection: Selection,
    base_branch: str,
    base_sha: str,
    paths: Sequence[str],
    landings: Sequence[Landing],
    plans: Sequence[FilePlan],
    outside: Sequence[str],
    reported: Sequence[Mapping[str, Any]],
    dependents_found: Sequence[Mapping[str, Any]],
    dry_run: bool,
    force: bool,
    generated_at: str,
) -> dict[str, Any]:
    """The plan as JSON (schemas/rollback-plan.schema.json)."""
    selector = selection.selector
    return {
        "version": 1,
        "batch_id": selector.value if selector.kind == "batch-id" else "",
        "selector": {"kind": selector.kind, "value": selector.value},
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
                "subject": landing.subject,
                "files": list(landing.files),
                "batch_commits": list(landing.batch_commits),
                "pull_requests": list(landing.pull_requests),
                "candidate_pull_requests": list(landing.candidates),
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
        "not_acted_on": [dict(item) for item in reported],
        "dependents": [dict(item) for item in dependents_found],
        "rolled_back_by": list(selection.rollbacks),
        "result": {"branch": "", "commit": "", "pr_url": ""},
    }


def commit_message(document: Mapping[str, Any], plans: Sequence[FilePlan]) -> str:
    """The rollback commit's message: one line per file (paths quoted), ``rollback-of:`` last."""
    selector = document["selector"]
    label = Selector(selector["kind"], selector["value"]).label
    changed = [p for p in plans if p.changes_tree]
    lines = [f"Roll back {label}", "", f"Removes or restores {len(changed)} file(s) that {label} shipped:", ""]
    lines += [f"- {plan.action} {quote_path(plan.path)}" + (" (forced)" if plan.forced else "") for plan in changed]
    conflicts = [p for p in plans if p.action == "conflict"]
    if conflicts:
        lines += ["", "Left untouched (changed after it shipped):", ""]
        lines += [f"- {quote_path(p.path)}" for p in conflicts]
    lines += ["", f"{ROLLBACK_KEY}: {selector['value']}", ""]
    text = "\n".join(lines)
    if any(line.strip().startswith(BATCH_KEY + ":") for line in text.splitlines()):  # cannot happen: paths are quoted
        raise BatchopsError("the rollback commit message would carry a batch_id line", hint="report this with the plan file")
    return text


def not_found_message(selection: Selection, base_branch: str, *, token: bool, elsewhere: Sequence[str]) -> tuple[str, str]:
    """The truth when nothing landed: (message, hint)."""
    selector = selection.selector
    fetch = "git fetch origin '+refs/pull/*/head:refs/remotes/origin/pull/*/head'"
    if selector.kind == "batch-id":
        line = batch_line(selector.value)
        if not selection.sources:
            message = f"batch {selector.value} not found in the history of {base_branch}: no commit there nor on {selection.refs_searched} other ref(s) (PR refs and branches) has the line `{line}`"
            if token:
                message += ", and no merged pull request's commits carry it"
            hint = "check the batch id and the base-branch; if the batch came through pull requests, fetch their refs first: " + fetch
            if not token:
                hint += " (or pass github-token so merged PRs are looked up)"
            return message, hint
        where = ", ".join(elsewhere[:8]) + (" …" if len(elsewhere) > 8 else "")
        files = len(interesting_paths(selection))
        message = (
            f"batch {selector.value} never reached {base_branch}: its {len(selection.sources)} commit(s) are only on "
            f"{where or 'refs outside the base branch'}, and no first-parent commit of {base_branch} sets any of its "
            f"{files} file(s) to the content the batch gave them (an unmerged batch shipped nothing)"
        )
        return message, "check the base-branch; nothing needs rolling back if the batch was never merged"
    if selector.kind == "pr":
        message = f"PR #{selector.value}: no merge of it found on {base_branch}"
        if elsewhere:
            message += (
                f": its ref {', '.join(elsewhere[:4])} is in the checkout, and no first-parent commit of {base_branch} "
                "ships its change as a whole (it was not merged, or another PR shipped part of the same content)"
            )
            return message, "check the number; pass github-token so the API tells whether and where it was merged"
        hint = f"fetch the PR refs ({fetch}) or pass github-token so the merge commit can be looked up"
        return message, hint
    return f"commit {selector.value} shipped nothing under the paths on {base_branch}", "check the commit and the paths"
