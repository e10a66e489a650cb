"""drift-monitor's run, shared by the step and ``batchops drift``: select, resolve, fetch, classify, record, report.

For every recipe the run resolves the current version (:mod:`batchops.engines.drift_versions`), renders
each ``checksum_url`` for the platforms asked for, fetches the files concurrently
(:mod:`batchops.adapters.http`) and compares their SHA-256 with the baseline (:mod:`batchops.core.drift`):
``new``, ``ok``, ``pending``, ``drift`` or ``unverifiable`` (network failure, HTTP error, truncated or
oversized body, version not resolvable, a deadline passed: never drift and never ok). A recipe that cannot
be read is reported and skipped. Drifts are reconciled with GitHub (:mod:`batchops.engines.drift_issues`).

The baseline changes only through the operations ``drift.record`` and ``drift.accept``, so
persist-with-retry can re-apply them on the remote's copy. Typed options in (:class:`RunConfig`), a typed
result out (:class:`RunResult`); nothing here prints.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, runner
from batchops.adapters import git as gitcmd
from batchops.adapters import recipes as recipe_files
from batchops.adapters.http import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT, Fetcher, FetchResult
from batchops.core import drift, escape, recipes, timeutil
from batchops.core.drift import STATUSES, Check, Finding, Resolved, Unresolved, empty_baseline
from batchops.engines.drift_issues import IssueResult, raise_issues
from batchops.engines.drift_versions import DEFAULT_NODEJS_DIST, Resolver
from batchops.errors import UsageError

DEFAULT_BASELINE = "checksum-baseline.json"
DEFAULT_RECIPES_DIR = "recipes"
DEFAULT_LABELS = "security,checksum-drift"
DEFAULT_GRACE = "24h"
MIN_STEP_DEADLINE = 60.0
STEP_DEADLINE_FACTOR = 10  # the fetch phase of a run ends within max(60 s, 10 x timeout)


def step_deadline_seconds(timeout: float) -> float:
    return max(MIN_STEP_DEADLINE, STEP_DEADLINE_FACTOR * timeout)


# --- selecting recipes (since) ----------------------------------------------------------


def changed_recipes(recipes_dir: str | Path, since: timedelta, now: datetime) -> set[str]:
    """Paths (relative to ``recipes_dir``) of recipe files changed on the current branch since ``now - since``.

    One ``git log`` over the first-parent history: a PR merged by a merge
    commit counts at the time of the merge, whatever its commits' dates.
    """
    cutoff = timeutil.iso(now - since)
    folder = Path(recipes_dir)
    args = [
        "log",
        f"--since={cutoff}",
        "--first-parent",
        "--diff-merges=first-parent",
        "--name-only",
        "--relative",
        "--pretty=format:",
        "--",
        ".",
    ]
    try:
        proc = gitcmd.run(folder, args, check=False)
    except gitcmd.GitError as exc:
        hint = "install git, or leave since empty to check every recipe"
        raise UsageError(f"cannot run git: {exc.message}", field="since", hint=hint) from None
    if proc.returncode != 0:
        raise UsageError(
            f"git log failed: {escape.one_line(proc.stderr.decode('utf-8', 'replace').strip()[:200])}",
            file=str(folder),
            field="since",
            hint="since needs recipes-dir inside a git checkout with history (actions/checkout with fetch-depth: 0), "
            "or leave since empty",
        )
    text = proc.stdout.decode("utf-8", "replace")
    return {line.strip() for line in text.splitlines() if line.strip().endswith(".toml")}


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
    dry_run: bool = False  # classify and report only: the baseline is not written, no issue is opened


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

    @property
    def verified(self) -> int:
        """Checksum files whose bytes were compared with a baseline or recorded (ok, new, pending, drift)."""
        return sum(1 for f in self.findings if f.status in ("ok", "new", "pending", "drift"))

    @property
    def verified_nothing(self) -> bool:
        """Something was to be verified and nothing could be: the run proves nothing (e.g. the network is down)."""
        return self.verified == 0 and self.count("unverifiable") > 0


@dataclass
class _Fetching:
    """One run's fetch phase: version lookups and downloads in flight, all ending by ``deadline``."""

    config: RunConfig
    budget: float
    deadline: float
    fetcher: Fetcher
    resolver: Resolver
    pool: ThreadPoolExecutor
    findings: list[Finding] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    downloads: dict[str, Future[FetchResult]] = field(default_factory=dict)

    def start(self, recipe: recipes.Recipe, resolved: Resolved | Unresolved) -> None:
        planned, early = drift.plan([recipe], {recipe.name: resolved}, self.config.platforms)
        self.findings.extend(early)
        self.checks.extend(planned)
        for check in planned:
            if check.target.url not in self.downloads:
                self.downloads[check.target.url] = self.pool.submit(self.fetcher.fetch, check.target.url)

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def resolve_late(self, waiting: list[tuple[recipes.Recipe, Future[Resolved | Unresolved]]]) -> None:
        for item, version in waiting:
            try:
                resolved = version.result(timeout=self.left())
            except FutureTimeout:
                resolved = Unresolved(f"the version lookup did not finish within the run's deadline ({self.budget:g}s)")
            self.start(item, resolved)

    def results(self) -> dict[str, FetchResult]:
        results: dict[str, FetchResult] = {}
        for url, future in self.downloads.items():
            try:
                results[url] = future.result(timeout=self.left() + 1.0)
            except FutureTimeout:
                results[url] = FetchResult(
                    url, error="not fetched: the run's deadline passed before this download could complete"
                )
        return results


