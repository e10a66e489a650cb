"""Tracing a rollback's selection through the history: its commits, the refs that carry them, where they landed.

Reads git through :mod:`batchops.adapters.history`; the rules are :mod:`batchops.core.rollback`'s.
A :class:`Scope` holds what one plan reads once (the checkout, the base, the refs, the path prefixes,
the lookups started in the background); :func:`trace` fills a :class:`~batchops.core.rollback.Selection`
and returns the first-parent commits that touched its files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchops.adapters import commitgraph, history
from batchops.adapters import git as gitcmd
from batchops.core import rollback as core
from batchops.core import walk_refs
from batchops.core.rollback import Commit, MainCommit, Ref, Selection, Selector
from batchops.errors import UsageError

SLACK = 86_400  # seconds: a merge may carry a committer time up to a day before its merged commits
ROLLBACK_PREFIX = core.ROLLBACK_KEY + ": "


@dataclass
class Scope:
    """What one plan reads once."""

    cwd: Path
    base: history.Base
    refs: list[Ref]
    prefixes: list[str]
    listing: Any = None  # the first-parent listing started in the background
    line: history.Mainline | None = None
    started: list[Any] = field(default_factory=list)  # background lookups to stop when the plan ends
    walk: Any = None  # the one walk of the base and every other ref (batch-id), started in the background
    graph: commitgraph.Graph | None = None
    reader: gitcmd.ObjectReader | None = None  # the bisection's cat-file, started with the walk

    def commit_graph(self) -> commitgraph.Graph | None:
        if self.graph is None and self.walk is not None:
            self.graph = commitgraph.read(self.walk, self.base.sha)
        return self.graph

    def mainline(self) -> history.Mainline:
        if self.line is None:
            graph = self.commit_graph()
            if graph is not None:
                self.line = graph.mainline()
            else:
                self.line = history.read_mainline(self.listing or history.start_mainline(self.cwd, self.base.sha))
        return self.line

    def renew_refs(self) -> None:
        """The refs read again (PR refs were fetched): a graph walk is made anew over them."""
        self.refs = history.list_refs(self.cwd)
        if self.walk is not None:
            tips = sorted({r.sha for r in other_refs(self.refs, self.base)})
            self.walk = commitgraph.start(self.cwd, [self.base.sha, *tips])
            self.started.append(self.walk)
            self.graph, self.line = None, None

    def headers(self) -> Any:
        graph = self.commit_graph()
        return graph.headers if graph is not None else None

    def mentions(self) -> Any:
        """Which commits' messages hold a text, when the walk's output is at hand (hints for the bisection)."""
        graph = self.commit_graph()
        return graph.mentioning if graph is not None else None

    def start_reader(self) -> None:
        """Start the bisection's ``cat-file`` now: it is ready when the walk is read."""
        self.reader = gitcmd.ObjectReader(self.cwd)
        self.started.append(self.reader)

    def close(self) -> None:
        for process in self.started:  # a lookup nobody waited for (an error came first) is stopped
            if process is not None:
                process.close()


def reach(commits: Sequence[Commit], sources: set[str], tips: dict[str, str]) -> dict[str, list[str]]:
    """ref -> source commits reachable from its tip through ``commits`` (the off-base graph)."""
    parents = {c.sha: c.parents for c in commits}
    memo: dict[str, frozenset[str]] = {}
    for start in set(tips.values()):
        stack = [start]
        while stack:
            sha = stack[-1]
            if sha in memo:
                stack.pop()
                continue
            pending = [p for p in parents.get(sha, ()) if p in parents and p not in memo]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            found: set[str] = set()
            for parent in parents.get(sha, ()):
                found |= memo.get(parent, frozenset())
            if sha in sources:
                found.add(sha)
            memo[sha] = frozenset(found)
    return {ref: sorted(memo.get(sha, frozenset())) for ref, sha in tips.items() if memo.get(sha)}


def other_refs(refs: Sequence[Ref], base: history.Base) -> list[Ref]:
    """The refs besides the base branch: PR refs and branches, not rollback branches nor test merges."""
    return [r for r in refs if walk_refs.searched(r.name, base.ref, base.name)]


