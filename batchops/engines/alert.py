"""Alert's orchestration: the incidents of the control file (and of a pipeline gone quiet) reconciled with issues.

Typed options in (:class:`Options`), a typed result out (:class:`Report`); no argument parsing,
no printing. The step (:mod:`batchops.steps.alert`) reads its inputs into options and turns the
report into a step result; the rules are :mod:`batchops.core.alert`.

- The issues it knows: the open issues carrying every label of ``labels``, the most recently
  updated closed ones (one page), and, when an incident has no open issue yet, one search for
  the marker (an issue that lost its labels). An issue is batchops' when its body holds the marker;
  an unlabelled one found by the search only when a bot account or the author of batchops' labelled
  issues opened it (anyone can write a marker into an issue; only triagers can label).
- Two runs at once: after opening an issue the engine lists the open issues again; when an older
  one holds the same incident, the new one is closed as its duplicate with a comment linking it.
- ``dry_run``: the issues are read (with a token) and the plan is reported; nothing is written to
  GitHub and the webhook is not called.
- A failing webhook is a warning; a failed GitHub write is an error for that issue, the others
  still go ahead. Listing the issues failing raises (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from batchops.adapters import controlfile, webhook
from batchops.core import alert, stale
from batchops.engines import repository
from batchops.errors import UsageError
from batchops.render.alert import VERBS

LABEL_COLORS = {"batch-incident": "d93f0b"}


@dataclass(frozen=True)
class Options:
    control_file: str
    now: datetime
    token: str = ""
    labels: tuple[str, ...] = alert.DEFAULT_LABELS
    resolve_after: timedelta = alert.DEFAULT_RESOLVE_AFTER
    stale_after: timedelta | None = stale.DEFAULT_STALE_AFTER
    webhook_url: str = ""
    webhook_deadline: float = webhook.DEADLINE
    dry_run: bool = False
    repository: str = ""  # owner/name
    run_url: str = ""
    workspace: str = "."  # the checkout whose history says when a batch last ran and shipped


@dataclass
class Outcome:
    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (what, issue, result)
    hooks: list[str] = field(default_factory=list)  # webhook texts to send
    failed: int = 0


@dataclass
class Report:
    found: list[alert.Incident]
    outcome: Outcome
    notes: list[str] = field(default_factory=list)  # for the summary; warnings unless dry-run/no-token notes
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run(options: Options) -> Report:
    document = controlfile.load(options.control_file)
    notes: list[str] = []
    activity = _activity(options, notes)
    found = alert.incidents(document, options.now, activity=activity, stale_after=options.stale_after)
    report = Report(found, Outcome(), notes)
    if not options.token:
        notes.append("no github-token: the incidents are reported here only, no issue is read or written")
        actions = alert.plan(found, [], options.now, options.resolve_after, run_url=options.run_url)
        for action in actions:
            done = "dry run" if options.dry_run else "not done (no token)"
            report.outcome.rows.append((f"{VERBS[action.kind]}: {action.summary}", "new", done))
            if options.dry_run:
                _count(report.outcome, action, "new")
        if not options.dry_run:
            report.warnings.append(notes[0])
    else:
        report.outcome = _reconcile(options, found, notes, report.errors)
    _tell_webhook(options, report)
    report.warnings.extend(n for n in notes if not n.startswith(("dry run", "no github-token")))
    return report


def _activity(options: Options, notes: list[str]) -> stale.Activity | None:
    """When a batch last ran and shipped; None (and a note) when the history cannot say."""
    if options.stale_after is None:
        return None
    why = repository.history_depth(options.workspace)
    if why:
        notes.append(f"stale-after not checked: {why}; set stale-after: '' to turn the check off")
        return None
    return repository.activity(options.workspace, options.control_file)


def _tell_webhook(options: Options, report: Report) -> None:
    hooks = report.outcome.hooks
    if not options.webhook_url or not hooks:
        return
    if options.dry_run:
        report.notes.append(f"dry run: the webhook would have been told {len(hooks)} time(s)")
        return
    for index, text in enumerate(hooks):
        why = webhook.post(options.webhook_url, text, deadline=options.webhook_deadline)
        if why:  # one warning; the rest is not tried (a dead webhook must not hold the step up)
            left = len(hooks) - index
            report.warnings.append(
                f"webhook not delivered: {why}; {left} message(s) not sent; the issues are up to date all the same"
            )
            return


def _issue_states(
    repo: Any, client: Any, labels: list[str], found: list[alert.Incident], notes: list[str]
) -> dict[int, tuple[alert.IssueState, Any]]:
    from github import GithubException

    from batchops.adapters import github as gh

    known: dict[int, tuple[alert.IssueState, Any]] = {}

    def keep(issue: Any) -> None:
        marker = alert.parse_marker(issue.body)
        if marker is not None and issue.number not in known and issue.pull_request is None:
            known[issue.number] = (alert.IssueState(issue.number, issue.state == "open", marker, issue.html_url), issue)

    for issue in gh.open_issues_with_label(repo, labels):
        keep(issue)
    try:
        for issue in repo.get_issues(state="closed", labels=labels, sort="updated", direction="desc").get_page(0):
            keep(issue)
    except GithubException as exc:
        where = f"listing the closed issues labelled {','.join(labels)} of {repo.full_name}"
        raise gh.GitHubError.wrap(exc, where) from None
    open_keys = {state.marker.key for state, _ in known.values() if state.open}
    if any(i.key not in open_keys for i in found):
        search = gh.find_by_marker(client, repo.full_name, alert.MARKER_PREFIX)
        authors = _trusted_authors([issue for _, issue in known.values()])
        for issue in search.issues:
            # anyone can open an issue with a marker in its body: an unlabelled one (labels need triage rights)
            # counts only when a bot account (the job token's) or the author of batchops' labelled issues wrote it
            if _trusted(issue, authors):
                keep(issue)
        if not search.complete:
            notes.append(
                f"the search for incident issues that lost their labels was cut short ({search.note}): "
                "such an incident may get a second issue"
            )
    return known


def _trusted_authors(labelled: list[Any]) -> set[str]:
    """Who opens batchops' issues: the authors of its labelled issues (bot accounts are trusted as well)."""
    return {login for login in (getattr(issue.user, "login", "") for issue in labelled) if login}


