"""SLO rules (pure): per-ecosystem success rate against its SLO, with the runbook's severities.

The success rate of an ecosystem over the window is Σpassed / (Σpassed + Σfailed)
of its runs (skipped recipes do not count). SLOs default to 85% for homebrew and
98% for every other ecosystem; ``NAME=PCT`` overrides one, ``default=PCT`` the rest.

==========  ================================================================
critical    runs in the window but no recipe passed, or rate < SLO - 20 pts
high        rate < SLO - 10 pts
medium      rate < SLO (the ecosystem is degraded)
low         rate >= SLO, but the latest run was below it (transient failures)
ok          rate >= SLO and the latest run too
no-data     no run with an attempted recipe in the window
==========  ================================================================

Runs of a multi-ecosystem legacy batch are stored under the ecosystem ``mixed``
(:data:`batchops.core.metrics.MIXED`): their counts cannot be split by ecosystem,
so they are reported on a row of their own and count toward no ecosystem's SLO.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from batchops.core import timeutil
from batchops.core.metrics import runs_window
from batchops.errors import UsageError

DEFAULT_SLOS: dict[str, float] = {"homebrew": 85.0, "default": 98.0}
DEFAULT_WINDOW = "7d"
ORDER = ["critical", "high", "medium", "low", "ok", "no-data"]
SEVERITY_RULES = [
    (
        "critical",
        "runs in the window but no recipe passed, or rate < SLO − 20 pts",
        "page now: stop the ecosystem (`batchops disable ECOSYSTEM`) and investigate",
    ),
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
    """The severity of one ecosystem: rates in percent."""
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


def _count(run: dict[str, Any], name: str) -> int:
    value = run.get(name) or 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return int(number) if math.isfinite(number) and number > 0 else 0


def _when(run: dict[str, Any]) -> str:
    """The run's completion (its start when it has none), as …Z text."""
    moment = timeutil.parse_iso_or_none(run.get("completed_at") or run.get("started_at"))
    return timeutil.iso(moment) if moment else ""


def evaluate(
    runs: list[dict[str, Any]], slos: dict[str, float], ecosystems: list[str] | None = None
) -> list[EcosystemSLO]:
    """Per-ecosystem report of ``runs`` (rows of batch_runs, ordered by completion)."""
    names = sorted({str(run["ecosystem"]) for run in runs} | set(ecosystems or []))
    reports = []
    for name in names:
        mine = [run for run in runs if str(run["ecosystem"]) == name]
        report = EcosystemSLO(ecosystem=name, slo=slo_for(name, slos), runs=len(mine))
        report.passed = sum(_count(run, "passed") for run in mine)
        report.failed = sum(_count(run, "failed") for run in mine)
        report.skipped = sum(_count(run, "skipped") for run in mine)
        report.success_rate = _percent(report.passed, report.failed)
        if report.success_rate is not None:
            report.gap = round(report.success_rate - report.slo, 2)
        attempted = [run for run in mine if _count(run, "passed") + _count(run, "failed") > 0]
        if attempted:
            report.latest_run_rate = _percent(_count(attempted[-1], "passed"), _count(attempted[-1], "failed"))
            report.latest_run_at = _when(attempted[-1])
        report.severity = classify(report.success_rate, report.slo, report.passed, report.latest_run_rate)
        days: dict[str, list[dict[str, Any]]] = {}
        for run in mine:
            days.setdefault(_when(run)[:10], []).append(run)
        for date, rows in sorted(days.items()):
            passed = sum(_count(r, "passed") for r in rows)
            failed = sum(_count(r, "failed") for r in rows)
            report.daily.append(Day(date, len(rows), passed, failed, _percent(passed, failed)))
        reports.append(report)
    return reports


def last_runs(runs: list[dict[str, Any]], last: int) -> list[dict[str, Any]]:
    """The last ``last`` runs of each ecosystem (``runs`` ordered by completion)."""
    per: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        per.setdefault(str(run["ecosystem"]), []).append(run)
    keep = {id(run) for rows in per.values() for run in rows[-last:]}
    return [run for run in runs if id(run) in keep]


def window_bounds(now: datetime, window: str | None) -> tuple[datetime, dict[str, Any]]:
    delta = timeutil.parse_duration(window or DEFAULT_WINDOW, field="window")
    if delta.total_seconds() <= 0:
        raise UsageError("must be longer than 0", field="window", hint="use e.g. 7d or 24h")
    since = now - delta
    return since, {
        "kind": "window",
        "window": window or DEFAULT_WINDOW,
        "from": timeutil.iso(since),
        "until": timeutil.iso(now),
    }


def select(
    runs: list[dict[str, Any]], now: datetime, *, window: str | None, last: int | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The runs the report covers (from any source), and a description of the window."""
    if last is not None:
        return last_runs(runs_window(runs, until=now), last), {"kind": "last", "runs": last, "until": timeutil.iso(now)}
    since, described = window_bounds(now, window)
    return runs_window(runs, since=since, until=now), described


def parse_slos(values: list[str] | None) -> dict[str, float]:
    slos = dict(DEFAULT_SLOS)
    for value in values or []:
        for item in value.replace(",", " ").split():
            name, sep, pct = item.partition("=")
            if not sep or not name.strip():
                raise UsageError(
                    f"{item!r} is not NAME=PERCENT", field="slo", hint="write --slo homebrew=85 --slo default=98"
                )
            try:
                number = float(pct.rstrip("%"))
            except ValueError:
                raise UsageError(
                    f"{pct!r} is not a number", field=f"slo {name}", hint="give the SLO in percent, e.g. 98"
                ) from None
            if not math.isfinite(number) or number < 0 or number > 100:
                raise UsageError(
                    f"{pct!r} is not a percentage from 0 to 100",
                    field=f"slo {name}",
                    hint="give the SLO in percent, e.g. 98",
                )
            slos[name.strip().lower()] = number
    return slos


def worst(reports: list[EcosystemSLO]) -> str:
    return min((r.severity for r in reports), key=ORDER.index, default="no-data")


def at_or_worse(reports: list[EcosystemSLO], severity: str) -> bool:
    return any(ORDER.index(r.severity) <= ORDER.index(severity) for r in reports)


def document(reports: list[EcosystemSLO], window: dict[str, Any], source: str, now: datetime) -> dict[str, Any]:
    """The JSON report."""
    return {
        "generated_at": timeutil.iso(now),
        "source": source,
        "window": window,
        "worst_severity": worst(reports),
        "ecosystems": [asdict(r) for r in reports],
    }