def trace(
    scope: Scope,
    selector: Selector,
    *,
    direct: dict[str, str] | None = None,
    dependents: bool = True,
) -> tuple[Selection, list[MainCommit]]:
    """The selection's sources, carriers and landing candidates, and the first-parent commits of its files."""
    selection = Selection(selector, refs={r.name: r for r in scope.refs})
    selection.direct.update(direct or {})
    others = other_refs(scope.refs, scope.base)
    selection.refs_searched = len(others)
    if selector.kind == "batch-id":
        _find_batch(scope, selection, others)
    else:
        roll = ROLLBACK_PREFIX + selector.value
        found = history.grep(scope.cwd, [scope.base.sha], [roll])
        selection.rollbacks = [c.sha for c in found if core.has_line(c.message, roll)]
        if selector.kind == "pr":
            _trace_pull(scope, selection, others)
        else:
            _trace_commit(scope, selection)
    return selection, _landing_commits(scope, selection, dependents)


def _find_batch(scope: Scope, selection: Selection, others: Sequence[Ref]) -> None:
    """One walk of the base branch and every other ref (beside the first-parent listing): the batch's commits."""
    roll = ROLLBACK_PREFIX + selection.selector.value
    needle = core.batch_line(selection.selector.value)
    tips = {r.name: r.sha for r in others}
    graph = scope.commit_graph()
    if graph is None:
        search = history.start_search(scope.cwd, [scope.base.sha, *sorted(set(tips.values()))], [needle, roll])
        scope.started.append(search)
    on_main = scope.mainline().members()
    found = graph.with_text([needle, roll]) if graph is not None else history.search_result(search)
    selection.sources = [c for c in found if core.has_line(c.message, needle)]
    selection.rollbacks = [
        c.sha
        for c in found
        if core.has_line(c.message, roll)
        and (c.sha in on_main or history.is_ancestor(scope.cwd, c.sha, scope.base.sha))
    ]
    source_ids = {c.sha for c in selection.sources}
    selection.in_base = source_ids - on_main  # merged side, or only on other refs: merged_at tells
    if tips and source_ids - on_main:
        off = graph.walk_off(tips.values(), on_main) if graph else history.walk_off(scope.cwd, tips.values(), on_main)
        selection.carriers = reach(off, source_ids - on_main, tips)


def _landing_commits(scope: Scope, selection: Selection, dependents: bool) -> list[MainCommit]:
    cwd, line = scope.cwd, scope.mainline()
    on_main = line.members()
    source_ids = {c.sha for c in selection.sources}
    direct_commits = history.commits(cwd, [sha for sha in selection.direct if sha not in source_ids])
    selection.diffs = history.diffs(cwd, [*selection.sources, *direct_commits])
    for commit in direct_commits:
        if selection.direct.get(commit.sha) == "pull-request" and len(commit.parents) > 1:
            selection.direct[commit.sha] = "merge"
    if dependents:  # who depends on what the selection adds: looked up while the history is read
        selection.searched = added_recipes(selection, scope.prefixes)
        selection.search = history.start_grep(cwd, scope.base.sha, selection.searched, scope.prefixes)
        scope.started.append(selection.search)
    keys = sorted(
        {
            (ref, path)
            for ref, carried in selection.carriers.items()
            for sha in carried
            for path in selection.diffs.get(sha, {})
        }
    )
    selection.tips = history.tip_blobs(cwd, keys, {r: selection.refs[r].sha for r in selection.carriers})
    times = [c.time for c in selection.sources] + [c.time for c in direct_commits]
    since = min(times) if times else 0  # a landing is never older than what it ships
    known = {
        sha: selection.diffs[sha]
        for sha in [*source_ids, *selection.direct]
        if sha in on_main and sha in selection.diffs
    }
    for sha in selection.rollbacks:  # earlier rollbacks on the line split the search exactly too
        if sha in on_main and sha not in known:
            known[sha] = {}
    paths = core.interesting_paths(selection)
    rollback_commits = history.commits(cwd, [s for s in known if not known[s]])
    for sha, diff in history.diffs(cwd, rollback_commits).items():
        known[sha] = {p: c for p, c in diff.items() if p in set(paths)}
    wanted = {path: {t.blob for t in found} for path, found in core.targets(selection).items()}

    def is_target(path: str, entry: core.Entry | None) -> bool:
        return (entry.blob if entry else None) in wanted.get(path, ())

    main = history.mainline_changes(
        cwd,
        line,
        paths,
        since,
        known,
        is_target,
        headers=scope.headers(),
        mentions=scope.mentions(),
        reader=scope.reader,
    )
    _side_landings(scope, selection, main, on_main)
    main = _complete(scope, selection, main, _Search(paths, since, known, is_target))
    _side_landings(scope, selection, main, on_main)
    return main


