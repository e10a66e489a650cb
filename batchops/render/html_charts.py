"""The status page's charts: inline SVG, coloured by CSS classes (light and dark), each with a text alternative.

Every chart is ``<svg role="img" aria-labelledby=…>`` with a ``<title>`` and a ``<desc>``; the page
puts a table of the same data beside it. Untrusted text goes through :func:`esc` only.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timedelta

from batchops.core import slo as slo_rules
from batchops.core import timeutil
from batchops.core.escape import one_line
from batchops.core.metrics import MIXED
from batchops.core.status_page import BreakerRow, BudgetRow

WIDTH = 960
LABEL = 150
ROW = 24


def esc(value: object) -> str:
    """Untrusted text as HTML text or an attribute value: one line, ``& < > " '`` escaped."""
    return html.escape(one_line(str(value)), quote=True)


def _x(at: datetime, start: datetime, end: datetime, width: float, left: float = LABEL) -> float:
    total = (end - start).total_seconds() or 1.0
    share = min(1.0, max(0.0, (at - start).total_seconds() / total))
    return round(left + share * width, 1)


def _anchor(x: float, left: float, width: float) -> str:
    """A label near either edge is anchored inward, so none is clipped."""
    if x - left < 18:
        return "start"
    if left + width - x < 18:
        return "end"
    return "middle"


def _day_ticks(start: datetime, end: datetime, width: float, top: int, bottom: int, left: float = LABEL) -> list[str]:
    """Grid lines with labels: every day (or week, month) over long spans, every few hours over two days or less."""
    hours = (end - start).total_seconds() / 3600
    if hours <= 2:
        step = 15 if hours > 1 else 10 if hours > 0.5 else 5 if hours > 0.25 else 2
        unit, fmt = timedelta(minutes=1), "%H:%M"
        tick = start.replace(minute=0, second=0, microsecond=0)
    elif hours <= 48:
        unit, step, fmt = timedelta(hours=1), 1 if hours <= 8 else 3 if hours <= 24 else 6, "%H:%M"
        tick = start.replace(minute=0, second=0, microsecond=0)
    else:
        days = max(1, int(hours // 24))
        unit, step, fmt = timedelta(days=1), 1 if days <= 10 else 7 if days <= 70 else 30, "%m-%d"
        tick = start.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    count = 0
    while tick <= end:
        if tick >= start and _on_step(tick, unit, step, count):
            x = _x(tick, start, end, width, left)
            anchor = _anchor(x, left, width)
            out.append(f'<line class="grid" x1="{x}" y1="{top}" x2="{x}" y2="{bottom}"/>')
            out.append(f'<text class="axis" x="{x}" y="{bottom + 14}" text-anchor="{anchor}">{tick:{fmt}}</text>')
        tick += unit
        count += 1
    return out


def _on_step(tick: datetime, unit: timedelta, step: int, count: int) -> bool:
    if unit.days:
        return count % step == 0
    if unit < timedelta(hours=1):
        return tick.minute % step == 0
    return tick.hour % step == 0


def timeline_start(rows: Sequence[BreakerRow], start: datetime, end: datetime) -> datetime:
    """Where the timeline begins: the window's start, or, when the history begins later, a little before it
    (so a history of a few hours or minutes is drawn across the width, not as a sliver at the right edge)."""
    first = min((since for row in rows for since, _, _ in row.spans), default=start)
    first = min([first] + [e.at for row in rows for e in row.events])
    if first - start < timedelta(hours=12):
        return start
    pad = max((end - first) / 10, timedelta(minutes=1))
    return max(start, min(first - pad, end - timedelta(minutes=10)))


def breaker_timeline(rows: Sequence[BreakerRow], start: datetime, end: datetime, *, ident: str = "breakers") -> str:
    """One lane per ecosystem: closed, half-open and open spans; operator actions as diamonds."""
    width = WIDTH - LABEL - 10
    start = timeline_start(rows, start, end)
    height = len(rows) * ROW + 30
    summary = "; ".join(f"{r.ecosystem}: {r.now} now, {len(r.events)} transition(s)" for r in rows) or "no breaker"
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="{ident}-t {ident}-d" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{ident}-t">Circuit breakers from {timeutil.iso(start)} to {timeutil.iso(end)}</title>',
        f'<desc id="{ident}-d">{esc(summary)}</desc>',
    ]
    parts += _day_ticks(start, end, width, 0, height - 24)
    for index, row in enumerate(rows):
        y = index * ROW + 2
        parts.append(f'<text class="label" x="{LABEL - 8}" y="{y + 15}" text-anchor="end">{esc(row.ecosystem)}</text>')
        for since, until, state in row.spans:
            x1, x2 = _x(since, start, end, width), _x(until, start, end, width)
            tip = f"{row.ecosystem}: {state} from {timeutil.iso(since)} to {timeutil.iso(until)}"
            parts.append(
                f'<rect class="st-{esc(state)}" x="{x1}" y="{y + 3}" width="{max(0.6, round(x2 - x1, 1))}" '
                f'height="{ROW - 8}"><title>{esc(tip)}</title></rect>'
            )
        for event in row.events:
            if not event.operator:
                continue
            x = _x(event.at, start, end, width)
            tip = f"{timeutil.iso(event.at)} {event.kind} by {event.author}: {event.commit}"
            tip += f" (reason: {event.reason})" if event.reason else ""
            parts.append(f'<path class="operator" d="M{x} {y + 1}l5 10l-5 10l-5 -10z"><title>{esc(tip)}</title></path>')
    parts.append("</svg>")
    return "".join(parts)


def budget_chart(row: BudgetRow, start: datetime, end: datetime, label: str, *, ident: str) -> str:
    """The share of the weekly limit used across the week, against the 80 % and 95 % lines."""
    width, height, left, top, bottom = 440, 150, 40, 8, 120
    span = bottom - top

    def y(share: float) -> float:
        return round(bottom - min(1.1, max(0.0, share)) / 1.1 * span, 1)

    def x(at: datetime) -> float:
        return _x(at, start, end, width - left - 10, left)

    share = row.used / row.limit * 100 if row.limit else 100.0
    used = f"{row.used:g} of {row.limit:g} minutes ({share:.1f}%), {row.state}"
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="{ident}-t {ident}-d" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{ident}-t">{esc(label)} minutes this week</title>',
        f'<desc id="{ident}-d">{esc(label)}: {esc(used)}; sampling from 80%, paused from 95%; '
        f"{len(row.sampling)} sampling span(s), {len(row.paused)} paused span(s)</desc>",
    ]
    for cls, spans in (("sampling", row.sampling), ("paused", row.paused)):
        for since, until in spans:
            parts.append(
                f'<rect class="{cls}" x="{x(since)}" y="{top}" width="{max(0.6, round(x(until) - x(since), 1))}" '
                f'height="{span}"/>'
            )
    for share, cls, text in ((0.8, "line80", "80% sampling"), (0.95, "line95", "95% paused")):
        parts.append(f'<line class="{cls}" x1="{left}" y1="{y(share)}" x2="{width - 10}" y2="{y(share)}"/>')
        parts.append(f'<text class="axis" x="{width - 12}" y="{y(share) - 3}" text-anchor="end">{text}</text>')
    parts.append(f'<line class="grid" x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}"/>')
    parts.append(f'<text class="axis" x="{left - 4}" y="{bottom}" text-anchor="end">0%</text>')
    parts.append(f'<text class="axis" x="{left - 4}" y="{y(1.0) + 4}" text-anchor="end">100%</text>')
    points = " ".join(f"{x(at)},{y(share)}" for at, share in row.points)
    if points:
        parts.append(f'<polyline class="used" points="{points}"/>')
    parts += _day_ticks(start, end, width - left - 10, top, bottom, left)
    parts.append("</svg>")
    return "".join(parts)


