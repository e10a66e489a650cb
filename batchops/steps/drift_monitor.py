"""drift-monitor: re-verify upstream checksum files; one deduplicated security issue per drift.

A checksum file that changes for a version that was already published is how a
supply-chain compromise (or a silent re-publication) shows. For every recipe this
step resolves the current version, renders each ``checksum_url`` for the platforms
asked for, fetches the files concurrently (:mod:`batchops.adapters.http`) and
compares their SHA-256 with the baseline (:mod:`batchops.core.drift`): ``new``,
``ok``, ``pending``, ``drift`` or ``unverifiable`` (network failure, HTTP error,
truncated or oversized body, version not resolvable, a deadline passed: never drift
and never ok). A recipe that cannot be read is reported and skipped.

Drifts are reconciled with GitHub (:mod:`batchops.adapters.github`): one paginated
listing of the open issues that carry the drift labels (pull requests left out); only
fingerprints not found there are looked for with one marker search, within the search
quota; a fingerprint an open issue carries gets a comment there, the others get one
issue each, or past ``core.drift.GROUP_THRESHOLD`` new ones in a run, grouped issues.

The baseline changes only through the operations ``drift.record`` and ``drift.accept``,
so persist-with-retry can re-apply them on the remote's copy.
"""

from __future__ import annotations

import argparse
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, files, runner, schema
from batchops.adapters import git as gitcmd
from batchops.adapters import github as gh
from batchops.adapters import recipes as recipe_files
from batchops.adapters.http import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT, Fetcher, FetchResult
from batchops.flags import (
    add_input,
    add_now,
    clock,
    parse_bool,
    parse_float,
    parse_int,
    parse_list,
)
from batchops.core import control, drift, escape, recipes, timeutil
from batchops.core.drift import STATUSES, Check, Finding, Resolved, Unresolved, empty_baseline
from batchops.errors import UsageError
from batchops.render import drift as render
from batchops.steps import Step, StepResult

TITLE = "drift-monitor"
DEFAULT_BASELINE = "checksum-baseline.json"
DEFAULT_RECIPES_DIR = "recipes"
DEFAULT_LABELS = "security,checksum-drift"
DEFAULT_GRACE = "24h"
MAX_INDEX_BYTES = 32 * 1024 * 1024  # the Node.js dist index is a few hundred KiB
DEFAULT_NODEJS_DIST = "https://nodejs.org/dist"
LABEL_COLORS = {"security": "d73a4a", "checksum-drift": "fbca04"}
MIN_STEP_DEADLINE = 60.0
STEP_DEADLINE_FACTOR = 10  # the fetch phase of a run ends within max(60 s, 10 x timeout)
MAX_DRIFT_ANNOTATIONS = 10  # GitHub shows 10 warnings per step; the rest are in the summary


def step_deadline_seconds(timeout: float) -> float:
    return max(MIN_STEP_DEADLINE, STEP_DEADLINE_FACTOR * timeout)


# --- versions ----------------------------------------------------------------------------


def _check_version(version: str, where: str) -> str:
    if not recipes.VERSION_PATTERN.match(version):
        raise _Unresolvable(f"{where} gave {escape.one_line(version[:80])!r}, which is not a usable version string")
    return version


class _Unresolvable(Exception):
    pass


