"""The status page's model: what the pipeline's history says, as values a renderer draws.

Pure (no I/O, no clock): the engine (:mod:`batchops.engines.status_page`) reads the control file's
versions, the metrics, the drift report and the landings, and hands them here with ``now``.

- :func:`breaker_rows`: per ecosystem, the state's spans over the window and its transitions
  (``trip`` closed → open, ``probe`` open → half-open, ``re-open`` half-open → open, ``recovered``
  half-open → closed, ``reset`` open → closed, an operator's), and operator actions seen in the
  control file (an ecosystem disabled or enabled, the pipeline stopped or resumed).
- :func:`budget_rows`: per platform, the share of its weekly limit used at each version of this
  week, with the spans where it sampled (≥ 80 %) and where it was paused (≥ 95 %).
- :func:`pipeline_state`: running, stopped (reason, link, expected resume) or quiet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from batchops.core import breaker, budget, next_batch, stale, timeutil
from batchops.core import slo as slo_rules
from batchops.core.incident import Incident

CLOSED, OPEN, HALF_OPEN, UNKNOWN = "closed", "open", "half-open", "unknown"
_MOVES = {
    (CLOSED, OPEN): "trip",
    (HALF_OPEN, OPEN): "re-open",
    (OPEN, HALF_OPEN): "probe",
    (HALF_OPEN, CLOSED): "recovered",
    (OPEN, CLOSED): "reset",
    (UNKNOWN, OPEN): "trip",
    (UNKNOWN, HALF_OPEN): "probe",
}
_PR = re.compile(r"\(#(\d{1,9})\)\s*$")


@dataclass(frozen=True)
class Snapshot:
    """One committed version of the control file, as the page needs it."""

    at: datetime
    sha: str
    subject: str
    author: str
    document: dict[str, Any]
    trailers: tuple[dict[str, str], ...] = ()  # the commit's audit trailer groups (control.parse_trailers)


# The operations a batch job journals: a commit carrying one of them is a batch run.
BATCH_OPERATIONS = frozenset({"breaker.record", "breaker.gate", "budget.add_minutes"})


@dataclass(frozen=True)
class Event:
    at: datetime
    subject: str  # the ecosystem, or "pipeline"
    kind: str  # trip, probe, re-open, recovered, reset, disabled, enabled, stopped, resumed
    before: str
    after: str
    sha: str
    commit: str  # the commit's subject
    author: str
    reason: str = ""  # the operator's why (the ``Batchops-Reason`` trailer), when the commit has one

    @property
    def operator(self) -> bool:
        manual = ("reset", "disabled", "enabled", "stopped", "resumed")
        return self.kind in manual or "." in self.kind or "[bot]" not in self.author


@dataclass
class BreakerRow:
    ecosystem: str
    spans: list[tuple[datetime, datetime, str]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    now: str = UNKNOWN
    failures: int = 0
    disabled: bool = False
    since: str = ""  # when the breaker opened (``opened_at``), or, for a legacy entry, its last failure
    since_at_least: bool = False  # no ``opened_at``: it was open at least since ``since`` (history, last failure)
    seen_open_from: datetime | None = None  # the first version of the current run of not-closed versions
    next_batch: str = ""  # what the next batch meets, as ``batchops status`` says it
    why: str = ""


@dataclass
class BudgetRow:
    platform: str
    limit: float
    points: list[tuple[datetime, float]] = field(default_factory=list)  # (time, share of the limit, 0..)
    sampling: list[tuple[datetime, datetime]] = field(default_factory=list)
    paused: list[tuple[datetime, datetime]] = field(default_factory=list)
    used: float = 0.0
    state: str = "ok"


@dataclass(frozen=True)
class PipelineState:
    status: str  # running, stopped, quiet
    reason: str = ""
    incident_url: str = ""
    disabled_by: str = ""
    disabled_at: str = ""
    expected_resume: str = ""


@dataclass(frozen=True)
class Landing:
    at: datetime
    sha: str
    subject: str
    batch_ids: tuple[str, ...] = ()

    @property
    def pull_request(self) -> int | None:
        match = _PR.search(self.subject)
        return int(match.group(1)) if match else None

    @property
    def rollback_command(self) -> str:
        if self.batch_ids:
            return f"batchops rollback --batch-id {self.batch_ids[0]}"
        if self.pull_request is not None:
            return f"batchops rollback --pr {self.pull_request}"
        return f"batchops rollback --commit {self.sha[:12]}"


def state_of(entry: Any) -> str:
    if not isinstance(entry, dict):
        return UNKNOWN
    value = entry.get("state")
    return value if value in (CLOSED, OPEN, HALF_OPEN) else UNKNOWN


def _states(document: dict[str, Any]) -> dict[str, str]:
    table = document.get("circuit_breaker")
    if not isinstance(table, dict):
        return {}
    return {name: state_of(table.get(name)) for name in breaker.ecosystems(document)}


def disabled_of(document: dict[str, Any]) -> set[str]:
    value = document.get("disabled_ecosystems")
    return {str(v) for v in value} if isinstance(value, list) else set()


def reason_of(trailers: Sequence[dict[str, str]], subject: str) -> str:
    """The ``Batchops-Reason`` of the operation about ``subject`` (an ecosystem), else of the commit's first one."""
    mine = [g for g in trailers if g.get("reason") and g.get("ecosystem") == subject]
    any_reason = [g for g in trailers if g.get("reason") and not g.get("ecosystem")] or [
        g for g in trailers if g.get("reason")
    ]
    found = mine or any_reason
    return found[0]["reason"] if found else ""


