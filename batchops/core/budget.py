"""The weekly CI-minutes budget: window, rollover, sampling, per-platform pause, sampler.

Pure rules (no I/O, no clock: every function takes the time). The commands are
``batchops budget`` and ``batchops sample`` (:mod:`batchops.commands.budget`).

Semantics (DESIGN.md "Budget"):

* The week runs from ``budget.week_start`` for 7 days. ``week_start`` is a
  timestamp or a date (``2026-12-01``, as the legacy runbook's weekly reset
  writes it: the week starts 00:00 UTC that day); batchops writes back the
  form it found. An empty ``week_start`` means the Monday 00:00 UTC of the
  current week. When the week is over, the
  window moves on by whole weeks (a Monday anchor stays on Mondays), the
  totals of the week that ended go to ``budget.history`` (last
  ``history_weeks`` weeks, default 4) and the usage starts again at 0.
* Per platform (``macos``, ``linux``) a fraction ``used / limit`` (default
  limits 1000 and 5000 minutes). Below ``sampling_percent`` (80) everything
  runs; from ``pause_percent`` (95) that platform is paused; in between it is
  sampled at the rate of :func:`platform_rate`.
* Sample rate of one platform, with S = sampling, P = pause, f = used/limit::

      f <  S        1.0
      S <= f < P    floor + (1 - floor) * (P - f) / (P - S), rounded down to 2
                    decimals and at most 0.99 (so sampling really is on from S)
      f >= P        0 (paused)

  ``floor`` is ``sample_rate_floor`` (default 0.1). The batch's ``sample-rate``
  is the lowest rate of the platforms that are not paused (0 when every
  platform is paused); ``sampling-active`` is ``sample-rate < 1``.
* ``budget.sampling_active`` is the operator's flag (the runbook's "enable
  sampling", or ``batchops budget sample --on``): while it is true every
  platform that is not paused runs at most at ``FORCED_SAMPLE_RATE`` (0.5; a
  lower usage rate stays lower). batchops never sets it from usage; it is
  cleared by ``budget sample --off``, by hand, or when the week rolls over.
* The sampler keeps a candidate iff ``sha256(seed + "\\n" + name) / 2**256 < rate``:
  the same batch id chooses the same names on every re-run, and a higher rate
  chooses a superset.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from batchops.core import timeutil
from batchops.errors import ControlFileError, UsageError

PLATFORMS = ("macos", "linux")
LABELS = {"macos": "macOS", "linux": "Linux"}
WEEK = timedelta(days=7)

DEFAULT_LIMITS = {"macos": 1000.0, "linux": 5000.0}
DEFAULT_SAMPLING_PERCENT = 80.0
DEFAULT_PAUSE_PERCENT = 95.0
DEFAULT_SAMPLE_RATE_FLOOR = 0.1
DEFAULT_HISTORY_WEEKS = 4
MAX_SAMPLING_RATE = 0.99
FORCED_SAMPLE_RATE = 0.5  # the rate while an operator forces sampling (budget.sampling_active: true)


# --- configuration --------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetConfig:
    """Limits and thresholds, from the control file's ``budget`` object or the defaults."""

    limits: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    sampling_percent: float = DEFAULT_SAMPLING_PERCENT
    pause_percent: float = DEFAULT_PAUSE_PERCENT
    sample_rate_floor: float = DEFAULT_SAMPLE_RATE_FLOOR
    history_weeks: int = DEFAULT_HISTORY_WEEKS

    @classmethod
    def from_budget(cls, budget: dict[str, Any]) -> BudgetConfig:
        return cls(
            limits={p: float(budget.get(f"{p}_minutes_limit", DEFAULT_LIMITS[p])) for p in PLATFORMS},
            sampling_percent=float(budget.get("sampling_percent", DEFAULT_SAMPLING_PERCENT)),
            pause_percent=float(budget.get("pause_percent", DEFAULT_PAUSE_PERCENT)),
            sample_rate_floor=float(budget.get("sample_rate_floor", DEFAULT_SAMPLE_RATE_FLOOR)),
            history_weeks=int(budget.get("history_weeks", DEFAULT_HISTORY_WEEKS)),
        )


