"""rollback: remove or restore exactly what one batch (or one PR, or one commit) shipped, on a branch, with a PR.

The planning rules are in :mod:`batchops.core.rollback`; the history is read by
:mod:`batchops.adapters.history` (offline: the base branch, PR refs, branches) and, with a
token, confirmed through the GitHub API (:mod:`batchops.adapters.pulls`). The step writes the
plan file and, unless ``dry-run``, one commit on ``rollback-<batch-ID|pr-N|commit-SHA>``
pushed to the remote, and opens the PR. A re-run finds the branch it pushed before (its
own commit on the same base with the same content) and opens the PR instead of refusing.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchops.adapters import history, runner
from batchops.core import rollback as core
from batchops.core import timeutil
from batchops.core.rollback import (
    DEFAULT_PATHS,
    Commit,
    FilePlan,
    Landing,
    MainCommit,
    Ref,
    Selection,
    Selector,
)
from batchops.errors import BatchopsError, UsageError
from batchops.flags import add_input, add_now, clock, parse_bool, parse_list
from batchops.render import rollback as render
from batchops.steps import Step, StepResult

TITLE = "batchops rollback"
SLACK = 86_400  # seconds: a merge may carry a committer time up to a day before its merged commits
ROLLBACK_PREFIX = core.ROLLBACK_KEY + ": "


@dataclass
class Outcome:
    document: dict[str, Any]
    plans: list[FilePlan]
    base: history.Base
    warnings: list[str]
    refs: list[Ref]
    selection: Selection
    landings: list[Landing] = field(default_factory=list)


# --- tracing ---------------------------------------------------------------------------------


def _reach(commits: Sequence[Commit], sources: set[str], tips: dict[str, str]) -> dict[str, list[str]]:
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
            found = set().union(*(memo[p] for p in parents.get(sha, ()) if p in memo)) if sha in parents else set()
            if sha in sources:
                found.add(sha)
            memo[sha] = frozenset(found)
    return {ref: sorted(memo.get(sha, frozenset())) for ref, sha in tips.items() if memo.get(sha)}


def _other_refs(refs: Sequence[Ref], base: history.Base) -> list[Ref]:
    skip = {base.ref, f"refs/remotes/origin/{base.name}"}
    return [
        r for r in refs
        if r.name not in skip and not r.short.startswith(core.BRANCH_PREFIX) and "/" + core.BRANCH_PREFIX not in r.name
        and not core.is_test_merge_ref(r.name)  # GitHub's refs/pull/N/merge: a merge it made, never shipped
    ]


def _trace(
    cwd: Path, selector: Selector, base: history.Base, refs: Sequence[Ref], line: history.Mainline | None = None,
    *, listing: Any = None, direct: dict[str, str] | None = None, prefixes: Sequence[str] | None = None,
    started: list[Any] | None = None,
) -> tuple[Selection, list[MainCommit], history.Mainline]:
    selection = Selection(selector, refs={r.name: r for r in refs})
    selection.direct.update(direct or {})
    others = _other_refs(refs, base)
    selection.refs_searched = len(others)
    roll = ROLLBACK_PREFIX + selector.value
    needle = core.batch_line(selector.value)
    tips = {r.name: r.sha for r in others}
    search = history.start_search(cwd, [base.sha, *sorted(set(tips.values()))], [needle, roll]) if selector.kind == "batch-id" else None
    if started is not None:
        started.append(search)
    if line is None:
        line = history.read_mainline(listing if listing is not None else history.start_mainline(cwd, base.sha))
    on_main = set(line.shas)
    if search is not None:
        # one walk of the base branch and every other ref (beside the first-parent listing): the batch's commits wherever they are
        found = history.search_result(search)
        selection.sources = [c for c in found if core.has_line(c.message, needle)]
        selection.rollbacks = [
            c.sha for c in found
            if core.has_line(c.message, roll) and (c.sha in on_main or history.is_ancestor(cwd, c.sha, base.sha))
        ]
        source_ids = {c.sha for c in selection.sources}
        selection.in_base = source_ids - on_main  # merged side, or only on other refs: merged_at tells
        if tips and source_ids - on_main:
            graph = history.walk_off(cwd, tips.values(), on_main)
            selection.carriers = _reach(graph, source_ids - on_main, tips)
    else:
        selection.rollbacks = [c.sha for c in history.grep(cwd, [base.sha], [roll]) if core.has_line(c.message, roll)]
        if selector.kind == "pr":
            _trace_pull(cwd, selection, base, others)
        else:
            _trace_commit(cwd, selection, base)
    direct_commits = history.commits(cwd, [sha for sha in selection.direct if sha not in {c.sha for c in selection.sources}])
    selection.diffs = history.diffs(cwd, [*selection.sources, *direct_commits])
    for commit in direct_commits:
        if selection.direct.get(commit.sha) == "pull-request" and len(commit.parents) > 1:
            selection.direct[commit.sha] = "merge"
    if prefixes is not None:  # who depends on what the selection adds: looked up while the history is read
        selection.searched = _added_recipes(selection, prefixes)
        selection.search = history.start_grep(cwd, base.sha, selection.searched, prefixes)
        if started is not None:
            started.append(selection.search)
    keys = sorted({(ref, path) for ref, carried in selection.carriers.items() for sha in carried for path in selection.diffs.get(sha, {})})
    selection.tips = history.tip_blobs(cwd, keys, {r: selection.refs[r].sha for r in selection.carriers})
    times = [c.time for c in selection.sources] + [c.time for c in direct_commits]
    since = min(times) if times else 0  # a landing is never older than what it ships
    known = {sha: selection.diffs[sha] for sha in [*(c.sha for c in selection.sources), *selection.direct] if sha in on_main and sha in selection.diffs}
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

    main = history.mainline_changes(cwd, line, paths, since, known, is_target)
    _side_landings(cwd, selection, main, on_main)
    main = _complete(cwd, selection, main, line, base, paths, since, known, is_target)
    _side_landings(cwd, selection, main, on_main)
    return selection, main, line


def _side_landings(cwd: Path, selection: Selection, main: Sequence[MainCommit], on_main: set[str]) -> None:
    """Merged-side commits of the base's history land at the first merge on the line that brings them in."""
    times_of = {c.sha: c.time for c in selection.sources}
    for sha in sorted(selection.in_base - on_main - set(selection.side_landings)):
        files = set(selection.diffs.get(sha, {}))
        merges = [m for m in reversed(main) if m.parents > 1 and files & set(m.changes) and m.time >= times_of.get(sha, 0) - SLACK]
        landing = history.merged_at(cwd, sha, merges)
        if landing:
            selection.side_landings[sha] = landing