def _event(version: Snapshot, subject: str, kind: str, before: str, after: str) -> Event:
    reason = reason_of(version.trailers, subject)
    return Event(version.at, subject, kind, before, after, version.sha, version.subject, version.author, reason)


def is_batch_run(previous: Snapshot | None, version: Snapshot) -> bool:
    """Whether ``version`` is a batch job's commit, not an operator's.

    Audited commits say it by their operations (a batch job journals ``breaker.record``,
    ``breaker.gate``, ``budget.add_minutes``; an operator ``control.stop``, ``breaker.reset``, …).
    A commit without trailers (the legacy scripts' "update batch state") is a batch run when it
    changed breaker or budget state; the first version (the file's import) is none.
    """
    operations = {g.get("operation", "") for g in version.trailers}
    if version.trailers:
        return bool(operations & BATCH_OPERATIONS) or "" in operations
    if previous is None:
        return False
    keys = ("circuit_breaker", "budget")
    return any(previous.document.get(k) != version.document.get(k) for k in keys)


def events_between(previous: Snapshot | None, version: Snapshot) -> list[Event]:
    """What changed from ``previous`` to ``version``: breaker transitions and operator actions."""
    before = _states(previous.document) if previous else {}
    found = []
    for name, state in _states(version.document).items():
        was = before.get(name, UNKNOWN if previous is None else CLOSED)
        kind = _MOVES.get((was, state))
        if kind and previous is not None:
            found.append(_event(version, name, kind, was, state))
    if previous is not None:
        old, new = disabled_of(previous.document), disabled_of(version.document)
        found += [_event(version, name, "disabled", "enabled", "disabled") for name in sorted(new - old)]
        found += [_event(version, name, "enabled", "disabled", "enabled") for name in sorted(old - new)]
        was_on = previous.document.get("enabled", True) is not False
        is_on = version.document.get("enabled", True) is not False
        if was_on != is_on:
            kind = "resumed" if is_on else "stopped"
            found.append(
                _event(version, "pipeline", kind, "stopped" if is_on else "running", "running" if is_on else "stopped")
            )
        found += _audited_only(version, found)
    return found