class Resolver:
    """Current versions: GitHub latest release (PyGithub), the Node.js dist index, or pinned."""

    def __init__(self, *, token: str, api_url: str, nodejs_url: str, timeout: float, fetcher: Fetcher, workers: int = 8) -> None:
        self.token = token
        self.api_url = api_url.rstrip("/")
        self.nodejs_url = nodejs_url.rstrip("/")
        self.timeout = timeout
        self.fetcher = fetcher
        self.workers = workers
        self._local = threading.local()
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str, str], Future[Resolved | Unresolved]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def _github(self) -> Any:
        client = getattr(self._local, "github", None)
        if client is None:
            client = gh.client(self.token, base_url=self.api_url, timeout=min(self.timeout, gh.TIMEOUT), lazy=True)
            self._local.github = client
        return client

    def github_release(self, repo: str, tag_prefix: str) -> Resolved:
        from github import GithubException

        try:
            release = self._github().get_repo(repo).get_latest_release()
            tag = str(release.tag_name or "")
            published = release.published_at
        except GithubException as exc:
            if exc.status == 404:
                raise _Unresolvable(f"GitHub has no published release for {repo} (404)") from None
            raise _Unresolvable(f"GitHub refused the release lookup for {repo}: {gh.reason(exc)}") from None
        except Exception as exc:  # network errors surface as requests exceptions
            raise _Unresolvable(f"release lookup for {repo}: {gh.reason(exc)}") from None
        if tag_prefix and not tag.startswith(tag_prefix):
            raise _Unresolvable(f"latest release tag {escape.one_line(tag[:80])!r} of {repo} does not start with tag_prefix {tag_prefix!r}")
        version = _check_version(tag[len(tag_prefix):], f"the latest release of {repo}")
        return Resolved(version, tag, recipes.SOURCE_GITHUB, timeutil.iso(published) if published else "")

    def nodejs(self, tag_prefix: str) -> Resolved:
        import json

        url = f"{self.nodejs_url}/index.json"
        result = self.fetcher.fetch(url, max_bytes=MAX_INDEX_BYTES, keep_body=True)
        if result.error:
            raise _Unresolvable(f"Node.js dist index {url}: {result.error}")
        try:
            index = json.loads(result.body or b"")
            newest = index[0]
            tag = str(newest["version"])
        except (ValueError, LookupError, TypeError, RecursionError):
            raise _Unresolvable(f"Node.js dist index {url} is not a list of releases") from None
        version = _check_version(tag[len(tag_prefix):] if tag.startswith(tag_prefix) else tag, "the Node.js dist index")
        published = str(newest.get("date") or "") if isinstance(newest, dict) else ""
        published_iso = ""
        if published:
            parsed = timeutil.parse_iso_or_none(published if "T" in published else published + "T00:00:00Z")
            published_iso = timeutil.iso(parsed) if parsed else ""
        return Resolved(version, tag, recipes.SOURCE_NODEJS, published_iso)

    def submit(self, recipe: recipes.Recipe) -> Future[Resolved | Unresolved]:
        """Start resolving ``recipe``'s version; each GitHub repository (and the Node.js index) is asked once."""
        spec = recipe.version
        if spec.source == recipes.SOURCE_PINNED:
            try:
                version = _check_version(spec.pinned, f"[version] of {recipe.relpath}")
                return _done(Resolved(version, spec.tag_prefix + version, recipes.SOURCE_PINNED))
            except _Unresolvable as exc:
                return _done(Unresolved(str(exc)))
        if spec.source == recipes.SOURCE_GITHUB:
            key = ("github", spec.github_repo, spec.tag_prefix)
            job: Callable[[], Resolved] = lambda: self.github_release(spec.github_repo, spec.tag_prefix)  # noqa: E731
        elif spec.source == recipes.SOURCE_NODEJS:
            key = ("nodejs", "", spec.tag_prefix)
            job = lambda: self.nodejs(spec.tag_prefix)  # noqa: E731
        elif spec.source:
            return _done(Unresolved(f"version source {escape.one_line(spec.source[:40])!r} is not supported by drift-monitor (use github_repo, nodejs_dist or a pinned version)"))
        else:
            return _done(Unresolved("the recipe has no [version] github_repo, source or pinned version"))
        with self._lock:
            if key not in self._jobs:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="drift-version")
                self._jobs[key] = self._pool.submit(_capture, job)
            return self._jobs[key]

    def resolve_all(self, items: Sequence[recipes.Recipe]) -> dict[str, Resolved | Unresolved]:
        futures = {recipe.name: self.submit(recipe) for recipe in items}
        return {name: future.result() for name, future in futures.items()}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _done(value: Resolved | Unresolved) -> Future[Resolved | Unresolved]:
    future: Future[Resolved | Unresolved] = Future()
    future.set_result(value)
    return future


def _capture(job: Callable[[], Resolved]) -> Resolved | Unresolved:
    try:
        return job()
    except _Unresolvable as exc:
        return Unresolved(str(exc))


# --- selecting recipes (since) ----------------------------------------------------------