def _complete(
    cwd: Path, selection: Selection, main: list[MainCommit], line: history.Mainline, base: history.Base,
    paths: Sequence[str], since: int, known: dict[str, dict[str, core.Change]], is_target: Any,
) -> list[MainCommit]:
    """Every file the landings shipped, and no "nothing shipped" without reading all of the line.

    The bisection does not see a change that was undone later (a recipe a squash shipped and
    someone removed by hand): the landings it found are read whole, and when one shipped more
    files than seen, the search runs again knowing those diffs. When it found no landing at all,
    the first-parent log of the paths is read in full before anything is called unshipped."""
    found = core.find_landings(selection, main)
    if not found:
        if not paths or not (selection.sources or selection.direct):
            return main
        exact = history.first_parent_log(cwd, base.sha, paths)
        return exact if core.find_landings(selection, exact) else main
    by_sha = {commit.sha: commit for commit in main}
    read = [
        core.Commit(landing.sha, [by_sha[landing.sha].first_parent or ""], by_sha[landing.sha].time)
        for landing in found
        if landing.sha in by_sha and landing.sha not in known and by_sha[landing.sha].first_parent
    ]
    wanted = set(paths)
    extra: dict[str, dict[str, core.Change]] = {}
    for sha, diff in history.diffs(cwd, read).items():
        seen = by_sha[sha].changes
        if any(path in wanted and path not in seen for path in diff):
            extra[sha] = {path: change for path, change in diff.items() if path in wanted}
    if not extra:
        return main
    return history.mainline_changes(cwd, line, paths, since, {**known, **extra}, is_target)


