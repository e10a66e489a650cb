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

The window is count based (the last ``window_size`` attempts, oldest first).
``failures`` keeps its legacy meaning (consecutive failures since the last
success) and ``opens_at`` keeps its name and meaning (when the wait ends).

Configuration: ``BreakerConfig`` defaults, overridden by the control file's
top-level ``breaker_config`` object, then by ``breaker_config.ecosystems.<name>``.

Operations (``@operation``), re-applied by persist-with-retry on the remote copy:

* ``breaker.gate`` ``{ecosystem, at}``: the gate decision computed on the
  document it is given. Re-applied where another job already took the probe,
  it changes nothing and returns ``skip: true`` (it never raises
  OperationConflict: the job already ran and its ``breaker.record`` must land).
* ``breaker.record`` ``{ecosystem, outcomes, at}``: adds the outcomes to the
  window of the document it is given (on top of whatever other jobs added).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from batchops.core import timeutil
from batchops.errors import ControlFileError, UsageError

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
STATES = (CLOSED, OPEN, HALF_OPEN)
SUCCESS, FAILURE = "success", "failure"
OUTCOMES = (SUCCESS, FAILURE)

# The legacy file's template entry: never read as an ecosystem, never written.
TEMPLATE_KEY = "default"
CONFIG_KEY = "breaker_config"

# name -> (states it may start from, state it ends in). No entry goes open -> closed.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "trip": (frozenset({CLOSED}), OPEN),
    "grant-probe": (frozenset({OPEN}), HALF_OPEN),
    "regrant-probe": (frozenset({HALF_OPEN}), HALF_OPEN),
    "close": (frozenset({HALF_OPEN}), CLOSED),
    "reopen": (frozenset({HALF_OPEN}), OPEN),
}


# --- configuration ------------------------------------------------------------------


@dataclass(frozen=True)
class BreakerConfig:
    """Named defaults; every one can be overridden in the control file."""

    window_size: int = 10  # attempts kept in the sliding window
    failure_rate_threshold: float = 0.5  # trip at a failure rate >= this
    minimum_attempts: int = 5  # never trip with fewer attempts in the window
    wait: timedelta = timedelta(minutes=60)  # first wait in open
    max_wait: timedelta = timedelta(hours=24)  # cap of the doubling wait
    probe_timeout: timedelta = timedelta(hours=6)  # a probe with no result after this is lost

    def wait_for(self, consecutive_opens: int) -> timedelta:
        """The wait after the n-th consecutive open: wait * 2**(n-1), at most max_wait."""
        base = int(self.wait.total_seconds())
        cap = int(self.max_wait.total_seconds())
        doublings = max(0, consecutive_opens - 1)
        seconds = cap if doublings >= 62 else min(base << doublings, cap)
        return timedelta(seconds=max(0, seconds))

    def check(self, where: str = CONFIG_KEY) -> BreakerConfig:
        if self.window_size < 1:
            raise ControlFileError("window_size must be at least 1", field=where, hint="use a window of 10 attempts")
        if self.minimum_attempts < 1:
            raise ControlFileError("minimum_attempts must be at least 1", field=where, hint="use 5")
        if self.minimum_attempts > self.window_size:
            raise ControlFileError(
                f"minimum_attempts ({self.minimum_attempts}) is larger than window_size ({self.window_size}): the breaker could never trip",
                field=where,
                hint=f"set minimum_attempts <= {self.window_size} or raise window_size",
            )
        if not 0 < self.failure_rate_threshold <= 1:
            raise ControlFileError("failure_rate_threshold must be in (0, 1]", field=where, hint="use 0.5 for 50%")
        return self

    def as_json(self) -> dict[str, Any]:
        return {
            "window_size": self.window_size,
            "failure_rate_threshold": self.failure_rate_threshold,
            "minimum_attempts": self.minimum_attempts,
            "wait": timeutil.format_duration(self.wait),
            "max_wait": timeutil.format_duration(self.max_wait),
            "probe_timeout": timeutil.format_duration(self.probe_timeout),
        }


DEFAULT_CONFIG = BreakerConfig()
_DURATIONS = ("wait", "max_wait", "probe_timeout")
_NUMBERS = ("window_size", "failure_rate_threshold", "minimum_attempts")


def _override(config: BreakerConfig, settings: dict[str, Any], where: str) -> BreakerConfig:
    changes: dict[str, Any] = {}
    for key in _NUMBERS:
        if key in settings:
            changes[key] = settings[key]
    for key in _DURATIONS:
        if key in settings:
            changes[key] = timeutil.parse_duration(settings[key], field=f"{where}.{key}")
    return replace(config, **changes) if changes else config


