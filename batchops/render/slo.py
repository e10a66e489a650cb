"""The SLO report: Markdown with Mermaid charts for step summaries, plain text for a terminal.

Ecosystem names come from a metrics store or an endpoint, so they are untrusted:
in Markdown they are escaped (:func:`markdown.md_escape`), in a Mermaid block (which
the summary sanitiser leaves alone inside its fence) only ``[a-z0-9._-]`` survive, and
in plain text each line is escaped by the runner when printed.
"""

from __future__ import annotations

import math
import re
from typing import Any

from batchops.core.metrics import MIXED
from batchops.core.slo import SEVERITY_RULES, EcosystemSLO
from batchops.render import markdown

ICONS = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "🔵", "ok": "🟢", "no-data": "⚪"}
MIXED_NOTE = (
    f"`{MIXED}`: runs of multi-ecosystem legacy batches (records with an `ecosystems` map of several ecosystems); "
    "their counts cannot be split by ecosystem, so they count toward no ecosystem's SLO."
)


def fmt(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f}%"


def window_text(window: dict[str, Any]) -> str:
    if window["kind"] == "last":
        return f"last {window['runs']} run(s) per ecosystem up to {window['until']}"
    return f"last {window['window']} ({window['from']} → {window['until']})"


def chart_name(name: str) -> str:
    """A name safe inside a Mermaid string: anything but ``[a-z0-9._-]`` becomes ``_``."""
    return re.sub(r"[^a-z0-9._-]", "_", name.lower())[:64] or "_"


def mermaid_chart(report: EcosystemSLO) -> str:
    """A Mermaid xychart-beta: daily success rate (line 1) and the SLO (line 2)."""
    days = [
        day for day in report.daily if day.success_rate is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", day.date)
    ]
    if not days:
        return ""
    same_year = len({day.date[:4] for day in days}) == 1
    labels = [day.date[5:] if same_year else day.date for day in days]
    rates = [float(day.success_rate or 0.0) for day in days]
    low = min(min(rates), report.slo)
    floor = max(0, int(math.floor((low - 5) / 10.0) * 10))
    return "\n".join(
        [
            "```mermaid",
            '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#2563eb, #dc2626"}}}}%%',
            "xychart-beta",
            f'    title "{chart_name(report.ecosystem)}: daily success rate vs SLO {report.slo:g}%"',
            "    x-axis [" + ", ".join(f'"{label}"' for label in labels) + "]",
            f'    y-axis "success rate (%)" {floor} --> 100',
            "    line [" + ", ".join(f"{rate:.1f}" for rate in rates) + "]",
            "    line [" + ", ".join(f"{report.slo:g}" for _ in days) + "]",
            "```",
        ]
    )


def _row(r: EcosystemSLO, *, gauge: bool) -> list[Any]:
    gap = "-" if r.gap is None else f"{r.gap:+.1f} pts"
    rate = f"{markdown.bar((r.success_rate or 0) / 100)} {fmt(r.success_rate)}" if gauge else fmt(r.success_rate)
    return [
        r.ecosystem,
        r.runs,
        r.passed,
        r.failed,
        rate,
        f"{r.slo:g}%",
        gap,
        fmt(r.latest_run_rate),
        f"{ICONS[r.severity]} {r.severity}" if gauge else r.severity,
    ]


HEADERS = ["ecosystem", "runs", "passed", "failed", "success rate", "SLO", "gap", "latest run", "severity"]


def no_data_lines(reports: list[EcosystemSLO], last_attempted: str = "") -> list[str]:
    """Why a severity is no-data, in words; when no ecosystem has data, what to do about it."""
    empty = [r for r in reports if r.severity == "no-data"]
    lines = []
    for r in empty:
        if r.runs == 0:
            lines.append(f"{r.ecosystem}: no run completed in this window.")
        else:
            lines.append(
                f"{r.ecosystem}: {r.runs} run(s) in this window, none with an attempted recipe "
                "(0 passed, 0 failed: those batches validated nothing), so there is no rate to compare with the SLO."
            )
    if reports and len(empty) == len(reports):
        since = f" The last run that attempted a recipe ended at {last_attempted}." if last_attempted else ""
        lines.append(
            "No SLO can be computed for this window: no ecosystem has a run that attempted a recipe."
            + since
            + " See the last runs of each ecosystem whenever they ran with --last 10, and check that the batch jobs "
            "validate recipes and that metrics-upload runs."
        )
    return lines


def render_markdown(reports: list[EcosystemSLO], window: dict[str, Any], source: str, last_attempted: str = "") -> str:
    lines = [
        "#### SLO report: success rate per ecosystem",
        "",
        f"Window: {window_text(window)}; source: `{markdown.md_escape(source)}`.",
        "",
    ]
    rows = [_row(r, gauge=True) for r in reports]
    lines.append(markdown.md_table(HEADERS, rows) if rows else "No runs in this window.\n")
    explained = no_data_lines(reports, last_attempted)
    if explained:
        lines += ["Why no data:", ""] + [f"- {markdown.md_escape(line)}" for line in explained] + [""]
    if any(r.ecosystem == MIXED for r in reports):
        lines += [MIXED_NOTE, ""]
    for r in reports:
        chart = mermaid_chart(r)
        if chart:
            lines += [
                f"##### {markdown.md_escape(r.ecosystem)}",
                "",
                chart,
                "",
                "Blue: daily success rate (passed / attempted, UTC days). Red: the SLO.",
                "",
            ]
    lines += [
        "<details><summary>Severities</summary>",
        "",
        markdown.md_table(
            ["severity", "when", "response"], [[f"{ICONS[s]} {s}", when, what] for s, when, what in SEVERITY_RULES]
        ),
        "</details>",
        "",
    ]
    return "\n".join(lines)


def render_text(reports: list[EcosystemSLO], window: dict[str, Any], source: str, last_attempted: str = "") -> str:
    """The report for a terminal: aligned columns, no Markdown, no Mermaid, no HTML escapes."""
    lines = ["SLO report: success rate per ecosystem", f"window: {window_text(window)}; source: {source}", ""]
    if not reports:
        return "\n".join([*lines, "No runs in this window."]) + "\n"
    table = [HEADERS] + [[str(cell) for cell in _row(r, gauge=False)] for r in reports]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADERS))]
    for number, row in enumerate(table):
        lines.append(
            "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)).rstrip()
        )
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    if any(r.ecosystem == MIXED for r in reports):
        lines += ["", MIXED_NOTE.replace("`", "")]
    explained = no_data_lines(reports, last_attempted)
    if explained:
        lines += ["", "why no data:"] + [f"  {line}" for line in explained]
    lines += ["", "severities:"] + [f"  {s:<8} {when}: {what.replace('`', '')}" for s, when, what in SEVERITY_RULES]
    return "\n".join(lines) + "\n"