def _trace_pull(cwd: Path, selection: Selection, base: history.Base, others: Sequence[Ref]) -> None:
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
        off = _own_commits(ref.sha, off, history.copies_of_base(cwd, base.sha, off))
        selection.sources += [c for c in off if c.sha not in {s.sha for s in selection.sources}]
        selection.carriers[ref.name] = [c.sha for c in off]
    if not selection.direct:
        for commit in history.merges_named(cwd, base.sha, [number]):
            if core.pr_number_in_subject(commit.subject) == number:
                selection.direct.setdefault(commit.sha, "pull-request")
    for sha in selection.direct:
        selection.pr_names.setdefault(sha, [number])


def _own_commits(tip: str, off: Sequence[Commit], copies: set[str]) -> list[Commit]:
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


def _trace_commit(cwd: Path, selection: Selection, base: history.Base) -> None:
    text = selection.selector.value
    sha = history.resolve_commit(cwd, text)
    if sha is None:
        raise UsageError(f"{text!r} names no commit in this checkout", field="commit", hint="pass a commit of the base branch, e.g. from `git log --first-parent`")
    if not history.is_ancestor(cwd, sha, base.sha):
        raise UsageError(
            f"commit {sha[:12]} is not in the history of {base.name}", field="commit",
            hint="pass a commit of the base branch (or set base-branch to the branch that has it)",
        )
    selection.selector = Selector("commit", sha)
    found = history.commits(cwd, [sha])
    selection.sources = found
    landing, is_mainline = history.landing_of(cwd, sha, base.sha)
    if is_mainline:
        selection.direct[sha] = "commit"
    elif landing:
        selection.in_base.add(sha)
        selection.side_landings[sha] = landing


# --- planning --------------------------------------------------------------------------------


def plan_rollback(
    cwd: Path | str,
    selector: Selector | str,
    *,
    paths: Sequence[str] = DEFAULT_PATHS,
    base_branch: str = "",
    token: str = "",
    repository: str = "",
    remote: str = "origin",
    force: bool = False,
    dry_run: bool = True,
    generated_at: str = "",
) -> Outcome:
    """Find what shipped and decide per file (reads git and, with a token, the API; writes nothing
    but PR refs it fetches for PRs the API names)."""
    cwd = Path(cwd)
    if isinstance(selector, str):
        selector = Selector("batch-id", core.validate_batch_id(selector))
    prefixes = core.normalize_paths(paths)
    refs = history.list_refs(cwd)
    base = history.resolve_base(cwd, base_branch, refs)
    history.check_not_shallow(cwd)
    listing = history.start_mainline(cwd, base.sha)  # runs while the batch is searched
    started: list[Any] = [listing]
    try:
        return _plan(cwd, selector, prefixes, base, refs, listing, started, token=token, repository=repository,
                     remote=remote, force=force, dry_run=dry_run, generated_at=generated_at)
    finally:
        for process in started:  # a lookup nobody waited for (an error came first) is stopped
            if process is not None:
                process.close()


