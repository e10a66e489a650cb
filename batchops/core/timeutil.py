"""ISO 8601 and duration parsing and formatting (pure: the clock is in adapters.runner)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from batchops.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "": 1}


def parse_iso(text: str, *, field: str = "timestamp", file: str | None = None) -> datetime:
    """Parse an ISO 8601 timestamp; naive values are taken as UTC."""
    raw = (text or "").strip()
    if not raw:
        raise UsageError("is empty", field=field, file=file, hint="give an ISO 8601 time such as 2026-06-26T20:51:01Z")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{raw!r} is not an ISO 8601 time",
            field=field,
            file=file,
            hint="use the form 2026-06-26T20:51:01Z",
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_iso_or_none(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_iso(text)
    except UsageError:
        return None


def iso(value: datetime) -> str:
    """Format as the control file does: 2026-06-26T20:51:01Z (seconds precision)."""
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str, *, field: str = "duration") -> timedelta:
    """Parse '90m', '24h', '7d', '2w', '30s', '0' (bare numbers are seconds)."""
    match = _DURATION.match(str(text))
    if not match:
        raise UsageError(
            f"{text!r} is not a duration",
            field=field,
            hint="write a number and a unit: 30m, 24h, 7d, 2w, or 0",
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0m"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = []
    if days:
        parts.append(f"{days}d")
    if hours:
        parts.append(f"{hours}h")
    if minutes or not parts:
        parts.append(f"{minutes}m")
    return " ".join(parts)
