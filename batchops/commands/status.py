"""``batchops status``: the switch, disabled ecosystems, breakers and budget, as tables."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from batchops.adapters import controlfile, runner
from batchops.cli.args import Command, add_control_file, add_now, clock
from batchops.core import budget, control
from batchops.render import breaker as render_breaker
from batchops.render import budget as render_budget
from batchops.render import markdown


def status_markdown(document: dict[str, Any], now: datetime, path: str) -> str:
    enabled = control.get(document, "enabled")
    switch = "🟢 enabled" if enabled else "🔴 stopped"
    rows = [["pipeline", switch], ["disabled ecosystems", ", ".join(control.get(document, "disabled_ecosystems")) or "(none)"]]
    if not enabled:
        for key in ("reason", "incident_url", "disabled_by", "disabled_at", "expected_resume"):
            if document.get(key):
                rows.append([key.replace("_", " "), document[key]])
    text = f"### batchops status — {path}\n\n" + markdown.md_table(["", ""], rows)
    text += "\n" + _breaker_section(document, now)
    text += "\n" + _budget_section(document, now)
    return text


def _breaker_section(document: dict[str, Any], now: datetime) -> str:
    rows = render_breaker.table_rows(document, now)  # the legacy template entry 'default' is left out
    if not rows:
        return "#### Circuit breakers\n\nNo breaker has recorded anything yet.\n"
    return "#### Circuit breakers\n\n" + markdown.md_table(render_breaker.TABLE_HEADERS, rows)


def _budget_section(document: dict[str, Any], now: datetime) -> str:
    return render_budget.gauge_markdown(budget.view(document, now), heading="####", with_history=True)


def _status_configure(parser: argparse.ArgumentParser) -> None:
    add_control_file(parser)
    add_now(parser)
    parser.add_argument("--json", action="store_true", help="print the control file as JSON instead of tables")


def _status_run(args: argparse.Namespace) -> int:
    document = controlfile.load(args.control_file)
    if args.json:
        print(control.dumps(document), end="")
        return 0
    text = status_markdown(document, clock(args), args.control_file)
    print(text)
    runner.summary(text)
    return 0


STATUS = Command("show the switch, disabled ecosystems, breakers and budget as tables", _status_configure, _status_run)
