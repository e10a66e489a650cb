"""The status page as one self-contained HTML file: inline CSS and SVG, no script, a strict CSP.

Everything that comes from the control file, commit subjects, names, issue titles or metrics is
untrusted: it is written through :func:`esc` (text and attribute values) and links only through
:func:`link`, which keeps ``http(s)`` URLs and shows anything else as text. The Content-Security-
Policy (``default-src 'none'; style-src 'unsafe-inline'; img-src data:``) forbids any script,
frame, font, fetch or form, so even a mistake here could not run code or reach the network.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from batchops.core import budget as budget_rules
from batchops.core import timeutil
from batchops.core.metrics import MIXED
from batchops.core.stale import NOT_SHIPPING, QUIET
from batchops.core.status_page import BreakerRow, Event, Landing, Page, age
from batchops.render.html_charts import breaker_timeline, budget_chart, esc, slo_chart

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
MAX_EVENTS = 300  # transitions listed in the table (the feed and the chart carry the rest)
MAX_LANDINGS = 60

CSS = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--card:#f6f8fa;
--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--closed:#2da44e;--half:#d4a72c;--open:#cf222e;--unknown:#8c959f;
--samp:rgba(212,167,44,.22);--pause:rgba(207,34,46,.22);--link:#0969da}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--card:#151b23;
--ok:#3fb950;--warn:#d29922;--bad:#f85149;--closed:#238636;--half:#bb8009;--open:#da3633;--unknown:#656c76;
--samp:rgba(187,128,9,.3);--pause:rgba(218,54,51,.3);--link:#4493f8}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1100px;margin:0 auto;padding:16px 20px 40px}a{color:var(--link)}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid var(--line);
padding-bottom:4px}.muted{color:var(--muted)}code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;
background:var(--card);padding:1px 4px;border-radius:4px;word-break:break-all}
.banner{border-radius:8px;padding:14px 18px;margin:12px 0;border:2px solid;font-size:17px}
.banner strong{font-size:20px}.b-running{border-color:var(--ok)}.b-stopped{border-color:var(--bad)}
.b-quiet{border-color:var(--warn)}.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:10px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .k{color:var(--muted);font-size:13px}.card .v{font-size:18px;font-weight:600}
.bad{color:var(--bad)}.warn{color:var(--warn)}.ok{color:var(--ok)}
table{border-collapse:collapse;width:100%;font-size:14px;margin:8px 0}th,td{text-align:left;padding:4px 8px;
border-bottom:1px solid var(--line);vertical-align:top}th{color:var(--muted);font-weight:600}
details{margin:6px 0}summary{cursor:pointer;color:var(--muted)}.grid2{display:grid;
grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:14px}
svg.chart{display:block;max-width:100%;height:auto}svg text{fill:var(--fg);font-size:12px}
svg .axis{fill:var(--muted);font-size:11px}svg .grid{stroke:var(--line);stroke-width:1}
.st-closed{fill:var(--closed)}.st-half-open{fill:var(--half)}.st-open{fill:var(--open)}.st-unknown{fill:var(--unknown)}
.operator{fill:var(--fg);stroke:var(--bg);stroke-width:1}.sampling{fill:var(--samp)}.paused{fill:var(--pause)}
.line80{stroke:var(--warn);stroke-dasharray:5 4;stroke-width:1.5}.line95{stroke:var(--bad);stroke-dasharray:5 4;
stroke-width:1.5}.used{fill:none;stroke:var(--link);stroke-width:2}.track{fill:var(--card);stroke:var(--line)}
.target{stroke:var(--fg);stroke-width:2}.sev-ok{fill:var(--ok)}.sev-low{fill:var(--ok)}.sev-medium{fill:var(--half)}
.sev-high{fill:var(--open)}.sev-critical{fill:var(--bad)}.sev-no-data{fill:var(--unknown)}
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:12px;height:12px;
border-radius:2px;vertical-align:-1px;margin-right:4px}.sw.st-closed{background:var(--closed)}
.sw.st-half-open{background:var(--half)}.sw.st-open{background:var(--open)}h3{font-size:15px;margin:10px 0 2px}
"""


