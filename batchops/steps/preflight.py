"""preflight: read the control file before any work and say what may run.

Fail closed: a missing, unreadable, corrupt or schema-invalid control file gives
can-proceed=false, an error annotation naming the problem and the fix, and a
non-zero exit. A pipeline stopped by an operator exits 0 with can-proceed=false
and a warning carrying the reason, incident URL and expected resume.

Read-only: a budget rollover that is due is reported and counted (usage from 0),
not written; the next breaker-update or ``batchops budget`` command writes it.
A paused platform does not change can-proceed.
"""

from __future__ import annotations

import argparse
from typing import Any

from batchops.adapters import controlfile
from batchops.core import budget, control
from batchops.core.preflight import decide
from batchops.errors import ControlFileError
from batchops.flags import add_control_file, add_input, add_now, clock, parse_list
from batchops.render import markdown
from batchops.render.budget import gauge_markdown
from batchops.steps import Step, StepResult

TITLE = "batchops preflight"


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(
        parser,
        "ecosystems",
        "candidate ecosystems: a JSON array or a comma/newline separated list; "
        "empty means every ecosystem the control file knows",
    )
    add_control_file(parser)
    add_now(parser)


def run(args: argparse.Namespace) -> StepResult:
    candidates = parse_list(args.ecosystems, field="ecosystems")
    now = clock(args)
    document = controlfile.load(args.control_file)
    outputs, skipped = decide(document, candidates)
    try:
        current = budget.view(document, now)
    except ControlFileError as exc:  # budget.week_start the schema takes but names no real day
        exc.file = exc.file or args.control_file
        raise
    outputs.update(budget.preflight_outputs(current))
    result = StepResult(outputs=outputs)
    if not control.get(document, "enabled"):
        details = [f"reason: {outputs['reason']}"]
        if document.get("incident_url"):
            details.append(f"incident: {document['incident_url']}")
        if document.get("expected_resume"):
            details.append(f"expected resume: {document['expected_resume']}")
        if document.get("disabled_by"):
            details.append(f"stopped by: {document['disabled_by']}")
        result.warning(
            "batch pipeline is stopped; "
            + "; ".join(details)
            + f". Resume with `batchops resume` (edits {args.control_file}).",
            title=TITLE,
        )
    elif not outputs["can-proceed"]:
        result.warning(outputs["reason"], title=TITLE)
    elif skipped:
        result.notice("disabled ecosystems left out of this run: " + ", ".join(skipped), title=TITLE)
    if current.paused_platforms:
        names = ", ".join(budget.LABELS[p] for p in current.paused_platforms)
        result.warning(
            f"CI-minutes budget: {names} paused for the rest of the week "
            f"(>= {current.config.pause_percent:g}% used); other platforms run.",
            title=TITLE,
        )
    if current.sampling_active and current.sample_rate > 0:
        forced = (
            " (forced by an operator: budget.sampling_active is true; clear it with `batchops budget sample --off`)"
            if current.forced
            else ""
        )
        result.notice(f"CI-minutes budget: sampling candidates at rate {outputs['sample-rate']}{forced}.", title=TITLE)
    result.section(_summary(document, outputs) + "\n" + gauge_markdown(current))
    return result


def _summary(document: dict[str, Any], outputs: dict[str, Any]) -> str:
    verdict = "✅ can proceed" if outputs["can-proceed"] else "⛔ cannot proceed"
    rows = [
        ["can-proceed", outputs["can-proceed"]],
        ["ecosystems", ", ".join(outputs["ecosystems"]) or "(none)"],
        ["disabled-ecosystems", ", ".join(outputs["disabled-ecosystems"]) or "(none)"],
    ]
    if outputs["reason"]:
        rows.append(["reason", outputs["reason"]])
    for key in ("incident_url", "expected_resume", "disabled_by", "disabled_at"):
        if document.get(key):
            rows.append([key, document[key]])
    return f"### {TITLE}: {verdict}\n\n" + markdown.md_table(["", "value"], rows)


STEP = Step(
    name="preflight",
    help="read the control file before any work: master switch, disabled ecosystems, budget",
    configure=_configure,
    run=run,
    fail_closed={
        "can-proceed": False,
        "ecosystems": [],
        "disabled-ecosystems": [],
        "reason": "",  # the CLI entry puts the error's text here
        "sampling-active": False,
        "sample-rate": "0.0",
        "paused-platforms": [],
    },
)
