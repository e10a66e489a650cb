"""alert: reconcile the incidents of the control file with GitHub issues, one issue per incident.

The rules are :mod:`batchops.core.alert` (incidents, the plan, the texts); this step reads the
control file and the issues, carries the plan out through the one GitHub client policy
(:mod:`batchops.adapters.github`) and tells a chat webhook when an incident opens or closes.

- The issues it knows: the open issues carrying every label of ``labels``, the most recently
  updated closed ones (one page), and, when an incident has no open issue yet, one search for
  the marker (an issue that lost its labels). An issue is batchops' when its body holds the marker;
  an unlabelled one found by the search only when a bot account or the author of batchops' labelled
  issues opened it (anyone can write a marker into an issue; only triagers can label).
- Two runs at once: after opening an issue the step lists the open issues again; when an older
  one holds the same incident, the new one is closed as its duplicate with a comment linking it.
- ``dry-run``: the issues are read (with a token) and the plan is printed; nothing is written to
  GitHub and the webhook is not called.
- A failing webhook is a warning; a failed GitHub write is an error for that issue, the others
  still go ahead, and the step exits 1. Listing the issues failing fails the step (fail closed).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from batchops.adapters import controlfile, runner, webhook
from batchops.core import alert, timeutil
from batchops.errors import UsageError
from batchops.flags import add_control_file, add_input, add_now, clock, parse_bool, parse_list
from batchops.render.alert import VERBS, step_summary
from batchops.steps import Step, StepResult

TITLE = "batchops alert"
LABEL_COLORS = {"batch-incident": "d93f0b"}


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "github-token", "token for the issues (needs issues: write); empty: report the incidents only", default="")
    add_input(parser, "labels", "comma-separated labels of the incident issues; missing labels are created", default="batch-incident")
    add_input(parser, "resolve-after", "close an incident's issue once it has stayed resolved this long (30m, 24h, 7d; 0 closes at once)", default="24h")
    add_input(parser, "webhook-url", "chat webhook (Slack-compatible JSON text) told when an incident opens or closes; empty: none", default="")
    add_input(parser, "dry-run", "only say which issues would be opened, updated and closed: nothing sent", default="false")
    add_control_file(parser)
    add_now(parser)
    from batchops.commands import alert as replay_command

    replay_command.configure(parser.add_subparsers(dest="alert_command", metavar="replay", required=False))


@dataclass
class Outcome:
    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)  # webhook texts to send
    failed: int = 0


def resolve_after_of(value: Any) -> timedelta:
    return timeutil.parse_duration(str(value or "").strip() or "24h", field="resolve-after")


def run(args: argparse.Namespace) -> StepResult:
    if getattr(args, "alert_command", None) == "replay":
        from batchops.commands import alert as replay_command

        return StepResult(exit_code=replay_command.run(args))
    token = (args.github_token or "").strip()
    hook = (args.webhook_url or "").strip()
    runner.mask(token)
    runner.mask(hook)
    labels = parse_list(args.labels, field="labels") or list(alert.DEFAULT_LABELS)
    resolve_after = resolve_after_of(args.resolve_after)
    dry_run = parse_bool(args.dry_run, field="dry-run")
    now = clock(args)
    document = controlfile.load(args.control_file)
    found = alert.incidents(document, now)
    result = StepResult()
    notes: list[str] = []
    outcome = Outcome()
    if not token:
        notes.append("no github-token: the incidents are reported here only, no issue is read or written")
        actions = alert.plan(found, [], now, resolve_after, run_url=runner.run_url())
        for action in actions:
            outcome.rows.append((f"{VERBS[action.kind]}: {action.summary}", "new", "dry run" if dry_run else "not done (no token)"))
            if dry_run:
                _count(outcome, action, "new")
        if not dry_run:
            result.warning(notes[0], title=TITLE)
    else:
        outcome = _reconcile(token, labels, found, now, resolve_after, dry_run, notes, result)
    if hook and outcome.hooks:
        if dry_run:
            notes.append(f"dry run: the webhook would have been told {len(outcome.hooks)} time(s)")
        else:
            try:
                deadline = float(runner.setting("BATCHOPS_WEBHOOK_DEADLINE", str(webhook.DEADLINE)))
            except ValueError:
                deadline = webhook.DEADLINE
            for index, text in enumerate(outcome.hooks):
                why = webhook.post(hook, text, deadline=deadline)
                if why:  # one warning; the rest is not tried (a dead webhook must not hold the step up)
                    left = len(outcome.hooks) - index
                    result.warning(f"webhook not delivered: {why}; {left} message(s) not sent; the issues are up to date all the same", title=TITLE)
                    break
    for key in (i.key for i in found):
        result.say(f"incident: {key}")
    for what, issue, done in outcome.rows:
        result.say(f"dry run, would {what} ({issue})" if dry_run else f"{what}: {issue} ({done})")
    if not found:
        result.say("no incident")
    result.outputs = {
        "opened": len(outcome.opened),
        "updated": len(outcome.updated),
        "closed": len(outcome.closed),
        "open-incidents": len(found),
    }
    heading = f"{TITLE}: {len(found)} incident(s)" + (" — dry run, nothing sent" if dry_run else "")
    result.section(step_summary(heading, found, outcome.rows, notes))
    for note in notes:
        if not note.startswith(("dry run", "no github-token")):  # label and search troubles
            result.warning(note, title=TITLE)
    if outcome.failed:
        result.exit_code = 1
    return result


def _issue_states(repo: Any, client: Any, labels: list[str], found: list[alert.Incident], notes: list[str]) -> dict[int, tuple[alert.IssueState, Any]]:
    from batchops.adapters import github as gh

    known: dict[int, tuple[alert.IssueState, Any]] = {}

    def keep(issue: Any) -> None:
        marker = alert.parse_marker(issue.body)
        if marker is not None and issue.number not in known and issue.pull_request is None:
            known[issue.number] = (alert.IssueState(issue.number, issue.state == "open", marker, issue.html_url), issue)

    for issue in gh.open_issues_with_label(repo, labels):
        keep(issue)
    from github import GithubException

    try:
        for issue in repo.get_issues(state="closed", labels=labels, sort="updated", direction="desc").get_page(0):
            keep(issue)
    except GithubException as exc:
        raise gh.GitHubError.wrap(exc, f"listing the closed issues labelled {','.join(labels)} of {repo.full_name}") from None
    open_keys = {state.marker.key for state, _ in known.values() if state.open}
    if any(i.key not in open_keys for i in found):
        search = gh.find_by_marker(client, repo.full_name, alert.MARKER_PREFIX)
        authors = _trusted_authors([issue for _, issue in known.values()])
        for issue in search.issues:
            # anyone can open an issue with a marker in its body: an unlabelled one (labels need triage
            # rights) counts only when a bot account (the job token's) or the author of batchops' labelled issues wrote it
            if _trusted(issue, authors):
                keep(issue)
        if not search.complete:
            notes.append(f"the search for incident issues that lost their labels was cut short ({search.note}): such an incident may get a second issue")
    return known


def _trusted_authors(labelled: list[Any]) -> set[str]:
    """Who opens batchops' issues: the authors of its labelled issues (bot accounts are trusted as well)."""
    return {login for login in (getattr(issue.user, "login", "") for issue in labelled) if login}