def safe_url(url: str) -> str:
    """``url`` when it is an absolute http(s) URL without spaces or control characters; else ""."""
    text = (url or "").strip()
    if not text or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        return ""
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    return text if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def link(url: str, text: str = "") -> str:
    """A link when ``url`` is http(s); otherwise the text (or the URL itself) shown as inert text."""
    safe = safe_url(url)
    if not safe:
        return f"<span>{esc(text or url or '-')}</span>"
    return f'<a href="{esc(safe)}" rel="noopener noreferrer nofollow">{esc(text or safe)}</a>'


def _when(at: datetime | None) -> str:
    return timeutil.iso(at) if at else "-"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str = "") -> str:
    """A table; cells are HTML already (escaped by the caller)."""
    head = "".join(f"<th scope=col>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    cap = f"<caption class=muted>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_TONE_CLASS = {"bad": "b-stopped", "warn": "b-quiet", "ok": "b-running"}


def _attention(page: Page) -> list[str]:
    """What needs a person, worst first, as escaped HTML fragments for the banner."""
    parts = []
    opened = [r.ecosystem for r in page.breakers if r.now == "open"]
    half = [r.ecosystem for r in page.breakers if r.now == "half-open"]
    if opened:
        parts.append(f"breakers open: {esc(', '.join(opened))}")
    if page.drift:
        recipes = ", ".join(dict.fromkeys(str(f.get("recipe", "?")) for f in page.drift))
        parts.append(f"checksum drift: {esc(len(page.drift))} finding(s) ({esc(recipes)})")
    paused = [budget_rules.LABELS.get(b.platform, b.platform) for b in page.budget if b.state == "paused"]
    if paused:
        parts.append(f"budget paused: {esc(', '.join(paused))}")
    if half:
        parts.append(f"breakers half-open (probing): {esc(', '.join(half))}")
    if page.disabled:
        parts.append(f"ecosystems disabled: {esc(', '.join(page.disabled))}")
    return parts


def _banner(page: Page) -> str:
    state = page.state
    tone = _TONE_CLASS[page.worst()]
    attention = _attention(page)
    tail = "".join(f" · {part}" for part in attention) or " · every breaker closed, nothing needs a person"
    if state.status == "stopped":
        rows = [
            f"<strong>Stopped</strong>: {esc(state.reason or '(no reason given)')}",
            f"incident: {link(state.incident_url, state.incident_url or '-')}",
            f"stopped by {esc(state.disabled_by or '-')} at {esc(state.disabled_at or '-')}",
            f"expected resume: {esc(state.expected_resume or '-')}",
        ]
        head = " · ".join(rows)
        rest = "".join(f" · {part}" for part in attention)
        return f'<div class="banner {tone}" id="pipeline-state" data-tone="{page.worst()}">{head}{rest}</div>'
    if state.status == "quiet":
        quiet = "; ".join(i.title.removeprefix("Batch pipeline quiet: ") for i in page.incidents if i.kind == "quiet")
        head = f"<strong>Quiet</strong>: {esc(quiet)}"
    else:
        head = "<strong>Running</strong>"
    return f'<div class="banner {tone}" id="pipeline-state" data-tone="{page.worst()}">{head}{tail}</div>'


def _last_run_card(page: Page, stale_keys: set[str]) -> tuple[str, str, str]:
    last = page.activity.last_run
    if last is None:
        return ("Last batch run", "no batch has run", "bad" if QUIET in stale_keys else "warn")
    return ("Last batch run", age(page.now, last), "bad" if QUIET in stale_keys else "ok")


def _cards(page: Page) -> str:
    activity = page.activity
    opened, half = page.count("open"), page.count("half-open")
    worst = max(page.budget, key=lambda b: b.used / b.limit if b.limit else 1.0, default=None)
    stale_keys = {i.key for i in page.incidents if i.kind == "quiet"}
    needs = page.needs_a_person()
    breakers = f"{opened} of {len(page.breakers)}" + (f" (+{half} half-open)" if half else "")
    cards = [
        ("Needs a person", str(needs), "bad" if needs else "ok"),
        _last_run_card(page, stale_keys),
        (
            "Last batch shipped",
            age(page.now, activity.last_shipped),
            "bad" if NOT_SHIPPING in stale_keys else "warn" if activity.last_shipped is None else "ok",
        ),
        ("Breakers open", breakers, "bad" if opened else "warn" if half else "ok"),
    ]
    if page.disabled:
        cards.append(("Ecosystems disabled", ", ".join(page.disabled), "warn"))
    if worst is not None:
        share = worst.used / worst.limit * 100 if worst.limit else 100.0
        label = budget_rules.LABELS.get(worst.platform, worst.platform)
        cards.append(
            (
                f"Budget ({label})",
                f"{share:.0f}% · {worst.state}",
                "bad" if share >= 95 else "warn" if share >= 80 else "ok",
            )
        )
    if page.drift:
        cards.append(("Drift findings", str(len(page.drift)), "bad"))
    out = "".join(
        f'<div class="card"><div class=k>{esc(k)}</div><div class="v {c}">{esc(v)}</div></div>' for k, v, c in cards
    )
    run = _when(activity.last_run) if activity.last_run else "none (no batch has run)"
    times = f"last batch run {run}, last shipped {_when(activity.last_shipped)}"
    return f'<div class="cards" id="summary">{out}</div><p class="muted">{esc(times)}</p>'


def _breaker_facts(row: BreakerRow) -> str:
    since = ("open since at least " if row.since_at_least else "open since ") + (row.since or "(unknown)")
    facts = [since, f"next batch: {row.next_batch or '-'}", f"consecutive failures: {row.failures}"]
    if row.why:
        facts.append(f"why: {row.why}")
    return "<br>".join(esc(f) for f in facts)


def _incident_rows(page: Page) -> list[list[str]]:
    rows_by_name = {r.ecosystem: r for r in page.breakers}
    rows = []
    for incident in sorted(page.incidents, key=lambda i: i.kind not in ("pipeline", "quiet")):
        row = rows_by_name.get(incident.subject) if incident.kind == "breaker" else None
        if row is not None:
            title = page.title_of(incident)
            rows.append([f"<strong>{esc(title)}</strong>", _breaker_facts(row)])
            continue
        facts = "<br>".join(f"{esc(k)}: {esc(v)}" for k, v in incident.facts[:4])
        rows.append([f"<strong>{esc(incident.title)}</strong>", facts])
    for finding in page.drift:
        title = f"Checksum drift: {finding.get('recipe', '?')} {finding.get('version', '')}".strip()
        facts = f"status: {finding.get('status', '')}; see the drift section below"
        rows.append([f"<strong>{esc(title)}</strong>", esc(facts)])
    return rows


def _incidents(page: Page) -> str:
    rows = _incident_rows(page)
    if not rows:
        return '<h2 id="incidents">Needs a person</h2><p class="ok">None: nothing needs a person now.</p>'
    return '<h2 id="incidents">Needs a person</h2>' + _table(["what", "facts"], rows)


def _commit(page: Page, sha: str) -> str:
    if page.repository:
        return link(f"https://github.com/{page.repository}/commit/{sha}", sha[:12])
    return f"<code>{esc(sha[:12])}</code>"


def _breakers(page: Page) -> str:
    start = page.now - timedelta(days=page.days)
    legend = (
        '<p class="legend muted"><span><i class="sw st-closed"></i>closed</span><span><i class="sw st-half-open">'
        '</i>half-open (probe)</span><span><i class="sw st-open"></i>open</span><span>◆ operator action</span></p>'
    )
    chart = breaker_timeline(page.breakers, start, page.now)
    now_rows = [
        [
            esc(r.ecosystem),
            esc(r.now),
            esc(_since_text(r)),
            esc(r.next_batch or "-"),
            esc(r.failures),
            "yes" if r.disabled else "no",
            esc(len(r.events)),
        ]
        for r in page.breakers
    ]
    events = list(reversed(page.events))[:MAX_EVENTS]
    rows = [_event_row(page, e) for e in events]
    more = len(page.events) - len(events)
    caption = f"newest first; {more} older in feed.xml" if more > 0 else "newest first"
    return (
        f'<h2 id="breakers">Circuit breakers, last {page.days} days</h2>{legend}{chart}'
        + _table(_BREAKER_HEADERS, now_rows)
        + "<details><summary>Transitions and operator actions "
        + f"({len(page.events)})</summary>"
        + _table(["time", "what", "from → to", "reason", "commit", "by"], rows, caption=caption)
        + "</details>"
    )


_BREAKER_HEADERS = ["ecosystem", "now", "open since", "next batch", "consecutive failures", "disabled", "transitions"]


def _since_text(row: BreakerRow) -> str:
    if row.now not in ("open", "half-open"):
        return "-"
    if not row.since:
        return "(unknown)"
    return f"at least {row.since}" if row.since_at_least else row.since


def _event_row(page: Page, event: Event) -> list[str]:
    what = f"{esc(event.subject)}: <strong>{esc(event.kind)}</strong>" + (" (operator)" if event.operator else "")
    commit = f"{_commit(page, event.sha)} {esc(event.commit)}"
    return [
        esc(timeutil.iso(event.at)),
        what,
        f"{esc(event.before)} → {esc(event.after)}",
        esc(event.reason or "-"),
        commit,
        esc(event.author),
    ]


def _budget(page: Page) -> str:
    end = page.week_start + timedelta(days=7)
    charts = []
    rows = []
    for index, row in enumerate(page.budget):
        label = budget_rules.LABELS.get(row.platform, row.platform)
        chart = budget_chart(row, page.week_start, end, label, ident=f"budget-{index}")
        charts.append(f"<div><h3>{esc(label)}: {esc(row.state)}</h3>{chart}</div>")
        share = row.used / row.limit * 100 if row.limit else 100.0
        spans = ", ".join(f"{_when(a)} → {_when(b)}" for a, b in row.paused) or "-"
        rows.append(
            [esc(label), esc(f"{row.used:g} / {row.limit:g}"), esc(f"{share:.1f}%"), esc(row.state), esc(spans)]
        )
    week = f"week from {_when(page.week_start)}; sampling from 80%, a platform pauses from 95%"
    return (
        f'<h2 id="budget">CI budget this week</h2><p class="muted">{esc(week)}</p><div class="grid2">'
        + "".join(charts)
        + "</div>"
        + _table(["platform", "minutes used / limit", "share", "state", "paused"], rows)
    )


def _tone(severity: str) -> str:
    return "bad" if severity in ("critical", "high") else "warn" if severity == "medium" else "ok"


def _slo(page: Page) -> str:
    if not page.slo:
        source = page.slo_source or "no metrics store"
        return f'<h2 id="slo">Success rate against SLO</h2><p class="muted">No run in the window ({esc(source)}).</p>'
    rows = [
        [
            esc(r.ecosystem),
            esc("-" if r.success_rate is None else f"{r.success_rate:g}%"),
            esc("none (counts toward no ecosystem)" if r.ecosystem == MIXED else f"{r.slo:g}%"),
            "-" if r.ecosystem == MIXED else f'<span class="{_tone(r.severity)}">{esc(r.severity)}</span>',
            esc(r.runs),
            esc(r.latest_run_at or "-"),
        ]
        for r in page.slo
    ]
    return (
        f'<h2 id="slo">Success rate against SLO</h2><p class="muted">from {esc(page.slo_source)}</p>'
        + slo_chart(page.slo)
        + _table(["ecosystem", "success rate", "SLO", "severity", "runs", "latest run"], rows)
    )


def _landing_row(page: Page, landing: Landing) -> list[str]:
    pr = landing.pull_request
    what = esc(landing.subject)
    if pr is not None and page.repository:
        what += " · " + link(f"https://github.com/{page.repository}/pull/{pr}", f"#{pr}")
    return [
        esc(timeutil.iso(landing.at)),
        what,
        _commit(page, landing.sha),
        f"<code>{esc(landing.rollback_command)}</code>",
    ]


def _shipped(page: Page) -> str:
    landings = list(reversed(page.landings))[:MAX_LANDINGS]
    if not landings:
        last = page.activity.last_shipped
        said = f"the last one shipped {_when(last)} ({age(page.now, last)})" if last else "none in this history"
        text = f"No batch shipped in the last {page.days} days: {said}."
        return f'<h2 id="shipped">Batches that shipped</h2><p class="bad">{esc(text)}</p>'
    rows = [_landing_row(page, landing) for landing in landings]
    return '<h2 id="shipped">Batches that shipped</h2>' + _table(
        ["landed", "batch", "commit", "roll back (run with --dry-run first)"],
        rows,
        caption=f"newest first; {len(page.landings)} in the last {page.days} days",
    )


def _report_of(page: Page) -> str:
    """When the drift report was written, and whether that is after the time the page is drawn for."""
    written = timeutil.parse_iso_or_none(page.drift_checked)
    later = written is not None and written > page.now
    return f"report of {page.drift_checked}" + (", later than this page's time" if later else "")


def _drift(page: Page) -> str:
    if not page.drift_checked:
        return '<h2 id="drift">Checksum drift</h2><p class="muted">No drift report found.</p>'
    if not page.drift:
        said = f"No finding to look at ({_report_of(page)})."
        return f'<h2 id="drift">Checksum drift</h2><p class="ok">{esc(said)}</p>'
    rows = [
        [
            esc(f.get("recipe", "")),
            esc(f.get("status", "")),
            esc(f.get("version", "")),
            link(str(f.get("issue_url") or ""), str(f.get("issue_url") or "-")),
            esc(f.get("reason", "")),
        ]
        for f in page.drift
    ]
    return f'<h2 id="drift">Checksum drift</h2><p class="muted">{esc(_report_of(page))}</p>' + _table(
        ["recipe", "status", "version", "issue", "reason"], rows
    )


def page_html(page: Page) -> str:
    notes = "".join(f"<li>{esc(n)}</li>" for n in page.notes)
    return "".join(
        [
            "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="referrer" content="no-referrer">',
            '<meta name="viewport" content="width=device-width,initial-scale=1">',
            '<meta name="color-scheme" content="light dark"><link rel="icon" href="data:,">',
            f"<title>{esc(page.state.status.capitalize())} · Batch pipeline status</title>",
            '<link rel="alternate" type="application/atom+xml" title="Incidents and transitions" href="feed.xml">',
            f"<style>{CSS}</style></head><body><main>",
            f'<h1>Batch pipeline status</h1><p class="muted">as of {esc(timeutil.iso(page.now))} · '
            "built by batchops from "
            f'{esc(page.versions)} control-file version(s) · <a href="feed.xml">feed</a></p>',
            _banner(page),
            _cards(page),
            _incidents(page),
            _breakers(page),
            _budget(page),
            _slo(page),
            _shipped(page),
            _drift(page),
            f'<h2 id="notes">About this page</h2><ul class="muted">{notes}',
            "<li>Static: no script runs here; every chart has a table beside it.</li></ul>",
            "</main></body></html>\n",
        ]
    )