def _plan(
    cwd: Path, selector: Selector, prefixes: list[str], base: history.Base, refs: list[Ref], listing: Any, started: list[Any],
    *, token: str, repository: str, remote: str, force: bool, dry_run: bool, generated_at: str,
) -> Outcome:
    warnings: list[str] = []
    if base.differs_from_origin:
        warnings.append(
            f"the local branch {base.name} differs from origin/{base.name}; the plan uses the local one "
            f"(run `git pull` or `git fetch` first if that is not what you want)"
        )
    api = bool(token and repository)
    if token and not repository:
        warnings.append("github-token given but the repository is unknown (set GITHUB_REPOSITORY or `repository`); pull requests not looked up")
    if selector.kind == "pr" and api:
        from batchops.adapters import pulls

        info = pulls.get_pull(token, repository, int(selector.value))
        direct: dict[str, str] = {}
        if info is None:
            raise BatchopsError(f"PR #{selector.value} not found in {repository}", field="pr", hint="check the number and the repository")
        if info.merged and info.merge_commit_sha and history.is_ancestor(cwd, info.merge_commit_sha, base.sha):
            direct[info.merge_commit_sha] = "pull-request"
        if not [r for r in refs if r.pr == info.number] and history.fetch_pull_refs(cwd, remote, [info.number]):
            refs = history.list_refs(cwd)
        selection, main, line = _trace(cwd, selector, base, refs, listing=listing, direct=direct, prefixes=prefixes, started=started)
        selection.pr_urls[info.number] = info.html_url
    else:
        selection, main, line = _trace(cwd, selector, base, refs, listing=listing, prefixes=prefixes, started=started)
    landings = _whole_squashes(selection, core.find_landings(selection, main))

    if api and selector.kind == "batch-id":
        selection, main, landings = _with_api(cwd, selection, main, line, landings, base, refs, token, repository, remote, warnings, prefixes, started)
    if api and landings:
        _name_landings(selection, landings, token, repository)
    if not landings:
        message, hint = core.not_found_message(
            selection, base.name, token=api, elsewhere=sorted(r.removeprefix("refs/remotes/").removeprefix("refs/heads/") for r in selection.carriers),
        )
        field_name = {"batch-id": "batch-id", "pr": "pr", "commit": "commit"}[selector.kind]
        raise BatchopsError(message, field=field_name, hint=hint)
    reported = core.unshipped_carriers(selection, landings, _merges_of_carriers(cwd, selection, landings, base, token, repository))
    files, outside = core.file_changes(landings, main, prefixes)
    plans = core.decide(files, force=force, what=_what(selection.selector))
    found_dependents = _dependents(cwd, base.sha, plans, selection.search, selection.searched)
    document = core.plan_document(
        selection=selection, base_branch=base.name, base_sha=base.sha, paths=prefixes, landings=landings, plans=plans,
        outside=outside, reported=reported, dependents_found=found_dependents, dry_run=dry_run, force=force,
        generated_at=generated_at or timeutil.iso(runner.now()),
    )
    return Outcome(document, plans, base, warnings, refs, selection, landings)


def _whole_squashes(selection: Selection, landings: list[Landing]) -> list[Landing]:
    """For ``pr``: a squash of the PR sets every file the PR changes to the content at its tip (a
    rebase merge: its commits together); a commit that shares only some of it (another attempt of
    the same batch, with the same recipes) is not that PR's merge."""
    if selection.selector.kind != "pr":
        return landings
    before: dict[str, str | None] = {}
    for commit in sorted(selection.sources, key=lambda c: c.time):
        for path, change in selection.diffs.get(commit.sha, {}).items():
            before.setdefault(path, change.old.blob if change.old else None)
    required = {path for (ref, path), blob in selection.tips.items() if ref in selection.carriers and blob != before.get(path)}
    content = [landing for landing in landings if landing.kind == "squash"]
    if not required or not content:
        return landings
    whole = {landing.sha for landing in content if required <= set(landing.files)}
    if not whole and required <= {path for landing in content for path in landing.files}:
        return landings  # a rebase merge: each rebased commit ships its part
    return [landing for landing in landings if landing.kind != "squash" or landing.sha in whole]


def _what(selector: Selector) -> str:
    return {"batch-id": "the batch", "pr": "the PR", "commit": "the commit"}[selector.kind]


