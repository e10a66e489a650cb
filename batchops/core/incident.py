"""The values alert works with: an incident, the marker kept in its issue, an issue's state, a planned action.

Pure data (see :mod:`batchops.core.alert` for the rules that make and use them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MARKER_PREFIX = "batchops:alert"
_MARKER = re.compile(r"<!-- batchops:alert (\{.*?\}) -->", re.S)

ACTIVE, RESOLVED, CLOSED, DUPLICATE = "active", "resolved", "closed", "duplicate"
STATUSES = (ACTIVE, RESOLVED, CLOSED, DUPLICATE)


@dataclass(frozen=True)
class Incident:
    key: str  # breaker/homebrew, budget/macos, pipeline/stopped, pipeline/quiet
    kind: str  # breaker, budget, pipeline, quiet
    subject: str  # the ecosystem, the platform, or "pipeline"
    title: str
    facts: tuple[tuple[str, str], ...]  # (label, value) for the issue body, as of the run
    milestones: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)  # milestone -> sentence for a comment


@dataclass(frozen=True)
class Marker:
    key: str
    status: str = ACTIVE
    milestones: Mapping[str, str] = field(default_factory=dict)
    opened_at: str = ""
    resolved_at: str = ""
    closed_at: str = ""
    closes_at: str = ""  # while resolved: when the issue closes unless the incident returns
    returns: int = 0  # times the incident came back while its issue was open (flapping)
    of: int = 0  # the issue a duplicate was closed in favour of

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key,
            "status": self.status,
            "milestones": dict(sorted(self.milestones.items())),
        }
        for name in ("opened_at", "resolved_at", "closed_at", "closes_at", "returns", "of"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data

    def render(self) -> str:
        text = json.dumps(self.to_json(), sort_keys=True, ensure_ascii=True, separators=(",", ":"))
        # never close the HTML comment early: "--" and ">" only occur inside strings, where escapes are valid
        return f"<!-- {MARKER_PREFIX} " + text.replace("--", "-\\u002d").replace(">", "\\u003e") + " -->"

    def status_line(self) -> str:
        flaps = f" (it came back {self.returns} time(s) while this issue was open)" if self.returns else ""
        if self.status == RESOLVED:
            closes = f"this issue closes at {self.closes_at} unless it returns"
            return f"**Status**: resolved since {self.resolved_at}; {closes}{flaps}."
        if self.status == CLOSED:
            return f"**Status**: closed at {self.closed_at}: the incident stayed resolved{flaps}."
        if self.status == DUPLICATE:
            return f"**Status**: a duplicate of #{self.of}."
        return f"**Status**: active since {self.opened_at or '-'}{flaps}."

    def block(self) -> str:
        """The status line and the marker, kept together at the end of the body."""
        return self.status_line() + "\n\n" + self.render()


def parse_marker(body: str | None) -> Marker | None:
    """The marker of an issue body; None when there is none or it was damaged."""
    match = _MARKER.search(body or "")
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("key"), str) or not data["key"]:
        return None
    status = data.get("status") if data.get("status") in STATUSES else ACTIVE
    raw = data.get("milestones")
    milestones = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}

    def number(name: str) -> int:
        value = data.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    def text(name: str) -> str:
        return str(data.get(name) or "")

    return Marker(
        data["key"],
        str(status),
        milestones,
        text("opened_at"),
        text("resolved_at"),
        text("closed_at"),
        text("closes_at"),
        number("returns"),
        number("of"),
    )


@dataclass(frozen=True)
class IssueState:
    """What the plan needs of an existing issue."""

    number: int
    open: bool
    marker: Marker
    url: str = ""


@dataclass(frozen=True)
class Action:
    kind: str  # open, comment, close, reopen, update (the body only), duplicate (close as duplicate)
    key: str
    number: int = 0  # 0 for open
    title: str = ""
    marker: Marker | None = None  # the issue's marker after the action
    body: str = ""  # the new body; empty: keep the body, put ``marker`` in place of the old one
    comment: str = ""
    summary: str = ""  # one line for logs and the replay
    incident: Incident | None = None
