"""preflight: read the control file before any work and say what may run.

Fail closed: a missing, unreadable, corrupt or schema-invalid control file gives
can-proceed=false, an error annotation naming the problem and the fix, and a
non-zero exit. A pipeline stopped by an operator exits 0 with can-proceed=false
and a warning carrying the reason, incident URL and expected resume.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from batchops.adapters import controlfile, runner
from batchops.cli.args import Command, add_control_file, add_input, add_now, clock, parse_list
from batchops.core import control
from batchops.errors import BatchopsError
from batchops.render import budget as render_budget
from batchops.render import markdown


def decide(document: dict[str, Any], candidates: list[str], now: datetime) -> dict[str, Any]:
    """The preflight decision as outputs (pure)."""
    disabled = list(control.get(document, "disabled_ecosystems"))
    if not candidates:
        candidates = [name for name in control.get(document, "circuit_breaker") if name != "default"]
    allowed = [name for name in candidates if name not in disabled]
    skipped = [name for name in candidates if name in disabled]
    outputs: dict[str, Any] = {
        "can-proceed": True,
        "ecosystems": allowed,
        "disabled-ecosystems": disabled,
        "reason": "",
    }
    if not control.get(document, "enabled"):
        outputs["can-proceed"] = False
        outputs["ecosystems"] = []
        outputs["reason"] = control.get(document, "reason") or "the pipeline is disabled (enabled=false)"
    elif candidates and not allowed:
        outputs["can-proceed"] = False
        outputs["reason"] = "every candidate ecosystem is disabled: " + ", ".join(skipped)
    outputs["_skipped"] = skipped
    return outputs


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "ecosystems", "candidate ecosystems: a JSON array or a comma/newline separated list; empty means every ecosystem the control file knows")
    add_control_file(parser)
    add_now(parser)


def _fail_closed(exc: BatchopsError) -> int:
    from batchops.cli import report_error

    report_error(exc)
    runner.set_outputs({"can-proceed": False, "ecosystems": [], "disabled-ecosystems": [], "reason": exc.render(), "sampling-active": False, "sample-rate": "0.0", "paused-platforms": []})
    return exc.exit_code


def _run(args: argparse.Namespace) -> int:
    try:
        candidates = parse_list(args.ecosystems, field="ecosystems")
        now = clock(args)
        document = controlfile.load(args.control_file)
    except BatchopsError as exc:
        return _fail_closed(exc)
    outputs = decide(document, candidates, now)
    skipped = outputs.pop("_skipped")
    extra = _extend(document, outputs, now)
    runner.set_outputs(outputs)
    _report(document, outputs, skipped, args.control_file, extra)
    return 0


def _extend(document: dict[str, Any], outputs: dict[str, Any], now: datetime) -> list[str]:
    """Budget outputs (sampling-active, sample-rate, paused-platforms) and the gauge section.

    Read-only: a rollover that is due is reported and counted (usage from 0),
    not written; the next breaker-update or `batchops budget` command writes it.
    A paused platform does not change can-proceed.
    """
    from batchops.core import budget

    current = budget.view(document, now)
    outputs.update(budget.preflight_outputs(current))
    if current.paused_platforms:
        names = ", ".join(budget.LABELS[p] for p in current.paused_platforms)
        runner.warning(f"CI-minutes budget: {names} paused for the rest of the week (>= {current.config.pause_percent:g}% used); other platforms run.", title="batchops preflight")
    if current.sampling_active and current.sample_rate > 0:
        runner.notice(f"CI-minutes budget: sampling candidates at rate {outputs['sample-rate']}.", title="batchops preflight")
    return ["\n" + render_budget.gauge_markdown(current)]


def _report(document: dict[str, Any], outputs: dict[str, Any], skipped: list[str], path: str, extra: list[str]) -> None:
    if not control.get(document, "enabled"):
        details = [f"reason: {outputs['reason']}"]
        if document.get("incident_url"):
            details.append(f"incident: {document['incident_url']}")
        if document.get("expected_resume"):
            details.append(f"expected resume: {document['expected_resume']}")
        if document.get("disabled_by"):
            details.append(f"stopped by: {document['disabled_by']}")
        runner.warning("batch pipeline is stopped; " + "; ".join(details) + f". Resume with `batchops resume` (edits {path}).", title="batchops preflight")
    elif not outputs["can-proceed"]:
        runner.warning(outputs["reason"], title="batchops preflight")
    elif skipped:
        runner.notice("disabled ecosystems left out of this run: " + ", ".join(skipped), title="batchops preflight")
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
    runner.summary(f"### batchops preflight: {verdict}\n\n" + markdown.md_table(["", "value"], rows) + "".join(extra))


PREFLIGHT = Command(
    help="read the control file before any work: master switch, disabled ecosystems, budget",
    configure=_configure,
    run=_run,
)