def _audited_only(version: Snapshot, found: Sequence[Event]) -> list[Event]:
    """An operator's audited operation that changed no state the page draws (a breaker opened by hand while
    open, a budget reset): it is still an action on the timeline, named by its operation, with its reason."""
    seen = {event.subject for event in found}
    states = _states(version.document)
    extra = []
    for group in version.trailers:
        operation = group.get("operation", "")
        subject = group.get("ecosystem") or "pipeline"
        if not operation or operation in BATCH_OPERATIONS or subject in seen:
            continue
        seen.add(subject)
        state = states.get(subject, "-")
        extra.append(_event(version, subject, operation, state, state))
    return extra


def breaker_rows(versions: Sequence[Snapshot], now: datetime, days: int) -> tuple[list[BreakerRow], list[Event]]:
    """Per ecosystem its spans and transitions over the last ``days``; and every event in the window."""
    start = now - timedelta(days=days)
    rows: dict[str, BreakerRow] = {}
    events: list[Event] = []
    previous: Snapshot | None = None
    current: dict[str, tuple[datetime, str]] = {}
    not_closed: dict[str, datetime] = {}  # since which version each breaker has not been closed
    for version in versions:
        if version.at > now:
            break
        for name, state in _states(version.document).items():
            if state == CLOSED:
                not_closed.pop(name, None)
            elif state in (OPEN, HALF_OPEN):
                not_closed.setdefault(name, version.at)
        moment = max(version.at, start)
        for event in events_between(previous, version):
            if event.at >= start:
                events.append(event)
                if event.subject in rows or event.subject != "pipeline":
                    rows.setdefault(event.subject, BreakerRow(event.subject)).events.append(event)
        for name, state in _states(version.document).items():
            row = rows.setdefault(name, BreakerRow(name))
            since, was = current.get(name, (moment, state))
            if was != state:
                if moment > since:
                    row.spans.append((since, moment, was))
                since = moment
            current[name] = (since, state)
        previous = version
    for name, (since, state) in current.items():
        rows[name].spans.append((since, now, state))
        rows[name].now = state
        rows[name].seen_open_from = not_closed.get(name)
    if previous is not None:
        table = previous.document.get("circuit_breaker") or {}
        for name, row in rows.items():
            entry = table.get(name) if isinstance(table, dict) else None
            row.failures = int(entry.get("failures") or 0) if isinstance(entry, dict) else 0
            row.disabled = name in disabled_of(previous.document)
    ordered = sorted(rows.values(), key=lambda r: (r.now == CLOSED, r.ecosystem))
    return [row for row in ordered if row.spans or row.events], events


def _spans(
    points: Sequence[tuple[datetime, float]], threshold: float, end: datetime
) -> list[tuple[datetime, datetime]]:
    spans: list[tuple[datetime, datetime]] = []
    opened: datetime | None = None
    for at, share in points:
        if share >= threshold and opened is None:
            opened = at
        elif share < threshold and opened is not None:
            spans.append((opened, at))
            opened = None
    if opened is not None:
        spans.append((opened, end))
    return spans


def budget_rows(
    versions: Sequence[Snapshot], now: datetime, document: dict[str, Any]
) -> tuple[list[BudgetRow], datetime]:
    """Per platform the share of its weekly limit used at each version of the current week."""
    view = budget.view(document, now)
    week = view.week_start
    rows = {g.platform: BudgetRow(g.platform, g.limit, used=g.used, state=g.state) for g in view.gauges}
    sample = view.config.sampling_percent / 100
    pause = view.config.pause_percent / 100
    for version in versions:
        if version.at < week or version.at > now:
            continue
        for gauge in budget.view(version.document, version.at).gauges:
            if gauge.platform in rows:
                rows[gauge.platform].points.append((version.at, gauge.fraction))
    for row in rows.values():
        row.points.append((now, row.used / row.limit if row.limit > 0 else 1.0))
        row.sampling = _spans(row.points, sample, now)
        row.paused = _spans(row.points, pause, now)
    return list(rows.values()), week


def pipeline_state(document: dict[str, Any], quiet: bool) -> PipelineState:
    if document.get("enabled", True) is False:
        text = {
            k: str(document.get(k) or "")
            for k in ("reason", "incident_url", "disabled_by", "disabled_at", "expected_resume")
        }
        return PipelineState("stopped", **text)
    return PipelineState("quiet" if quiet else "running")


