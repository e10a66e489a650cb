"""Markdown for step summaries: escaped table cells, tables, text gauges."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from batchops.core.escape import value_text


def md_escape(text: Any) -> str:
    """Make a value safe inside a Markdown table cell."""
    value = value_text(text)
    return (
        value.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("\r", " ")
        .replace("\n", " ")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(md_escape(cell) for cell in row) + " |")
    return "\n".join(lines) + "\n"


def bar(fraction: float, width: int = 10) -> str:
    """A text gauge: ``███████░░░``."""
    fraction = max(0.0, min(1.0, fraction))
    filled = round(fraction * width)
    return "█" * filled + "░" * (width - filled)
