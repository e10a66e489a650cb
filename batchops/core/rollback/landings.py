"""The selection (what can say where a batch landed) and its landings on the first-parent line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from batchops.core.rollback.gitlog import Change, Commit, MainCommit, Ref
from batchops.core.rollback.ids import Selector, pr_number_in_subject


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
            result.setdefault(path, []).append(
                Target(blob, commit.sha, commit.time, tuple(sorted(set(pulls_of.get(commit.sha, [])))))
            )
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
    time: int = 0  # committer time of the landing (seconds since the epoch)


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
        landing = Landing(commit.sha, "commit", commit.subject, time=commit.time)
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
