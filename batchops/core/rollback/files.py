"""Per file: what the landings did, what happened since, and the action (remove, restore, conflict, none)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from batchops.core.rollback.gitlog import Entry, MainCommit
from batchops.core.rollback.ids import under
from batchops.core.rollback.landings import Landing


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
    later: list[tuple[str, str]] = field(
        default_factory=list
    )  # (sha, subject) of other commits after the first landing


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
        plan = FilePlan(
            path, "none", list(change.landings), change.restore_from if target is not None else None, target
        )
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
                plan.note = (
                    f"added by {what}"
                    if target is None
                    else (f"deleted by {what}" if change.after is None else f"modified by {what}")
                )
        plans.append(plan)
    return plans


def counts(plans: Iterable[FilePlan]) -> dict[str, int]:
    tally = {"remove": 0, "restore": 0, "conflict": 0, "none": 0}
    for plan in plans:
        tally[plan.action] += 1
    return tally
