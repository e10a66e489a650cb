"""Alert: the incidents of a control document and the plan that reconciles them with issues.

Pure rules (no I/O, no clock: every function takes the time). The step is
:mod:`batchops.steps.alert`; the replay of a history is :mod:`batchops.commands.alert`.

Incidents (:func:`incidents`), each with a stable key:

* ``breaker/<ecosystem>``: a breaker ``open`` or ``half-open``. The legacy template
  entry ``circuit_breaker.default`` never alerts while nothing records on it.
* ``budget/<platform>``: a platform paused by the weekly budget (``budget.view``).
* ``pipeline/stopped``: ``enabled: false`` (with ``reason``, ``incident_url``, ``disabled_by``).

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
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from batchops.core import breaker, budget, timeutil
from batchops.core.escape import one_line
from batchops.errors import ControlFileError, UsageError

DEFAULT_LABELS = ("batch-incident",)
DEFAULT_RESOLVE_AFTER = timedelta(hours=24)
MARKER_PREFIX = "batchops:alert"
_MARKER = re.compile(r"<!-- batchops:alert (\{.*?\}) -->", re.S)
_BLOCK = re.compile(r"(?:\*\*Status\*\*:[^\n]*\n\n)?<!-- batchops:alert \{.*?\} -->", re.S)

ACTIVE, RESOLVED, CLOSED, DUPLICATE = "active", "resolved", "closed", "duplicate"
STATUSES = (ACTIVE, RESOLVED, CLOSED, DUPLICATE)

RUNBOOK = "docs/operators.md of batchops"
_RUNBOOK_SECTIONS = {
    "breaker": "“1. Success-rate drop” and “Other situations → Breaker controls”",
    "budget": "“4. Budget alert”",
    "pipeline": "“2. Emergency stop”",
}

MILESTONE_TEXT = {
    "wait": "wait before the next probe",
    "probe": "operator's probe",
    "disabled": "ecosystem disabled",
    "limit": "weekly limit",
    "reason": "reason",
    "incident_url": "incident link",
    "expected_resume": "expected resume",
}


# --- incidents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incident:
    key: str  # breaker/homebrew, budget/macos, pipeline/stopped
    kind: str  # breaker, budget, pipeline
    subject: str  # the ecosystem, the platform, or "pipeline"
    title: str
    facts: tuple[tuple[str, str], ...]  # (label, value) for the issue body, as of the run
    milestones: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)  # milestone -> sentence for a comment


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
        notes["disabled"] = f"an operator disabled {name} (`batchops disable {name}`): no batch runs until `batchops enable {name}`"
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
    return Incident(f"breaker/{name}", "breaker", name, f"Circuit breaker open: {one_line(name)}"[:256], tuple(facts), milestones, notes)


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
    text = {k: one_line(str(document.get(k) or "")) for k in ("reason", "incident_url", "disabled_by", "disabled_at", "expected_resume")}
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
    return Incident("pipeline/stopped", "pipeline", "pipeline", "Batch pipeline stopped", facts, milestones, {k: v for k, v in notes.items() if k in milestones})


def incidents(document: dict[str, Any], now: datetime) -> list[Incident]:
    """Every incident the control document shows at ``now``, in a stable order."""
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
    return found


# --- the marker kept in the issue body ----------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    key: str
    status: str = ACTIVE
    milestones: Mapping[str, str] = field(default_factory=dict)
    opened_at: str = ""
    resolved_at: str = ""
    closed_at: str = ""
    closes_at: str = ""  # while resolved: when the issue closes unless the incident returns
    returns: int = 0  # times the incident came back while its issue was open (flapping)
    of: int = 0  # the issue a duplicate was closed in favour of

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "status": self.status, "milestones": dict(sorted(self.milestones.items()))}
        for name in ("opened_at", "resolved_at", "closed_at", "closes_at", "returns", "of"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data

    def render(self) -> str:
        text = json.dumps(self.to_json(), sort_keys=True, ensure_ascii=True, separators=(",", ":"))
        # never close the HTML comment early: "--" and ">" only occur inside strings, where escapes are valid
        return f"<!-- {MARKER_PREFIX} " + text.replace("--", "-\\u002d").replace(">", "\\u003e") + " -->"

    def status_line(self) -> str:
        flaps = f" (it came back {self.returns} time(s) while this issue was open)" if self.returns else ""
        if self.status == RESOLVED:
            return f"**Status**: resolved since {self.resolved_at}; this issue closes at {self.closes_at} unless it returns{flaps}."
        if self.status == CLOSED:
            return f"**Status**: closed at {self.closed_at}: the incident stayed resolved{flaps}."
        if self.status == DUPLICATE:
            return f"**Status**: a duplicate of #{self.of}."
        return f"**Status**: active since {self.opened_at or '-'}{flaps}."

    def block(self) -> str:
        """The status line and the marker, kept together at the end of the body."""
        return self.status_line() + "\n\n" + self.render()


def parse_marker(body: str | None) -> Marker | None:
    """The marker of an issue body; None when there is none or it was damaged."""
    match = _MARKER.search(body or "")
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("key"), str) or not data["key"]:
        return None
    status = data.get("status") if data.get("status") in STATUSES else ACTIVE
    raw = data.get("milestones")
    milestones = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    def number(name: str) -> int:
        value = data.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    def text(name: str) -> str:
        return str(data.get(name) or "")

    return Marker(data["key"], str(status), milestones, text("opened_at"), text("resolved_at"), text("closed_at"),
                  text("closes_at"), number("returns"), number("of"))


# --- the plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueState:
    """What the plan needs of an existing issue."""

    number: int
    open: bool
    marker: Marker
    url: str = ""


@dataclass(frozen=True)
class Action:
    kind: str  # open, comment, close, reopen, update (the body only), duplicate (close as duplicate)
    key: str
    number: int = 0  # 0 for open
    title: str = ""
    marker: Marker | None = None  # the issue's marker after the action
    body: str = ""  # the new body; empty: keep the body, put ``marker`` in place of the old one
    comment: str = ""
    summary: str = ""  # one line for logs and the replay
    incident: Incident | None = None


def _changes(before: Mapping[str, str], incident: Incident) -> list[str]:
    """The milestones that appeared or changed since ``before`` (a disappearing one is not news)."""
    return [name for name, value in incident.milestones.items() if value and before.get(name) != value]


def _fmt_age(delta: timedelta) -> str:
    return timeutil.format_duration(timedelta(seconds=max(0, int(delta.total_seconds()))))


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
            actions.append(Action("duplicate", key, extra.number, marker=marker, comment=duplicate_comment(opened[0].number),
                                  summary=f"{key}: a duplicate of #{opened[0].number}"))

    for key in list(current) + [k for k in by_key if k not in current]:
        incident = current.get(key)
        group = by_key.get(key, [])
        live = next((i for i in group if i.open and i.marker.status != DUPLICATE), None)
        if incident is not None:
            actions.extend(_active(incident, live, group, now, at, resolve_after, run_url))
        elif live is not None:
            actions.extend(_gone(key, live, now, at, resolve_after))
    return actions


def _active(incident: Incident, live: IssueState | None, group: list[IssueState], now: datetime, at: str,
            resolve_after: timedelta, run_url: str) -> list[Action]:
    key = incident.key
    fresh = Marker(key, ACTIVE, dict(incident.milestones), opened_at=at)
    if live is not None:
        marker = live.marker
        if marker.status != ACTIVE:  # it came back before the issue closed: flapping, told in the body only
            since = timeutil.parse_iso_or_none(marker.resolved_at)
            after = f" after {_fmt_age(now - since)} resolved" if since else ""
            new = replace(fresh, opened_at=marker.opened_at or at, returns=marker.returns + 1)
            return [Action("update", key, live.number, marker=new, body=issue_body(incident, new, at, run_url),
                           summary=f"{key} returned{after} (no comment: the issue was still open)", incident=incident)]
        changed = _changes(marker.milestones, incident)
        if changed:
            new = replace(marker, milestones=dict(incident.milestones))
            return [Action("comment", key, live.number, marker=new, body=issue_body(incident, new, at, run_url),
                           comment=change_comment(incident, changed, at),
                           summary=f"{key}: " + "; ".join(incident.notes.get(c, c) for c in changed), incident=incident)]
        if dict(marker.milestones) != dict(incident.milestones):  # a milestone went away: remember it, say nothing
            new = replace(marker, milestones=dict(incident.milestones))
            return [Action("update", key, live.number, marker=new, body=issue_body(incident, new, at, run_url), summary=f"{key}: milestones updated (no comment)", incident=incident)]
        return []
    closed = [i for i in group if not i.open and i.marker.status != DUPLICATE]
    for issue in reversed(closed):  # the newest first
        marker = issue.marker
        closed_at = timeutil.parse_iso_or_none(marker.closed_at)
        person = marker.status in (ACTIVE, RESOLVED)  # closed by someone while batchops still tracked it
        recent = marker.status == CLOSED and closed_at is not None and now - closed_at < resolve_after
        if person or recent:
            why = "it was closed while the incident went on" if person else f"it returned {_fmt_age(now - closed_at)} after the issue was closed" if closed_at else "it returned"
            new = replace(fresh, opened_at=marker.opened_at or at)
            return [Action("reopen", key, issue.number, marker=new, body=issue_body(incident, new, at, run_url),
                           comment=reopen_comment(incident, at, why),
                           summary=f"{key}: {why}", incident=incident)]
    return [Action("open", key, title=incident.title, marker=fresh, body=issue_body(incident, fresh, at, run_url),
                   summary=incident.title, incident=incident)]


def _gone(key: str, live: IssueState, now: datetime, at: str, resolve_after: timedelta) -> list[Action]:
    marker = live.marker
    if marker.status == ACTIVE:
        if resolve_after <= timedelta(0):
            new = replace(marker, status=CLOSED, resolved_at=at, closed_at=at, closes_at="")
            return [Action("close", key, live.number, marker=new, comment=close_comment(key, at, timedelta(0)),
                           summary=f"{key} resolved")]
        new = replace(marker, status=RESOLVED, resolved_at=at, closes_at=timeutil.iso(now + resolve_after))
        return [Action("update", key, live.number, marker=new,
                       summary=f"{key} recovered; the issue closes at {new.closes_at} unless it returns (no comment)")]
    if marker.status == RESOLVED:
        since = timeutil.parse_iso_or_none(marker.resolved_at) or now
        if now - since >= resolve_after:
            new = replace(marker, status=CLOSED, closed_at=at, closes_at="")
            return [Action("close", key, live.number, marker=new, comment=close_comment(key, at, now - since),
                           summary=f"{key} stayed resolved for {_fmt_age(now - since)}")]
    return []


# --- text -----------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def md_text(value: Any) -> str:
    """Untrusted text inside a Markdown paragraph: one line, no markup, no HTML."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(str(value)))