def _trusted(issue: Any, authors: set[str]) -> bool:
    user = issue.user
    return getattr(user, "login", "") in authors or getattr(user, "type", "") == "Bot"


def _reconcile(token: str, labels: list[str], found: list[alert.Incident], now: datetime, resolve_after: timedelta,
               dry_run: bool, notes: list[str], result: StepResult) -> Outcome:
    from batchops.adapters import github as gh

    repository = runner.repository()
    if not repository:
        raise UsageError("GITHUB_REPOSITORY is not set", field="GITHUB_REPOSITORY", hint="run in GitHub Actions, or export GITHUB_REPOSITORY=owner/name")
    client = gh.client(token)
    try:
        repo = client.get_repo(repository)
        if not dry_run:
            notes.extend(gh.ensure_labels(repo, labels, LABEL_COLORS, description="An incident of the batch pipeline (batchops alert)"))
        known = _issue_states(repo, client, labels, found, notes)
    except gh.GitHubError:
        raise
    except Exception as exc:
        raise gh.GitHubError.wrap(exc, f"reading the incident issues of {repository}") from None
    actions = alert.plan(found, [state for state, _ in known.values()], now, resolve_after, run_url=runner.run_url())
    outcome = Outcome()
    stopped = ""
    for action in actions:
        live = known.get(action.number)
        where = f"#{action.number}" if action.number else ""
        if dry_run:
            outcome.rows.append((f"{VERBS[action.kind]}: {action.summary}", where or "new", "dry run"))
            _count(outcome, action, where or "new")
            continue
        if stopped:
            outcome.rows.append((f"{VERBS[action.kind]}: {action.summary}", where, f"not attempted: {stopped}"))
            outcome.failed += 1
            continue
        try:
            url = _carry_out(repo, action, live[1] if live else None, labels, outcome)
        except Exception as exc:
            error = gh.GitHubError.wrap(exc, f"{VERBS[action.kind]} {where or 'an issue'} for {action.key}")
            result.error(error.render(), title=TITLE)
            outcome.rows.append((f"{VERBS[action.kind]}: {action.summary}", where, "failed"))
            outcome.failed += 1
            if gh.is_rate_limited(exc):
                stopped = "GitHub's rate limit"
            continue
        if url:
            outcome.rows.append((f"{VERBS[action.kind]}: {action.summary}", url, "done"))
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


