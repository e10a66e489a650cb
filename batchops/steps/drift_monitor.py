"""drift-monitor: re-verify upstream checksum files; one deduplicated security issue per drift.

Options from the arguments -> :func:`batchops.engines.drift.monitor` -> a :class:`StepResult`: the report
file, the outputs, the annotations and the summary. What the run does (select, resolve, fetch, classify,
record the baseline, raise issues) is in :mod:`batchops.engines.drift`.

A run that verified nothing (every checksum file unverifiable, e.g. the network is down) is a warning;
with ``fail-on-unverifiable: true`` any unverifiable file fails the step. A drift is a warning, or an error
that fails the step with ``fail-on-drift: true``.
"""

from __future__ import annotations

import argparse
import shlex

from batchops.adapters import files, runner, schema
from batchops.core import control, escape, recipes, timeutil
from batchops.engines.drift import (
    DEFAULT_BASELINE,
    DEFAULT_CONCURRENCY,
    DEFAULT_GRACE,
    DEFAULT_LABELS,
    DEFAULT_NODEJS_DIST,
    DEFAULT_RECIPES_DIR,
    DEFAULT_TIMEOUT,
    STATUSES,
    Fetcher,
    Finding,
    Resolver,
    RunConfig,
    RunResult,
    build_report,
    changed_recipes,
    default_report_file,
    load_baseline,
    monitor,
    raise_issues,
    step_deadline_seconds,
)
from batchops.flags import add_input, add_now, clock, parse_bool, parse_float, parse_int, parse_list
from batchops.render import drift as render
from batchops.steps import Step, StepResult

TITLE = "drift-monitor"
MAX_DRIFT_ANNOTATIONS = 10  # GitHub shows 10 warnings per step; the rest are in the summary


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "recipes-dir", "folder of recipe .toml files (searched recursively)", default=DEFAULT_RECIPES_DIR)
    add_input(
        parser, "baseline-file", "checksum baseline (JSON, committed; created on first run)", default=DEFAULT_BASELINE
    )
    add_input(
        parser,
        "since",
        "only recipes whose file changed in git within this duration (24h, 7d); empty: every recipe",
        default="",
    )
    add_input(
        parser,
        "grace-period",
        "releases younger than this never alarm: a changed checksum is 'pending' and the baseline follows (0 disables)",
        default=DEFAULT_GRACE,
    )
    add_input(
        parser,
        "github-token",
        "token for the GitHub API (release lookups, issues); empty: report only, no issue",
        default="",
    )
    add_input(parser, "labels", "labels of the drift issue (created when missing)", default=DEFAULT_LABELS)
    add_input(parser, "fail-on-drift", "exit non-zero when drift is found", default="false")
    add_input(
        parser,
        "fail-on-unverifiable",
        "exit non-zero when a checksum file or recipe could not be verified (network, HTTP, truncated)",
        default="false",
    )
    add_input(parser, "platforms", "os/arch platforms whose checksum URLs are checked", default="linux/amd64")
    add_input(
        parser,
        "dry-run",
        "check and report only: the baseline is not written and no issue is opened or commented on",
        default="false",
    )
    add_input(
        parser,
        "report-file",
        "where the JSON report is written (default: $RUNNER_TEMP/batchops/drift-report.json, else ./drift-report.json)",
        default="",
    )
    add_input(parser, "concurrency", "parallel downloads", default=str(DEFAULT_CONCURRENCY))
    add_input(
        parser,
        "timeout",
        "seconds per checksum file, in total (connect, headers, body, redirects, retry)",
        default=str(int(DEFAULT_TIMEOUT)),
    )
    add_input(
        parser, "nodejs-dist-url", "base URL of the Node.js dist index (also BATCHOPS_NODEJS_DIST_URL)", default=""
    )
    add_now(parser)


def config_from(args: argparse.Namespace) -> RunConfig:
    grace_text = str(args.grace_period or "0").strip()
    timeutil.parse_duration(grace_text, field="grace-period")
    since_text = str(args.since or "").strip()
    if since_text:
        timeutil.parse_duration(since_text, field="since")
    return RunConfig(
        recipes_dir=str(args.recipes_dir),
        baseline_file=str(args.baseline_file),
        since=since_text,
        grace=grace_text,
        token=(args.github_token or "").strip(),
        labels=parse_list(args.labels, field="labels"),
        platforms=recipes.parse_platforms(args.platforms),
        concurrency=parse_int(args.concurrency, field="concurrency", minimum=1),
        timeout=parse_float(args.timeout, field="timeout", minimum=0.1),
        api_url=runner.api_url(),
        nodejs_url=(args.nodejs_dist_url or runner.setting("BATCHOPS_NODEJS_DIST_URL") or DEFAULT_NODEJS_DIST),
        repository=runner.repository(),
        run_url=runner.run_url(),
        dry_run=parse_bool(args.dry_run, field="dry-run"),
    )