def _code(value: str) -> str:
    return "`" + one_line(value).replace("`", "'") + "`"


def commands_for(incident: Incident) -> list[tuple[str, str]]:
    """(command, what it does) for the issue body: the console commands of the runbook."""
    name = incident.subject
    if incident.kind == "breaker":
        return [
            ("batchops status", f"what the next batch of {name} meets, local and remote"),
            (f"batchops breaker probe {name} --reason \"…\" --push", "upstream is fixed: the next batch is the probe (a pass closes the breaker)"),
            (f"batchops breaker reset {name} --reason \"…\" --push", "close it at once (window and counters cleared; audited)"),
            (f"batchops breaker open {name} --reason \"…\" --wait 24h --push", "keep it open longer while upstream is down"),
            (f"batchops disable {name} --push", "upstream is gone for good: stop batches of this ecosystem"),
        ]
    if incident.kind == "budget":
        return [
            ("batchops budget status", "the gauges, the sample rate and the previous weeks"),
            (f"batchops budget reset --platform {name} --push", "start this week's count again (kept in history; audited)"),
            ("batchops budget sample --on --push", "sample every running platform for the rest of the week"),
            ("batchops status", "what the next batch meets"),
        ]
    return [
        ("batchops status", "why it is stopped and what the next batch meets once resumed"),
        ("batchops resume --push", "the cause is fixed: batches run again"),
        ("batchops log", "who stopped it and when"),
    ]


