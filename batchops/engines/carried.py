"""What a persist carries: the journaled files, the ``paths``, the operations other jobs posted.

* :func:`collect` finds the journaled files (and the control file) of this repository;
  :func:`stage` adds ``paths`` (files, folders, globs) to a temporary index as ``git add -A``
  would, and keeps the files that differ from HEAD (:class:`Carried`).
* :func:`rebuild` gives a journaled file's content on top of the remote's: its operations
  re-applied (:func:`batchops.core.persist.rebuild`), others' posts carried whole or not at all.
* Posted operations: while it retries, a job publishes its operations under
  ``refs/batchops/pending/<branch>/`` (:func:`post`); whichever job lands next carries them
  (:func:`carriable`) and deletes the post in the same atomic push.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchops.adapters import files, journal, schema
from batchops.adapters.git import Git, GitError
from batchops.core import control, escape
from batchops.core import persist as rules
from batchops.errors import BatchopsError, ControlFileError, OperationConflict, UsageError

HISTORY_DEPTH = 1000  # commits of the remote branch searched for operations that have landed
REMOTE = "origin"
# Posted operations: while it retries, a job publishes its operations under this
# prefix (one ref per job, per branch), so whichever job lands next carries them.
PENDING = "refs/batchops/pending"
SEEN_PENDING = "refs/batchops/seen-pending"
PENDING_MAX_AGE = 6 * 3600  # older posts (a job's longest run) are never carried, only cleaned up
SCRATCH_REF = "refs/batchops/persist"
_GLOB = re.compile(r"[*?\[]")

Version = tuple[str, str] | None  # (mode, object id) of a file without operations; None: absent


@dataclass
class Tracked:
    """One journaled repository file (or the control file): rebuilt from its operations."""

    path: str  # relative to the repository root, posix
    local: Path  # in the working tree
    operations: list[dict[str, Any]] = field(default_factory=list)
    schema_name: str | None = None

    @property
    def journaled(self) -> bool:
        return bool(self.operations)


@dataclass
class Carried:
    """A file this job changed without operations (``paths``, or the control file edited by hand)."""

    path: str
    local: Version  # as `git add` stages it
    base: Version  # in this checkout's HEAD


def _schema_for(path: str, entries: list[dict[str, Any]], control_path: str) -> str | None:
    for entry in reversed(entries):
        if entry.get("schema"):
            return str(entry["schema"])
    if path == control_path:
        return "batch-control"
    return schema.BY_FILENAME.get(Path(path).name)


def _repo_path(root: Path, name: str | Path) -> str | None:
    """``name`` (relative to the working directory) relative to the repository root, lexically; None: outside."""
    absolute = Path(os.path.normpath(Path.cwd().resolve() / name))
    try:
        relative = absolute.relative_to(root)
    except ValueError:
        try:
            relative = absolute.resolve().relative_to(root)
        except (ValueError, OSError):
            return None
    return relative.as_posix() if str(relative) != "." else ""


def collect(root: Path, control_file: str) -> tuple[list[Tracked], list[dict[str, Any]], str]:
    """The journaled files and the control file, the entries outside this repository, the control path."""
    control_path = _repo_path(root, control_file)
    if not control_path:
        raise UsageError(
            f"{control_file} is outside the git repository at {root}",
            field="control-file",
            hint="point control-file at the checked-out copy of the control file, e.g. registry/batch-control.json",
        )
    tracked: dict[str, Tracked] = {}
    skipped: list[dict[str, Any]] = []
    for entry in journal.read():
        path = _repo_path(root, entry["file"])
        if not path:
            skipped.append(entry)
            continue
        item = tracked.setdefault(path, Tracked(path, root / path))
        item.operations.append(entry)
    tracked.setdefault(control_path, Tracked(control_path, root / control_path))
    for item in tracked.values():
        item.schema_name = _schema_for(item.path, item.operations, control_path)
    return list(tracked.values()), skipped, control_path


def _pathspec(root: Path, name: str) -> str:
    """A ``paths`` entry as a pathspec from the repository root; a path it cannot use is a UsageError naming it."""
    where = repr(name)  # the field (paths) is named once, by the error
    relative = _repo_path(root, name)
    if relative is None:
        raise UsageError(
            f"{where} is outside the git repository at {root}",
            field="paths",
            hint="list files, folders or globs of the checked-out repository, e.g. data/failures/",
        )
    parts = relative.split("/")
    if ".git" in parts:
        raise UsageError(
            f"{where} is inside the repository's .git folder",
            field="paths",
            hint="list files of the working tree, e.g. data/metrics/",
        )
    if not _GLOB.search(relative):
        local = root / relative
        if local.is_symlink() or local.exists():
            if not (local.is_symlink() or local.is_file() or local.is_dir()):
                raise UsageError(
                    f"{where} is not a regular file, folder or symbolic link",
                    field="paths",
                    hint="list the files to commit, e.g. data/failures/",
                )
        if local.is_dir() and (local / ".git").exists() and relative:
            raise UsageError(
                f"{where} is another git repository (a submodule or nested checkout)",
                field="paths",
                hint="commit it in its own repository",
            )
    return ":(top)" + relative  # ":(top)" alone is the whole tree


def stage(
    git: Git, root: Path, names: list[str], skip: set[str], quiet: frozenset[str] = frozenset()
) -> tuple[list[Carried], list[str]]:
    """``git add -A`` of ``names`` into a temporary index: the files that differ from HEAD, and notes
    (a name that matches no file; not for the ``quiet`` names). A name git refuses is a UsageError naming it."""
    specs = {_pathspec(root, name): name for name in names}
    if not specs:
        return [], []
    head = git.text("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
    changes, unmatched, refused = git.staged_changes(head, list(specs))
    for spec, exc in refused:
        name = specs[spec]
        if "ignored by one of your .gitignore files" in exc.output:
            raise UsageError(
                f"{name!r} cannot be committed: it is ignored by .gitignore, so git add skips it",
                field="paths",
                hint=f"remove it from paths, or the .gitignore line that ignores it "
                f"(`git check-ignore -v {name}` names that line)",
            )
        raise UsageError(
            f"{name!r} cannot be committed: {escape.short_line(_git_words(exc.output))}",
            field="paths",
            hint="list files, folders or globs git can add (not ignored by .gitignore, readable), e.g. data/failures/",
        )
    for path, _, staged in changes:
        if staged is not None and staged[0] == "120000" and path not in skip:
            _refuse_escaping_link(root, path)
    notes = [
        f"paths: {specs[spec]!r} matches no file; nothing to commit for it"
        for spec in unmatched
        if specs[spec] not in quiet
    ]
    return [Carried(path, staged, base) for path, base, staged in changes if path not in skip], notes


def _git_words(output: str) -> str:
    """git's message without its ``hint:`` lines, its lines joined (a list of paths stays with its heading)."""
    lines = [
        line.strip() for line in output.splitlines() if line.strip() and not line.strip().lower().startswith("hint:")
    ]
    return " ".join(lines[:4]) or "(no message)"


