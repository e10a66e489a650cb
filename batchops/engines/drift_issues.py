"""Drift issues: reconcile a run's drifts with the open drift issues on GitHub; comment or open.

One paginated listing of the open issues that carry the drift labels (pull requests left out); only
fingerprints not found there are looked for with one marker search, within the search quota; a
fingerprint an open issue carries gets a comment there, the others get one issue each, or past
``core.drift.GROUP_THRESHOLD`` new ones in a run, grouped issues. Once GitHub's rate limit stops a
call, the rest is reported as failed with that reason, not attempted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from batchops.adapters import github as gh
from batchops.core import drift
from batchops.core.drift import Finding
from batchops.render import drift as render

LABEL_COLORS = {"security": "d73a4a", "checksum-drift": "fbca04"}


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
        repo, issues, open_by_fp = _open_drift_issues(client, repository, labels, groups, out)
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
    _Writer(out, groups, at, run_url).write(repo, issues, todo, labels)
    return out


def _open_drift_issues(
    client: Any, repository: str, labels: Sequence[str], groups: dict[str, list[Finding]], out: Issues
) -> tuple[Any, dict[int, Any], dict[str, int]]:
    """The repository, the open drift issues by number, and the issue number of each fingerprint they carry."""
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
            out.notes.append(
                f"the search for unlabelled drift issues was cut short ({found.note}): "
                "a drift whose issue lost its labels may get a second issue"
            )
    return repo, issues, open_by_fp


@dataclass
class _Writer:
    """Comments and new issues, in order; once GitHub's rate limit stops one, the rest is not attempted."""

    out: Issues
    groups: dict[str, list[Finding]]
    at: str
    run_url: str
    stopped: str = ""

    def fail(self, fps: Sequence[str], error: str) -> None:
        self.out.results.extend(IssueResult(fp, "failed", error=error) for fp in fps)

    def _failed(self, fps: Sequence[str], exc: Exception, doing: str) -> None:
        error = gh.GitHubError.wrap(exc, doing)
        self.fail(fps, error.render())
        if gh.is_rate_limited(exc):
            self.stopped = error.render()

    def write(self, repo: Any, issues: dict[int, Any], todo: Any, labels: Sequence[str]) -> None:
        for number, fps in todo.comment.items():
            if self.stopped:
                self.fail(fps, self.stopped)
                continue
            issue = issues[number]
            try:
                findings = [f for fp in fps for f in self.groups[fp]]
                issue.create_comment(render.comment_body(findings, at=self.at, run_url=self.run_url))
                self.out.results.extend(IssueResult(fp, "commented", issue.html_url, issue.number) for fp in fps)
            except Exception as exc:
                self._failed(fps, exc, f"commenting on drift issue #{number}")
        for fps in todo.create:
            if self.stopped:
                self.fail(fps, self.stopped)
                continue
            chosen = {fp: self.groups[fp] for fp in fps}
            try:
                created = repo.create_issue(
                    title=render.issue_title(chosen)[:256],
                    body=render.issue_body(chosen, at=self.at, run_url=self.run_url),
                    labels=list(labels),
                )
                self.out.results.extend(IssueResult(fp, "created", created.html_url, created.number) for fp in fps)
            except Exception as exc:
                self._failed(fps, exc, "opening a drift issue")