def budget_of(document: dict[str, Any]) -> dict[str, Any]:
    """The ``budget`` object of a control file (an empty dict when it has none)."""
    value = document.get("budget")
    return value if isinstance(value, dict) else {}


# --- the week window ------------------------------------------------------------------


def monday_of(at: datetime) -> datetime:
    """Monday 00:00 UTC of the week that contains ``at``."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def is_date(text: Any) -> bool:
    """``2026-12-01`` (a date, as the runbook's reset writes it) rather than a timestamp."""
    return isinstance(text, str) and len(text.strip()) == 10 and text.strip()[4:5] == "-" and "T" not in text


def week_start(budget: dict[str, Any], at: datetime) -> datetime:
    """Start of the recorded week; the Monday of ``at``'s week when ``week_start`` is empty.

    A date means 00:00 UTC that day.
    """
    raw = budget.get("week_start", "") or ""
    if not raw:
        return monday_of(at)
    try:
        return timeutil.parse_iso(raw, field="budget.week_start")
    except UsageError:
        raise ControlFileError(
            f"{raw!r} is not a date or an ISO 8601 time",
            field="budget.week_start",
            hint='use 2026-11-30 or 2026-11-30T00:00:00Z, or "" for the Monday of the current week',
        ) from None


def format_week_start(start: datetime, like: Any) -> str:
    """``start`` written in the form of ``like``: a date stays a date, anything else is a timestamp."""
    return f"{start:%Y-%m-%d}" if is_date(like) else timeutil.iso(start)


def billed_minutes(value: float) -> int:
    """One job's minutes as GitHub bills them: whole minutes, rounded up (2.25 -> 3).

    Rounded to 6 decimals first, so a sum such as 0.1 + 0.2 minutes is not billed a minute more.
    """
    return max(0, math.ceil(round(float(value), 6)))


def _number(value: float) -> int:
    """Minutes as stored: whole minutes, rounded up (the first user's generator decodes an ``int``;
    a file written with fractions is read as it is and written back whole)."""
    return billed_minutes(value)


def _display(value: float) -> int | float:
    """Minutes as shown: 2 decimals, whole numbers as integers."""
    value = round(float(value), 2)
    return int(value) if value == int(value) else value


def _used(budget: dict[str, Any], platform: str) -> float:
    return float(budget.get(f"{platform}_minutes_used", 0) or 0)


def roll_over(budget: dict[str, Any], at: datetime, config: BudgetConfig | None = None) -> dict[str, Any] | None:
    """Move ``budget`` (in place) to the week that contains ``at`` when its week is over.

    An empty ``week_start`` is pinned to the Monday of ``at`` (the usage so far
    counts for that week). Returns the history entry of the week that ended,
    or None when no week ended.
    """
    config = config or BudgetConfig.from_budget(budget)
    start = week_start(budget, at)
    form = budget.get("week_start")
    if not form:
        budget["week_start"] = timeutil.iso(start)
        return None
    if at < start + WEEK:
        return None
    weeks = (at - start) // WEEK
    ended: dict[str, Any] = {"week_start": format_week_start(start, form)}
    for platform in PLATFORMS:
        ended[f"{platform}_minutes_used"] = _number(_used(budget, platform))
        budget[f"{platform}_minutes_used"] = 0
    _push_history(budget, ended, config)
    budget["week_start"] = format_week_start(start + weeks * WEEK, form)
    budget["sampling_active"] = False  # the operator's forced sampling ends with the week
    return ended


def _push_history(budget: dict[str, Any], entry: dict[str, Any], config: BudgetConfig) -> None:
    history = [h for h in budget.get("history", []) if isinstance(h, dict)] + [entry]
    budget["history"] = history[-config.history_weeks :] if config.history_weeks > 0 else []


# --- gauges and rates -----------------------------------------------------------------


def platform_state(used: float, limit: float, config: BudgetConfig) -> str:
    """``ok``, ``sampling`` or ``paused`` (exact comparisons: 95.0% of the limit pauses)."""
    if used * 100 >= config.pause_percent * limit:
        return "paused"
    if used * 100 >= config.sampling_percent * limit:
        return "sampling"
    return "ok"


def platform_rate(used: float, limit: float, config: BudgetConfig) -> float:
    """The sample rate of one platform (see the module docstring for the formula)."""
    state = platform_state(used, limit, config)
    if state == "ok":
        return 1.0
    if state == "paused":
        return 0.0
    fraction = used / limit
    low, high = config.sampling_percent / 100, config.pause_percent / 100
    floor = config.sample_rate_floor
    linear = floor + (1 - floor) * (high - fraction) / (high - low)
    rate = int(linear * 100 + 1e-9) / 100
    return max(floor, min(MAX_SAMPLING_RATE, rate))


@dataclass(frozen=True)
class Gauge:
    platform: str
    used: float
    limit: float
    state: str
    rate: float

    @property
    def fraction(self) -> float:
        return self.used / self.limit if self.limit > 0 else 1.0

    @property
    def percent(self) -> str:
        return f"{self.fraction * 100:.1f}%"


@dataclass(frozen=True)
class BudgetView:
    """What the budget says at ``now`` (a due rollover applied, not written)."""

    now: datetime
    week_start: datetime
    gauges: list[Gauge]
    history: list[dict[str, Any]]
    rollover_due: dict[str, Any] | None
    config: BudgetConfig
    forced: bool = False  # an operator forces sampling (budget.sampling_active: true)

    @property
    def week_end(self) -> datetime:
        return self.week_start + WEEK

    @property
    def days_left(self) -> float:
        return max(0.0, (self.week_end - self.now).total_seconds() / 86400)

    @property
    def paused_platforms(self) -> list[str]:
        return [g.platform for g in self.gauges if g.state == "paused"]

    @property
    def usage_rate(self) -> float:
        """The rate the usage alone gives (what it would be without the operator's flag)."""
        running = [g.rate for g in self.gauges if g.state != "paused"]
        return min(running) if running else 0.0

    @property
    def sample_rate(self) -> float:
        rate = self.usage_rate
        return min(rate, FORCED_SAMPLE_RATE) if self.forced else rate

    @property
    def sampling_active(self) -> bool:
        return self.sample_rate < 1.0


def view(document: dict[str, Any], now: datetime) -> BudgetView:
    """The budget at ``now``. Pure: the document is not changed."""
    budget = copy.deepcopy(budget_of(document))
    config = BudgetConfig.from_budget(budget)
    ended = roll_over(budget, now, config)
    gauges = []
    for platform in PLATFORMS:
        used, limit = _used(budget, platform), config.limits[platform]
        gauges.append(
            Gauge(platform, used, limit, platform_state(used, limit, config), platform_rate(used, limit, config))
        )
    forced = budget.get("sampling_active") is True
    return BudgetView(now, week_start(budget, now), gauges, list(budget.get("history", [])), ended, config, forced)


def format_rate(rate: float) -> str:
    """``1.0``, ``0.55``, ``0.0``: the preflight output form."""
    text = f"{rate:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def format_minutes(value: float) -> str:
    return f"{_display(value):,}"


def preflight_outputs(view_: BudgetView) -> dict[str, Any]:
    return {
        "sampling-active": view_.sampling_active,
        "sample-rate": format_rate(view_.sample_rate),
        "paused-platforms": view_.paused_platforms,
    }


# --- operations -----------------------------------------------------------------------


def _minutes_arg(args: dict[str, Any], platform: str) -> float:
    value = args.get(platform, 0) or 0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != value:
        raise UsageError(
            f"{value!r} is not a number of minutes >= 0", field=f"{platform}-minutes", hint="use a number such as 12.5"
        )
    return float(value)


def add_minutes(document: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Add this job's minutes to the week of ``args["at"]``, rolling the week over when due.

    Re-applied on another job's document it adds on top of what is there, so
    concurrent jobs add up exactly once. Minutes of a time before the current
    week (a job that ran before another job rolled the week over) go to that
    week's history entry when it is still kept, else to the current week.
    """
    at = timeutil.parse_iso(args["at"], field="at")
    minutes = {p: billed_minutes(_minutes_arg(args, p)) for p in PLATFORMS}  # each job's, rounded up
    budget = document.setdefault("budget", {})
    if not isinstance(budget, dict):
        raise ControlFileError("must be an object", field="budget", hint='write "budget": {}')
    config = BudgetConfig.from_budget(budget)
    ended = roll_over(budget, at, config)
    target = budget
    if at < week_start(budget, at):
        for entry in budget.get("history", []):
            start = timeutil.parse_iso_or_none(entry.get("week_start"))
            if start is not None and start <= at < start + WEEK and not entry.get("reset_at"):
                target = entry
                break
    for platform in PLATFORMS:
        key = f"{platform}_minutes_used"
        target[key] = _number(float(target.get(key, 0) or 0) + minutes[platform])
    result = view(document, at)
    return {
        "rolled_over": ended is not None,
        "week_start": budget["week_start"],
        "macos_minutes_used": budget.get("macos_minutes_used", 0),
        "linux_minutes_used": budget.get("linux_minutes_used", 0),
        "sample_rate": result.sample_rate,
        "paused_platforms": result.paused_platforms,
    }


def reset(document: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Operator reset: the week's usage of the given platforms goes to history, then to 0.

    The week window stays (rolled over first when due). Re-applied on another
    base it resets what is there at that time: a reset is a decision "from now on".
    """
    at = timeutil.parse_iso(args["at"], field="at")
    platforms = list(args.get("platforms") or PLATFORMS)
    budget = document.setdefault("budget", {})
    config = BudgetConfig.from_budget(budget)
    roll_over(budget, at, config)
    entry: dict[str, Any] = {"week_start": budget["week_start"], "reset_at": timeutil.iso(at)}
    before = {}
    for platform in platforms:
        key = f"{platform}_minutes_used"
        before[platform] = _number(_used(budget, platform))
        entry[key] = before[platform]
        budget[key] = 0
    if any(before.values()):
        _push_history(budget, entry, config)
    return {"before": before, "week_start": budget["week_start"]}


def set_sampling(document: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Operator: force sampling on (``on: true``) or clear the flag (``on: false``) for this week.

    The week is rolled over first when due (so ``--on`` applies to the week it
    is given in). Re-applied on another base it sets the flag there: a decision
    "from now on".
    """
    at = timeutil.parse_iso(args["at"], field="at")
    on = args.get("on")
    if not isinstance(on, bool):
        raise UsageError(f"{on!r} is not true or false", field="on", hint="use budget sample --on or --off")
    budget = document.setdefault("budget", {})
    if not isinstance(budget, dict):
        raise ControlFileError("must be an object", field="budget", hint='write "budget": {}')
    roll_over(budget, at, BudgetConfig.from_budget(budget))
    before = budget.get("sampling_active") is True
    budget["sampling_active"] = on
    result = view(document, at)
    return {"before": before, "on": on, "sample_rate": result.sample_rate, "week_start": budget["week_start"]}


# --- the sampler ----------------------------------------------------------------------


def keeps(seed: str, name: str, rate: float) -> bool:
    """Whether the sampler keeps ``name`` for the batch ``seed`` at ``rate``."""
    if rate >= 1:
        return True
    if rate <= 0:
        return False
    import hashlib  # imported here: only the sampler needs it, not every step that reads the budget

    digest = hashlib.sha256(f"{seed}\n{name}".encode()).digest()
    return int.from_bytes(digest, "big") < rate * (1 << 256)


def sample(names: list[str], rate: float, seed: str) -> list[str]:
    """The chosen subset of ``names``, in input order, each name once."""
    chosen: list[str] = []
    seen: set[str] = set()
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        if keeps(seed, name, rate):
            chosen.append(name)
    return chosen


def status_json(view_: BudgetView) -> dict[str, Any]:
    return {
        "week_start": timeutil.iso(view_.week_start),
        "week_end": timeutil.iso(view_.week_end),
        "days_left": round(view_.days_left, 2),
        "sample_rate": view_.sample_rate,
        "sampling_active": view_.sampling_active,
        "sampling_forced": view_.forced,
        "paused_platforms": view_.paused_platforms,
        "rollover_due": view_.rollover_due is not None,
        "platforms": {
            g.platform: {
                "used": _display(g.used),
                "limit": _display(g.limit),
                "percent": round(g.fraction * 100, 1),
                "state": g.state,
                "rate": g.rate,
            }
            for g in view_.gauges
        },
        "history": view_.history,
    }
