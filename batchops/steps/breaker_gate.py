"""breaker-gate: the per-ecosystem circuit breaker check before a batch.

Says whether to skip; once the open wait is over it moves the breaker to
half-open and lets exactly this batch run as the probe (the ``breaker.gate``
operation, journaled for persist-with-retry). With ``dry-run`` it only answers:
the same outputs, nothing written, nothing journaled (a question never takes the probe).
Fails closed: a batch never runs past a breaker it could not read. On the hot path: no
network library is imported.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from batchops.adapters import controlfile, runner
from batchops.core import breaker, timeutil
from batchops.flags import add_control_file, add_dry_run, add_input, add_now, clock, parse_bool
from batchops.render.breaker import step_report
from batchops.steps import Step, StepResult

TITLE = "batchops breaker-gate"


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "ecosystem", "ecosystem whose breaker is checked, e.g. homebrew", default="")
    add_dry_run(parser, "answer only: the decision the gate would take, nothing written or journaled")
    add_control_file(parser)
    add_now(parser)


def run(args: argparse.Namespace) -> StepResult:
    ecosystem = breaker.check_ecosystem((args.ecosystem or "").strip())
    dry_run = parse_bool(args.dry_run, field="dry-run")
    now = clock(args)
    document = controlfile.load(args.control_file)
    before, config = breaker.load(document, ecosystem)
    after, decision = breaker.gate(before, now, config)
    if dry_run:
        return _dry_run(ecosystem, document, after, decision, now)
    if decision.transition is not None:
        at = timeutil.iso(now)
        document, answer = controlfile.mutate(
            args.control_file, "breaker.gate", {"ecosystem": ecosystem, "at": at}, at=at, document=document
        )
        decision = breaker.GateDecision(
            answer["skip"], answer["state"], answer["opens-at"], answer["reason"], decision.transition
        )
    result = StepResult(outputs=decision.outputs())
    if decision.skip:
        result.warning(f"{ecosystem}: batch skipped, circuit breaker {decision.reason}", title=TITLE)
    elif decision.state == breaker.HALF_OPEN:
        result.notice(f"{ecosystem}: circuit breaker {decision.reason}", title=TITLE)
    else:
        result.say(f"{ecosystem}: circuit breaker closed, the batch runs")
    if decision.transition is not None and not runner.in_actions():
        # at a terminal this is almost always a question: say that it took the probe, and how to undo it
        result.say(
            f"{ecosystem}: the gate took the half-open probe for this shell and journaled it (breaker.gate); "
            "the next persist-with-retry would push it. `batchops pending --discard` drops it; "
            "`--dry-run true` only asks."
        )
    verdict = "⏭️ skip" if decision.skip else "▶️ run"
    transitions = [decision.transition] if decision.transition else []
    result.section(
        step_report(
            f"{TITLE}: {ecosystem} — {verdict}", [f"{ecosystem}: {decision.reason}."], document, now, transitions
        )
    )
    return result


def _dry_run(
    ecosystem: str, document: dict[str, Any], after: breaker.Breaker, decision: breaker.GateDecision, now: datetime
) -> StepResult:
    """The answer alone: the outputs the gate would give; the file and the journal stay as they are."""
    result = StepResult(outputs=decision.outputs())
    if decision.transition is not None:
        source, target = decision.transition.source, decision.transition.target
        moves = f"stay {target}" if source == target else f"move {source} -> {target}"
        would = f"would {moves} and grant this batch the probe"
    else:
        would = "would change nothing"
    verdict = "skip" if decision.skip else "run"
    result.say(
        f"{ecosystem}: dry run: the next batch would {verdict} ({decision.reason}); the gate {would}. "
        "Nothing written, nothing journaled."
    )
    preview = dict(document)
    preview["circuit_breaker"] = dict(document.get("circuit_breaker") or {})
    preview["circuit_breaker"][ecosystem] = after.write(dict(preview["circuit_breaker"].get(ecosystem) or {}))
    transitions = [decision.transition] if decision.transition else []
    result.section(
        step_report(
            f"{TITLE}: {ecosystem} — dry run: would {verdict}",
            [f"{ecosystem}: {decision.reason}.", "Dry run: nothing written, nothing journaled."],
            preview,
            now,
            transitions,
        )
    )
    return result


STEP = Step(
    name="breaker-gate",
    help="per-ecosystem circuit breaker check: skip, run, or run as the half-open probe",
    configure=_configure,
    run=run,
    fail_closed={"skip": True, "state": "", "opens-at": ""},
)