def slo_chart(reports: Sequence[slo_rules.EcosystemSLO], *, ident: str = "slo") -> str:
    """A bar per ecosystem: its success rate, a tick at its target, coloured by severity."""
    height = len(reports) * ROW + 24
    width = WIDTH - LABEL - 70
    summary = "; ".join(
        f"{r.ecosystem}: {'-' if r.success_rate is None else f'{r.success_rate:g}%'} "
        + ("(counts toward no SLO)" if r.ecosystem == MIXED else f"vs {r.slo:g}% ({r.severity})")
        for r in reports
    )
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="{ident}-t {ident}-d" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{ident}-t">Success rate per ecosystem against its SLO</title>',
        f'<desc id="{ident}-d">{esc(summary or "no run in the window")}</desc>',
    ]
    for index, report in enumerate(reports):
        y = index * ROW + 2
        rate = report.success_rate or 0.0
        parts.append(
            f'<text class="label" x="{LABEL - 8}" y="{y + 15}" text-anchor="end">{esc(report.ecosystem)}</text>'
        )
        parts.append(f'<rect class="track" x="{LABEL}" y="{y + 4}" width="{width}" height="{ROW - 10}"/>')
        severity = "no-data" if report.ecosystem == MIXED else report.severity
        parts.append(
            f'<rect class="sev-{esc(severity)}" x="{LABEL}" y="{y + 4}" '
            f'width="{round(width * rate / 100, 1)}" height="{ROW - 10}"/>'
        )
        if report.ecosystem != MIXED:  # mixed runs count toward no ecosystem's SLO: no target to draw
            target = round(LABEL + width * report.slo / 100, 1)
            parts.append(f'<line class="target" x1="{target}" y1="{y}" x2="{target}" y2="{y + ROW - 2}"/>')
        shown = "no data" if report.success_rate is None else f"{report.success_rate:g}%"
        parts.append(f'<text class="value" x="{LABEL + width + 6}" y="{y + 15}">{esc(shown)}</text>')
    parts.append("</svg>")
    return "".join(parts)