def issue_body(incident: Incident, marker: Marker, at: str, run_url: str = "") -> str:
    lines = [
        f"**{md_text(incident.title)}**: reported by batchops alert (as of {at}).",
        "",
        "| | |",
        "|---|---|",
    ]
    for label, value in incident.facts:
        lines.append(f"| {md_text(label)} | {md_text(value)} |")
    lines += ["", "### What to do", ""]
    for command, what in commands_for(incident):
        lines.append(f"- {_code(command)}: {what}")
    lines += [
        "",
        f"Procedure: {RUNBOOK}, {_RUNBOOK_SECTIONS[incident.kind]}.",
        "",
        "This issue is managed by batchops alert: a comment when something meaningful changes (the wait doubled, "
        "an operator acted); a breaker that flaps keeps this one issue (the status below counts the returns); "
        "closed once the incident has stayed resolved for `resolve-after`, reopened if it returns soon after.",
    ]
    if run_url:
        lines += ["", f"Run: {run_url}"]
    lines += ["", marker.block(), ""]
    return "\n".join(lines)


def with_marker(body: str | None, marker: Marker) -> str:
    """``body`` with its status line and marker replaced by ``marker``'s (appended when it has none)."""
    text = body or ""
    if _BLOCK.search(text):
        return _BLOCK.sub(lambda _m: marker.block(), text, count=1)
    return text.rstrip("\n") + "\n\n" + marker.block() + "\n"


