"""``batchops slo``: per-ecosystem success rate against its SLO, with the runbook's severities.

The success rate of an ecosystem over the window is Σpassed / (Σpassed + Σfailed)
of its runs in the metrics store (skipped recipes do not count). SLOs default to
85% for homebrew and 98% for every other ecosystem; ``--slo NAME=PCT`` overrides
one, ``--slo default=PCT`` the rest. Severities (see :data:`SEVERITY_RULES`):

==========  ================================================================
critical    runs in the window but no recipe passed, or rate < SLO - 20 pts
high        rate < SLO - 10 pts
medium      rate < SLO (the ecosystem is degraded)
low         rate >= SLO, but the latest run was below it (transient failures)
ok          rate >= SLO and the latest run too
no-data     no run with an attempted recipe in the window
==========  ================================================================
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from batchops.adapters import runner
from batchops.adapters.files import write_atomic
from batchops.adapters.store import DEFAULT_DATABASE, Store
from batchops.cli.args import Command, add_input, add_now, clock, parse_float, parse_int
from batchops.core import timeutil
from batchops.errors import UsageError
from batchops.render import markdown

DEFAULT_SLOS: dict[str, float] = {"homebrew": 85.0, "default": 98.0}
DEFAULT_WINDOW = "7d"
ORDER = ["critical", "high", "medium", "low", "ok", "no-data"]
ICONS = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "🔵", "ok": "🟢", "no-data": "⚪"}
SEVERITY_RULES = [
    ("critical", "runs in the window but no recipe passed, or rate < SLO − 20 pts", "page now: stop the ecosystem (`batchops disable ECOSYSTEM`) and investigate"),
    ("high", "rate < SLO − 10 pts", "within 4 hours: check the failure categories of the last runs"),
    ("medium", "rate < SLO", "within 24 hours: single ecosystem degraded (upstream outage?)"),
    ("low", "rate ≥ SLO, latest run below it", "next batch: transient failures"),
    ("ok", "rate ≥ SLO, latest run too", "-"),
    ("no-data", "no run with an attempted recipe in the window", "check that metrics-upload runs"),
]


@dataclass
class Day:
    date: str
    runs: int
    passed: int
    failed: int
    success_rate: float | None


@dataclass
class EcosystemSLO:
    ecosystem: str
    slo: float
    runs: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    success_rate: float | None = None  # percent
    gap: float | None = None  # percentage points above (+) or below (-) the SLO
    latest_run_rate: float | None = None
    latest_run_at: str = ""
    severity: str = "no-data"
    daily: list[Day] = field(default_factory=list)


def slo_for(ecosystem: str, slos: dict[str, float]) -> float:
    return slos.get(ecosystem, slos.get("default", DEFAULT_SLOS["default"]))


def classify(rate: float | None, slo: float, passed: int, latest_rate: float | None) -> str:
    """The severity of one ecosystem (pure): rates in percent."""
    if rate is None:
        return "no-data"
    if passed == 0 or rate < slo - 20:
        return "critical"
    if rate < slo - 10:
        return "high"
    if rate < slo:
        return "medium"
    if latest_rate is not None and latest_rate < slo:
        return "low"
    return "ok"


def _percent(passed: int, failed: int) -> float | None:
    attempted = passed + failed
    return round(100.0 * passed / attempted, 2) if attempted else None


def evaluate(runs: list[dict[str, Any]], slos: dict[str, float], ecosystems: list[str] | None = None) -> list[EcosystemSLO]:
    """Per-ecosystem report of ``runs`` (rows of batch_runs, ordered by completion)."""
    names = sorted({run["ecosystem"] for run in runs} | set(ecosystems or []))
    reports = []
    for name in names:
        mine = [run for run in runs if run["ecosystem"] == name]
        report = EcosystemSLO(ecosystem=name, slo=slo_for(name, slos), runs=len(mine))
        report.passed = sum(int(run["passed"]) for run in mine)
        report.failed = sum(int(run["failed"]) for run in mine)
        report.skipped = sum(int(run["skipped"]) for run in mine)
        report.success_rate = _percent(report.passed, report.failed)
        if report.success_rate is not None:
            report.gap = round(report.success_rate - report.slo, 2)
        attempted = [run for run in mine if int(run["passed"]) + int(run["failed"]) > 0]
        if attempted:
            report.latest_run_rate = _percent(int(attempted[-1]["passed"]), int(attempted[-1]["failed"]))
            report.latest_run_at = attempted[-1]["completed_at"]
        report.severity = classify(report.success_rate, report.slo, report.passed, report.latest_run_rate)
        days: dict[str, list[dict[str, Any]]] = {}
        for run in mine:
            days.setdefault(str(run["completed_at"])[:10], []).append(run)
        for date, rows in sorted(days.items()):
            passed = sum(int(r["passed"]) for r in rows)
            failed = sum(int(r["failed"]) for r in rows)
            report.daily.append(Day(date, len(rows), passed, failed, _percent(passed, failed)))
        reports.append(report)
    return reports


def select_runs(db: Store, now: datetime, *, window: str | None, last: int | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The runs the report covers, and a description of the window."""
    if last is not None:
        runs = db.runs(until=now)
        per: dict[str, list[dict[str, Any]]] = {}
        for run in runs:
            per.setdefault(run["ecosystem"], []).append(run)
        kept = sorted((run for rows in per.values() for run in rows[-last:]), key=lambda r: (r["completed_at"], r["id"]))
        return kept, {"kind": "last", "runs": last, "until": timeutil.iso(now)}
    delta = timeutil.parse_duration(window or DEFAULT_WINDOW, field="window")
    if delta.total_seconds() <= 0:
        raise UsageError("must be longer than 0", field="window", hint="use e.g. 7d or 24h")
    since = now - delta
    return db.runs(since=since, until=now), {"kind": "window", "window": window or DEFAULT_WINDOW, "from": timeutil.iso(since), "until": timeutil.iso(now)}