def age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    seconds = max(0, int((now - then).total_seconds()))
    return timeutil.format_duration(timedelta(seconds=seconds)) + " ago"


def last_batch_run(versions: Sequence[Snapshot]) -> Snapshot | None:
    """The newest version a batch job committed (:func:`is_batch_run`); None when no batch has run."""
    for index in range(len(versions) - 1, -1, -1):
        if is_batch_run(versions[index - 1] if index else None, versions[index]):
            return versions[index]
    return None


def breaker_now(rows: Sequence[BreakerRow], document: dict[str, Any], now: datetime) -> None:
    """Fill each row's open-since and next-batch sentence from the control file as it is now."""
    table = document.get("circuit_breaker")
    for row in rows:
        entry = table.get(row.ecosystem) if isinstance(table, dict) else None
        if isinstance(entry, dict) and row.now in (OPEN, HALF_OPEN):
            opened = str(entry.get("opened_at") or "")
            if opened:
                row.since, row.since_at_least = opened, False
            else:  # a legacy entry: the earliest of its last failure and the history's first open version
                known = [timeutil.parse_iso_or_none(str(entry.get("last_failure") or "")), row.seen_open_from]
                earliest = min((moment for moment in known if moment is not None), default=None)
                row.since, row.since_at_least = (timeutil.iso(earliest) if earliest else ""), earliest is not None
        try:
            row.next_batch, row.why = next_batch.sentence(document, row.ecosystem, now)
        except (KeyError, TypeError, ValueError):
            row.next_batch, row.why = "", ""


def activity_of(versions: Sequence[Snapshot], landings: Sequence[Landing]) -> stale.Activity:
    run = last_batch_run(versions)
    ship = landings[-1] if landings else None
    return stale.Activity(
        run.at if run else None,
        ship.at if ship else None,
        f"{run.sha[:12]} {run.subject}" if run else "",
        f"{ship.sha[:12]} {ship.subject}" if ship else "",
    )


@dataclass
class Page:
    """Everything the page shows, as of ``now``."""

    now: datetime
    days: int
    state: PipelineState
    incidents: list[Incident]
    breakers: list[BreakerRow]
    events: list[Event]
    budget: list[BudgetRow]
    week_start: datetime
    activity: stale.Activity
    repository: str = ""  # owner/name: links to commits and pull requests on GitHub
    slo: list[slo_rules.EcosystemSLO] = field(default_factory=list)
    slo_source: str = ""
    landings: list[Landing] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)  # findings that need a look
    drift_checked: str = ""  # when the drift report was written ("" when there is none)
    versions: int = 0
    notes: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)  # ecosystems disabled now

    def count(self, state: str) -> int:
        return sum(1 for r in self.breakers if r.now == state)

    def worst(self) -> str:
        """The banner's tone: ``bad`` (stopped, an open breaker, drift, a paused platform), ``warn``
        (quiet, half-open, a disabled ecosystem, sampling), else ``ok``."""
        paused = any(b.state == "paused" for b in self.budget)
        if self.state.status == "stopped" or self.count(OPEN) or self.drift or paused:
            return "bad"
        sampling = any(b.state != "ok" for b in self.budget)
        if self.state.status == "quiet" or self.count(HALF_OPEN) or self.disabled or sampling:
            return "warn"
        return "ok"

    def title_of(self, incident: Incident) -> str:
        """The incident's title as the page says it: a breaker's by its state now (open or half-open)."""
        if incident.kind == "breaker":
            row = next((r for r in self.breakers if r.ecosystem == incident.subject), None)
            if row is not None and row.now in (OPEN, HALF_OPEN):
                return f"Circuit breaker {row.now}: {row.ecosystem}"
        return incident.title

    def needs_a_person(self) -> int:
        """Open incidents plus drift findings: what someone has to look at."""
        return len(self.incidents) + len(self.drift)