def change_comment(incident: Incident, changed: Sequence[str], at: str) -> str:
    lines = [f"**Update** ({at}):", ""]
    for name in changed:
        lines.append(f"- {md_text(incident.notes.get(name, MILESTONE_TEXT.get(name, name)))}")
    if "wait" in changed and incident.kind == "breaker":
        lines += ["", "A probe failed and the breaker re-opened with a longer wait."]
    return "\n".join(lines)


def reopen_comment(incident: Incident, at: str, why: str) -> str:
    return f"**Reopened** ({at}): {md_text(incident.title)}; {why}. The body shows the current state."


def close_comment(key: str, at: str, stable: timedelta) -> str:
    return f"**Closed** ({at}): `{key}` stayed resolved for {_fmt_age(stable)}. A recurrence soon after reopens this issue."


def duplicate_comment(older: int) -> str:
    return f"Duplicate of #{older} (two alert runs opened the same incident at once); closing this one."


def slack_escape(text: str) -> str:
    """Text for Slack's ``text`` field: ``&``, ``<`` and ``>`` escaped (no ``<!channel>`` pings, no links), one line."""
    return one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_text(action: Action, url: str = "") -> str:
    """The Slack-compatible ``text`` of a webhook message for an opened or closed incident."""
    link = f" {slack_escape(url)}" if url else ""
    if action.kind in ("open", "reopen"):
        title = action.incident.title if action.incident else action.key
        verb = "opened" if action.kind == "open" else "reopened"
        return f"batchops incident {verb}: {slack_escape(title)}{link}"
    return f"batchops incident closed: {slack_escape(action.key)} stayed resolved{link}"


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
) -> tuple[list[ReplayStep], dict[int, IssueState]]:
    """Run the plan over ``(time, source, document)`` in time order, as alert runs would have.

    One run at each time of the history (the run after each batch); with ``every`` also the
    scheduled runs in between (every hour in the example workflow), each on the latest document.
    Returns every run, and the simulated issues at the end.
    """
    issues: dict[int, IssueState] = {}
    steps: list[ReplayStep] = []

    def run(at: datetime, source: str, document: dict[str, Any]) -> None:
        found = incidents(document, at)
        done = [(apply(issues, action), action) for action in plan(found, list(issues.values()), at, resolve_after)]
        steps.append(ReplayStep(at, source, [i.key for i in found], done))

    ordered = sorted(history, key=lambda item: item[0])
    for index, (at, source, document) in enumerate(ordered):
        run(at, source, document)
        if every is None or every <= timedelta(0) or index + 1 >= len(ordered):
            continue
        tick, following = at + every, ordered[index + 1][0]
        while tick < following:
            run(tick, f"scheduled run (latest: {source})", document)
            tick += every
    return steps, issues