def changed_recipes(recipes_dir: str | Path, since: timedelta, now: datetime) -> set[str]:
    """Paths (relative to ``recipes_dir``) of recipe files changed on the current branch since ``now - since``.

    One ``git log`` over the first-parent history: a PR merged by a merge
    commit counts at the time of the merge, whatever its commits' dates.
    """
    cutoff = timeutil.iso(now - since)
    folder = Path(recipes_dir)
    args = ["log", f"--since={cutoff}", "--first-parent", "--diff-merges=first-parent", "--name-only", "--relative", "--pretty=format:", "--", "."]
    try:
        proc = gitcmd.run(folder, args, check=False)
    except gitcmd.GitError as exc:
        raise UsageError(f"cannot run git: {exc.message}", field="since", hint="install git, or leave since empty to check every recipe") from None
    if proc.returncode != 0:
        raise UsageError(
            f"git log failed: {escape.one_line(proc.stderr.decode('utf-8', 'replace').strip()[:200])}",
            file=str(folder),
            field="since",
            hint="since needs recipes-dir inside a git checkout with history (actions/checkout with fetch-depth: 0), or leave since empty",
        )
    text = proc.stdout.decode("utf-8", "replace")
    return {line.strip() for line in text.splitlines() if line.strip().endswith(".toml")}


# --- issues ------------------------------------------------------------------------------