def _with_api(
    cwd: Path, selection: Selection, main: list[MainCommit], line: history.Mainline, landings: list[Landing], base: history.Base,
    refs: list[Ref], token: str, repository: str, remote: str, warnings: list[str], prefixes: Sequence[str],
    started: list[Any],
) -> tuple[Selection, list[MainCommit], list[Landing]]:
    """Merged PRs the API says carry the batch: fetch the refs the checkout lacks and trace again;
    a PR whose commits cannot be fetched counts as a whole (its merge commit's diff)."""
    from batchops.adapters import pulls

    found = pulls.find_batch_pulls(token, repository, base.name, selection.selector.value)
    landed = {landing.sha for landing in landings}
    local = {r.pr for r in refs if r.pr is not None}
    missing = [p for p in found if p.merge_commit_sha not in landed and p.number not in local]
    fetched = set(history.fetch_pull_refs(cwd, remote, [p.number for p in missing])) if missing else set()
    direct: dict[str, str] = {}
    for pull in missing:
        if pull.number in fetched:
            continue
        if not history.is_ancestor(cwd, pull.merge_commit_sha, base.sha):
            warnings.append(
                f"PR #{pull.number} names the batch ({pull.why}) but its merge commit {pull.merge_commit_sha[:12]} "
                "is not in the history of the base branch; ignored"
            )
            continue
        direct[pull.merge_commit_sha] = "pull-request"
    if fetched or direct:
        refs = history.list_refs(cwd) if fetched else refs
        history.grep_paths(selection.search)  # the first lookup is superseded
        selection, main, line = _trace(cwd, selection.selector, base, refs, line, direct=direct, prefixes=prefixes, started=started)
    for pull in found:
        selection.pr_urls[pull.number] = pull.html_url
        if pull.merge_commit_sha:
            names = selection.pr_names.setdefault(pull.merge_commit_sha, [])
            if pull.number not in names:
                names.append(pull.number)
    return selection, main, core.find_landings(selection, main)


def _name_landings(selection: Selection, landings: list[Landing], token: str, repository: str) -> None:
    from batchops.adapters import pulls

    unnamed = [landing.sha for landing in landings if not landing.pull_requests]
    named = pulls.pulls_of_commits(token, repository, unnamed) if unnamed else {}
    for landing in landings:
        for pull in named.get(landing.sha, []):
            if pull.number not in landing.pull_requests:
                landing.pull_requests.append(pull.number)
            selection.pr_urls[pull.number] = pull.html_url
        if landing.pull_requests:
            landing.candidates = []
        landing.pull_request_urls = [selection.pr_urls[n] for n in landing.pull_requests if selection.pr_urls.get(n)]


def _merges_of_carriers(
    cwd: Path, selection: Selection, landings: list[Landing], base: history.Base, token: str, repository: str,
) -> dict[int, str]:
    credited = {n for landing in landings for n in (*landing.pull_requests, *landing.candidates)}
    numbers = [n for n in core.carrier_prs(selection) if n not in credited]
    if not numbers:
        return {}
    merges: dict[int, str] = {}
    for commit in history.merges_named(cwd, base.sha, numbers):
        number = core.pr_number_in_subject(commit.subject)
        if number is not None and number in numbers:
            merges.setdefault(number, commit.sha)
    for sha, names in selection.pr_names.items():
        for number in names:
            if number in numbers:
                merges.setdefault(number, sha)
    return merges


def _added_recipes(selection: Selection, prefixes: Sequence[str]) -> list[str]:
    """Names of the recipes the selection's commits add: those a rollback may remove."""
    names = {
        core.recipe_name(path)
        for diff in selection.diffs.values()
        for path, change in diff.items()
        if change.old is None and path.endswith(".toml") and core.under(path, prefixes)
    }
    return sorted(name for name in names if name and "\n" not in name)


def _dependents(
    cwd: Path, base_sha: str, plans: Sequence[FilePlan], search: Any, searched: Sequence[str],
) -> list[dict[str, Any]]:
    """Recipes at the base tip that need a recipe the plan removes (``search``: the grep started
    early for the names in ``searched``, a superset)."""
    removed = {p.path: core.recipe_name(p.path) for p in plans if p.changes_tree and p.target is None and p.path.endswith(".toml")}
    paths = history.grep_paths(search)
    if not removed:
        return []
    if not set(removed.values()) <= set(searched):
        search = history.start_grep(cwd, base_sha, sorted(set(removed.values())), [""])
        paths = history.grep_paths(search)
    candidates = [path for path in paths if path.endswith(".toml") and path not in removed]
    texts = history.read_texts(cwd, base_sha, candidates)
    recipes = {path: text.decode("utf-8", "replace") for path, text in texts.items()}
    return core.dependents(removed, recipes, removed)


