"""The circuit breaker: a pure state machine per ecosystem, with no I/O and no clock.

States and the only transitions there are (``TRANSITIONS``, applied in ``_enter``):

    closed    --trip-------------> open       failure rate >= threshold over a window
                                               holding >= minimum_attempts attempts
    open      --grant-probe------> half-open  the gate is asked after opens_at
    half-open --regrant-probe----> half-open  the probe was lost (no result after probe_timeout)
    half-open --close------------> closed     the probe succeeded: window cleared
    half-open --reopen-----------> open       the probe failed: the wait doubles (capped)

There is no path from open to closed: a success reported while open is recorded
in the window but does not close the breaker (``success-while-open``).

The window is count based (the last ``window_size`` attempts, oldest first:
:mod:`batchops.core.breaker_window`). ``failures`` keeps its legacy meaning
(consecutive failures since the last success) and ``opens_at`` keeps its name and
meaning (when the wait ends).

Configuration: ``BreakerConfig`` defaults, overridden by the control file's
top-level ``breaker_config`` object, then by ``breaker_config.ecosystems.<name>``
(:mod:`batchops.core.breaker_config`; both modules' names are importable from here too).

Operations (``@operation``), re-applied by persist-with-retry on the remote copy:

* ``breaker.gate`` ``{ecosystem, at}``: the gate decision computed on the
  document it is given. Re-applied where another job already took the probe,
  it changes nothing and returns ``skip: true`` (it never raises
  OperationConflict: the job already ran and its ``breaker.record`` must land).
* ``breaker.record`` ``{ecosystem, outcomes, at}``: adds the outcomes to the
  window of the document it is given (on top of whatever other jobs added).
* Operator controls ``breaker.reset``, ``breaker.probe``, ``breaker.open``: the
  operator's own table of moves, in :mod:`batchops.core.breaker_operator`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from batchops.core import timeutil
from batchops.core.breaker_config import CONFIG_KEY, DEFAULT_CONFIG, BreakerConfig, config_for  # noqa: F401 (re-export)
from batchops.core.breaker_window import FAILURE, OUTCOMES, SUCCESS, Window
from batchops.core.values import field, replace, valueclass
from batchops.errors import ControlFileError, UsageError

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
STATES = (CLOSED, OPEN, HALF_OPEN)

# The ecosystem the legacy workflow falls back to (``matrix.ecosystem || 'default'``). It is an
# ecosystem like any other; the legacy file carries it as a closed/0 entry, which tables leave
# out until something records on it (see ``ecosystems``).
TEMPLATE_KEY = "default"

# name -> (states it may start from, state it ends in). No entry goes open -> closed.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "trip": (frozenset({CLOSED}), OPEN),
    "grant-probe": (frozenset({OPEN}), HALF_OPEN),
    "regrant-probe": (frozenset({HALF_OPEN}), HALF_OPEN),
    "close": (frozenset({HALF_OPEN}), CLOSED),
    "reopen": (frozenset({HALF_OPEN}), OPEN),
}


# --- the state of one ecosystem -----------------------------------------------------


@valueclass
class Breaker:
    state: str = CLOSED
    failures: int = 0  # consecutive failures since the last success (legacy meaning)
    last_failure: str = ""
    opens_at: str = ""  # when the open wait ends (legacy meaning)
    window: Window = field(default_factory=lambda: Window(DEFAULT_CONFIG.window_size))
    consecutive_opens: int = 0  # opens since the last close; the wait doubles with each
    probe_started_at: str = ""  # when the half-open probe was granted
    opened_at: str = ""  # when the breaker last went to open

    @classmethod
    def from_entry(cls, entry: dict[str, Any] | None, config: BreakerConfig = DEFAULT_CONFIG) -> Breaker:
        entry = entry or {}
        state = entry.get("state", CLOSED)
        if state not in STATES:
            state = CLOSED
        opens = entry.get("consecutive_opens")
        if opens is None:  # a legacy entry: it has been opened at least once if it is not closed
            opens = 0 if state == CLOSED else 1
        breaker = cls(
            state=state,
            failures=int(entry.get("failures", 0) or 0),
            last_failure=entry.get("last_failure", "") or "",
            opens_at=entry.get("opens_at", "") or "",
            window=Window(config.window_size, list(entry.get("window", []) or [])),
            consecutive_opens=int(opens),
            probe_started_at=entry.get("probe_started_at", "") or "",
            opened_at=entry.get("opened_at", "") or "",
        )
        reconcile(breaker, entry)
        return breaker

    def write(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Store into ``entry`` in place (legacy fields first, unknown keys kept)."""
        entry["state"] = self.state
        entry["failures"] = self.failures
        for key in ("last_failure", "opens_at"):
            value = getattr(self, key)
            if value or key in entry:
                entry[key] = value
        entry["window"] = list(self.window.outcomes)
        entry["consecutive_opens"] = self.consecutive_opens
        for key in ("opened_at", "probe_started_at"):
            value = getattr(self, key)
            if value or key in entry:
                entry[key] = value
        return entry

    def opens_at_time(self) -> datetime | None:
        return timeutil.parse_iso_or_none(self.opens_at)

    def probe_out(self, now: datetime, config: BreakerConfig) -> bool:
        started = timeutil.parse_iso_or_none(self.probe_started_at)
        return started is not None and now < started + config.probe_timeout

    def copy(self) -> Breaker:
        return replace(self, window=Window(self.window.size, list(self.window.outcomes)))


