"""``batchops slo``: per-ecosystem success rate against its SLO, with the runbook's severities.

The runs come from the embedded store (``--database``, the default) or from a
telemetry Worker's read endpoint (``--endpoint URL``: ``GET {URL}/batch-metrics/runs``,
bearer token from ``--token`` or ``BATCHOPS_METRICS_TOKEN``, sent to that endpoint
only). The rules are in :mod:`batchops.core.slo`, the forms in :mod:`batchops.render.slo`.

stdout: plain text at a terminal, Markdown otherwise (``--format`` chooses), JSON with
``--json``; the step summary always gets the Markdown with its charts.
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from typing import Any

from batchops.adapters import runner, telemetry
from batchops.adapters.files import write_atomic
from batchops.adapters.store import DEFAULT_DATABASE, Store
from batchops.core import slo
from batchops.errors import BatchopsError
from batchops.flags import Command, add_input, add_now, clock, parse_int
from batchops.render import slo as render

TOKEN_ENV = "BATCHOPS_METRICS_TOKEN"
READ_TIMEOUT = 30.0


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "database", "metrics store (SQLite)", default=DEFAULT_DATABASE)
    parser.add_argument(
        "--endpoint",
        default=None,
        help="read the runs from this telemetry Worker (GET {endpoint}/batch-metrics/runs) instead of the database",
    )
    parser.add_argument(
        "--token", default=None, help=f"bearer token of --endpoint (also {TOKEN_ENV}); sent to that endpoint only"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--window",
        default=None,
        help=f"report the runs completed in this duration before now (default: {slo.DEFAULT_WINDOW})",
    )
    group.add_argument("--last", default=None, help="report the last N runs of each ecosystem instead")
    parser.add_argument(
        "--slo",
        action="append",
        metavar="NAME=PCT",
        help="SLO of one ecosystem, or default=PCT for the others (defaults: homebrew=85, default=98); repeatable",
    )
    parser.add_argument(
        "--ecosystem", action="append", default=None, help="also list this ecosystem when it has no runs (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--format",
        choices=["auto", "text", "markdown"],
        default="auto",
        help="stdout form: text at a terminal, Markdown otherwise (default: auto)",
    )
    parser.add_argument(
        "--output", default=None, help="write the report (Markdown, or JSON with --json) to this file instead of stdout"
    )
    parser.add_argument(
        "--fail-on", choices=slo.ORDER[:4], default=None, help="exit 3 when an ecosystem is at this severity or worse"
    )
    add_now(parser)


def _runs(args: argparse.Namespace, now: Any, last: int | None) -> tuple[list[dict[str, Any]], str]:
    """Every run the report may cover, and the name of its source."""
    endpoint = (args.endpoint or "").strip()
    if not endpoint:
        with Store(args.database) as db:
            return db.runs(until=now), args.database
    telemetry.check_endpoint(endpoint, field="endpoint")
    token = args.token or runner.setting(TOKEN_ENV)
    runner.mask(token)
    since = None
    if last is None:
        # the read endpoint filters on the start; the report on the end: read a day more
        since = slo.window_bounds(now, args.window)[0] - timedelta(days=1)
    try:
        runs = telemetry.get_runs(endpoint, token, since=since, until=now + timedelta(seconds=1), seconds=READ_TIMEOUT)
    except telemetry.ReadError as exc:
        hint = (
            "check --token or BATCHOPS_METRICS_TOKEN (the Worker's BATCH_METRICS_TOKEN)"
            if exc.status in (401, 403)
            else (
                "the endpoint must be batchops' own telemetry Worker (telemetry/), which serves "
                "GET /batch-metrics/runs; the production Worker has no read endpoint"
                if exc.status in (404, 405)
                else "check the endpoint URL and that the Worker is up"
            )
        )
        raise BatchopsError(
            f"cannot read runs from {telemetry.safe_url(telemetry.runs_url(endpoint))}: {exc}",
            field="endpoint",
            hint=hint,
        ) from None
    return runs, telemetry.safe_url(endpoint)


def _last_attempted(runs: list[dict[str, Any]]) -> str:
    """When the last run that attempted a recipe (passed or failed one) ended, for the no-data explanation."""
    ends = [
        str(r.get("completed_at") or r.get("started_at") or "")
        for r in runs
        if (r.get("passed") or 0) + (r.get("failed") or 0) > 0
    ]
    return max(ends, default="")


def _run(args: argparse.Namespace) -> int:
    now = clock(args)
    slos = slo.parse_slos(args.slo)
    last = parse_int(args.last, field="last", minimum=1) if args.last is not None else None
    if last is None:
        slo.window_bounds(now, args.window)  # a bad --window fails before any request
    runs, source = _runs(args, now, last)
    selected, window = slo.select(runs, now, window=args.window, last=last)
    reports = slo.evaluate(selected, slos, args.ecosystem)
    last_attempted = _last_attempted(runs)
    markdown_text = render.render_markdown(reports, window, source, last_attempted)
    document = slo.document(reports, window, source, now)
    if args.json:
        text = json.dumps(document, indent=2, ensure_ascii=True) + "\n"
    elif args.output or args.format == "markdown" or (args.format == "auto" and not runner.stdout_is_terminal()):
        text = markdown_text
    else:
        text = render.render_text(reports, window, source, last_attempted)
    if args.output:
        write_atomic(args.output, text)
        runner.log(f"SLO report written to {args.output}")
    elif args.json:
        runner.out_json(document)
    else:
        runner.out_block(text)
    runner.summary(markdown_text)
    if runner.setting(runner.OUTPUT_ENV):
        runner.set_outputs({"worst-severity": document["worst_severity"]})
    for r in reports:
        if r.severity in ("critical", "high", "medium"):
            runner.warning(
                f"{r.ecosystem}: success rate {render.fmt(r.success_rate)} vs SLO {r.slo:g}% ({r.severity})",
                title="SLO",
            )
    if args.fail_on and slo.at_or_worse(reports, args.fail_on):
        return 3
    return 0


SLO = Command(
    help=(
        "per-ecosystem success rate against the SLOs, with severities and a chart "
        "(store or --endpoint; text, Markdown or JSON)"
    ),
    configure=_configure,
    run=_run,
)
