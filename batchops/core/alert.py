"""Alert: the incidents of a control document and the plan that reconciles them with issues.

Pure rules (no I/O, no clock: every function takes the time). The step is
:mod:`batchops.steps.alert`, its orchestration :mod:`batchops.engines.alert`; the replay of a
history is ``batchops alert replay`` (:mod:`batchops.commands.alert`). The texts are in
:mod:`batchops.core.alert_text`, the values in :mod:`batchops.core.incident`.

Incidents (:func:`incidents`), each with a stable key:

* ``breaker/<ecosystem>``: a breaker ``open`` or ``half-open``. The legacy template
  entry ``circuit_breaker.default`` never alerts while nothing records on it.
* ``budget/<platform>``: a platform paused by the weekly budget (``budget.view``).
* ``pipeline/stopped``: ``enabled: false`` (with ``reason``, ``incident_url``, ``disabled_by``).
* ``pipeline/quiet`` and ``pipeline/not-shipping``: while enabled, no batch has run, or none has
  shipped recipes, within ``stale-after`` (:mod:`batchops.core.stale`).

Each incident carries *milestones*: the few facts whose change is worth telling people
(the breaker's current wait, which doubles when a probe fails; an operator's probe
order; the ecosystem disabled by an operator; the platform's limit; the stop's reason,
link and expected resume). A comment is written when a milestone appears or changes,
never for the counters that move on every run (``failures``, ``last_failure``, the
hourly open/half-open swing of a waiting breaker).

The state across runs lives in the issue itself: a hidden marker in its body,
``<!-- batchops:alert {"key": ..., "status": ..., ...} -->`` (:class:`Marker`), with
``status`` ``active``, ``resolved`` (since ``resolved_at``), ``closed`` (at ``closed_at``)
or ``duplicate`` (of issue ``of``). The plan (:func:`plan`), per incident key:

=====================  ==========================  ===============================================
incident               issue found                 action
=====================  ==========================  ===============================================
active                 none                        open a new issue
active                 closed, status ``closed``   reopen, when closed less than ``resolve-after``
                       within ``resolve-after``    ago (a flap just after the close); else open new
active                 closed, status ``active``   reopen (a person closed it while it went on)
active                 open, status ``active``     comment when a milestone changed, else nothing
active                 open, any other status      comment "returned", status ``active``
gone                   open, status ``active``     comment "recovered", status ``resolved``
gone                   open, ``resolved`` for      close with a comment, status ``closed``
                       ``resolve-after``
gone                   anything else               nothing
=====================  ==========================  ===============================================

Two open issues with one key (two runs opened it at once): the oldest is kept, the
others are closed as duplicates with a comment linking it. A second run on the same
state plans nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from batchops.core import breaker, budget, stale, timeutil
from batchops.core.alert_text import (  # noqa: F401 (the texts are part of alert's surface)
    MILESTONE_TEXT,
    RUNBOOK,
    change_comment,
    close_comment,
    commands_for,
    duplicate_comment,
    fmt_age,
    issue_body,
    md_text,
    reopen_comment,
    slack_escape,
    webhook_text,
    with_marker,
)
from batchops.core.escape import one_line
from batchops.core.incident import (  # noqa: F401 (the values are part of alert's surface)
    ACTIVE,
    CLOSED,
    DUPLICATE,
    MARKER_PREFIX,
    RESOLVED,
    STATUSES,
    Action,
    Incident,
    IssueState,
    Marker,
    parse_marker,
)
from batchops.errors import ControlFileError, UsageError

DEFAULT_LABELS = ("batch-incident",)
DEFAULT_RESOLVE_AFTER = timedelta(hours=24)


# --- incidents --------------------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12] if text else ""


def _breaker_incident(document: dict[str, Any], name: str, entry: dict[str, Any]) -> Incident | None:
    try:
        config = breaker.config_for(document, name)
    except (ControlFileError, UsageError):
        config = breaker.DEFAULT_CONFIG
    state = breaker.Breaker.from_entry(entry, config)
    if state.state not in (breaker.OPEN, breaker.HALF_OPEN):
        return None
    wait = timeutil.format_duration(config.wait_for(max(1, state.consecutive_opens)))
    milestones = {"wait": wait}
    notes = {"wait": f"the wait before the next probe is now {wait}"}
    if state.state == breaker.HALF_OPEN and not state.probe_started_at and "consecutive_opens" in entry:
        milestones["probe"] = "ordered"
        notes["probe"] = "an operator ordered a probe (`batchops breaker probe`): the next batch is the probe"
    if name in (document.get("disabled_ecosystems") or []):
        milestones["disabled"] = "yes"
        notes["disabled"] = (
            f"an operator disabled {name} (`batchops disable {name}`): no batch runs until `batchops enable {name}`"
        )
    if state.state == breaker.OPEN:
        probe = ("next probe from", state.opens_at or "-")
    else:
        probe = ("probe", f"out since {state.probe_started_at}" if state.probe_started_at else "the next batch")
    facts = [
        ("state", state.state),
        ("consecutive failures", str(state.failures)),
        ("last failure", state.last_failure or "-"),
        probe,
        ("wait", wait),
    ]
    if state.opened_at:
        facts.insert(1, ("opened at", state.opened_at))
    return Incident(
        f"breaker/{name}",
        "breaker",
        name,
        f"Circuit breaker open: {one_line(name)}"[:256],
        tuple(facts),
        milestones,
        notes,
    )


def _budget_incidents(document: dict[str, Any], now: datetime) -> list[Incident]:
    view = budget.view(document, now)
    found = []
    for gauge in view.gauges:
        if gauge.state != "paused":
            continue
        label = budget.LABELS.get(gauge.platform, gauge.platform)
        limit = budget.format_minutes(gauge.limit)
        facts = (
            ("platform", label),
            ("used this week", f"{budget.format_minutes(gauge.used)} of {limit} minutes ({gauge.percent})"),
            ("week", f"{timeutil.iso(view.week_start)} to {timeutil.iso(view.week_end)}"),
        )
        found.append(
            Incident(
                f"budget/{gauge.platform}",
                "budget",
                gauge.platform,
                f"CI budget: {label} batches paused",
                facts,
                {"limit": limit},
                {"limit": f"the weekly {label} limit is now {limit} minutes"},
            )
        )
    return found


def _stop_incident(document: dict[str, Any]) -> Incident | None:
    if document.get("enabled", True) is not False:
        return None
    text = {
        k: one_line(str(document.get(k) or ""))
        for k in ("reason", "incident_url", "disabled_by", "disabled_at", "expected_resume")
    }
    facts = (
        ("reason", text["reason"] or "(none given)"),
        ("incident", text["incident_url"] or "-"),
        ("stopped by", text["disabled_by"] or "-"),
        ("stopped at", text["disabled_at"] or "-"),
        ("expected resume", text["expected_resume"] or "-"),
    )
    milestones = {k: _digest(text[k]) for k in ("reason", "incident_url", "expected_resume") if text[k]}
    notes = {
        "reason": f"the reason is now: {text['reason']}",
        "incident_url": f"the incident link is now {text['incident_url']}",
        "expected_resume": f"the expected resume is now {text['expected_resume']}",
    }
    return Incident(
        "pipeline/stopped",
        "pipeline",
        "pipeline",
        "Batch pipeline stopped",
        facts,
        milestones,
        {k: v for k, v in notes.items() if k in milestones},
    )


def incidents(
    document: dict[str, Any],
    now: datetime,
    *,
    activity: stale.Activity | None = None,
    stale_after: timedelta | None = None,
) -> list[Incident]:
    """Every incident the control document shows at ``now``, in a stable order.

    With ``activity`` and ``stale_after``, also a pipeline gone quiet (:mod:`batchops.core.stale`).
    """
    found: list[Incident] = []
    stop = _stop_incident(document)
    if stop is not None:
        found.append(stop)
    table = document.get("circuit_breaker") or {}
    if isinstance(table, dict):
        for name in breaker.ecosystems(document):
            entry = table.get(name)
            if isinstance(entry, dict):
                incident = _breaker_incident(document, name, entry)
                if incident is not None:
                    found.append(incident)
    found.extend(_budget_incidents(document, now))
    if activity is not None:
        found.extend(stale.incidents(document, now, activity, stale_after))
    return found


# --- the plan --------------------------------------------------------------------------------


def _changes(before: Mapping[str, str], incident: Incident) -> list[str]:
    """The milestones that appeared or changed since ``before`` (a disappearing one is not news)."""
    return [name for name, value in incident.milestones.items() if value and before.get(name) != value]


def plan(
    found: Sequence[Incident],
    issues: Iterable[IssueState],
    now: datetime,
    resolve_after: timedelta = DEFAULT_RESOLVE_AFTER,
    *,
    run_url: str = "",
) -> list[Action]:
    """The actions that bring the issues in line with the incidents at ``now`` (see the module docstring)."""
    at = timeutil.iso(now)
    by_key: dict[str, list[IssueState]] = {}
    for issue in sorted(issues, key=lambda i: i.number):
        by_key.setdefault(issue.marker.key, []).append(issue)
    actions: list[Action] = []
    current = {incident.key: incident for incident in found}

    for key, group in by_key.items():  # duplicates first: one open issue per key
        opened = [i for i in group if i.open and i.marker.status != DUPLICATE]
        for extra in opened[1:]:
            marker = replace(extra.marker, status=DUPLICATE, of=opened[0].number)
            actions.append(
                Action(
                    "duplicate",
                    key,
                    extra.number,
                    marker=marker,
                    comment=duplicate_comment(opened[0].number),
                    summary=f"{key}: a duplicate of #{opened[0].number}",
                )
            )

    for key in list(current) + [k for k in by_key if k not in current]:
        incident = current.get(key)
        group = by_key.get(key, [])
        live = next((i for i in group if i.open and i.marker.status != DUPLICATE), None)
        if incident is not None:
            actions.extend(_active(incident, live, group, now, at, resolve_after, run_url))
        elif live is not None:
            actions.extend(_gone(key, live, now, at, resolve_after))
    return actions


def _active(
    incident: Incident,
    live: IssueState | None,
    group: list[IssueState],
    now: datetime,
    at: str,
    resolve_after: timedelta,
    run_url: str,
) -> list[Action]:
    if live is not None:
        return _still_open(incident, live, now, at, run_url)
    key = incident.key
    fresh = Marker(key, ACTIVE, dict(incident.milestones), opened_at=at)
    closed = [i for i in group if not i.open and i.marker.status != DUPLICATE]
    for issue in reversed(closed):  # the newest first
        marker = issue.marker
        closed_at = timeutil.parse_iso_or_none(marker.closed_at)
        person = marker.status in (ACTIVE, RESOLVED)  # closed by someone while batchops still tracked it
        recent = marker.status == CLOSED and closed_at is not None and now - closed_at < resolve_after
        if person or recent:
            if person:
                why = "it was closed while the incident went on"
            else:
                why = (
                    f"it returned {fmt_age(now - closed_at)} after the issue was closed" if closed_at else "it returned"
                )
            new = replace(fresh, opened_at=marker.opened_at or at)
            body = issue_body(incident, new, at, run_url)
            comment = reopen_comment(incident, at, why)
            return [
                Action(
                    "reopen",
                    key,
                    issue.number,
                    marker=new,
                    body=body,
                    comment=comment,
                    summary=f"{key}: {why}",
                    incident=incident,
                )
            ]
    body = issue_body(incident, fresh, at, run_url)
    return [
        Action("open", key, title=incident.title, marker=fresh, body=body, summary=incident.title, incident=incident)
    ]


def _still_open(incident: Incident, live: IssueState, now: datetime, at: str, run_url: str) -> list[Action]:
    """The incident goes on and its issue is open: a comment on a meaningful change, else at most the body."""
    key, marker = incident.key, live.marker

    def on_issue(kind: str, new: Marker, summary: str, comment: str = "") -> list[Action]:
        body = issue_body(incident, new, at, run_url)
        return [
            Action(kind, key, live.number, marker=new, body=body, comment=comment, summary=summary, incident=incident)
        ]

    if marker.status != ACTIVE:  # it came back before the issue closed: flapping, told in the body only
        since = timeutil.parse_iso_or_none(marker.resolved_at)
        after = f" after {fmt_age(now - since)} resolved" if since else ""
        fresh = Marker(key, ACTIVE, dict(incident.milestones), opened_at=marker.opened_at or at)
        new = replace(fresh, returns=marker.returns + 1)
        return on_issue("update", new, f"{key} returned{after} (no comment: the issue was still open)")
    new = replace(marker, milestones=dict(incident.milestones))
    changed = _changes(marker.milestones, incident)
    if changed:
        summary = f"{key}: " + "; ".join(incident.notes.get(c, c) for c in changed)
        return on_issue("comment", new, summary, comment=change_comment(incident, changed, at))
    if dict(marker.milestones) != dict(incident.milestones):  # a milestone went away: remember it, say nothing
        return on_issue("update", new, f"{key}: milestones updated (no comment)")
    return []


def _gone(key: str, live: IssueState, now: datetime, at: str, resolve_after: timedelta) -> list[Action]:
    marker = live.marker
    if marker.status == ACTIVE:
        if resolve_after <= timedelta(0):
            new = replace(marker, status=CLOSED, resolved_at=at, closed_at=at, closes_at="")
            return [_close(key, live, new, at, timedelta(0), f"{key} resolved")]
        new = replace(marker, status=RESOLVED, resolved_at=at, closes_at=timeutil.iso(now + resolve_after))
        return [
            Action(
                "update",
                key,
                live.number,
                marker=new,
                summary=f"{key} recovered; the issue closes at {new.closes_at} unless it returns (no comment)",
            )
        ]
    if marker.status == RESOLVED:
        since = timeutil.parse_iso_or_none(marker.resolved_at) or now
        if now - since >= resolve_after:
            new = replace(marker, status=CLOSED, closed_at=at, closes_at="")
            return [_close(key, live, new, at, now - since, f"{key} stayed resolved for {fmt_age(now - since)}")]
    return []


def _close(key: str, live: IssueState, marker: Marker, at: str, held: timedelta, summary: str) -> Action:
    """Close the issue of ``key``, saying how long the condition had been resolved (``held``)."""
    return Action("close", key, live.number, marker=marker, comment=close_comment(key, at, held), summary=summary)


# --- replay: what alert would have done over a history ----------------------------------------------


def apply(issues: dict[int, IssueState], action: Action, number: int = 0) -> int:
    """Apply ``action`` to the simulated ``issues`` (what GitHub would hold after it); returns the issue number."""
    if action.kind == "open":
        number = number or (max(issues, default=0) + 1)
        assert action.marker is not None
        issues[number] = IssueState(number, True, action.marker)
        return number
    issue = issues[action.number]
    marker = action.marker or issue.marker
    is_open = {"close": False, "duplicate": False, "reopen": True}.get(action.kind, issue.open)
    issues[action.number] = replace(issue, open=is_open, marker=marker)
    return action.number


@dataclass(frozen=True)
class ReplayStep:
    at: datetime
    source: str  # the file (or commit) the document came from
    incidents: list[str]
    actions: list[tuple[int, Action]]  # (issue number, action)


def replay(
    history: Iterable[tuple[datetime, str, dict[str, Any]]],
    resolve_after: timedelta = DEFAULT_RESOLVE_AFTER,
    every: timedelta | None = None,
    *,
    shipped: Sequence[tuple[datetime, str]] = (),
    stale_after: timedelta | None = None,
    until: datetime | None = None,
) -> tuple[list[ReplayStep], dict[int, IssueState]]:
    """Run the plan over ``(time, source, document)`` in time order, as alert runs would have.

    One run at each time of the history (the run after each batch); with ``every`` also the
    scheduled runs in between (every hour in the example workflow), each on the latest document,
    and after the last one up to ``until``. With ``stale_after``, each entry of the history is a
    batch run and ``shipped`` lists the batches that shipped (time, what): a run also sees a
    pipeline gone quiet. Returns every run, and the simulated issues at the end.
    """
    issues: dict[int, IssueState] = {}
    steps: list[ReplayStep] = []
    ordered = sorted(history, key=lambda item: item[0])
    timeline = stale.Timeline([(at, source) for at, source, _ in ordered], sorted(shipped, key=lambda s: s[0]))

    def run(at: datetime, source: str, document: dict[str, Any]) -> None:
        found = incidents(document, at, activity=timeline.at(at), stale_after=stale_after)
        done = [(apply(issues, action), action) for action in plan(found, list(issues.values()), at, resolve_after)]
        steps.append(ReplayStep(at, source, [i.key for i in found], done))

    for index, (at, source, document) in enumerate(ordered):
        run(at, source, document)
        if every is None or every <= timedelta(0):
            continue
        following = ordered[index + 1][0] if index + 1 < len(ordered) else until
        tick = at + every
        while following is not None and tick < following:
            run(tick, f"scheduled run (latest: {source})", document)
            tick += every
    return steps, issues