def parse_slos(values: list[str] | None) -> dict[str, float]:
    slos = dict(DEFAULT_SLOS)
    for value in values or []:
        for item in value.replace(",", " ").split():
            name, sep, pct = item.partition("=")
            if not sep or not name.strip():
                raise UsageError(f"{item!r} is not NAME=PERCENT", field="slo", hint="write --slo homebrew=85 --slo default=98")
            number = parse_float(pct.rstrip("%"), field=f"slo {name}", minimum=0)
            if number > 100:
                raise UsageError(f"{number} is above 100", field=f"slo {name}", hint="give the SLO in percent, e.g. 98")
            slos[name.strip().lower()] = number
    return slos


# --- rendering ----------------------------------------------------------------------


def _fmt(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f}%"


def _window_text(window: dict[str, Any]) -> str:
    if window["kind"] == "last":
        return f"last {window['runs']} run(s) per ecosystem up to {window['until']}"
    return f"last {window['window']} ({window['from']} → {window['until']})"


def mermaid_chart(report: EcosystemSLO) -> str:
    """A Mermaid xychart-beta: daily success rate (line 1) and the SLO (line 2)."""
    days = [day for day in report.daily if day.success_rate is not None]
    if not days:
        return ""
    same_year = len({day.date[:4] for day in days}) == 1
    labels = [day.date[5:] if same_year else day.date for day in days]
    rates = [day.success_rate for day in days]
    low = min(min(r for r in rates if r is not None), report.slo)
    floor = max(0, int(math.floor((low - 5) / 10.0) * 10))
    return "\n".join(
        [
            "```mermaid",
            '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#2563eb, #dc2626"}}}}%%',
            "xychart-beta",
            f'    title "{report.ecosystem}: daily success rate vs SLO {report.slo:g}%"',
            "    x-axis [" + ", ".join(f'"{label}"' for label in labels) + "]",
            f'    y-axis "success rate (%)" {floor} --> 100',
            "    line [" + ", ".join(f"{rate:.1f}" for rate in rates if rate is not None) + "]",
            "    line [" + ", ".join(f"{report.slo:g}" for _ in days) + "]",
            "```",
        ]
    )