def run(args: argparse.Namespace) -> StepResult:
    token = (args.github_token or "").strip()
    runner.mask(token)  # before anything else is printed
    now = clock(args)
    at = timeutil.iso(now)
    config = config_from(args)
    fail_on_drift = parse_bool(args.fail_on_drift, field="fail-on-drift")
    fail_on_unverifiable = parse_bool(args.fail_on_unverifiable, field="fail-on-unverifiable")
    report_file = args.report_file or default_report_file()
    outcome = monitor(config, now)
    report = build_report(outcome, config, at)
    schema.validate(report, "drift-report", file=report_file)
    files.write_atomic(report_file, control.dumps(report))
    issue_urls = list(dict.fromkeys(i.url for i in outcome.issues if i.url))
    result = StepResult(
        outputs={
            "drift": report["drift"],
            "drifted-count": report["counts"]["drift"],
            "unverifiable-count": report["counts"]["unverifiable"],
            "pending-count": report["counts"]["pending"],
            "report-file": report_file,
            "baseline-file": config.baseline_file,
            "issue-url": "\n".join(issue_urls),
        }
    )
    verbose = runner.setting("RUNNER_DEBUG") == "1"  # Actions debug logging: every recipe, with its reason
    details = f"batchops drift report --verbose {shlex.quote(report_file)}"
    for line in render.terminal_lines(outcome.findings, verbose=verbose, details=details):
        result.say(line)
    for item in outcome.skipped_files:
        result.warning(escape.one_line(item.render()), title=f"{TITLE}: recipe skipped")
    for note in outcome.notes:
        result.warning(escape.one_line(note), title=TITLE)
    result.section(
        render.summary(
            outcome.findings,
            outcome.issues,
            report["counts"],
            drift=report["drift"],
            issues_enabled=outcome.issues_enabled,
            report_file=report_file,
            notes=outcome.notes,
        )
    )
    if config.dry_run:
        result.say(f"dry run: {config.baseline_file} not written, no issue opened or commented on")
    _annotate_drifts(result, outcome, fail_on_drift, config.dry_run)
    _annotate_unverifiable(result, outcome, fail_on_unverifiable)
    return result


def _annotate_drifts(result: StepResult, outcome: RunResult, fail_on_drift: bool, dry_run: bool = False) -> None:
    drifts = [f for f in outcome.findings if f.status == "drift"]
    annotate = result.error if fail_on_drift else result.warning
    for finding in drifts[:MAX_DRIFT_ANNOTATIONS]:
        annotate(
            escape.one_line(
                f"checksum drift: {finding.recipe} {finding.version}: {finding.url} now has sha256 {finding.actual}, "
                f"recorded {finding.expected}"
            ),
            title=TITLE,
        )
    if len(drifts) > MAX_DRIFT_ANNOTATIONS:
        more = len(drifts) - MAX_DRIFT_ANNOTATIONS
        annotate(f"… and {more} more checksum drifts: see the step summary and the report file", title=TITLE)
    if drifts and not outcome.issues_enabled and not dry_run:
        result.warning(
            "checksum drift found but no github-token was given: report only, no issue was opened", title=TITLE
        )
    failed = [i for i in outcome.issues if i.action == "failed"]
    if failed:
        result.error(
            escape.one_line(
                f"checksum drift found but {len(failed)} issue(s) could not be opened or updated: {failed[0].error}"
            ),
            title=TITLE,
        )
        result.exit_code = 1
    elif drifts and fail_on_drift:
        result.exit_code = 1


def _annotate_unverifiable(result: StepResult, outcome: RunResult, fail_on_unverifiable: bool) -> None:
    """Nothing verified is a warning (the run proves nothing); some unverifiable is a notice; with
    fail-on-unverifiable any unverifiable file is an error and fails the step."""
    count = outcome.count("unverifiable")
    if not count:
        return
    first = next(f for f in outcome.findings if f.status == "unverifiable")
    example = escape.one_line(f"{first.recipe}: {first.reason}")[:200]
    if outcome.verified_nothing:
        message = (
            f"nothing was verified: all {count} checksum file(s) or recipe(s) were unverifiable (e.g. {example}); "
            "this run proves nothing about drift"
        )
    else:
        message = f"{count} checksum file(s) or recipe(s) could not be verified (e.g. {example}); see the step summary"
    if fail_on_unverifiable:
        result.error(message + "; failing because fail-on-unverifiable is true", title=TITLE)
        result.exit_code = 1
    elif outcome.verified_nothing:
        result.warning(message + "; set fail-on-unverifiable: true to fail the step instead", title=TITLE)
    else:
        result.notice(message, title=TITLE)


STEP = Step(
    name="drift-monitor",
    help="re-fetch upstream checksum files, compare with the baseline, open one issue per drift",
    configure=_configure,
    run=run,
    fail_closed={
        "drift": False,
        "drifted-count": 0,
        "unverifiable-count": 0,
        "pending-count": 0,
        "report-file": "",
        "baseline-file": "",
        "issue-url": "",
    },
)

__all__ = [  # what tests and benchmarks reach through the step's module
    "DEFAULT_BASELINE",
    "STATUSES",
    "STEP",
    "Fetcher",
    "Finding",
    "Resolver",
    "RunConfig",
    "build_report",
    "changed_recipes",
    "default_report_file",
    "load_baseline",
    "monitor",
    "raise_issues",
    "step_deadline_seconds",
]
