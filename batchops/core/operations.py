"""The operations table: every named, pure mutation of a JSON document batchops records.

An operation is ``fn(document, args) -> result``: it changes ``document`` in place
(no I/O, no clock: the time is in ``args``) and returns a JSON-able result for the
step's outputs. It raises OperationConflict when it no longer makes sense on the
document it is given (persist-with-retry then stops and pushes nothing).

The names are persisted in journals and in refs posted on remotes: they never change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batchops.core import breaker, budget, control, drift
from batchops.errors import BatchopsError

Applier = Callable[[dict[str, Any], dict[str, Any]], Any]

OPERATIONS: dict[str, Applier] = {
    "breaker.gate": breaker.gate_op,
    "breaker.record": breaker.record_op,
    "budget.add_minutes": budget.add_minutes,
    "budget.reset": budget.reset,
    "control.stop": control.stop_op,
    "control.resume": control.resume_op,
    "control.disable": control.disable_op,
    "control.enable": control.enable_op,
    "drift.record": drift.record_op,
    "drift.accept": drift.accept_op,
}


def lookup(name: str) -> Applier:
    try:
        return OPERATIONS[name]
    except KeyError:
        raise BatchopsError(
            f"unknown operation {name!r}",
            hint="the journal was written by a newer batchops; use the same version in every job",
        ) from None


def apply(document: dict[str, Any], name: str, args: dict[str, Any]) -> Any:
    return lookup(name)(document, args)