# --- the step -------------------------------------------------------------------------------------


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "batch-id", "the batch to roll back: YYYY-MM-DD or YYYY-MM-DD-token (or give pr or commit)", default="")
    add_input(parser, "pr", "roll back what this pull request's merge shipped (its number)", default="")
    add_input(parser, "commit", "roll back what this commit of the base branch shipped", default="")
    add_input(parser, "dry-run", "only compute and report the plan: no branch, no commit, no push", default="false")
    add_input(parser, "paths", "path prefixes to roll back (JSON array or comma/newline list)", default="recipes/")
    add_input(parser, "base-branch", "branch whose history counts (default: the current branch, else main)", default="")
    add_input(parser, "github-token", "token to confirm and trace pull requests and open the rollback PR", default="")
    add_input(parser, "force", "also restore files changed after the batch (conflicts)", default="false")
    add_input(parser, "plan-file", "where to write the plan JSON (default: a new file under RUNNER_TEMP or the temp dir)", default="")
    add_input(parser, "repository", "owner/name on GitHub (default: GITHUB_REPOSITORY, else the remote's URL)", default="")
    add_input(parser, "remote", "remote to push the rollback branch to (and fetch PR refs from)", default="origin")
    add_input(parser, "working-directory", "the git checkout to work in", default=".")
    add_now(parser)


def default_plan_file(selector: Selector) -> Path:
    """A new file per run under the one temp folder (parallel runs never share one)."""
    return runner.temp_dir() / f"batchops-rollback-{selector.slug}-{secrets.token_hex(6)}.json"


def _same_rollback(cwd: Path, existing: str, built: str, base_sha: str, selector: Selector) -> str:
    """'' when ``existing`` is this rollback pushed before (same base, same content, ours), else why not."""
    tree, parents, message = history.commit_info(cwd, existing)
    if not core.has_line(message, ROLLBACK_PREFIX + selector.value):
        return "it is not a batchops rollback of it (no `rollback-of:` line)"
    if parents != [base_sha]:
        return "it was made on another commit of the base branch (the base moved since)"
    if tree != history.tree_of(cwd, built):
        return "its content differs from the plan computed now"
    return ""


def run(args: argparse.Namespace) -> StepResult:
    token = (args.github_token or "").strip()
    runner.mask(token)
    selector = core.choose_selector(args.batch_id or "", args.pr or "", args.commit or "")
    dry_run = parse_bool(args.dry_run, field="dry-run")
    force = parse_bool(args.force, field="force")
    paths = parse_list(args.paths, field="paths") or DEFAULT_PATHS
    cwd = Path(args.working_directory or ".")
    remote = (args.remote or "origin").strip()
    repository = (args.repository or runner.repository()).strip()
    if token and not repository:
        repository = history.remote_repository(cwd, remote)
    plan_file = Path(args.plan_file) if args.plan_file else default_plan_file(selector)

    outcome = plan_rollback(
        cwd, selector, paths=paths, base_branch=args.base_branch or "", token=token, repository=repository, remote=remote,
        force=force, dry_run=dry_run, generated_at=timeutil.iso(clock(args)),
    )
    document, plans = outcome.document, outcome.plans
    selector = outcome.selection.selector
    what = render.label(document)
    result = StepResult()
    for warning in outcome.warnings:
        result.warning(warning, title=TITLE)
    for item in document["not_acted_on"]:
        result.notice(item["note"], title=TITLE)
    for item in document["dependents"]:
        result.warning(render.dependent_warning(item), title=TITLE)
    changed = [p for p in plans if p.changes_tree]
    conflicts = [p for p in plans if p.action == "conflict"]
    branch = core.branch_name(selector)
    result.outputs = {"branch": "", "pr-url": "", "files-count": len(changed), "plan-file": str(plan_file)}
    notes: list[str] = []
    if conflicts:
        result.warning(
            f"{len(conflicts)} file(s) changed after {what} shipped, by other commits, were left untouched: "
            + ", ".join(core.quote_path(p.path) for p in conflicts[:10])
            + ("" if len(conflicts) <= 10 else ", …")
            + ". Review them, or re-run with force: true to restore them anyway.",
            title=TITLE,
        )
    if not changed:
        if plans and all(p.action == "none" for p in plans):
            notes.append(f"Nothing to roll back: every file {what} changed is already as it was before it.")
        elif not plans:
            notes.append(f"Nothing to roll back: {what} changed no file under {', '.join(document['paths'])}.")
        else:
            notes.append("Nothing rolled back: every remaining file is a conflict.")
        result.notice(notes[-1], title=TITLE)
    elif dry_run:
        notes.append(f"Dry run: nothing changed. Without dry-run, branch `{branch}` would get one commit changing {len(changed)} file(s).")
        result.notice(notes[-1], title=TITLE)
    else:
        commit, reused = _branch(cwd, outcome, branch, remote, plans, document, selector)
        result.outputs["branch"] = branch
        document["result"].update(branch=branch, commit=commit)
        title = f"Roll back {what}"
        body = render.pr_body(document)
        if reused:
            notes.append(f"Found `{branch}` pushed by an earlier run for the same plan ({commit[:10]}): kept it.")
        if token and repository:
            from batchops.adapters import pulls

            url, opened = pulls.open_or_find_pull(token, repository, outcome.base.name, branch, title, body)
            result.outputs["pr-url"] = url
            document["result"]["pr_url"] = url
            notes.append(f"{'Opened' if opened else 'Found the open'} pull request {url} from `{branch}` ({commit[:10]}).")
            result.notice(notes[-1], title=TITLE)
        else:
            body_file = plan_file.with_suffix(".pr-body.md")
            from batchops.adapters.files import write_atomic

            write_atomic(body_file, body)
            command = shlex.join([
                "gh", "pr", "create", *(["--repo", repository] if repository else []),
                "--base", outcome.base.name, "--head", branch, "--title", title, "--body-file", str(body_file),
            ])
            notes.append(f"Pushed `{branch}` ({commit[:10]}). No github-token: open the PR with\n\n```sh\n{command}\n```")
            result.notice(f"pushed {branch}; open the pull request with: {command}", title=TITLE)
        if reused:
            result.notice(notes[0], title=TITLE)

    _write_plan(plan_file, document)
    result.section(render.render_markdown(document) + ("\n" + "\n\n".join(notes) + "\n" if notes else ""))
    return result