@dataclass
class IssueResult:
    fingerprint: str
    action: str  # created, commented, failed
    url: str = ""
    number: int | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"fingerprint": self.fingerprint, "action": self.action, "url": self.url}
        if self.number is not None:
            data["number"] = self.number
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class Issues:
    results: list[IssueResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # warnings for the log and summary


def raise_issues(
    drifts: Sequence[Finding],
    *,
    token: str,
    api_url: str,
    repository: str,
    labels: Sequence[str],
    at: str,
    timeout: float,
    run_url: str = "",
) -> Issues:
    """Reconcile this run's drifts with the open drift issues; comment or open (see the module docstring)."""
    from github import GithubException

    groups = drift.group_by_fingerprint(drifts)
    out = Issues()
    if not groups:
        return out
    client = gh.client(token, base_url=api_url, timeout=min(timeout, gh.TIMEOUT))
    try:
        repo = client.get_repo(repository)
        out.notes.extend(gh.ensure_labels(repo, labels, LABEL_COLORS, description="Opened by batchops drift-monitor"))
        issues: dict[int, Any] = {}
        open_by_fp: dict[str, int] = {}
        for issue in gh.open_issues_with_label(repo, list(labels)):
            issues[issue.number] = issue
            for fp in drift.markers(issue.body):
                open_by_fp.setdefault(fp, issue.number)
        if labels and any(fp not in open_by_fp for fp in groups):
            found = gh.find_by_marker(client, repository, drift.MARKER)
            for issue in found.issues:
                for fp in drift.markers(issue.body):
                    if fp not in open_by_fp:
                        open_by_fp[fp] = issue.number
                        issues.setdefault(issue.number, issue)
            if not found.complete:
                out.notes.append(f"the search for unlabelled drift issues was cut short ({found.note}): a drift whose issue lost its labels may get a second issue")
    except (gh.GitHubError, GithubException) as exc:
        error = gh.GitHubError.wrap(exc, "looking for open drift issues")
        out.results = [IssueResult(fp, "failed", error=error.render()) for fp in groups]
        return out
    except Exception as exc:  # network
        why = gh.reason(exc)
        out.results = [IssueResult(fp, "failed", error=f"looking for open drift issues: {why}") for fp in groups]
        return out
    todo = drift.plan_issues(list(groups), open_by_fp)
    if todo.grouped:
        out.notes.append(
            f"{sum(len(c) for c in todo.create)} new drifts in one run (more than {drift.GROUP_THRESHOLD}): "
            f"listed in {len(todo.create)} grouped issue(s) instead of one issue each"
        )
    stopped = ""  # once GitHub's rate limit stops us, the rest is not attempted

    def fail(fps: Sequence[str], error: str) -> None:
        out.results.extend(IssueResult(fp, "failed", error=error) for fp in fps)

    for number, fps in todo.comment.items():
        if stopped:
            fail(fps, stopped)
            continue
        issue = issues[number]
        try:
            issue.create_comment(render.comment_body([f for fp in fps for f in groups[fp]], at=at, run_url=run_url))
            out.results.extend(IssueResult(fp, "commented", issue.html_url, issue.number) for fp in fps)
        except Exception as exc:
            error = gh.GitHubError.wrap(exc, f"commenting on drift issue #{number}")
            fail(fps, error.render())
            if gh.is_rate_limited(exc):
                stopped = error.render()
    for fps in todo.create:
        if stopped:
            fail(fps, stopped)
            continue
        chosen = {fp: groups[fp] for fp in fps}
        try:
            created = repo.create_issue(
                title=render.issue_title(chosen)[:256],
                body=render.issue_body(chosen, at=at, run_url=run_url),
                labels=list(labels),
            )
            out.results.extend(IssueResult(fp, "created", created.html_url, created.number) for fp in fps)
        except Exception as exc:
            error = gh.GitHubError.wrap(exc, "opening a drift issue")
            fail(fps, error.render())
            if gh.is_rate_limited(exc):
                stopped = error.render()
    return out


# --- the run -----------------------------------------------------------------------------


def load_baseline(path: str | Path) -> dict[str, Any]:
    if not Path(path).exists():
        return empty_baseline()
    return controlfile.load(path, schema_name="drift-baseline")


def default_report_file() -> str:
    """Where the report goes when `report-file` is empty: the job's temp folder, else the working directory."""
    job = runner.job_temp_dir()
    return str(job / "batchops" / "drift-report.json") if job else "drift-report.json"


@dataclass
class RunConfig:
    recipes_dir: str
    baseline_file: str
    since: str = ""
    grace: str = DEFAULT_GRACE
    token: str = ""
    labels: list[str] = field(default_factory=lambda: DEFAULT_LABELS.split(","))
    platforms: list[recipes.Platform] = field(default_factory=lambda: recipes.parse_platforms(""))
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    api_url: str = "https://api.github.com"
    nodejs_url: str = DEFAULT_NODEJS_DIST
    repository: str = ""
    run_url: str = ""


@dataclass
class RunResult:
    findings: list[Finding]
    issues: list[IssueResult]
    recipes_read: int
    checked: int
    issues_enabled: bool
    skipped_files: list[recipes.RecipeError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.findings if f.status == status)


def monitor(config: RunConfig, now: datetime) -> RunResult:
    """Everything but the runner I/O: select, resolve, fetch, classify, record, raise issues."""
    at = timeutil.iso(now)
    grace = timeutil.parse_duration(config.grace, field="grace-period")
    baseline = load_baseline(config.baseline_file)
    only = changed_recipes(config.recipes_dir, timeutil.parse_duration(config.since, field="since"), now) if config.since else None
    findings: list[Finding] = []
    checks: list[Check] = []
    unreadable: list[recipes.RecipeError] = []
    recipes_read = 0
    budget = step_deadline_seconds(config.timeout)
    deadline = time.monotonic() + budget
    fetcher = Fetcher(workers=config.concurrency, timeout=config.timeout, step_deadline=deadline)
    resolver = Resolver(token=config.token, api_url=config.api_url, nodejs_url=config.nodejs_url, timeout=config.timeout, fetcher=fetcher)
    downloads: dict[str, Future[FetchResult]] = {}
    results: dict[str, FetchResult] = {}
    # Recipes are read first; then pinned versions start downloading at once while the
    # GitHub lookups are in flight, and each resolved recipe follows.
    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="drift-fetch") as pool:

        def start(recipe: recipes.Recipe, resolved: Resolved | Unresolved) -> None:
            planned, early = drift.plan([recipe], {recipe.name: resolved}, config.platforms)
            findings.extend(early)
            checks.extend(planned)
            for check in planned:
                if check.target.url not in downloads:
                    downloads[check.target.url] = pool.submit(fetcher.fetch, check.target.url)

        waiting: list[tuple[recipes.Recipe, Future[Resolved | Unresolved]]] = []
        try:
            for item in list(recipe_files.iter_dir(config.recipes_dir, only=only)):
                recipes_read += 1
                if isinstance(item, recipes.RecipeError):
                    unreadable.append(item)
                    findings.append(Finding(_stem(item.file), _relative(item.file, config.recipes_dir), "unverifiable", reason=f"cannot read the recipe: {item.message}"))
                    continue
                if not any(recipes.steps_for(item, p) for p in config.platforms):
                    start(item, Unresolved("not needed"))  # plan() reports it as skipped
                    continue
                version = resolver.submit(item)
                if version.done():
                    start(item, version.result())
                else:
                    waiting.append((item, version))
            for item, version in waiting:
                try:
                    resolved = version.result(timeout=max(0.0, deadline - time.monotonic()))
                except FutureTimeout:
                    resolved = Unresolved(f"the version lookup did not finish within the run's deadline ({budget:g}s)")
                start(item, resolved)
            for url, future in downloads.items():
                try:
                    results[url] = future.result(timeout=max(0.0, deadline - time.monotonic()) + 1.0)
                except FutureTimeout:
                    results[url] = FetchResult(url, error="not fetched: the run's deadline passed before this download could complete")
        finally:
            resolver.close()
            pool.shutdown(wait=False, cancel_futures=True)
            fetcher.close()
    classified, entries = drift.classify(checks, results, baseline, now=now, grace=grace)
    findings += classified
    if entries:
        controlfile.mutate(
            config.baseline_file,
            "drift.record",
            {"at": at, "entries": entries},
            at=at,
            schema_name="drift-baseline",
            document=None if Path(config.baseline_file).exists() else empty_baseline(),
        )
    drifts = [f for f in findings if f.status == "drift"]
    issues: list[IssueResult] = []
    notes: list[str] = []
    issues_enabled = bool(config.token)
    if drifts and issues_enabled:
        if not config.repository:
            issues = [IssueResult(fp, "failed", error="GITHUB_REPOSITORY is not set: no repository to open the issue in") for fp in dict.fromkeys(f.fingerprint for f in drifts)]
        else:
            raised = raise_issues(drifts, token=config.token, api_url=config.api_url, repository=config.repository, labels=config.labels, at=at, timeout=config.timeout, run_url=config.run_url)
            issues, notes = raised.results, raised.notes
        by_fp = {i.fingerprint: i.url for i in issues if i.url}
        for finding in drifts:
            finding.issue_url = by_fp.get(finding.fingerprint, "")
    drift.sort_findings(findings)
    return RunResult(findings, issues, recipes_read, len(checks), issues_enabled, unreadable, notes)


