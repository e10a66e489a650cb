"""The batches that shipped: each batch id found in the history (and on PR refs) with its landings.

Typed options in, a typed :class:`Listing` out. One walk of the base branch and every other ref
finds the ``batch_id:`` lines; each batch is then traced as a rollback plans it (content and PR
refs, offline; with a token, confirmed through the GitHub API, which degrades as the rollback's
does). :func:`pull_refs_of` finds the PR refs a batch needs (the refs whose head carries its id)
without fetching every ``refs/pull/*``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from batchops.adapters import commitgraph, history
from batchops.core import rollback as core
from batchops.engines import rollback as rollback_engine
from batchops.engines.rollback_trace import other_refs
from batchops.errors import BatchopsError, UsageError

_BATCH_LINE = re.compile(r"^[ \t]*batch_id:[ \t]*(\S+)[ \t]*\r?$", re.MULTILINE)
SCAN_CHUNK = 50  # PR heads read per round when their refs are looked for without a token


@dataclass(frozen=True)
class Options:
    cwd: Path
    since: datetime | None = None  # only batches with a commit at or after this time
    ecosystem: str = ""
    base_branch: str = ""
    token: str = ""
    repository: str = ""
    remote: str = "origin"


@dataclass
class Shipped:
    """One landing of a batch: the base-branch commit, its PRs, when, which files."""

    sha: str
    kind: str
    date: str
    subject: str
    pull_requests: list[int]
    candidate_pull_requests: list[int]
    files: list[str]


@dataclass
class Batch:
    batch_id: str
    ecosystem: str
    landings: list[Shipped]
    unconfirmed: list[str] = field(default_factory=list)  # landings GitHub could not confirm (it was down)


@dataclass
class Listing:
    base_branch: str
    batches: list[Batch]
    not_shipped: list[str]  # ids found in commits that reached no landing
    github: str = ""  # '' | 'confirmed' | why GitHub could not be used


def ecosystem_of(batch_id: str) -> str:
    """The token after the date (``2026-02-03-homebrew`` -> ``homebrew``), '' for a bare date."""
    return batch_id[11:] if len(batch_id) > 11 else ""


def matches(batch_id: str, ecosystem: str) -> bool:
    token = ecosystem_of(batch_id)
    return not ecosystem or token == ecosystem or token.startswith(ecosystem + "-")


def batch_ids(graph: commitgraph.Graph, since: datetime | None) -> list[str]:
    """Every valid batch id on a ``batch_id:`` line of a commit at or after ``since``, newest first."""
    cutoff = int(since.timestamp()) if since else 0
    found: dict[str, int] = {}
    for commit in graph.with_text(["batch_id:"]):
        if commit.time < cutoff:
            continue
        for value in _BATCH_LINE.findall(commit.message):
            try:
                batch_id = core.validate_batch_id(value)
            except UsageError:
                continue
            found[batch_id] = max(found.get(batch_id, 0), commit.time)
    return sorted(found, key=lambda batch_id: (found[batch_id], batch_id), reverse=True)


def list_batches(options: Options) -> Listing:
    """The batches that shipped, newest first, each with its landings."""
    refs = history.list_refs(options.cwd)
    base = history.resolve_base(options.cwd, options.base_branch, refs)
    history.check_not_shallow(options.cwd)
    tips = sorted({r.sha for r in other_refs(refs, base)})
    graph = commitgraph.read(commitgraph.start(options.cwd, [base.sha, *tips]), base.sha)
    listing = Listing(base.name, [], [])
    down = ""
    for batch_id in batch_ids(graph, options.since):
        if not matches(batch_id, options.ecosystem):
            continue
        wanted = rollback_engine.Options(
            options.cwd,
            core.Selector("batch-id", batch_id),
            base_branch=base.name,
            token="" if down else options.token,
            repository=options.repository,
            remote=options.remote,
            dependents=False,
        )
        try:
            outcome = rollback_engine.plan(wanted, graph=graph)
        except BatchopsError:
            listing.not_shipped.append(batch_id)
            continue
        github = outcome.document.get("github")
        if github and not github["available"]:
            down = down or github["error"]
        listing.batches.append(_batch(batch_id, outcome.document))
    if options.token and options.repository:
        listing.github = f"unavailable: {down}" if down else "confirmed"
    return listing


def _batch(batch_id: str, document: dict) -> Batch:  # type: ignore[type-arg]
    landings = [
        Shipped(
            item["sha"],
            item["kind"],
            item.get("date", ""),
            item["subject"],
            list(item["pull_requests"]),
            list(item["candidate_pull_requests"]),
            list(item["files"]),
        )
        for item in document["landings"]
    ]
    github = document.get("github") or {}
    return Batch(batch_id, ecosystem_of(batch_id), landings, list(github.get("unconfirmed_landings", [])))


# --- the PR refs a batch needs ----------------------------------------------------------------------


@dataclass
class RefsFound:
    numbers: list[int]
    how: str  # 'api' | 'scan'
    scanned: int = 0  # PR heads whose commits were read (scan)
    fetch_command: list[str] = field(default_factory=list)  # the exact `git fetch` of those refs


def pull_refs_of(cwd: Path, batch_id: str, *, remote: str, token: str = "", repository: str = "") -> RefsFound:
    """The PRs whose head carries ``batch_id``: named by the API with a token, else found by reading
    the PR heads newest first (their objects, no ref written) until they are older than the batch."""
    base = history.resolve_base(cwd, "", history.list_refs(cwd))
    found: RefsFound | None = None
    if token and repository:
        from batchops.adapters import pulls

        api = rollback_engine.Api(token, repository)
        pulled = api.call("listing merged pull requests", pulls.find_batch_pulls, base.name, batch_id)
        if pulled is not None:
            found = RefsFound(sorted({p.number for p in pulled}), "api")
    if found is None:
        found = _scan(cwd, batch_id, remote, base.sha)
    found.fetch_command = fetch_command(remote, found.numbers)
    return found


def fetch_command(remote: str, numbers: Sequence[int]) -> list[str]:
    if not numbers:
        return []
    specs = [f"+refs/pull/{n}/head:refs/remotes/{remote}/pull/{n}/head" for n in numbers]
    return ["git", "fetch", "--no-tags", remote, *specs]


def _scan(cwd: Path, batch_id: str, remote: str, base_sha: str) -> RefsFound:
    heads = history.remote_pull_heads(cwd, remote)  # number -> head commit, newest PR first
    needle = core.batch_line(batch_id)
    oldest = int(
        datetime.combine(date.fromisoformat(batch_id[:10]) - timedelta(days=2), datetime.min.time()).timestamp()
    )
    numbers: list[int] = []
    scanned = 0
    items = sorted(heads.items(), reverse=True)
    for start in range(0, len(items), SCAN_CHUNK):
        chunk = items[start : start + SCAN_CHUNK]
        history.fetch_objects(cwd, remote, [f"refs/pull/{number}/head" for number, _ in chunk])
        carried = history.off_base(cwd, [sha for _, sha in chunk], base_sha)
        scanned += len(chunk)
        by_sha = {commit.sha: commit for commit in carried}
        for number, sha in chunk:
            own = _own(sha, by_sha)
            if any(core.has_line(commit.message, needle) for commit in own):
                numbers.append(number)
        times = [by_sha[sha].time for _, sha in chunk if sha in by_sha]
        if times and max(times) < oldest:
            break  # these PRs were last pushed two days before the batch: older ones cannot carry it
    return RefsFound(sorted(numbers), "scan", scanned)


def _own(tip: str, by_sha: dict[str, core.Commit]) -> list[core.Commit]:
    """The commits of one PR head off the base (from the chunk's walk)."""
    found: list[core.Commit] = []
    stack, seen = [tip], set()
    while stack:
        sha = stack.pop()
        if sha in seen or sha not in by_sha:
            continue
        seen.add(sha)
        found.append(by_sha[sha])
        stack.extend(by_sha[sha].parents)
    return found
