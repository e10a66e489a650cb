"""The control file's other readers and writers: what batchops writes stays readable by them (pure).

The first user's batch generator decodes ``batch-control.json`` into a fixed Go struct
(``failures``, ``macos_minutes_used``, ``linux_minutes_used`` are ``int``; ``opens_at`` is parsed as
``2006-01-02T15:04:05Z``) and rewrites it with that struct when it moves a breaker to half-open,
dropping every field it does not know and writing ``null`` for a list, a map or the budget the file
did not have. A value it cannot decode makes it ignore the whole file and treat every breaker as
closed. Its dashboard and the legacy ``jq`` scripts read the same fields.

So every control-file operation leaves the document in the form they all read
(:func:`for_readers`, applied by :func:`batchops.core.operations.apply`):

* minutes used are whole numbers (GitHub bills each job in whole minutes, rounded up): a file
  written with fractions is read as it is and written back whole, rounded up;
* counters (``failures``, ``consecutive_opens``) are integers;
* timestamps batchops keeps are in the generator's layout ``2006-01-02T15:04:05Z`` (a date stays
  a date where a date is allowed: ``budget.week_start``);
* no legacy field is ``null``: a ``null`` the generator wrote is read as the field's default
  (:func:`readable`) and written back as that default.
"""

from __future__ import annotations

import math
from typing import Any

from batchops.core import timeutil

# The top-level fields the generator's struct writes as null when the file did not have them,
# with the value batchops reads (and writes) instead.
NULLABLE_DEFAULTS: dict[str, Any] = {"disabled_ecosystems": [], "circuit_breaker": {}, "budget": {}}
TEXT_FIELDS = ("reason", "incident_url", "disabled_by", "disabled_at", "expected_resume")
BREAKER_TIMES = ("last_failure", "opens_at", "opened_at", "probe_started_at")
BREAKER_COUNTERS = ("failures", "consecutive_opens")
MINUTES = ("macos_minutes_used", "linux_minutes_used")
LAYOUT = "2006-01-02T15:04:05Z"  # the generator's time layout (Go reference time), what timeutil.iso writes


def readable(document: Any) -> Any:
    """``document`` (in place) with the ``null`` legacy fields the generator may write at their defaults."""
    if not isinstance(document, dict):
        return document
    for key, default in NULLABLE_DEFAULTS.items():
        if key in document and document[key] is None:
            document[key] = type(default)()
    for key in TEXT_FIELDS:
        if key in document and document[key] is None:
            document[key] = ""
    budget = document.get("budget")
    if isinstance(budget, dict):
        if budget.get("week_start", "") is None:
            budget["week_start"] = ""
        if budget.get("sampling_active", False) is None:
            budget["sampling_active"] = False
    return document


def whole_minutes(value: Any) -> Any:
    """Minutes as the generator decodes them: a whole number, rounded up (anything else as it is)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value != value
        or value in (math.inf, -math.inf)
    ):
        return value
    return max(0, math.ceil(round(float(value), 6)))


def canonical_time(value: Any) -> Any:
    """A timestamp in the generator's layout; a date, an empty or an unreadable value as it is."""
    if not isinstance(value, str) or not value.strip() or "T" not in value:
        return value
    parsed = timeutil.parse_iso_or_none(value)
    return timeutil.iso(parsed) if parsed is not None else value


def _breaker_entry(entry: dict[str, Any]) -> None:
    for key in BREAKER_COUNTERS:
        value = entry.get(key)
        if isinstance(value, float) and value == value and value not in (math.inf, -math.inf):
            entry[key] = int(value)
    for key in BREAKER_TIMES:
        if key in entry:
            entry[key] = "" if entry[key] is None else canonical_time(entry[key])


def _budget(budget: dict[str, Any]) -> None:
    for key in MINUTES:
        if key in budget:
            budget[key] = whole_minutes(budget[key])
    if "week_start" in budget:
        budget["week_start"] = canonical_time(budget["week_start"])
    for week in budget.get("history") or []:
        if not isinstance(week, dict):
            continue
        for key in MINUTES:
            if key in week:
                week[key] = whole_minutes(week[key])
        for key in ("week_start", "reset_at"):
            if key in week:
                week[key] = canonical_time(week[key])


def for_readers(document: Any) -> Any:
    """``document`` (in place) in the form the generator, the dashboard and the jq scripts read."""
    if not isinstance(document, dict):
        return document
    readable(document)
    if "disabled_at" in document:
        document["disabled_at"] = canonical_time(document["disabled_at"])
    breakers = document.get("circuit_breaker")
    if isinstance(breakers, dict):
        for entry in breakers.values():
            if isinstance(entry, dict):
                _breaker_entry(entry)
    budget = document.get("budget")
    if isinstance(budget, dict):
        _budget(budget)
    return document