def _trusted(issue: Any, authors: set[str]) -> bool:
    user = issue.user
    return getattr(user, "login", "") in authors or getattr(user, "type", "") == "Bot"


def _read_issues(
    options: Options, found: list[alert.Incident], notes: list[str]
) -> tuple[Any, dict[int, tuple[alert.IssueState, Any]]]:
    from batchops.adapters import github as gh

    if not options.repository:
        raise UsageError(
            "GITHUB_REPOSITORY is not set",
            field="GITHUB_REPOSITORY",
            hint="run in GitHub Actions, or export GITHUB_REPOSITORY=owner/name",
        )
    client = gh.client(options.token)
    labels = list(options.labels)
    try:
        repo = client.get_repo(options.repository)
        if not options.dry_run:
            description = "An incident of the batch pipeline (batchops alert)"
            notes.extend(gh.ensure_labels(repo, labels, LABEL_COLORS, description=description))
        return repo, _issue_states(repo, client, labels, found, notes)
    except gh.GitHubError:
        raise
    except Exception as exc:
        raise gh.GitHubError.wrap(exc, f"reading the incident issues of {options.repository}") from None


def _reconcile(options: Options, found: list[alert.Incident], notes: list[str], errors: list[str]) -> Outcome:
    from batchops.adapters import github as gh

    repo, known = _read_issues(options, found, notes)
    states = [state for state, _ in known.values()]
    actions = alert.plan(found, states, options.now, options.resolve_after, run_url=options.run_url)
    outcome = Outcome()
    stopped = ""
    for action in actions:
        live = known.get(action.number)
        where = f"#{action.number}" if action.number else ""
        what = f"{VERBS[action.kind]}: {action.summary}"
        if options.dry_run:
            outcome.rows.append((what, where or "new", "dry run"))
            _count(outcome, action, where or "new")
            continue
        if stopped:
            outcome.rows.append((what, where, f"not attempted: {stopped}"))
            outcome.failed += 1
            continue
        try:
            url = _carry_out(repo, action, live[1] if live else None, list(options.labels), outcome)
        except Exception as exc:
            errors.append(
                gh.GitHubError.wrap(exc, f"{VERBS[action.kind]} {where or 'an issue'} for {action.key}").render()
            )
            outcome.rows.append((what, where, "failed"))
            outcome.failed += 1
            if gh.is_rate_limited(exc):
                stopped = "GitHub's rate limit"
            continue
        if url:
            outcome.rows.append((what, url, "done"))
    return outcome


def _count(outcome: Outcome, action: alert.Action, url: str) -> None:
    if action.kind in ("open", "reopen"):
        outcome.opened.append(url)
        outcome.hooks.append(alert.webhook_text(action, url))
    elif action.kind == "close":
        outcome.closed.append(url)
        outcome.hooks.append(alert.webhook_text(action, url))
    elif action.kind in ("comment", "update"):
        outcome.updated.append(url)


def _open(repo: Any, action: alert.Action, labels: list[str], outcome: Outcome) -> str:
    from batchops.adapters import github as gh

    assert action.marker is not None
    created = repo.create_issue(title=action.title[:256], body=action.body, labels=labels)
    older = [
        i
        for i in gh.open_issues_with_label(repo, labels)
        if i.number < created.number
        and (m := alert.parse_marker(i.body)) is not None
        and m.key == action.key
        and m.status != alert.DUPLICATE
    ]
    if older:  # another run opened it first: ours is the duplicate
        keep = min(older, key=lambda i: i.number)
        created.create_comment(alert.duplicate_comment(keep.number))
        marker = alert.Marker(action.key, alert.DUPLICATE, dict(action.marker.milestones), of=keep.number)
        created.edit(state="closed", state_reason="not_planned", body=alert.with_marker(action.body, marker))
        outcome.rows.append((f"open: {action.summary}", keep.html_url, "already opened by another run"))
        return ""
    _count(outcome, action, created.html_url)
    return str(created.html_url)


def _carry_out(repo: Any, action: alert.Action, issue: Any, labels: list[str], outcome: Outcome) -> str:
    """Do one action on GitHub; returns the issue's URL ("" when the action turned out not to be ours)."""
    assert action.marker is not None
    if action.kind == "open":
        return _open(repo, action, labels, outcome)
    body = action.body or alert.with_marker(issue.body, action.marker)
    if action.kind == "reopen":
        issue.edit(state="open", body=body)
        issue.create_comment(action.comment)
    elif action.kind in ("close", "duplicate"):
        issue.create_comment(action.comment)
        reason = "completed" if action.kind == "close" else "not_planned"
        issue.edit(state="closed", state_reason=reason, body=body)
    else:
        if action.comment:
            issue.create_comment(action.comment)
        if body != issue.body:
            issue.edit(body=body)
    _count(outcome, action, issue.html_url)
    return str(issue.html_url)
