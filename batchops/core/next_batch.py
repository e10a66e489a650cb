"""What the next batch of an ecosystem meets, as the one sentence ``batchops status`` and the status page print.

Pure: the answer comes from :func:`batchops.core.control.next_batch`; this only words it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from batchops.core import control, timeutil

VERDICTS = {"runs": "runs", "probe": "runs as the probe", "skipped": "skipped"}


def verdict_text(answer: dict[str, Any], now: datetime) -> str:
    """``runs``, ``runs as the probe`` or ``skipped until T (in D)``."""
    text = VERDICTS[answer["verdict"]]
    until = timeutil.parse_iso_or_none(answer.get("until"))
    if answer["verdict"] == "skipped" and until is not None:
        text += f" until {answer['until']}" + (f" (in {timeutil.format_duration(until - now)})" if until > now else "")
    return text


def sentence(document: dict[str, Any], ecosystem: str, now: datetime) -> tuple[str, str]:
    """(the verdict as ``status`` words it, why) for ``ecosystem``'s next batch at ``now``."""
    answer = control.next_batch(document, ecosystem, now)
    return verdict_text(answer, now), str(answer.get("why") or "")
