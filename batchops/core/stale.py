"""A pipeline gone quiet: the two staleness incidents of alert.

While the pipeline is enabled (a stopped pipeline is its own incident, ``pipeline/stopped``):

* ``pipeline/quiet``: no batch has run within ``stale-after`` (a run leaves a control-file commit);
* ``pipeline/not-shipping``: no batch has shipped recipes within ``stale-after``.

The times come from the repository (:class:`Activity`, read by the engine); a time that is
unknown (no history) raises no incident: batchops says nothing it cannot back. Pure: the
time is an argument.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from batchops.core import timeutil
from batchops.core.escape import one_line
from batchops.core.incident import Incident

QUIET = "pipeline/quiet"
NOT_SHIPPING = "pipeline/not-shipping"
DEFAULT_STALE_AFTER = timedelta(hours=48)


@dataclass(frozen=True)
class Activity:
    """When a batch last ran and last shipped, and where that was read."""

    last_run: datetime | None = None
    last_shipped: datetime | None = None
    run_source: str = ""  # e.g. "3f2a9c1d0e4b batch-control.json"
    shipped_source: str = ""  # e.g. the landing's subject


@dataclass(frozen=True)
class Timeline:
    """Every known batch run and shipment, in time order, to ask "as of when?" (the replay)."""

    runs: Sequence[tuple[datetime, str]] = ()
    shipped: Sequence[tuple[datetime, str]] = ()

    def at(self, moment: datetime) -> Activity:
        run = _latest(self.runs, moment)
        ship = _latest(self.shipped, moment)
        return Activity(
            run[0] if run else None, ship[0] if ship else None, run[1] if run else "", ship[1] if ship else ""
        )


def _latest(items: Sequence[tuple[datetime, str]], moment: datetime) -> tuple[datetime, str] | None:
    index = bisect.bisect_right([at for at, _ in items], moment)
    return items[index - 1] if index else None


def parse_stale_after(text: Any) -> timedelta | None:
    """``stale-after``: a duration (``48h``, ``7d``); empty, ``off`` or ``0`` turns the check off (None)."""
    value = str(text or "").strip()
    if value.lower() in ("", "off"):
        return None
    duration = timeutil.parse_duration(value, field="stale-after")
    return duration if duration > timedelta(0) else None


def _incident(key: str, what: str, last: datetime, source: str, now: datetime, stale_after: timedelta) -> Incident:
    since = timeutil.iso(last)
    age = timeutil.format_duration(timedelta(seconds=max(0, int((now - last).total_seconds()))))
    facts = (
        (f"last batch {what}", since),
        ("quiet for", age),
        ("stale after", timeutil.format_duration(stale_after)),
        ("seen in", one_line(source) or "-"),
    )
    title = f"Batch pipeline quiet: no batch {what} since {since}"
    return Incident(key, "quiet", "pipeline", title, facts, {"since": since}, {"since": f"last batch {what}: {since}"})


def incidents(
    document: dict[str, Any], now: datetime, activity: Activity, stale_after: timedelta | None
) -> list[Incident]:
    """The staleness incidents at ``now`` (none while the pipeline is stopped or the check is off)."""
    if stale_after is None or document.get("enabled", True) is False:
        return []
    found = []
    if activity.last_run is not None and now - activity.last_run > stale_after:
        found.append(_incident(QUIET, "has run", activity.last_run, activity.run_source, now, stale_after))
    if activity.last_shipped is not None and now - activity.last_shipped > stale_after:
        found.append(
            _incident(
                NOT_SHIPPING, "has shipped recipes", activity.last_shipped, activity.shipped_source, now, stale_after
            )
        )
    return found
