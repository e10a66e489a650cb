"""Rollback orchestration: plan what one batch (or PR, or commit) shipped, then apply it on a branch with a PR.

Typed options in (:class:`Options`), typed results out (:class:`Outcome`, :class:`Applied`); no argument
parsing, no printing. The history is traced by :mod:`batchops.engines.rollback_trace`; the GitHub API, when a
token is given, confirms and names pull requests through :class:`Api`, which degrades: the first call that
fails as an outage (5xx, timeout, connection refused, rate limit) ends every API use of the plan, which then
stands on the history alone and names the landings it could not confirm.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from batchops.adapters import commitgraph, history, runner
from batchops.core import rollback as core
from batchops.core import timeutil
from batchops.core.rollback import DEFAULT_PATHS, FilePlan, Landing, Ref, Selection, Selector
from batchops.engines.rollback_trace import ROLLBACK_PREFIX, Scope, other_refs, trace
from batchops.errors import BatchopsError

T = TypeVar("T")

# The GitHub bound of one plan: every retry of the one call that meets an outage ends within
# API_DEADLINE seconds of its first failure, each attempt within API_TIMEOUT; then no more calls.
API_DEADLINE = 20.0
API_TIMEOUT = 5.0


@dataclass(frozen=True)
class Options:
    """What to roll back, and how."""

    cwd: Path
    selector: Selector
    paths: Sequence[str] = tuple(DEFAULT_PATHS)
    base_branch: str = ""
    token: str = ""
    repository: str = ""
    remote: str = "origin"
    force: bool = False
    dry_run: bool = True
    generated_at: str = ""
    dependents: bool = True  # look up recipes that depend on what the plan removes


@dataclass
class Outcome:
    document: dict[str, Any]
    plans: list[FilePlan]
    base: history.Base
    warnings: list[str]
    refs: list[Ref]
    selection: Selection
    landings: list[Landing] = field(default_factory=list)


class Api:
    """The GitHub lookups of one plan, ending at the first outage."""

    def __init__(self, token: str, repository: str) -> None:
        self.token, self.repository = token, repository
        self.down = ""  # why the API was given up on ('' while it answers)
        self.enabled = bool(token and repository)

    @property
    def usable(self) -> bool:
        return self.enabled and not self.down

    def call(self, doing: str, fn: Callable[..., T], *args: Any) -> T | None:
        """``fn(token, repository, *args)``, or None once GitHub is unavailable (the first outage is kept)."""
        if not self.usable:
            return None
        from batchops.adapters import github, pulls

        try:
            return fn(self.token, self.repository, *args, deadline=API_DEADLINE, timeout=API_TIMEOUT)
        except github.GitHubError as exc:
            if not pulls.is_outage(exc):
                raise
            self.down = f"{doing}: {exc.message}"
            return None


def plan_rollback(cwd: Path | str, selector: Selector | str, **options: Any) -> Outcome:
    """:func:`plan` with keyword options (``paths``, ``base_branch``, ``token``, ``repository`` …)."""
    if isinstance(selector, str):
        selector = Selector("batch-id", core.validate_batch_id(selector))
    return plan(Options(Path(cwd), selector, **options))


def plan(options: Options, *, graph: commitgraph.Graph | None = None) -> Outcome:
    """Find what shipped and decide per file (reads git and, with a token, the API; writes nothing
    but PR refs it fetches for PRs the API names). ``graph``: the commit graph of the base and every
    other ref, when the caller read it already (``batchops batches`` plans many batches on one)."""
    cwd = options.cwd
    prefixes = core.normalize_paths(options.paths)
    refs = history.list_refs(cwd)
    base = history.resolve_base(cwd, options.base_branch, refs)
    history.check_not_shallow(cwd)
    scope = Scope(cwd, base, refs, prefixes, graph=graph)
    if options.selector.kind == "batch-id" and graph is None:  # one walk of the base and every other ref
        tips = sorted({r.sha for r in other_refs(refs, base)})
        scope.walk = commitgraph.start(cwd, [base.sha, *tips])
        scope.started.append(scope.walk)
        scope.start_reader()
    elif graph is None:  # the first-parent line, listed while the selection is traced
        scope.listing = history.start_mainline(cwd, base.sha)
        scope.started.append(scope.listing)
    try:
        return _plan(options, scope)
    finally:
        scope.close()


def _plan(options: Options, scope: Scope) -> Outcome:
    warnings: list[str] = []
    base, selector = scope.base, options.selector
    if base.differs_from_origin:
        warnings.append(
            f"the local branch {base.name} differs from origin/{base.name}; the plan uses the local one "
            f"(run `git pull` or `git fetch` first if that is not what you want)"
        )
    api = Api(options.token, options.repository)
    if options.token and not options.repository:
        warnings.append(
            "github-token given but the repository is unknown (set GITHUB_REPOSITORY or `repository`); "
            "pull requests not looked up"
        )
    selection, main = _first_trace(options, scope, api)
    landings = _whole_squashes(selection, core.find_landings(selection, main))
    if selector.kind == "batch-id" and api.usable:
        selection, main, landings = _with_api(options, scope, api, selection, main, landings, warnings)
    if api.usable and landings:
        _name_landings(api, selection, landings)
    if not landings:
        elsewhere = sorted(r.removeprefix("refs/remotes/").removeprefix("refs/heads/") for r in selection.carriers)
        message, hint = core.not_found_message(selection, base.name, token=api.enabled, elsewhere=elsewhere)
        if api.down:
            message += f" (GitHub was unavailable, so merged pull requests were not looked up: {api.down})"
        raise BatchopsError(message, field=selector.kind, hint=hint)
    merges = _merges_of_carriers(scope, selection, landings)
    reported = core.unshipped_carriers(selection, landings, merges)
    files, outside = core.file_changes(landings, main, scope.prefixes)
    plans = core.decide(files, force=options.force, what=_what(selection.selector))
    found_dependents = _dependents(scope, plans, selection.search, selection.searched) if options.dependents else []
    document = core.plan_document(
        selection=selection,
        base_branch=base.name,
        base_sha=base.sha,
        paths=scope.prefixes,
        landings=landings,
        plans=plans,
        outside=outside,
        reported=reported,
        dependents_found=found_dependents,
        dry_run=options.dry_run,
        force=options.force,
        generated_at=options.generated_at or timeutil.iso(runner.now()),
    )
    if api.enabled:
        _note_api(document, api, landings, warnings)
    return Outcome(document, plans, base, warnings, scope.refs, selection, landings)


def _first_trace(options: Options, scope: Scope, api: Api) -> tuple[Selection, list[core.MainCommit]]:
    selector = options.selector
    if selector.kind != "pr" or not api.usable:
        return trace(scope, selector, dependents=options.dependents)
    from batchops.adapters import pulls

    info = api.call(f"reading PR #{selector.value}", pulls.get_pull, int(selector.value))
    if info is None and not api.down:
        raise BatchopsError(
            f"PR #{selector.value} not found in {api.repository}",
            field="pr",
            hint="check the number and the repository",
        )
    if info is None:
        return trace(scope, selector)
    direct: dict[str, str] = {}
    if info.merged and info.merge_commit_sha and history.is_ancestor(scope.cwd, info.merge_commit_sha, scope.base.sha):
        direct[info.merge_commit_sha] = "pull-request"
    has_ref = any(r.pr == info.number for r in scope.refs)
    if not has_ref and history.fetch_pull_refs(scope.cwd, options.remote, [info.number]):
        scope.renew_refs()
    selection, main = trace(scope, selector, direct=direct)
    selection.pr_urls[info.number] = info.html_url
    return selection, main


def _note_api(document: dict[str, Any], api: Api, landings: Sequence[Landing], warnings: list[str]) -> None:
    """Say which landings GitHub could not confirm when it was unavailable (screen, plan JSON, summary)."""
    if not api.down:
        document["github"] = {"available": True, "error": "", "unconfirmed_landings": []}
        return
    unconfirmed = [landing.sha for landing in landings]
    document["github"] = {"available": False, "error": api.down, "unconfirmed_landings": unconfirmed}
    shown = ", ".join(sha[:12] for sha in unconfirmed[:10]) + (" …" if len(unconfirmed) > 10 else "")
    warnings.append(
        f"GitHub was unavailable ({api.down}); the plan is by content from the history alone, and these "
        f"{len(unconfirmed)} landing(s) are not confirmed by the API: {shown}"
    )


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
    required = {
        path for (ref, path), blob in selection.tips.items() if ref in selection.carriers and blob != before.get(path)
    }
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
    options: Options,
    scope: Scope,
    api: Api,
    selection: Selection,
    main: list[core.MainCommit],
    landings: list[Landing],
    warnings: list[str],
) -> tuple[Selection, list[core.MainCommit], list[Landing]]:
    """Merged PRs the API says carry the batch: fetch the refs the checkout lacks and trace again;
    a PR whose commits cannot be fetched counts as a whole (its merge commit's diff)."""
    from batchops.adapters import pulls

    found = api.call("listing merged pull requests", pulls.find_batch_pulls, scope.base.name, selection.selector.value)
    if found is None:
        return selection, main, landings
    landed = {landing.sha for landing in landings}
    local = {r.pr for r in scope.refs if r.pr is not None}
    missing = [p for p in found if p.merge_commit_sha not in landed and p.number not in local]
    fetched = set(history.fetch_pull_refs(scope.cwd, options.remote, [p.number for p in missing])) if missing else set()
    direct: dict[str, str] = {}
    for pull in missing:
        if pull.number in fetched:
            continue
        if not history.is_ancestor(scope.cwd, pull.merge_commit_sha, scope.base.sha):
            warnings.append(
                f"PR #{pull.number} names the batch ({pull.why}) but its merge commit {pull.merge_commit_sha[:12]} "
                "is not in the history of the base branch; ignored"
            )
            continue
        direct[pull.merge_commit_sha] = "pull-request"
    if fetched or direct:
        if fetched:
            scope.renew_refs()
        history.grep_paths(selection.search)  # the first lookup is superseded
        selection, main = trace(scope, selection.selector, direct=direct, dependents=options.dependents)
    for pull in found:
        selection.pr_urls[pull.number] = pull.html_url
        if pull.merge_commit_sha:
            names = selection.pr_names.setdefault(pull.merge_commit_sha, [])
            if pull.number not in names:
                names.append(pull.number)
    return selection, main, core.find_landings(selection, main)


def _name_landings(api: Api, selection: Selection, landings: list[Landing]) -> None:
    from batchops.adapters import pulls

    unnamed = [landing.sha for landing in landings if not landing.pull_requests]
    named = (
        (api.call("looking up the pull requests of the landings", pulls.pulls_of_commits, unnamed) or {})
        if unnamed
        else {}
    )
    for landing in landings:
        for pull in named.get(landing.sha, []):
            if pull.number not in landing.pull_requests:
                landing.pull_requests.append(pull.number)
            selection.pr_urls[pull.number] = pull.html_url
        if landing.pull_requests:
            landing.candidates = []
        landing.pull_request_urls = [selection.pr_urls[n] for n in landing.pull_requests if selection.pr_urls.get(n)]


def _merges_of_carriers(scope: Scope, selection: Selection, landings: list[Landing]) -> dict[int, str]:
    credited = {n for landing in landings for n in (*landing.pull_requests, *landing.candidates)}
    numbers = [n for n in core.carrier_prs(selection) if n not in credited]
    if not numbers:
        return {}
    merges: dict[int, str] = {}
    for commit in history.merges_named(scope.cwd, scope.base.sha, numbers):
        number = core.pr_number_in_subject(commit.subject)
        if number is not None and number in numbers:
            merges.setdefault(number, commit.sha)
    for sha, names in selection.pr_names.items():
        for number in names:
            if number in numbers:
                merges.setdefault(number, sha)
    return merges


def _dependents(scope: Scope, plans: Sequence[FilePlan], search: Any, searched: Sequence[str]) -> list[dict[str, Any]]:
    """Recipes at the base tip that need a recipe the plan removes (``search``: the grep started
    early for the names in ``searched``, a superset)."""
    removed = {
        p.path: core.recipe_name(p.path)
        for p in plans
        if p.changes_tree and p.target is None and p.path.endswith(".toml")
    }
    paths = history.grep_paths(search)
    if not removed:
        return []
    if not set(removed.values()) <= set(searched):
        search = history.start_grep(scope.cwd, scope.base.sha, sorted(set(removed.values())), [""])
        paths = history.grep_paths(search)
    candidates = [path for path in paths if path.endswith(".toml") and path not in removed]
    texts = history.read_texts(scope.cwd, scope.base.sha, candidates)
    recipes = {path: text.decode("utf-8", "replace") for path, text in texts.items()}
    return core.dependents(removed, recipes, removed)


# --- applying the plan ------------------------------------------------------------------------------


@dataclass
class Applied:
    """What applying a plan did: the branch pushed, and the PR (or why it could not be opened)."""

    branch: str
    commit: str
    reused: bool = False
    pr_url: str = ""
    opened: bool = False
    pr_error: BatchopsError | None = None
    gh_command: str = ""  # the `gh pr create …` line that opens the PR by hand ('' once it is open)


def pr_title(document: dict[str, Any]) -> str:
    selector = document["selector"]
    return f"Roll back {Selector(selector['kind'], selector['value']).label}"


def gh_command(repository: str, base: str, branch: str, title: str, body_file: Path) -> str:
    """The exact `gh pr create` line (shell-quoted) that opens the rollback PR by hand."""
    return shlex.join(
        [
            "gh",
            "pr",
            "create",
            *(["--repo", repository] if repository else []),
            "--base",
            base,
            "--head",
            branch,
            "--title",
            title,
            "--body-file",
            str(body_file),
        ]
    )


def apply(options: Options, outcome: Outcome, body: str, body_file: Path) -> Applied:
    """Push the rollback commit on its branch and open (or find) its PR. A PR that cannot be opened
    leaves the branch pushed and the `gh pr create` line in :attr:`Applied.gh_command`."""
    from batchops.adapters.files import write_atomic

    document, selector = outcome.document, outcome.selection.selector
    branch = core.branch_name(selector)
    commit, reused = _branch(options.cwd, options.remote, outcome, branch)
    applied = Applied(branch, commit, reused)
    title = pr_title(document)
    if options.token and options.repository:
        from batchops.adapters import github, pulls

        try:
            applied.pr_url, applied.opened = pulls.open_or_find_pull(
                options.token,
                options.repository,
                outcome.base.name,
                branch,
                title,
                body,
                deadline=API_DEADLINE,
                timeout=API_TIMEOUT,
            )
            return applied
        except github.GitHubError as exc:
            applied.pr_error = exc
    write_atomic(body_file, body)
    applied.gh_command = gh_command(options.repository, outcome.base.name, branch, title, body_file)
    return applied


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


def _branch(cwd: Path, remote: str, outcome: Outcome, branch: str) -> tuple[str, bool]:
    """The rollback commit on ``branch``, pushed: (commit, True when an earlier run's branch was kept)."""
    selector, plans = outcome.selection.selector, outcome.plans
    built = history.build_commit(cwd, outcome.base.sha, plans, core.commit_message(outcome.document, plans))
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
    readable = history.resolve_commit(cwd, existing)
    why = _same_rollback(cwd, existing, built, outcome.base.sha, selector) if readable else "its commit cannot be read"
    if why:
        where = f"on {remote}" if pushed else "locally"
        raise BatchopsError(
            f"branch {branch} already exists {where} and {why}: "
            f"{selector.label} already has another rollback in progress",
            hint=f"review and merge its pull request, or delete the branch (git push {remote} --delete {branch}; "
            f"git branch -D {branch}) to start over",
        )
    if not local:
        history.set_branch(cwd, branch, existing, expected="")
    if not pushed:
        history.push_branch(cwd, remote, branch, existing)
    return existing, True