def render_markdown(reports: list[EcosystemSLO], window: dict[str, Any], source: str) -> str:
    lines = ["#### SLO report: success rate per ecosystem", "", f"Window: {_window_text(window)}; source: `{markdown.md_escape(source)}`.", ""]
    rows = []
    for r in reports:
        gap = "-" if r.gap is None else f"{r.gap:+.1f} pts"
        rows.append([r.ecosystem, r.runs, r.passed, r.failed, f"{markdown.bar((r.success_rate or 0) / 100)} {_fmt(r.success_rate)}", f"{r.slo:g}%", gap, _fmt(r.latest_run_rate), f"{ICONS[r.severity]} {r.severity}"])
    lines.append(markdown.md_table(["ecosystem", "runs", "passed", "failed", "success rate", "SLO", "gap", "latest run", "severity"], rows) if rows else "No runs in the store.\n")
    for r in reports:
        chart = mermaid_chart(r)
        if chart:
            lines += [f"##### {r.ecosystem}", "", chart, "", "Blue: daily success rate (passed / attempted, UTC days). Red: the SLO.", ""]
    lines += ["<details><summary>Severities</summary>", "", markdown.md_table(["severity", "when", "response"], [[f"{ICONS[s]} {s}", when, what] for s, when, what in SEVERITY_RULES]), "</details>", ""]
    return "\n".join(lines)


def render_json(reports: list[EcosystemSLO], window: dict[str, Any], source: str, now: datetime) -> dict[str, Any]:
    worst = min((r.severity for r in reports), key=ORDER.index, default="no-data")
    return {
        "generated_at": timeutil.iso(now),
        "source": source,
        "window": window,
        "worst_severity": worst,
        "ecosystems": [asdict(r) for r in reports],
    }


# --- the command --------------------------------------------------------------------


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "database", "metrics store (SQLite)", default=DEFAULT_DATABASE)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--window", default=None, help=f"report the runs completed in this duration before now (default: {DEFAULT_WINDOW})")
    group.add_argument("--last", default=None, help="report the last N runs of each ecosystem instead")
    parser.add_argument("--slo", action="append", metavar="NAME=PCT", help="SLO of one ecosystem, or default=PCT for the others (defaults: homebrew=85, default=98); repeatable")
    parser.add_argument("--ecosystem", action="append", default=None, help="also list this ecosystem when it has no runs (repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--output", default=None, help="write the report to this file instead of stdout")
    parser.add_argument("--fail-on", choices=ORDER[:4], default=None, help="exit 3 when an ecosystem is at this severity or worse")
    add_now(parser)


def _run(args: argparse.Namespace) -> int:
    now = clock(args)
    slos = parse_slos(args.slo)
    last = parse_int(args.last, field="last", minimum=1) if args.last is not None else None
    with Store(args.database) as db:
        runs, window = select_runs(db, now, window=args.window, last=last)
    reports = evaluate(runs, slos, args.ecosystem)
    markdown = render_markdown(reports, window, args.database)
    document = render_json(reports, window, args.database, now)
    text = json.dumps(document, indent=2) + "\n" if args.json else markdown
    if args.output:
        write_atomic(args.output, text)
        runner.log(f"SLO report written to {args.output}")
    else:
        print(text, end="" if text.endswith("\n") else "\n", flush=True)
    runner.summary(markdown)
    if os.environ.get(runner.OUTPUT_ENV):
        runner.set_outputs({"worst-severity": document["worst_severity"]})
    for r in reports:
        if r.severity in ("critical", "high", "medium"):
            runner.warning(f"{r.ecosystem}: success rate {_fmt(r.success_rate)} vs SLO {r.slo:g}% ({r.severity})", title="SLO")
    if args.fail_on and any(ORDER.index(r.severity) <= ORDER.index(args.fail_on) for r in reports):
        return 3
    return 0


SLO = Command(
    help="per-ecosystem success rate against the SLOs, with severities and a chart (Markdown or JSON)",
    configure=_configure,
    run=_run,
)