@dataclass
class _Search:
    paths: Sequence[str]
    since: int
    known: dict[str, dict[str, core.Change]]
    is_target: Callable[[str, core.Entry | None], bool]


def _side_landings(scope: Scope, selection: Selection, main: Sequence[MainCommit], on_main: AbstractSet[str]) -> None:
    """Merged-side commits of the base's history land at the first merge on the line that brings them in."""
    cwd, graph = scope.cwd, scope.commit_graph()
    times_of = {c.sha: c.time for c in selection.sources}
    for sha in sorted(selection.in_base - on_main - set(selection.side_landings)):
        files = set(selection.diffs.get(sha, {}))
        merges = [
            m
            for m in reversed(main)
            if m.parents > 1 and files & set(m.changes) and m.time >= times_of.get(sha, 0) - SLACK
        ]
        landing = graph.merged_at(sha, merges) if graph is not None else None
        if landing is not None:  # the graph's answer, checked once: not already in the merge's first parent
            first = next((m.first_parent for m in merges if m.sha == landing), None)
            if first and history.is_ancestor(cwd, sha, first):
                landing = None
        if landing is None:
            landing = history.merged_at(cwd, sha, merges)
        if landing:
            selection.side_landings[sha] = landing


def _complete(scope: Scope, selection: Selection, main: list[MainCommit], search: _Search) -> list[MainCommit]:
    """Every file the landings shipped, and no "nothing shipped" without reading all of the line.

    The bisection does not see a change that was undone later (a recipe a squash shipped and
    someone removed by hand): the landings it found are read whole, and when one shipped more
    files than seen, the search runs again knowing those diffs. When it found no landing at all,
    the first-parent log of the paths is read in full before anything is called unshipped."""
    found = core.find_landings(selection, main)
    if not found:
        if not search.paths or not (selection.sources or selection.direct):
            return main
        exact = history.first_parent_log(scope.cwd, scope.base.sha, search.paths)
        return exact if core.find_landings(selection, exact) else main
    by_sha = {commit.sha: commit for commit in main}
    read = [
        core.Commit(landing.sha, [by_sha[landing.sha].first_parent or ""], by_sha[landing.sha].time)
        for landing in found
        if landing.sha in by_sha and landing.sha not in search.known and by_sha[landing.sha].first_parent
    ]
    wanted = set(search.paths)
    extra: dict[str, dict[str, core.Change]] = {}
    for sha, diff in history.diffs(scope.cwd, read).items():
        seen = by_sha[sha].changes
        if any(path in wanted and path not in seen for path in diff):
            extra[sha] = {path: change for path, change in diff.items() if path in wanted}
    if extra:
        known = {**search.known, **extra}
        line = scope.mainline()
        main = history.mainline_changes(
            scope.cwd,
            line,
            search.paths,
            search.since,
            known,
            search.is_target,
            headers=scope.headers(),
            mentions=scope.mentions(),
            reader=scope.reader,
        )
    return _unlanded(scope, selection, main, search)