def _stem(path: str | None) -> str:
    return Path(str(path or "")).stem


def _relative(path: str | None, folder: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).relative_to(folder).as_posix()
    except ValueError:
        return str(path)


def build_report(result: RunResult, config: RunConfig, at: str) -> dict[str, Any]:
    counts = {"recipes": result.recipes_read, "checked": result.checked}
    counts.update({status: result.count(status) for status in STATUSES})
    return {
        "generated_at": at,
        "recipes_dir": config.recipes_dir,
        "baseline_file": config.baseline_file,
        "platforms": [str(p) for p in config.platforms],
        "grace_period": config.grace.strip(),
        "since": config.since.strip(),
        "counts": counts,
        "drift": result.count("drift") > 0,
        "issues_enabled": result.issues_enabled,
        "findings": [f.to_json() for f in result.findings],
        "issues": [i.to_json() for i in result.issues],
    }


# --- the step ----------------------------------------------------------------------------


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "recipes-dir", "folder of recipe .toml files (searched recursively)", default=DEFAULT_RECIPES_DIR)
    add_input(parser, "baseline-file", "checksum baseline (JSON, committed; created on first run)", default=DEFAULT_BASELINE)
    add_input(parser, "since", "only recipes whose file changed in git within this duration (24h, 7d); empty: every recipe", default="")
    add_input(parser, "grace-period", "releases younger than this never alarm: a changed checksum is 'pending' and the baseline follows (0 disables)", default=DEFAULT_GRACE)
    add_input(parser, "github-token", "token for the GitHub API (release lookups, issues); empty: report only, no issue", default="")
    add_input(parser, "labels", "labels of the drift issue (created when missing)", default=DEFAULT_LABELS)
    add_input(parser, "fail-on-drift", "exit non-zero when drift is found", default="false")
    add_input(parser, "platforms", "os/arch platforms whose checksum URLs are checked", default="linux/amd64")
    add_input(parser, "report-file", "where the JSON report is written (default: $RUNNER_TEMP/batchops/drift-report.json, else ./drift-report.json)", default="")
    add_input(parser, "concurrency", "parallel downloads", default=str(DEFAULT_CONCURRENCY))
    add_input(parser, "timeout", "seconds per checksum file, in total (connect, headers, body, redirects, retry)", default=str(int(DEFAULT_TIMEOUT)))
    add_input(parser, "nodejs-dist-url", "base URL of the Node.js dist index (also BATCHOPS_NODEJS_DIST_URL)", default="")
    add_now(parser)