def config_for(document: dict[str, Any], ecosystem: str | None = None) -> BreakerConfig:
    """Defaults, then ``breaker_config``, then ``breaker_config.ecosystems.<ecosystem>``."""
    settings = document.get(CONFIG_KEY) or {}
    config = _override(DEFAULT_CONFIG, settings, CONFIG_KEY)
    where = CONFIG_KEY
    if ecosystem is not None:
        specific = (settings.get("ecosystems") or {}).get(ecosystem)
        if specific:
            where = f"{CONFIG_KEY}.ecosystems.{ecosystem}"
            config = _override(config, specific, where)
    return config.check(where)


# --- the sliding window -------------------------------------------------------------


@dataclass
class Window:
    """The last ``size`` outcomes, oldest first."""

    size: int
    outcomes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.outcomes = [o for o in self.outcomes if o in OUTCOMES][-self.size :]

    def add(self, outcome: str) -> None:
        if outcome not in OUTCOMES:
            raise UsageError(f"{outcome!r} is not an outcome", field="outcome", hint="use success or failure")
        self.outcomes.append(outcome)
        del self.outcomes[: -self.size]

    def clear(self) -> None:
        self.outcomes.clear()

    @property
    def attempts(self) -> int:
        return len(self.outcomes)

    @property
    def failures(self) -> int:
        return self.outcomes.count(FAILURE)

    @property
    def failure_rate(self) -> float:
        return self.failures / self.attempts if self.outcomes else 0.0

    def should_trip(self, config: BreakerConfig) -> bool:
        return self.attempts >= config.minimum_attempts and self.failure_rate >= config.failure_rate_threshold


# --- the state of one ecosystem -----------------------------------------------------


@dataclass
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
        return cls(
            state=state,
            failures=int(entry.get("failures", 0) or 0),
            last_failure=entry.get("last_failure", "") or "",
            opens_at=entry.get("opens_at", "") or "",
            window=Window(config.window_size, list(entry.get("window", []) or [])),
            consecutive_opens=int(opens),
            probe_started_at=entry.get("probe_started_at", "") or "",
            opened_at=entry.get("opened_at", "") or "",
        )

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


@dataclass(frozen=True)
class Transition:
    name: str
    source: str
    target: str
    at: str
    detail: str = ""

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "from": self.source, "to": self.target, "at": self.at, "detail": self.detail}


@dataclass(frozen=True)
class GateDecision:
    skip: bool
    state: str
    opens_at: str
    reason: str
    transition: Transition | None = None

    def outputs(self) -> dict[str, Any]:
        return {"skip": self.skip, "state": self.state, "opens-at": self.opens_at if self.state == OPEN else ""}


@dataclass(frozen=True)
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
        detail = f"{detail}; waits {timeutil.format_duration(wait)}" if detail else f"waits {timeutil.format_duration(wait)}"
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
        return after, GateDecision(False, HALF_OPEN, after.opens_at, f"half-open: this batch is the probe ({why})", move)
    # half-open
    if after.probe_out(now, config):
        return after, GateDecision(True, HALF_OPEN, after.opens_at, f"half-open: a probe is already running (since {after.probe_started_at})")
    why = f"the probe granted at {after.probe_started_at} never reported" if after.probe_started_at else "no probe was out"
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
                detail = f"{window.failures} of {window.attempts} failed ({window.failure_rate:.0%} >= {config.failure_rate_threshold:.0%})"
                moves.append(_enter(after, "trip", at, config, detail))
            elif previous == OPEN and outcome == SUCCESS and "success-while-open" not in notes:
                notes.append("success-while-open")
    return after, RecordResult(previous, after.state, after.window.failure_rate, after.window.attempts, tuple(moves), tuple(notes))


# --- the control file ---------------------------------------------------------------


def check_ecosystem(name: str) -> str:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", name or ""):
        raise UsageError(
            f"{name!r} is not an ecosystem name" if name else "is empty",
            field="ecosystem",
            hint="give the lowercase ecosystem name, e.g. ecosystem: homebrew",
        )
    if name == TEMPLATE_KEY:
        raise UsageError(
            "'default' is the legacy template entry of circuit_breaker, not an ecosystem",
            field="ecosystem",
            hint="give the real ecosystem name, e.g. homebrew",
        )
    return name


def load(document: dict[str, Any], ecosystem: str) -> tuple[Breaker, BreakerConfig]:
    config = config_for(document, ecosystem)
    entry = (document.get("circuit_breaker") or {}).get(ecosystem)
    return Breaker.from_entry(entry, config), config


def store(document: dict[str, Any], ecosystem: str, breaker: Breaker) -> None:
    table = document.setdefault("circuit_breaker", {})
    breaker.write(table.setdefault(ecosystem, {}))


def ecosystems(document: dict[str, Any]) -> list[str]:
    return [name for name in (document.get("circuit_breaker") or {}) if name != TEMPLATE_KEY]


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
    after, result = record(before, list(args["outcomes"]), timeutil.parse_iso(args["at"], field="at"), config)
    if args["outcomes"]:
        store(document, ecosystem, after)
    return {
        **result.outputs(),
        "attempts": result.attempts,
        "transitions": [t.as_json() for t in result.transitions],
        "notes": list(result.notes),
    }
