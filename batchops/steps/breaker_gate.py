"""breaker-gate: the per-ecosystem circuit breaker check before a batch.

Says whether to skip; once the open wait is over it moves the breaker to
half-open and lets exactly this batch run as the probe (the ``breaker.gate``
operation, journaled for persist-with-retry). Fails closed: a batch never runs
past a breaker it could not read. On the hot path: no network library is imported.
"""

from __future__ import annotations

import argparse

from batchops.adapters import controlfile
from batchops.cli.args import add_control_file, add_input, add_now, clock
from batchops.core import breaker, timeutil
from batchops.render.breaker import step_report
from batchops.steps import Step, StepResult

TITLE = "batchops breaker-gate"


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "ecosystem", "ecosystem whose breaker is checked, e.g. homebrew", default="")
    add_control_file(parser)
    add_now(parser)


def run(args: argparse.Namespace) -> StepResult:
    ecosystem = breaker.check_ecosystem((args.ecosystem or "").strip())
    now = clock(args)
    document = controlfile.load(args.control_file)
    before, config = breaker.load(document, ecosystem)
    _, decision = breaker.gate(before, now, config)
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
    verdict = "⏭️ skip" if decision.skip else "▶️ run"
    transitions = [decision.transition] if decision.transition else []
    result.section(step_report(f"{TITLE}: {ecosystem} — {verdict}", [f"{ecosystem}: {decision.reason}."], document, now, transitions))
    return result


STEP = Step(
    name="breaker-gate",
    help="per-ecosystem circuit breaker check: skip, run, or run as the half-open probe",
    configure=_configure,
    run=run,
    fail_closed={"skip": True, "state": "", "opens-at": ""},
)