# --- events and transitions ---------------------------------------------------------


@valueclass(frozen=True)
class Transition:
    name: str
    source: str
    target: str
    at: str
    detail: str = ""

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "from": self.source, "to": self.target, "at": self.at, "detail": self.detail}


@valueclass(frozen=True)
class GateDecision:
    skip: bool
    state: str
    opens_at: str
    reason: str
    transition: Transition | None = None

    def outputs(self) -> dict[str, Any]:
        return {"skip": self.skip, "state": self.state, "opens-at": self.opens_at if self.state == OPEN else ""}


@valueclass(frozen=True)
class RecordResult:
    previous_state: str
    state: str
    failure_rate: float
    attempts: int
    transitions: tuple[Transition, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def tripped(self) -> bool:
        """True when this update moved the breaker to open (a trip or a failed probe)."""
        return any(t.target == OPEN for t in self.transitions)

    def outputs(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "previous-state": self.previous_state,
            "failure-rate": format_rate(self.failure_rate),
            "tripped": self.tripped,
        }


def format_rate(rate: float) -> str:
    return f"{rate:.4f}".rstrip("0").rstrip(".") if rate else "0"


def _enter(breaker: Breaker, name: str, at: datetime, config: BreakerConfig, detail: str = "") -> Transition:
    """The one place where the state changes."""
    sources, target = TRANSITIONS[name]
    if breaker.state not in sources:  # a programming error, never user input
        raise AssertionError(f"transition {name} is not allowed from {breaker.state}")
    source = breaker.state
    stamp = timeutil.iso(at)
    if name in ("trip", "reopen"):
        breaker.consecutive_opens = 1 if name == "trip" else breaker.consecutive_opens + 1
        wait = config.wait_for(breaker.consecutive_opens)
        breaker.opens_at = timeutil.iso(at + wait)
        breaker.opened_at = stamp
        breaker.probe_started_at = ""
        detail = (
            f"{detail}; waits {timeutil.format_duration(wait)}" if detail else f"waits {timeutil.format_duration(wait)}"
        )
    elif name in ("grant-probe", "regrant-probe"):
        breaker.probe_started_at = stamp
    elif name == "close":
        breaker.window.clear()
        breaker.consecutive_opens = 0
        breaker.probe_started_at = ""
    breaker.state = target
    return Transition(name, source, target, stamp, detail)


def gate(breaker: Breaker, now: datetime, config: BreakerConfig) -> tuple[Breaker, GateDecision]:
    """May a batch run now? Moves open to half-open once the wait is over (the probe)."""
    after = breaker.copy()
    if after.state == CLOSED:
        return after, GateDecision(False, CLOSED, after.opens_at, "closed: batches run")
    if after.state == OPEN:
        opens_at = after.opens_at_time()
        if opens_at is not None and now < opens_at:
            return after, GateDecision(True, OPEN, after.opens_at, f"open until {after.opens_at}")
        why = "the wait is over" if opens_at is not None else "open with no opens_at"
        move = _enter(after, "grant-probe", now, config, why)
        return after, GateDecision(
            False, HALF_OPEN, after.opens_at, f"half-open: this batch is the probe ({why})", move
        )
    # half-open
    if after.probe_out(now, config):
        return after, GateDecision(
            True, HALF_OPEN, after.opens_at, f"half-open: a probe is already running (since {after.probe_started_at})"
        )
    why = (
        f"the probe granted at {after.probe_started_at} never reported"
        if after.probe_started_at
        else "no probe was out"
    )
    move = _enter(after, "regrant-probe", now, config, why)
    return after, GateDecision(False, HALF_OPEN, after.opens_at, f"half-open: this batch is the probe ({why})", move)


def _count(breaker: Breaker, outcome: str, stamp: str) -> None:
    breaker.window.add(outcome)
    if outcome == FAILURE:
        breaker.failures += 1
        breaker.last_failure = stamp
    else:
        breaker.failures = 0


def record(breaker: Breaker, outcomes: list[str], at: datetime, config: BreakerConfig) -> tuple[Breaker, RecordResult]:
    """Add the outcomes of one batch (in order) and make the transitions they cause.

    closed: each outcome enters the window; the breaker trips as soon as the
    window holds >= minimum_attempts attempts with a failure rate >= threshold.
    half-open: the batch is the probe; it succeeds when its own failure rate is
    below the threshold (one outcome: success), which closes the breaker and
    clears the window; otherwise it re-opens with the next (doubled) wait.
    open: the outcomes are counted but the state does not change.
    """
    for outcome in outcomes:
        if outcome not in OUTCOMES:
            raise UsageError(f"{outcome!r} is not an outcome", field="outcome", hint="use success or failure")
    after = breaker.copy()
    previous = after.state
    stamp = timeutil.iso(at)
    moves: list[Transition] = []
    notes: list[str] = []
    if not outcomes:
        return after, RecordResult(previous, after.state, after.window.failure_rate, after.window.attempts)
    if after.state == HALF_OPEN:
        failed = outcomes.count(FAILURE)
        rate = failed / len(outcomes)
        for outcome in outcomes:
            _count(after, outcome, stamp)
        verdict = f"probe: {failed} of {len(outcomes)} failed"
        if rate >= config.failure_rate_threshold:
            moves.append(_enter(after, "reopen", at, config, verdict))
        else:
            moves.append(_enter(after, "close", at, config, verdict))
    else:
        for outcome in outcomes:
            was = after.state
            _count(after, outcome, stamp)
            if was == CLOSED and after.window.should_trip(config):
                window = after.window
                rates = f"{window.failure_rate:.0%} >= {config.failure_rate_threshold:.0%}"
                detail = f"{window.failures} of {window.attempts} failed ({rates})"
                moves.append(_enter(after, "trip", at, config, detail))
            elif previous == OPEN and outcome == SUCCESS and "success-while-open" not in notes:
                notes.append("success-while-open")
    return after, RecordResult(
        previous, after.state, after.window.failure_rate, after.window.attempts, tuple(moves), tuple(notes)
    )


# --- the control file ---------------------------------------------------------------


def check_ecosystem(name: str) -> str:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", name or ""):
        raise UsageError(
            f"{name!r} is not an ecosystem name" if name else "is empty",
            field="ecosystem",
            hint="give the lowercase ecosystem name, e.g. ecosystem: homebrew",
        )
    return name


def load(document: dict[str, Any], ecosystem: str) -> tuple[Breaker, BreakerConfig]:
    config = config_for(document, ecosystem)
    entry = (document.get("circuit_breaker") or {}).get(ecosystem)
    return Breaker.from_entry(entry, config), config


def store(document: dict[str, Any], ecosystem: str, breaker: Breaker) -> None:
    table = document.setdefault("circuit_breaker", {})
    breaker.write(table.setdefault(ecosystem, {}))


def is_template(entry: Any) -> bool:
    """The legacy file's untouched ``default`` entry: closed, 0 failures, nothing else recorded."""
    if not isinstance(entry, dict):
        return False
    if set(entry) - {"state", "failures"}:
        return False
    return entry.get("state", CLOSED) == CLOSED and not entry.get("failures")


def ecosystems(document: dict[str, Any]) -> list[str]:
    """The ecosystems of the control file, for tables and preflight's default candidates.

    ``default`` is left out only while it is the legacy template entry (nothing recorded on it).
    """
    table = document.get("circuit_breaker") or {}
    return [name for name, entry in table.items() if not (name == TEMPLATE_KEY and is_template(entry))]


# --- legacy and batchops writers side by side ---------------------------------------


def _trailing_failures(outcomes: list[str]) -> int:
    count = 0
    for outcome in reversed(outcomes):
        if outcome != FAILURE:
            break
        count += 1
    return count


def legacy_wrote_after(breaker: Breaker, entry: dict[str, Any]) -> list[str]:
    """Signs that a legacy script wrote ``entry``'s legacy fields after batchops did (empty: none).

    batchops always leaves its own fields consistent with the legacy ones:
    ``failures`` (consecutive failures) is the number of failures the window
    ends with (or more, when the window holds only failures), a closed breaker
    has ``consecutive_opens`` 0 and an open one at least 1. The legacy scripts
    only write ``state``, ``failures``, ``last_failure`` and ``opens_at``, so a
    legacy write after batchops' shows as one of these disagreements. An entry
    without batchops' fields (no ``window``) is a legacy entry: nothing to reconcile.
    """
    if "window" not in entry:
        return []
    outcomes = breaker.window.outcomes
    trailing = _trailing_failures(outcomes)
    signs = []
    if breaker.failures < trailing:
        signs.append(
            f"failures is {breaker.failures} but the window ends with {trailing} failure(s): "
            "a legacy success was recorded after batchops"
        )
    elif SUCCESS in outcomes and breaker.failures > trailing:
        signs.append(
            f"failures is {breaker.failures} but the window ends with {trailing} failure(s): "
            f"{breaker.failures - trailing} legacy failure(s) were recorded after batchops"
        )
    if breaker.state == CLOSED and breaker.consecutive_opens > 0:
        signs.append(f"state is closed but consecutive_opens is {breaker.consecutive_opens}: a legacy script closed it")
    if breaker.state == OPEN and "consecutive_opens" in entry and breaker.consecutive_opens == 0:
        signs.append("state is open but consecutive_opens is 0: a legacy script tripped it")
    return signs


def reconcile(breaker: Breaker, entry: dict[str, Any]) -> list[str]:
    """Bring batchops' fields in line with legacy fields written after them (in place).

    The rule: the legacy fields were written last, so they win, and batchops'
    own fields are rebuilt from them:

    * a legacy success came after (``failures`` below the failures the window
      ends with, or a closed breaker with ``consecutive_opens`` > 0): the
      window restarts with the ``failures`` failures the legacy counter holds
      since that success (at most ``window_size``); a closed breaker gets
      ``consecutive_opens`` 0 and no probe;
    * legacy failures came after (the window holds a success and ``failures``
      is above the failures it ends with): those failures are added to the window;
    * a legacy trip (open with ``consecutive_opens`` 0): ``consecutive_opens``
      1, ``opened_at`` the legacy ``last_failure`` when not set, no probe.

    Returns the signs found (what ``batchops validate`` warns about).
    """
    signs = legacy_wrote_after(breaker, entry)
    if not signs:
        return signs
    trailing = _trailing_failures(breaker.window.outcomes)
    legacy_success = breaker.failures < trailing or (breaker.state == CLOSED and breaker.consecutive_opens > 0)
    if legacy_success:
        breaker.window.outcomes = [FAILURE] * min(breaker.failures, breaker.window.size)
    elif SUCCESS in breaker.window.outcomes and breaker.failures > trailing:
        for _ in range(min(breaker.failures - trailing, breaker.window.size)):
            breaker.window.add(FAILURE)
    if breaker.state == CLOSED:
        breaker.consecutive_opens = 0
        breaker.probe_started_at = ""
    elif breaker.state == OPEN and breaker.consecutive_opens == 0:
        breaker.consecutive_opens = 1
        breaker.opened_at = breaker.opened_at or breaker.last_failure
        breaker.probe_started_at = ""
    return signs


def legacy_signs(document: dict[str, Any], ecosystem: str, config: BreakerConfig) -> list[str]:
    """What :func:`reconcile` found (and fixed on read) in ``ecosystem``'s entry; empty when nothing."""
    entry = (document.get("circuit_breaker") or {}).get(ecosystem)
    if not isinstance(entry, dict):
        return []
    return legacy_wrote_after(_as_stored(entry, config), entry)


def mixed_writer_warnings(document: dict[str, Any]) -> list[str]:
    """One line per breaker entry whose legacy fields were written after batchops' (for validate)."""
    found = []
    for name, entry in (document.get("circuit_breaker") or {}).items():
        if not isinstance(entry, dict):
            continue
        try:
            config = config_for(document, name)
        except (ControlFileError, UsageError):
            config = DEFAULT_CONFIG
        raw = _as_stored(entry, config)
        for sign in legacy_wrote_after(raw, entry):
            found.append(
                f"/circuit_breaker/{name}: {sign}; batchops reconciles it on its next read (the legacy fields win)"
            )
    return found


def _as_stored(entry: dict[str, Any], config: BreakerConfig) -> Breaker:
    """The entry as stored, without :func:`reconcile` (to report what it would change)."""
    breaker = Breaker.from_entry({k: v for k, v in entry.items() if k != "window"}, config)
    breaker.window = Window(config.window_size, list(entry.get("window", []) or []))
    return breaker


def gate_op(document: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    ecosystem = check_ecosystem(args["ecosystem"])
    before, config = load(document, ecosystem)
    after, decision = gate(before, timeutil.parse_iso(args["at"], field="at"), config)
    if decision.transition is not None:
        store(document, ecosystem, after)
    return {
        **decision.outputs(),
        "reason": decision.reason,
        "transition": decision.transition.as_json() if decision.transition else None,
    }


def record_op(document: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    ecosystem = check_ecosystem(args["ecosystem"])
    before, config = load(document, ecosystem)
    reconciled = legacy_signs(document, ecosystem, config)
    after, result = record(before, list(args["outcomes"]), timeutil.parse_iso(args["at"], field="at"), config)
    if args["outcomes"]:
        store(document, ecosystem, after)
    return {
        **result.outputs(),
        "attempts": result.attempts,
        "transitions": [t.as_json() for t in result.transitions],
        "notes": list(result.notes),
        "reconciled": reconciled,
    }