def _carry_out(repo: Any, action: alert.Action, issue: Any, labels: list[str], outcome: Outcome) -> str:
    """Do one action on GitHub; returns the issue's URL ("" when the action turned out not to be ours)."""
    from batchops.adapters import github as gh

    assert action.marker is not None
    if action.kind == "open":
        created = repo.create_issue(title=action.title[:256], body=action.body, labels=labels)
        older = [i for i in gh.open_issues_with_label(repo, labels)
                 if i.number < created.number and (m := alert.parse_marker(i.body)) is not None and m.key == action.key and m.status != alert.DUPLICATE]
        if older:  # another run opened it first: ours is the duplicate
            keep = min(older, key=lambda i: i.number)
            created.create_comment(alert.duplicate_comment(keep.number))
            marker = alert.Marker(action.key, alert.DUPLICATE, dict(action.marker.milestones), of=keep.number)
            created.edit(state="closed", state_reason="not_planned", body=alert.with_marker(action.body, marker))
            outcome.rows.append((f"open: {action.summary}", keep.html_url, "already opened by another run"))
            return ""
        _count(outcome, action, created.html_url)
        return str(created.html_url)
    body = action.body or alert.with_marker(issue.body, action.marker)
    if action.kind == "reopen":
        issue.edit(state="open", body=body)
        issue.create_comment(action.comment)
    elif action.kind in ("close", "duplicate"):
        issue.create_comment(action.comment)
        issue.edit(state="closed", state_reason="completed" if action.kind == "close" else "not_planned", body=body)
    else:
        if action.comment:
            issue.create_comment(action.comment)
        if body != issue.body:
            issue.edit(body=body)
    _count(outcome, action, issue.html_url)
    return str(issue.html_url)


STEP = Step(
    name="alert",
    help="reconcile incidents (open breakers, paused platforms, a stopped pipeline) with GitHub issues; `alert replay FILE…` replays a history",
    configure=_configure,
    run=run,
    fail_closed={"opened": 0, "updated": 0, "closed": 0, "open-incidents": ""},
)
