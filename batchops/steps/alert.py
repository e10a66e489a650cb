"""alert: reconcile the incidents of the control file with GitHub issues, one issue per incident.

Inputs → :class:`batchops.engines.alert.Options` → the engine → a step result. The rules are
:mod:`batchops.core.alert` (incidents, the plan, the texts) and :mod:`batchops.core.stale` (a
pipeline gone quiet, ``stale-after``); the orchestration (issues, webhook) is
:mod:`batchops.engines.alert`. ``batchops alert replay`` is :mod:`batchops.commands.alert`,
reached from the CLI entry.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from batchops.adapters import runner, webhook
from batchops.core import alert, stale, timeutil
from batchops.engines import alert as engine
from batchops.flags import add_control_file, add_input, add_now, clock, parse_bool, parse_list
from batchops.render.alert import step_summary
from batchops.steps import Step, StepResult

TITLE = "batchops alert"


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(
        parser,
        "github-token",
        "token for the issues (needs issues: write); empty: report the incidents only",
        default="",
    )
    add_input(
        parser,
        "labels",
        "comma-separated labels of the incident issues; missing labels are created",
        default="batch-incident",
    )
    add_input(
        parser,
        "resolve-after",
        "close an incident's issue once it has stayed resolved this long (30m, 24h, 7d; 0 closes at once)",
        default="24h",
    )
    add_input(
        parser,
        "stale-after",
        "an incident when no batch has run, or none has shipped recipes, within this long (48h, 7d); "
        "empty turns it off",
        default="48h",
    )
    add_input(
        parser,
        "webhook-url",
        "chat webhook (Slack-compatible JSON text) told when an incident opens or closes; empty: none",
        default="",
    )
    add_input(
        parser, "dry-run", "only say which issues would be opened, updated and closed: nothing sent", default="false"
    )
    add_control_file(parser)
    add_now(parser)


def resolve_after_of(value: Any) -> timedelta:
    return timeutil.parse_duration(str(value or "").strip() or "24h", field="resolve-after")


def options_of(args: argparse.Namespace) -> engine.Options:
    token = (args.github_token or "").strip()
    hook = (args.webhook_url or "").strip()
    runner.mask(token)
    runner.mask(hook)
    try:
        deadline = float(runner.setting("BATCHOPS_WEBHOOK_DEADLINE", str(webhook.DEADLINE)))
    except ValueError:
        deadline = webhook.DEADLINE
    return engine.Options(
        control_file=args.control_file,
        now=clock(args),
        token=token,
        labels=tuple(parse_list(args.labels, field="labels") or alert.DEFAULT_LABELS),
        resolve_after=resolve_after_of(args.resolve_after),
        stale_after=stale.parse_stale_after(args.stale_after),
        webhook_url=hook,
        webhook_deadline=deadline,
        dry_run=parse_bool(args.dry_run, field="dry-run"),
        repository=runner.repository(),
        run_url=runner.run_url(),
    )


def run(args: argparse.Namespace) -> StepResult:
    options = options_of(args)
    report = engine.run(options)
    outcome = report.outcome
    result = StepResult()
    for error in report.errors:
        result.error(error, title=TITLE)
    for key in (i.key for i in report.found):
        result.say(f"incident: {key}")
    for what, issue, done in outcome.rows:
        result.say(f"dry run, would {what} ({issue})" if options.dry_run else f"{what}: {issue} ({done})")
    if not report.found:
        result.say("no incident")
    result.outputs = {
        "opened": len(outcome.opened),
        "updated": len(outcome.updated),
        "closed": len(outcome.closed),
        "open-incidents": len(report.found),
    }
    heading = f"{TITLE}: {len(report.found)} incident(s)" + (" — dry run, nothing sent" if options.dry_run else "")
    result.section(step_summary(heading, report.found, outcome.rows, report.notes))
    for warning in report.warnings:
        result.warning(warning, title=TITLE)
    if outcome.failed:
        result.exit_code = 1
    return result


STEP = Step(
    name="alert",
    help="reconcile incidents (open breakers, paused platforms, a stopped or quiet pipeline) with GitHub issues; "
    "`alert replay FILE…` replays a history",
    configure=_configure,
    run=run,
    fail_closed={"opened": 0, "updated": 0, "closed": 0, "open-incidents": ""},
)
