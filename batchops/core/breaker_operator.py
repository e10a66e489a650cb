"""Operator controls of a breaker: ``breaker reset``, ``breaker probe``, ``breaker open`` (pure).

Operations ``{ecosystem, at, reason}`` (``OPERATOR_TRANSITIONS``), each audited with the actor and
the reason in its commit trailers: ``breaker.reset`` (closed, window and counters cleared: the one
path from open to closed), ``breaker.probe`` (half-open now: the next batch is the probe),
``breaker.open`` (a manual trip, optional ``wait``; on a breaker already open whose wait is over,
or with a longer ``wait``, it starts the new wait). On a breaker already in that state they change
nothing and say so (``changed: false``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from batchops.core import timeutil
from batchops.core.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    Breaker,
    Transition,
    check_ecosystem,
    load,
    store,
)
from batchops.core.breaker_config import BreakerConfig

# Kept apart from TRANSITIONS, which the batches' own events follow: "reset" is the one
# audited way from open to closed, and only an operator takes it.
OPERATOR_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "reset": (frozenset({CLOSED, OPEN, HALF_OPEN}), CLOSED),
    "operator-probe": (frozenset({OPEN, HALF_OPEN}), HALF_OPEN),
    "operator-open": (frozenset({CLOSED, OPEN, HALF_OPEN}), OPEN),  # open: a new or longer wait
}


def _is_clean(b: Breaker) -> bool:
    return (
        b.state == CLOSED
        and not b.window.outcomes
        and b.failures == 0
        and b.consecutive_opens == 0
        and not b.opens_at
        and not b.probe_started_at
    )


def operator_move(
    breaker: Breaker, action: str, at: datetime, config: BreakerConfig, wait: timedelta | None = None
) -> tuple[Breaker, Transition | None, str]:
    """Apply an operator control; returns (after, transition or None when nothing changes, why).

    Every move it makes is one of ``OPERATOR_TRANSITIONS`` (checked here, so the table is the rule).
    """
    sources, target = OPERATOR_TRANSITIONS[action]
    after, move, why = _operator_move(breaker, action, at, config, wait)
    if move is not None and (move.name != action or move.source not in sources or move.target != target):
        raise AssertionError(
            f"operator control {action}: {move.source} -> {move.target} is not in OPERATOR_TRANSITIONS"
        )
    return after, move, why


Move = tuple[Breaker, Transition | None, str]  # (after, the transition or None when nothing changes, why)


def _operator_move(breaker: Breaker, action: str, at: datetime, config: BreakerConfig, wait: timedelta | None) -> Move:
    after = breaker.copy()
    if action == "reset":
        return _reset(after, timeutil.iso(at))
    if action == "operator-probe":
        return _probe(after, timeutil.iso(at))
    if action == "operator-open":
        return _open(after, at, config, wait)
    raise AssertionError(f"unknown operator control {action}")


def _reset(after: Breaker, stamp: str) -> Move:
    if _is_clean(after):
        return after, None, "already closed with an empty window"
    source = after.state
    after.state = CLOSED
    after.window.clear()
    after.failures = 0
    after.consecutive_opens = 0
    after.opens_at = ""
    after.probe_started_at = ""
    return after, Transition("reset", source, CLOSED, stamp, "operator reset: window and counters cleared"), ""


def _probe(after: Breaker, stamp: str) -> Move:
    if after.state == CLOSED:
        return after, None, "closed: batches already run"
    if after.state == HALF_OPEN and not after.probe_started_at:
        return after, None, "half-open with no probe out: the next batch is already the probe"
    source = after.state
    after.state = HALF_OPEN
    after.probe_started_at = ""  # the next gate grants the probe at once
    detail = "operator probe: the next batch is the probe"
    return after, Transition("operator-probe", source, HALF_OPEN, stamp, detail), ""


def _open(after: Breaker, at: datetime, config: BreakerConfig, wait: timedelta | None) -> Move:
    stamp, source = timeutil.iso(at), after.state
    if after.state == OPEN:
        # Open and still waiting: nothing to do, unless the operator asks for a longer
        # wait. Open with the wait over (or no opens_at, as the legacy scripts leave it):
        # the next gate would grant the probe, so a trip by hand starts a new wait.
        opens_at = after.opens_at_time()
        waiting = opens_at is not None and at < opens_at
        if opens_at is not None and waiting and (wait is None or at + wait <= opens_at):
            longer = (
                " (a longer --wait extends it)"
                if wait is None
                else f", beyond the {timeutil.format_duration(wait)} asked"
            )
            return after, None, f"already open until {after.opens_at}{longer}"
        after.consecutive_opens = max(1, after.consecutive_opens)
        length = wait if wait is not None else config.wait_for(after.consecutive_opens)
        after.opens_at = timeutil.iso(at + length)
        after.opened_at = after.opened_at if waiting and after.opened_at else stamp
        after.probe_started_at = ""
        detail = "operator open: the wait extended to" if waiting else "operator open: the wait was over, waits"
        return (
            after,
            Transition("operator-open", source, OPEN, stamp, f"{detail} {timeutil.format_duration(length)}"),
            "",
        )
    opens = after.consecutive_opens + 1 if after.state == HALF_OPEN else max(1, after.consecutive_opens)
    after.consecutive_opens = opens
    length = wait if wait is not None else config.wait_for(opens)
    after.state = OPEN
    after.opens_at = timeutil.iso(at + length)
    after.opened_at = stamp
    after.probe_started_at = ""
    detail = f"operator open: waits {timeutil.format_duration(length)}"
    return after, Transition("operator-open", source, OPEN, stamp, detail), ""


def _operator_op(action: str, document: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    ecosystem = check_ecosystem(args["ecosystem"])
    before, config = load(document, ecosystem)
    wait = timeutil.parse_duration(args["wait"], field="wait") if args.get("wait") else None
    after, move, why = operator_move(before, action, timeutil.parse_iso(args["at"], field="at"), config, wait)
    if move is not None:
        store(document, ecosystem, after)
    return {
        "changed": move is not None,
        "state": after.state,
        "previous-state": before.state,
        "opens-at": after.opens_at if after.state == OPEN else "",
        "why": why,
        "transition": move.as_json() if move else None,
    }


def reset_op(document: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    return _operator_op("reset", document, args)


def probe_op(document: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    return _operator_op("operator-probe", document, args)


def open_op(document: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    return _operator_op("operator-open", document, args)
