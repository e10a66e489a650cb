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

from batchops.core import breaker, breaker_operator, control, readers
from batchops.errors import BatchopsError

Applier = Callable[[dict[str, Any], dict[str, Any]], Any]


def _drift(name: str) -> Applier:
    """A drift operation, imported when first applied (the gate's hot path never loads drift)."""

    def apply_drift(document: dict[str, Any], args: dict[str, Any]) -> Any:
        from batchops.core import drift

        return getattr(drift, name)(document, args)

    apply_drift.__name__ = apply_drift.__qualname__ = name
    return apply_drift


def _budget(name: str) -> Applier:
    """A budget operation, imported when first applied (breaker-gate never loads the budget)."""

    def apply_budget(document: dict[str, Any], args: dict[str, Any]) -> Any:
        from batchops.core import budget

        return getattr(budget, name)(document, args)

    apply_budget.__name__ = apply_budget.__qualname__ = name
    return apply_budget


OPERATIONS: dict[str, Applier] = {
    "breaker.gate": breaker.gate_op,
    "breaker.record": breaker.record_op,
    "breaker.reset": breaker_operator.reset_op,
    "breaker.probe": breaker_operator.probe_op,
    "breaker.open": breaker_operator.open_op,
    "budget.add_minutes": _budget("add_minutes"),
    "budget.reset": _budget("reset"),
    "budget.sample": _budget("set_sampling"),
    "control.stop": control.stop_op,
    "control.resume": control.resume_op,
    "control.disable": control.disable_op,
    "control.enable": control.enable_op,
    "drift.record": _drift("record_op"),
    "drift.accept": _drift("accept_op"),
}


def lookup(name: str) -> Applier:
    try:
        return OPERATIONS[name]
    except KeyError:
        raise BatchopsError(
            f"unknown operation {name!r}",
            hint="the journal was written by a newer batchops; use the same version in every job",
        ) from None


# The operations on the control file, whose other readers (the first user's generator and
# dashboard, the legacy jq scripts) decode what batchops writes: see core/readers.
CONTROL_FILE_FAMILIES = ("breaker", "budget", "control")


def apply(document: dict[str, Any], name: str, args: dict[str, Any]) -> Any:
    operation = lookup(name)
    if name.split(".", 1)[0] not in CONTROL_FILE_FAMILIES:
        return operation(document, args)
    readers.readable(document)  # a null the generator wrote reads as the field's default
    result = operation(document, args)
    readers.for_readers(document)
    return result
