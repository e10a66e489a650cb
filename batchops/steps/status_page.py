"""status-page: build the pipeline's status page (``index.html`` + ``feed.xml``) from the repository.

Inputs → :class:`batchops.engines.status_page.Options` → the engine → a step result with the
outputs ``page-dir`` and ``open-incidents``. Run it in a checkout with the history
(``actions/checkout`` with ``fetch-depth: 0``): the breaker timelines come from the control
file's commits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from batchops.adapters import runner
from batchops.adapters.store import DEFAULT_DATABASE
from batchops.core import slo as slo_rules
from batchops.engines import status_page as engine
from batchops.flags import add_control_file, add_input, add_now, clock, parse_int
from batchops.steps import Step, StepResult

TITLE = "batchops status-page"
TOKEN_ENV = "BATCHOPS_METRICS_TOKEN"


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "out", "folder the page is written to (index.html, feed.xml)", default="status-page")
    add_input(parser, "days", "days of breaker history the page shows", default="30")
    add_input(
        parser, "database", "metrics store (SQLite) for the SLO section; absent: no SLO", default=DEFAULT_DATABASE
    )
    add_input(parser, "endpoint", "read the runs from this telemetry Worker instead of the database", default="")
    add_input(parser, "token", f"bearer token of endpoint (also {TOKEN_ENV}); sent to that endpoint only", default="")
    add_input(
        parser,
        "drift-report",
        "the drift monitor's JSON report; empty: drift-report.json here, else the "
        "drift monitor's default in $RUNNER_TEMP/batchops",
        default="",
    )
    add_input(
        parser,
        "slo",
        "SLO overrides as on `batchops slo --slo`: NAME=PCT, default=PCT for the others, several separated by "
        "spaces or commas (defaults: homebrew=85, default=98)",
        default="",
    )
    add_control_file(parser)
    add_now(parser)


def options_of(args: argparse.Namespace) -> engine.Options:
    slos = (args.slo or "").strip()
    slo_rules.parse_slos([slos])  # a bad value fails here, naming the input
    token = (args.token or "").strip() or runner.setting(TOKEN_ENV)
    runner.mask(token)
    given = (args.drift_report or "").strip()
    drift = (given,) if given else ("drift-report.json", str(runner.temp_dir() / "batchops" / "drift-report.json"))
    repository = runner.repository()
    owner = repository.split("/", 1)[0]
    url = f"https://{owner}.github.io/{repository.split('/', 1)[1]}/" if "/" in repository else ""
    return engine.Options(
        out=Path(args.out or "status-page"),
        now=clock(args),
        control_file=args.control_file,
        days=parse_int(args.days, field="days", minimum=1),
        database=args.database or "",
        endpoint=(args.endpoint or "").strip(),
        token=token,
        repository=repository,
        drift_reports=drift,
        page_url=url,
        slo=(slos,) if slos else (),
    )


def run(args: argparse.Namespace) -> StepResult:
    built = engine.run(options_of(args))
    result = StepResult(outputs={"page-dir": str(built.page_dir), "open-incidents": built.open_incidents})
    page = built.page
    result.say(f"status page written to {built.page_dir / 'index.html'} ({built.bytes} bytes) and feed.xml")
    result.say(
        f"pipeline {page.state.status}; {built.open_incidents} open incident(s); "
        f"{page.versions} control-file version(s)"
    )
    for note in built.notes:
        result.warning(note, title=TITLE)
    lines = [f"### {TITLE}", "", f"Pipeline **{page.state.status}**, {built.open_incidents} open incident(s).", ""]
    lines += [f"- {incident.key}" for incident in page.incidents]
    result.section("\n".join(lines) + "\n")
    return result


STEP = Step(
    name="status-page",
    help="build the pipeline's status page (index.html, feed.xml): breaker timelines, budget, SLO, shipped batches, "
    "drift, incidents",
    configure=_configure,
    run=run,
    fail_closed={"page-dir": "", "open-incidents": ""},
)