def _refuse_escaping_link(root: Path, path: str) -> None:
    """A symbolic link whose target is outside the repository is refused: git would commit the link
    (not what it points to), but every later checkout that reads the folder follows it to that
    machine's file, and a link out of committed data is a mistake. Links inside the repository are kept."""
    try:
        target = os.readlink(root / path)
    except OSError:
        return  # gone meanwhile: git add has recorded what it saw
    resolved = os.path.normpath(os.path.join(root, os.path.dirname(path), target))
    if resolved == str(root) or resolved.startswith(str(root) + os.sep):
        return
    raise UsageError(
        f"{path!r} is a symbolic link to {target!r}, outside the repository; it is not committed",
        field="paths",
        hint=f"delete the link (rm {path}) or put the file itself there; "
        "a link to a file inside the repository is committed as a link",
    )


def read_local(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def landed_ids(git: Git, commit: str, since: str = "") -> dict[str, str]:
    """Operation id -> commit, from the trailers of the last HISTORY_DEPTH commits of ``commit``
    (only the commits after ``since`` when given)."""
    revisions = [f"{since}..{commit}"] if since else [f"-n{HISTORY_DEPTH}", commit]
    return rules.landed_ids(git.messages(*revisions))


# --- posted operations (carried by whichever job lands next) --------------------------------


@dataclass
class Posted:
    """Another job's operations, published while it retries."""

    ref: str  # on the remote
    posted_at: float
    operations: list[dict[str, Any]]


Group = tuple[Posted, list[dict[str, Any]]]  # a post and its operations still waiting to land


def post(git: Git, ref: str, entries: list[dict[str, Any]], ident: str, *, now: float) -> bool:
    """Publish this job's operations under ``ref`` (best effort: False when the remote refuses)."""
    body = json.dumps({"posted_at": now, "operations": entries}, separators=(",", ":")).encode("utf-8")
    message = "batchops: operations waiting to land [skip ci]"
    try:
        commit = git.fast_commit(
            "", {"operations.json": body}, message, ident, ref=f"{SCRATCH_REF}-post", when=int(now)
        )
        git.push(REMOTE, f"{commit}:{ref}")
    except GitError:
        return False
    return True


def _posted(git: Git, seen_prefix: str, remote_prefix: str, own: str) -> list[Posted]:
    """Operations other jobs posted for this branch (as fetched), oldest first."""
    listing = [ref for ref in git.refs(seen_prefix) if ref.replace(seen_prefix, remote_prefix, 1) != own]
    found: list[Posted] = []
    for ref, answer in zip(listing, git.read_objects([f"{ref}:operations.json" for ref in listing]), strict=True):
        if answer is None:
            continue
        try:
            data = schema.parse_json_text(answer[2].decode("utf-8"), ref)
            entries = list(data["operations"])
            if any(schema.problems(entry, "operation", file=ref) for entry in entries):
                continue  # not ours to judge: never carried, left alone
            found.append(Posted(ref.replace(seen_prefix, remote_prefix, 1), float(data["posted_at"]), entries))
        except (ValueError, KeyError, TypeError, RecursionError, BatchopsError):
            continue
    return sorted(found, key=lambda item: (item.posted_at, item.ref))


def carriable(
    git: Git, branch: str, own: str, landed: dict[str, str], journaled: list[Tracked], *, now: float
) -> tuple[dict[str, list[Group]], list[str]]:
    """Other jobs' posted operations (as fetched) this job can carry, by file; and posts to delete
    (landed or stale)."""
    paths = {item.path for item in journaled}
    by_path: dict[str, list[Group]] = {}
    cleanup: list[str] = []
    for posted in _posted(git, f"{SEEN_PENDING}/{branch}/", f"{PENDING}/{branch}/", own):
        waiting = [entry for entry in posted.operations if entry.get("id") not in landed]
        if not waiting or now - posted.posted_at > PENDING_MAX_AGE:
            cleanup.append(posted.ref)
            continue
        names = {entry.get("file") for entry in waiting}
        if len(names) == 1 and (path := names.pop()) in paths:
            by_path.setdefault(str(path), []).append((posted, waiting))
    return by_path, cleanup


def _parse_remote(item: Tracked, text: bytes, label: str) -> Any:
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        raise ControlFileError(
            "is not UTF-8 text", file=label, hint="restore the file on the branch; nothing was pushed"
        ) from None
    try:
        document = schema.parse_json_text(decoded, label)
        if item.schema_name:
            schema.validate(document, item.schema_name, file=label, text=decoded)
    except BatchopsError as exc:
        raise ControlFileError(
            f"the remote's copy is corrupt: {exc.message}",
            file=label,
            line=exc.line,
            hint=f"fix it on the branch (`batchops validate {item.path}` shows every problem), then re-run the job; "
            "nothing was pushed and this job's operations are kept in its journal",
        ) from None
    return document


def _problems(item: Tracked) -> rules.Problems:
    def check(document: Any) -> list[str]:
        if not item.schema_name:
            return []
        return [f"{p.pointer or '/'}: {p.message}" for p in schema.problems(document, item.schema_name, file=item.path)]

    return check


def rebuild(
    item: Tracked,
    remote: bytes | None,
    base: bytes | None,
    landed: set[str] | dict[str, str],
    where: str,
    others: list[tuple[Posted, list[dict[str, Any]]]] | None = None,
    carried: list[tuple[Posted, list[dict[str, Any]]]] | None = None,
) -> bytes | None:
    """The file's content to commit on top of the remote head (None: absent).

    ``others``: operations other jobs posted for this file; each job's set is
    applied whole after this job's own, or left out whole when it does not apply
    (its own job then reports why). What was applied is appended to ``carried``.
    """
    if not item.journaled:  # the control file without operations: as it is, when only this job changed it
        return rules.three_way(item.path, read_local(item.local), base, remote)
    pending = [entry for entry in item.operations if entry["id"] not in landed]
    if remote is None:
        if base is not None:
            raise OperationConflict(
                f"{item.path} was deleted on the remote; this job's operations on it cannot be re-applied",
                file=item.path,
                hint="restore the file on the branch or drop the operations (delete the job's journal), then re-run",
            )
        return read_local(item.local)  # a file this job created
    if not pending:
        return remote
    document = _parse_remote(item, remote, f"{item.path} (remote {where})")
    after, applied = rules.rebuild(item.path, document, pending, others or [], _problems(item))
    if carried is not None:
        carried.extend(applied)
    if after == document:
        return remote
    return control.dumps(after).encode("utf-8")


def sync_checkout(
    git: Git,
    head: str,
    branch: str,
    tracked: list[Tracked],
    extra_files: list[Carried],
    contents: dict[str, bytes | None],
    commit: str,
    log: Callable[[str], None],
) -> None:
    """Bring the checkout (at ``head``) up to the pushed ``commit``: fast-forward it when it can,
    else write the journaled files as pushed."""
    current = git.current_branch()
    moved = reverted = False
    if head and (current == branch or not current) and head != commit and git.is_ancestor(head, commit):
        # fast-forward the checkout: put the carried files back to HEAD's version, then move
        in_head_tracked = set(git.tree_entries(head, [item.path for item in tracked]))
        in_head = [item.path for item in tracked if item.path in in_head_tracked]
        in_head += [extra.path for extra in extra_files if extra.base is not None]
        git.checkout_paths(head, in_head)
        for item in tracked:
            if item.path not in in_head and item.local.exists() and contents.get(item.path) is not None:
                item.local.unlink()
        for extra in extra_files:
            local = git.root / extra.path
            if extra.base is None and (local.exists() or local.is_symlink()):
                local.unlink()
        reverted = True
        moved = git.reset_keep(commit)
        if not moved:
            log(
                f"the checkout could not be moved to {commit[:12]} (local changes in the way); "
                "run `git pull` before committing"
            )
    elif head and current == branch and head != commit and not git.is_ancestor(head, commit):
        log(
            f"your branch {escape.short_line(branch)} has commits that are not on {REMOTE}; "
            "they were not pushed by persist-with-retry"
        )
    if not moved:
        for item in tracked:
            content = contents.get(item.path)
            if content is not None and read_local(item.local) != content:
                files.write_atomic(item.local, content)
        if reverted:  # the carried files as pushed (they may have been put back to HEAD's version above)
            git.checkout_paths(commit, sorted(git.tree_entries(commit, [extra.path for extra in extra_files])))
