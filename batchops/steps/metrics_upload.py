"""metrics-upload: post the batch metrics of one ecosystem run to the telemetry endpoint.

The payload (``schemas/batch-metrics.schema.json``, the production contract field by
field) is built from the results file and sent as ``POST {endpoint}/batch-metrics``
with a bearer token and an ``Idempotency-Key`` derived from the run's identity.
No answer, 5xx, 408, 425 and 429 are retried with backoff within ``max-time``; each
request has a hard deadline (``request-timeout``) that a slow server cannot stretch.
What could not be delivered is spooled for ``batchops metrics-replay``; what the
endpoint refused for good (every other 4xx) is kept apart, as a dead letter with
the endpoint's reason, and never re-sent unasked. Either way the step exits 0:
metrics never fail the batch. Without an endpoint the run goes to the embedded
SQLite store under the same key.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from batchops.adapters import runner, schema, telemetry
from batchops.adapters.store import DEFAULT_DATABASE
from batchops.core import metrics, timeutil
from batchops.core.metrics import Delivery, RetryPolicy
from batchops.engines import metrics as delivering
from batchops.engines.metrics import NOT_HONORED, default_spool_dir
from batchops.errors import BatchopsError, UsageError
from batchops.flags import add_dry_run, add_input, add_now, clock, parse_bool, parse_float
from batchops.render import markdown
from batchops.steps import Step, StepResult

TITLE = "batchops metrics-upload"
DEFAULT_MAX_TIME = 60.0
DEFAULT_REQUEST_TIMEOUT = 10.0


# --- the results file ---------------------------------------------------------------


def load_results(path: str, *, batch_id: str | None, ecosystem: str | None) -> dict[str, Any]:
    """Read and validate the results file; the batch-id/ecosystem inputs must agree with it."""
    try:
        document = schema.load_json(path, "batch-results")
    except BatchopsError as exc:
        pointer = _unusable_number(path) if exc.line and not exc.field else None
        if pointer:
            exc.field = pointer
        raise
    for name, given in (("batch_id", batch_id), ("ecosystem", ecosystem)):
        if given and given != document[name]:
            raise UsageError(
                f"the input {name.replace('_', '-')}={given!r} "
                f"does not match the results file's {name} {document[name]!r}",
                file=path,
                field=name,
                hint=(
                    f"pass the results file of {name.replace('_', ' ')} {given!r}, "
                    "or drop the input (the file's value is used)"
                ),
            )
    return document


def results_from(args: argparse.Namespace, now: Any, said: list[str]) -> dict[str, Any]:
    """The results to report: the results file; or, with batch-id and ecosystem and no file (a placeholder
    batch writes none), a run of that batch with no recipe, which the SLO report shows as a run that
    attempted nothing. What was chosen and why is added to ``said``."""
    path = (args.results_file or "").strip()
    batch_id, ecosystem = (args.batch_id or "").strip(), (args.ecosystem or "").strip()
    if path and (Path(path).exists() or not (batch_id and ecosystem)):
        return load_results(path, batch_id=batch_id, ecosystem=ecosystem)
    if not (batch_id and ecosystem):
        missing = " and ".join(name for name, value in (("batch-id", batch_id), ("ecosystem", ecosystem)) if not value)
        raise UsageError(
            f"needs results-file, or batch-id and ecosystem ({missing} is empty)",
            field="results-file",
            hint="pass the batch's results file (results-file: results.json), or batch-id: 2026-06-26-homebrew "
            "with ecosystem: homebrew",
        )
    document: dict[str, Any] = {
        "batch_id": batch_id,
        "ecosystem": ecosystem,
        "started_at": timeutil.iso(now),
        "completed_at": timeutil.iso(now),
        "results": [],
    }
    schema.validate(document, "batch-results", file="batch-id and ecosystem")
    why = f"{path} does not exist" if path else "no results-file was given"
    said.append(f"{why}: recording batch {batch_id} of {ecosystem} as a run with no recipe")
    return document


def _unusable_number(path: str) -> str | None:
    """The JSON pointer of the first NaN, infinity or out-of-range number (the strict reader names the line)."""
    import math

    try:
        document = json.loads(
            Path(path).read_text(encoding="utf-8"), parse_int=lambda text: int(text) if len(text) <= 40 else math.inf
        )
    except (OSError, ValueError, RecursionError):
        return None
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        value, pointer = stack.pop(0)
        if isinstance(value, dict):
            stack += [(v, f"{pointer}/{str(k).replace('~', '~0').replace('/', '~1')}") for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, f"{pointer}/{i}") for i, v in enumerate(value)]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > schema.MAX_SAFE_INTEGER:
                return pointer
    return None


# --- the step -----------------------------------------------------------------------


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(
        parser,
        "results-file",
        "results file of the ecosystem run (schemas/batch-results.schema.json); or give batch-id and ecosystem",
        default="",
    )
    add_input(
        parser,
        "batch-id",
        "batch id: must match the results file; without one (or when it is missing), a run with no recipe is recorded",
        default="",
    )
    add_input(
        parser, "ecosystem", "ecosystem: must match the results file; with batch-id, the run's ecosystem", default=""
    )
    add_input(
        parser,
        "endpoint",
        "telemetry base URL; POST {endpoint}/batch-metrics (empty: the embedded database)",
        default="",
    )
    add_input(parser, "token", "bearer token of the endpoint (pass a secret)", default="")
    add_input(parser, "database", "embedded SQLite store used when endpoint is empty", default=DEFAULT_DATABASE)
    add_input(
        parser,
        "spool-dir",
        "where undeliverable payloads are kept for metrics-replay "
        "(default: $RUNNER_TEMP/batchops-spool, else .batchops/spool)",
        default="",
    )
    add_input(
        parser,
        "max-time",
        "seconds for the whole upload, retries included, before spooling",
        default=str(int(DEFAULT_MAX_TIME)),
    )
    add_input(
        parser,
        "request-timeout",
        "seconds one request may take, from connect to the last byte",
        default=str(int(DEFAULT_REQUEST_TIMEOUT)),
    )
    add_dry_run(parser, "build and validate the payload, say where it would go: nothing sent, spooled or stored")
    add_now(parser)


def policy_from(args: argparse.Namespace) -> RetryPolicy:
    return RetryPolicy(
        max_time=parse_float(args.max_time, field="max-time", minimum=0),
        request_timeout=parse_float(args.request_timeout, field="request-timeout", minimum=0.1),
    )


def run(args: argparse.Namespace) -> StepResult:
    token = args.token or ""
    runner.mask(token)
    now = clock(args)
    early: list[str] = []
    results = results_from(args, now, early)
    payload = metrics.build_payload(results)
    built_from = args.results_file or "batch-id and ecosystem"
    schema.validate(payload, "batch-metrics", file=f"payload built from {built_from}")
    key = metrics.idempotency_key(payload)
    policy = policy_from(args)
    dry_run = parse_bool(args.dry_run, field="dry-run")
    endpoint = (args.endpoint or "").strip()
    if endpoint:
        telemetry.check_endpoint(endpoint)
    spool_dir = args.spool_dir or default_spool_dir()
    outputs: dict[str, Any] = {
        "uploaded": False,
        "spooled-file": "",
        "destination": "",
        "duplicate": False,
        "idempotency-key": key,
    }
    result = StepResult(outputs=outputs)
    for line in early:
        result.notice(line, title=TITLE)
    notes: list[str] = []
    if endpoint:
        if telemetry.plain_http_with_token(endpoint, token):
            where = telemetry.safe_url(endpoint)
            result.warning(f"the endpoint {where} is plain http: the token travels unencrypted; use https", title=TITLE)
        if not dry_run:
            result.say(f"POST {telemetry.safe_url(telemetry.target_url(endpoint))}")
    upload = delivering.Upload(payload, key, endpoint, token, policy, spool_dir, args.database, now, dry_run)
    done = delivering.upload(upload)
    if dry_run:
        return _dry_run(result, payload, done.destination, endpoint, args.database)
    delivery = done.delivery
    result.log += delivery.log
    outputs["destination"] = done.destination
    if done.spooled is not None:
        outputs["spooled-file"] = str(done.spooled)
    if delivery.ok:
        outputs.update({"uploaded": True, "duplicate": delivery.duplicate})
    if delivery.ok and endpoint and delivery.duplicate:
        run_name = f"{payload['batch_id']}/{payload['ecosystem']}"
        result.notice(f"metrics of {run_name} were already recorded (HTTP 200); counted once", title=TITLE)
    if delivery.ok and endpoint and not delivery.honored:
        notes.append(NOT_HONORED)
        result.say(NOT_HONORED)
    if not delivery.ok and endpoint:
        spooled = done.spooled or Path(spool_dir)
        message = _failure_message(delivery, spooled, spool_dir, telemetry.safe_url(endpoint))
        result.warning(message, title="metrics not uploaded")
    if not delivery.ok and not endpoint:
        result.warning(
            f"could not write the metrics database ({delivery.error}); payload spooled to {done.spooled}; "
            f"replay with `batchops metrics-replay --spool-dir {spool_dir} --database {args.database}`",
            title="metrics not uploaded",
        )
    result.section(_summary(payload, outputs, delivery, args.database, notes))
    return result


def _dry_run(result: StepResult, payload: dict[str, Any], destination: str, endpoint: str, database: str) -> StepResult:
    """Where the payload would go, under which key; nothing sent, spooled or stored."""
    result.outputs["destination"] = destination
    where = f"POST {telemetry.safe_url(telemetry.target_url(endpoint))}" if endpoint else f"the database {database}"
    key = result.outputs["idempotency-key"]
    said = f"dry run: the payload is valid and would go to {where} with Idempotency-Key {key}"
    result.say(said + "; nothing sent, spooled or stored")
    table = _summary(payload, result.outputs, Delivery(ok=False), database, []).split("\n")
    lines = [f"### 📈 {TITLE} — dry run", "", markdown.md_escape(said + "; nothing was sent, spooled or stored."), ""]
    result.section("\n".join(lines + table[4:]))
    return result


def replay_command(spool_dir: str, endpoint: str, *, retry_rejected: bool = False) -> str:
    """The command that sends the spool later: the token goes only to the endpoint given, so it names it."""
    again = " --retry-rejected" if retry_rejected else ""
    command = f"batchops metrics-replay --spool-dir {spool_dir} --endpoint {endpoint}{again}"
    return f"`{command}` (the token in BATCHOPS_METRICS_TOKEN)"


def _failure_message(delivery: Delivery, path: Path, spool_dir: str, endpoint: str) -> str:
    advice = metrics.hint(delivery.status, reason=delivery.reason, location=delivery.location)
    if delivery.kind == metrics.REJECTED:
        what = "refused the token" if delivery.status in (401, 403) else "refused the payload for good"
        return (
            f"the endpoint {what} ({delivery.error}); {advice}. The batch is not failed; "
            f"the payload is kept as a dead letter in {path} and is not re-sent unless asked: "
            f"{replay_command(spool_dir, endpoint, retry_rejected=True)}"
        )
    if delivery.kind == metrics.REDIRECT:
        return f"the endpoint answered {delivery.error}; {advice}. The batch is not failed; payload spooled to {path}"
    return (
        f"the endpoint did not take the payload after {delivery.attempts} attempt(s) ({delivery.error}). "
        f"The batch is not failed; payload spooled to {path}; send it later with {replay_command(spool_dir, endpoint)}"
    )


def _summary(
    payload: dict[str, Any], outputs: dict[str, Any], delivery: Delivery, database: str, notes: list[str]
) -> str:
    destination = outputs["destination"]
    again = " (already recorded: counted once)" if delivery.duplicate else ""
    if destination == "endpoint":
        status = "✅ uploaded" + again + (f" after {delivery.attempts} attempts" if delivery.attempts > 1 else "")
    elif destination == "database":
        status = f"✅ stored in {database}{again}"
    elif destination == "rejected":
        kept = outputs["spooled-file"]
        status = f"⛔ refused by the endpoint ({delivery.error}); kept as a dead letter in {kept}; "
        status += "the batch is not failed"
    else:
        tried = f" after {delivery.attempts} attempt(s)" if delivery.attempts else ""
        kept = outputs["spooled-file"]
        status = f"⚠️ not delivered{tried} ({delivery.error}); spooled to {kept}; the batch is not failed"
    lines = [f"### 📈 {TITLE}", "", markdown.md_escape(status), ""]
    if not delivery.ok and delivery.status is not None:
        fix = metrics.hint(delivery.status, reason=delivery.reason, location=delivery.location)
        lines += [f"Fix: {markdown.md_escape(fix)}.", ""]
    lines += [f"ℹ️ {markdown.md_escape(note)}." for note in notes]
    if notes:
        lines.append("")
    rate = payload["success_rate"]
    lines.append(
        markdown.md_table(
            ["batch", "ecosystem", "recipes", "passed", "failed", "skipped", "success rate", "macOS min", "Linux min"],
            [
                [
                    payload["batch_id"],
                    payload["ecosystem"],
                    payload["total_recipes"],
                    payload["passed"],
                    payload["failed"],
                    payload["skipped"],
                    f"{markdown.bar(rate)} {rate * 100:.1f}%",
                    payload["macos_minutes"],
                    payload["linux_minutes"],
                ]
            ],
        )
    )
    return "\n".join(lines)


STEP = Step(
    name="metrics-upload",
    help="post the batch metrics (retries; spools what it cannot send, keeps what is refused; never fails the batch)",
    configure=_configure,
    run=run,
    fail_closed={"uploaded": False, "spooled-file": "", "destination": "", "duplicate": False, "idempotency-key": ""},
)