def _branch(
    cwd: Path, outcome: Outcome, branch: str, remote: str, plans: Sequence[FilePlan], document: dict[str, Any], selector: Selector,
) -> tuple[str, bool]:
    """The rollback commit on ``branch``, pushed: (commit, True when an earlier run's branch was kept)."""
    built = history.build_commit(cwd, outcome.base.sha, plans, core.commit_message(document, plans))
    local = next((r.sha for r in outcome.refs if r.name == f"refs/heads/{branch}"), "")
    pushed = history.remote_branch(cwd, remote, branch)
    if not local and not pushed:
        history.set_branch(cwd, branch, built, expected="")
        try:
            history.push_branch(cwd, remote, branch, built)
        except BatchopsError:
            history.delete_branch(cwd, branch, built)
            raise
        return built, False
    existing = pushed or local
    if pushed and pushed != local:
        history.fetch_commit(cwd, remote, branch)
    why = _same_rollback(cwd, existing, built, outcome.base.sha, selector) if history.resolve_commit(cwd, existing) else "its commit cannot be read"
    if why:
        where = f"on {remote}" if pushed else "locally"
        raise BatchopsError(
            f"branch {branch} already exists {where} and {why}: {selector.label} already has another rollback in progress",
            hint=f"review and merge its pull request, or delete the branch (git push {remote} --delete {branch}; git branch -D {branch}) to start over",
        )
    if not local:
        history.set_branch(cwd, branch, existing, expected="")
    if not pushed:
        history.push_branch(cwd, remote, branch, existing)
    return existing, True


def _write_plan(path: Path, document: dict[str, Any]) -> None:
    from batchops.adapters import schema
    from batchops.adapters.files import write_atomic

    schema.validate(document, "rollback-plan", file=str(path))
    write_atomic(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")


STEP = Step(
    name="rollback",
    help="remove or restore exactly what one batch (or PR, or commit) shipped, on a new branch, and open a PR",
    configure=_configure,
    run=run,
    fail_closed={"branch": "", "pr-url": "", "files-count": 0, "plan-file": ""},
)