def _unlanded(scope: Scope, selection: Selection, main: list[MainCommit], search: _Search) -> list[MainCommit]:
    """A file of the selection that no landing found may have landed and been undone since (a PR
    whose every recipe was removed by hand, beside other landings): its first-parent log is read
    in full, and what it adds joins the line."""
    landed = {path for landing in core.find_landings(selection, main) for path in landing.files}
    missing = [path for path in search.paths if path not in landed and core.under(path, scope.prefixes)]
    if not missing:
        return main
    exact = history.first_parent_log(scope.cwd, scope.base.sha, missing)
    by_sha = {commit.sha: commit for commit in main}
    added = False
    for commit in exact:
        if commit.sha not in by_sha:
            by_sha[commit.sha] = commit
            added = True
            continue
        known = by_sha[commit.sha]
        for path, change in commit.changes.items():
            if path not in known.changes:
                known.changes[path] = change
                added = True
    if not added:
        return main
    index = {sha: position for position, sha in enumerate(scope.mainline().shas)}
    return sorted(by_sha.values(), key=lambda commit: index.get(commit.sha, -1), reverse=True)


def _trace_pull(scope: Scope, selection: Selection, others: Sequence[Ref]) -> None:
    cwd, base = scope.cwd, scope.base
    number = int(selection.selector.value)
    for ref in others:
        if ref.pr != number:
            continue
        if history.is_ancestor(cwd, ref.sha, base.sha):
            landing, is_mainline = history.landing_of(cwd, ref.sha, base.sha)
            if landing:
                selection.direct.setdefault(landing, "commit" if is_mainline else "merge")
            continue
        off = history.off_base(cwd, [ref.sha], base.sha)
        off = own_commits(ref.sha, off, history.copies_of_base(cwd, base.sha, off))
        selection.sources += [c for c in off if c.sha not in {s.sha for s in selection.sources}]
        selection.carriers[ref.name] = [c.sha for c in off]
    if not selection.direct:
        for commit in history.merges_named(cwd, base.sha, [number]):
            if core.pr_number_in_subject(commit.subject) == number:
                selection.direct.setdefault(commit.sha, "pull-request")
    for sha in selection.direct:
        selection.pr_names.setdefault(sha, [number])


def own_commits(tip: str, off: Sequence[Commit], copies: set[str]) -> list[Commit]:
    """The PR's own commits among those its ref has off the base: below a commit of its own, a copy
    of a base commit (the base branch was rewritten after the PR was opened) is the base it was
    opened on, not part of it. Copies on top (a rebase merge) stay."""
    by_sha = {commit.sha: commit for commit in off}
    keep: set[str] = set()
    stack = [(tip, False)]
    while stack:
        sha, below_own = stack.pop()
        if sha in keep or sha not in by_sha or (below_own and sha in copies):
            continue
        keep.add(sha)
        stack.extend((parent, below_own or sha not in copies) for parent in by_sha[sha].parents)
    return [commit for commit in off if commit.sha in keep]


def _trace_commit(scope: Scope, selection: Selection) -> None:
    cwd, base = scope.cwd, scope.base
    text = selection.selector.value
    sha = history.resolve_commit(cwd, text)
    if sha is None:
        raise UsageError(
            f"{text!r} names no commit in this checkout",
            field="commit",
            hint="pass a commit of the base branch, e.g. from `git log --first-parent`",
        )
    if not history.is_ancestor(cwd, sha, base.sha):
        raise UsageError(
            f"commit {sha[:12]} is not in the history of {base.name}",
            field="commit",
            hint="pass a commit of the base branch (or set base-branch to the branch that has it)",
        )
    selection.selector = Selector("commit", sha)
    selection.sources = history.commits(cwd, [sha])
    landing, is_mainline = history.landing_of(cwd, sha, base.sha)
    if is_mainline:
        selection.direct[sha] = "commit"
    elif landing:
        selection.in_base.add(sha)
        selection.side_landings[sha] = landing


def added_recipes(selection: Selection, prefixes: Sequence[str]) -> list[str]:
    """Names of the recipes the selection's commits add: those a rollback may remove."""
    names = {
        core.recipe_name(path)
        for diff in selection.diffs.values()
        for path, change in diff.items()
        if change.old is None and path.endswith(".toml") and core.under(path, prefixes)
    }
    return sorted(name for name in names if name and "\n" not in name)