def config_from(args: argparse.Namespace) -> RunConfig:
    grace_text = str(args.grace_period or "0").strip()
    timeutil.parse_duration(grace_text, field="grace-period")
    since_text = str(args.since or "").strip()
    if since_text:
        timeutil.parse_duration(since_text, field="since")
    return RunConfig(
        recipes_dir=str(args.recipes_dir),
        baseline_file=str(args.baseline_file),
        since=since_text,
        grace=grace_text,
        token=(args.github_token or "").strip(),
        labels=parse_list(args.labels, field="labels"),
        platforms=recipes.parse_platforms(args.platforms),
        concurrency=parse_int(args.concurrency, field="concurrency", minimum=1),
        timeout=parse_float(args.timeout, field="timeout", minimum=0.1),
        api_url=runner.api_url(),
        nodejs_url=(args.nodejs_dist_url or runner.setting("BATCHOPS_NODEJS_DIST_URL") or DEFAULT_NODEJS_DIST),
        repository=runner.repository(),
        run_url=runner.run_url(),
    )


def run(args: argparse.Namespace) -> StepResult:
    token = (args.github_token or "").strip()
    runner.mask(token)  # before anything else is printed
    now = clock(args)
    at = timeutil.iso(now)
    config = config_from(args)
    fail_on_drift = parse_bool(args.fail_on_drift, field="fail-on-drift")
    report_file = args.report_file or default_report_file()
    outcome = monitor(config, now)
    report = build_report(outcome, config, at)
    schema.validate(report, "drift-report", file=report_file)
    files.write_atomic(report_file, control.dumps(report))
    issue_urls = list(dict.fromkeys(i.url for i in outcome.issues if i.url))
    result = StepResult(
        outputs={
            "drift": report["drift"],
            "drifted-count": report["counts"]["drift"],
            "unverifiable-count": report["counts"]["unverifiable"],
            "pending-count": report["counts"]["pending"],
            "report-file": report_file,
            "baseline-file": config.baseline_file,
            "issue-url": "\n".join(issue_urls),
        }
    )
    verbose = runner.setting("RUNNER_DEBUG") == "1"  # Actions debug logging: every recipe, with its reason
    details = f"batchops drift report --verbose {shlex.quote(report_file)}"
    for line in render.terminal_lines(outcome.findings, verbose=verbose, details=details):
        result.say(line)
    for item in outcome.skipped_files:
        result.warning(escape.one_line(item.render()), title=f"{TITLE}: recipe skipped")
    for note in outcome.notes:
        result.warning(escape.one_line(note), title=TITLE)
    result.section(
        render.summary(
            outcome.findings, outcome.issues, report["counts"], drift=report["drift"], issues_enabled=outcome.issues_enabled,
            report_file=report_file, notes=outcome.notes,
        )
    )
    failed = [i for i in outcome.issues if i.action == "failed"]
    drifts = [f for f in outcome.findings if f.status == "drift"]
    annotate = result.error if fail_on_drift else result.warning
    for finding in drifts[:MAX_DRIFT_ANNOTATIONS]:
        annotate(escape.one_line(f"checksum drift: {finding.recipe} {finding.version}: {finding.url} now has sha256 {finding.actual}, recorded {finding.expected}"), title=TITLE)
    if len(drifts) > MAX_DRIFT_ANNOTATIONS:
        annotate(f"… and {len(drifts) - MAX_DRIFT_ANNOTATIONS} more checksum drifts: see the step summary and the report file", title=TITLE)
    if report["drift"] and not outcome.issues_enabled:
        result.warning("checksum drift found but no github-token was given: report only, no issue was opened", title=TITLE)
    if report["counts"]["unverifiable"]:
        result.notice(f"{report['counts']['unverifiable']} checksum file(s) or recipe(s) could not be verified; see the step summary", title=TITLE)
    if failed:
        result.error(
            escape.one_line(f"checksum drift found but {len(failed)} issue(s) could not be opened or updated: {failed[0].error}"),
            title=TITLE,
        )
        result.exit_code = 1
    elif report["drift"] and fail_on_drift:
        result.exit_code = 1
    return result


STEP = Step(
    name="drift-monitor",
    help="re-fetch upstream checksum files, compare with the baseline, open one issue per drift",
    configure=_configure,
    run=run,
    fail_closed={
        "drift": False,
        "drifted-count": 0,
        "unverifiable-count": 0,
        "pending-count": 0,
        "report-file": "",
        "baseline-file": "",
        "issue-url": "",
    },
)

__all__ = [
    "STEP",
    "Fetcher",
    "Finding",
    "Resolver",
    "changed_recipes",
    "monitor",
    "raise_issues",
]
