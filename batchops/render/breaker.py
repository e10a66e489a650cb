"""Reports of the circuit breakers: the table of every ecosystem's breaker, and Mermaid transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from batchops.core import timeutil
from batchops.core.breaker import (
    CLOSED,
    DEFAULT_CONFIG,
    HALF_OPEN,
    OPEN,
    Breaker,
    Transition,
    config_for,
    ecosystems,
)
from batchops.errors import ControlFileError
from batchops.render import markdown

_ICONS = {CLOSED: "🟢 closed", OPEN: "🔴 open", HALF_OPEN: "🟡 half-open"}


def table_rows(document: dict[str, Any], now: datetime) -> list[list[Any]]:
    """One row per ecosystem: state, failure rate bar, attempts, opens-at."""

    rows = []
    for name in ecosystems(document):
        try:
            config = config_for(document, name)
        except ControlFileError:
            config = DEFAULT_CONFIG
        breaker = Breaker.from_entry(document["circuit_breaker"][name], config)
        window = breaker.window
        rate = f"{markdown.bar(window.failure_rate)} {window.failure_rate:.0%}"
        if breaker.state == OPEN:
            opens = breaker.opens_at or "(not set: next gate probes)"
            at = breaker.opens_at_time()
            if at is not None:
                opens += " (wait over)" if now >= at else f" (in {timeutil.format_duration(at - now)})"
        elif breaker.state == HALF_OPEN:
            opens = f"probe out since {breaker.probe_started_at}" if breaker.probe_out(now, config) else "probe may run"
        else:
            opens = "-"
        rows.append(
            [name, _ICONS[breaker.state], rate, f"{window.attempts}/{config.window_size}", breaker.failures, opens]
        )
    return rows


TABLE_HEADERS = ["ecosystem", "state", "failure rate (window)", "attempts", "consecutive failures", "opens at"]


def mermaid(transitions: list[Transition] | tuple[Transition, ...]) -> str:
    """A Mermaid stateDiagram-v2 block drawing the transitions that just happened."""
    if not transitions:
        return ""

    def node(state: str) -> str:
        return state.replace("-", "_")

    lines = ["```mermaid", "stateDiagram-v2"]
    if any(HALF_OPEN in (t.source, t.target) for t in transitions):
        lines.append(f'    state "{HALF_OPEN}" as {node(HALF_OPEN)}')
    for move in transitions:
        label = f"{move.name} ({move.detail})" if move.detail else move.name
        label = label.replace(">=", "≥").replace(";", ",")
        label = "".join(ch for ch in label if ch.isalnum() or ch in " ()%,._-≥")
        lines.append(f"    {node(move.source)} --> {node(move.target)}: {label}")
    lines.append("```")
    return "\n".join(lines) + "\n"


def breakers_table(document: dict[str, Any], now: datetime) -> str:
    rows = table_rows(document, now)
    if not rows:
        return "No breaker has recorded anything yet.\n"
    return markdown.md_table(TABLE_HEADERS, rows)


def step_report(
    title: str, lines: list[str], document: dict[str, Any], now: datetime, transitions: list[Transition]
) -> str:
    """The step summary of breaker-gate and breaker-update."""
    text = f"### {title}\n\n" + "".join(f"{line}\n" for line in lines)
    if transitions:
        text += "\n" + mermaid(transitions)
    text += "\n#### Circuit breakers\n\n" + breakers_table(document, now)
    return text
