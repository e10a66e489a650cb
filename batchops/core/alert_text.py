"""Alert's texts: the issue body, its comments and the chat message; untrusted text made inert.

Pure functions of the values in :mod:`batchops.core.incident`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from batchops.core import timeutil
from batchops.core.escape import one_line
from batchops.core.incident import Action, Incident, Marker

_BLOCK = re.compile(r"(?:\*\*Status\*\*:[^\n]*\n\n)?<!-- batchops:alert \{.*?\} -->", re.S)

RUNBOOK = "docs/operators.md of batchops"
_RUNBOOK_SECTIONS = {
    "breaker": "“1. Success-rate drop” and “Other situations → Breaker controls”",
    "budget": "“4. Budget alert”",
    "pipeline": "“2. Emergency stop”",
    "quiet": "“1. Success-rate drop” (no batch ships) and the workflow runs of the batch pipeline (no batch runs)",
}

MILESTONE_TEXT = {
    "wait": "wait before the next probe",
    "probe": "operator's probe",
    "disabled": "ecosystem disabled",
    "limit": "weekly limit",
    "reason": "reason",
    "incident_url": "incident link",
    "expected_resume": "expected resume",
}


def fmt_age(delta: timedelta) -> str:
    return timeutil.format_duration(timedelta(seconds=max(0, int(delta.total_seconds()))))


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def md_text(value: Any) -> str:
    """Untrusted text inside a Markdown paragraph: one line, no markup, no HTML."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(str(value)))


def _code(value: str) -> str:
    return "`" + one_line(value).replace("`", "'") + "`"


def commands_for(incident: Incident) -> list[tuple[str, str]]:
    """(command, what it does) for the issue body: the console commands of the runbook."""
    name = incident.subject
    if incident.kind == "breaker":
        return [
            ("batchops status", f"what the next batch of {name} meets, local and remote"),
            (
                f'batchops breaker probe {name} --reason "…" --push',
                "upstream is fixed: the next batch is the probe (a pass closes the breaker)",
            ),
            (
                f'batchops breaker reset {name} --reason "…" --push',
                "close it at once (window and counters cleared; audited)",
            ),
            (
                f'batchops breaker open {name} --reason "…" --wait 24h --push',
                "keep it open longer while upstream is down",
            ),
            (f"batchops disable {name} --push", "upstream is gone for good: stop batches of this ecosystem"),
        ]
    if incident.kind == "budget":
        return [
            ("batchops budget status", "the gauges, the sample rate and the previous weeks"),
            (
                f"batchops budget reset --platform {name} --push",
                "start this week's count again (kept in history; audited)",
            ),
            ("batchops budget sample --on --push", "sample every running platform for the rest of the week"),
            ("batchops status", "what the next batch meets"),
        ]
    if incident.kind == "quiet":
        return [
            ("batchops status", "what the next batch of each ecosystem meets: open breakers, a disabled ecosystem"),
            ("batchops slo", "the success rate per ecosystem: are the batches failing?"),
            ("batchops log", "the last operations on the control file and who made them"),
            ("batchops status-page --out status-page", "the breaker timelines, the budget and what shipped, as a page"),
        ]
    return [
        ("batchops status", "why it is stopped and what the next batch meets once resumed"),
        ("batchops resume --push", "the cause is fixed: batches run again"),
        ("batchops log", "who stopped it and when"),
    ]


def issue_body(incident: Incident, marker: Marker, at: str, run_url: str = "") -> str:
    lines = [
        f"**{md_text(incident.title)}**: reported by batchops alert (as of {at}).",
        "",
        "| | |",
        "|---|---|",
    ]
    for label, value in incident.facts:
        lines.append(f"| {md_text(label)} | {md_text(value)} |")
    lines += ["", "### What to do", ""]
    for command, what in commands_for(incident):
        lines.append(f"- {_code(command)}: {what}")
    lines += [
        "",
        f"Procedure: {RUNBOOK}, {_RUNBOOK_SECTIONS[incident.kind]}.",
        "",
        "This issue is managed by batchops alert: a comment when something meaningful changes (the wait doubled, "
        "an operator acted); a breaker that flaps keeps this one issue (the status below counts the returns); "
        "closed once the incident has stayed resolved for `resolve-after`, reopened if it returns soon after.",
    ]
    if run_url:
        lines += ["", f"Run: {run_url}"]
    lines += ["", marker.block(), ""]
    return "\n".join(lines)


def with_marker(body: str | None, marker: Marker) -> str:
    """``body`` with its status line and marker replaced by ``marker``'s (appended when it has none)."""
    text = body or ""
    if _BLOCK.search(text):
        return _BLOCK.sub(lambda _m: marker.block(), text, count=1)
    return text.rstrip("\n") + "\n\n" + marker.block() + "\n"


def change_comment(incident: Incident, changed: Sequence[str], at: str) -> str:
    lines = [f"**Update** ({at}):", ""]
    for name in changed:
        lines.append(f"- {md_text(incident.notes.get(name, MILESTONE_TEXT.get(name, name)))}")
    if "wait" in changed and incident.kind == "breaker":
        lines += ["", "A probe failed and the breaker re-opened with a longer wait."]
    return "\n".join(lines)


def reopen_comment(incident: Incident, at: str, why: str) -> str:
    return f"**Reopened** ({at}): {md_text(incident.title)}; {why}. The body shows the current state."


def close_comment(key: str, at: str, stable: timedelta) -> str:
    return (
        f"**Closed** ({at}): `{key}` stayed resolved for {fmt_age(stable)}. A recurrence soon after reopens this issue."
    )


def duplicate_comment(older: int) -> str:
    return f"Duplicate of #{older} (two alert runs opened the same incident at once); closing this one."


def slack_escape(text: str) -> str:
    """Text for Slack's ``text`` field: ``&``, ``<`` and ``>`` escaped (no ``<!channel>`` pings, no links), one line."""
    return one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_text(action: Action, url: str = "") -> str:
    """The Slack-compatible ``text`` of a webhook message for an opened or closed incident."""
    link = f" {slack_escape(url)}" if url else ""
    if action.kind in ("open", "reopen"):
        title = action.incident.title if action.incident else action.key
        verb = "opened" if action.kind == "open" else "reopened"
        return f"batchops incident {verb}: {slack_escape(title)}{link}"
    return f"batchops incident closed: {slack_escape(action.key)} stayed resolved{link}"