def _fetch(config: RunConfig, only: set[str] | None) -> tuple[_Fetching, dict[str, FetchResult], int, list[Any]]:
    """Read the recipes; pinned versions start downloading at once while the GitHub lookups are in flight,
    and each resolved recipe follows. (fetching, results by URL, recipes read, unreadable recipes)"""
    budget = step_deadline_seconds(config.timeout)
    deadline = time.monotonic() + budget
    fetcher = Fetcher(workers=config.concurrency, timeout=config.timeout, step_deadline=deadline)
    resolver = Resolver(
        token=config.token,
        api_url=config.api_url,
        nodejs_url=config.nodejs_url,
        timeout=config.timeout,
        fetcher=fetcher,
    )
    unreadable: list[recipes.RecipeError] = []
    recipes_read = 0
    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="drift-fetch") as pool:
        run = _Fetching(config, budget, deadline, fetcher, resolver, pool)
        waiting: list[tuple[recipes.Recipe, Future[Resolved | Unresolved]]] = []
        try:
            for item in list(recipe_files.iter_dir(config.recipes_dir, only=only)):
                recipes_read += 1
                if isinstance(item, recipes.RecipeError):
                    unreadable.append(item)
                    where = _relative(item.file, config.recipes_dir)
                    reason = f"cannot read the recipe: {item.message}"
                    run.findings.append(Finding(_stem(item.file), where, "unverifiable", reason=reason))
                    continue
                if not any(recipes.steps_for(item, p) for p in config.platforms):
                    run.start(item, Unresolved("not needed"))  # plan() reports it as skipped
                    continue
                version = resolver.submit(item)
                if version.done():
                    run.start(item, version.result())
                else:
                    waiting.append((item, version))
            run.resolve_late(waiting)
            results = run.results()
        finally:
            resolver.close()
            pool.shutdown(wait=False, cancel_futures=True)
            fetcher.close()
    return run, results, recipes_read, unreadable


def monitor(config: RunConfig, now: datetime) -> RunResult:
    """Everything but the runner I/O: select, resolve, fetch, classify, record, raise issues."""
    at = timeutil.iso(now)
    grace = timeutil.parse_duration(config.grace, field="grace-period")
    baseline = load_baseline(config.baseline_file)
    since = timeutil.parse_duration(config.since, field="since") if config.since else None
    only = changed_recipes(config.recipes_dir, since, now) if since is not None else None
    run, results, recipes_read, unreadable = _fetch(config, only)
    findings = run.findings
    classified, entries = drift.classify(run.checks, results, baseline, now=now, grace=grace)
    findings += classified
    if entries and not config.dry_run:
        controlfile.mutate(
            config.baseline_file,
            "drift.record",
            {"at": at, "entries": entries},
            at=at,
            schema_name="drift-baseline",
            document=None if Path(config.baseline_file).exists() else empty_baseline(),
        )
    issues, notes = _issues(config, findings, at)
    drift.sort_findings(findings)
    return RunResult(findings, issues, recipes_read, len(run.checks), bool(config.token), unreadable, notes)


def _issues(config: RunConfig, findings: list[Finding], at: str) -> tuple[list[IssueResult], list[str]]:
    drifts = [f for f in findings if f.status == "drift"]
    if not drifts or not config.token or config.dry_run:
        return [], []
    notes: list[str] = []
    if not config.repository:
        missing = "GITHUB_REPOSITORY is not set: no repository to open the issue in"
        issues = [IssueResult(fp, "failed", error=missing) for fp in dict.fromkeys(f.fingerprint for f in drifts)]
    else:
        raised = raise_issues(
            drifts,
            token=config.token,
            api_url=config.api_url,
            repository=config.repository,
            labels=config.labels,
            at=at,
            timeout=config.timeout,
            run_url=config.run_url,
        )
        issues, notes = raised.results, raised.notes
    by_fp = {i.fingerprint: i.url for i in issues if i.url}
    for finding in drifts:
        finding.issue_url = by_fp.get(finding.fingerprint, "")
    return issues, notes


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


__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_NODEJS_DIST",
    "DEFAULT_TIMEOUT",
    "STATUSES",
    "Fetcher",
    "Finding",
    "Resolver",
    "RunConfig",
    "RunResult",
    "build_report",
    "changed_recipes",
    "monitor",
    "raise_issues",
]
