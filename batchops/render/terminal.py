"""Plain-terminal forms: tables sized to the terminal, text as it is (no HTML escapes, no Markdown).

Markdown (``render/markdown.py``) is for step summaries only; what an operator reads at a
terminal comes from here. Every cell is printed on one line with control characters
escaped (untrusted text from the control file cannot move the cursor or fake a line), and
a table wider than the terminal wraps its widest columns instead of overflowing.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

from batchops.core.escape import one_line, value_text

MIN_COLUMN = 8


def width(default: int = 100) -> int:
    """Columns of the terminal (``COLUMNS`` when set, as for any terminal program)."""
    import shutil  # imported here: the hot-path steps never size a terminal

    return max(40, shutil.get_terminal_size((default, 24)).columns)


def cell(value: Any) -> str:
    return one_line(value_text(value))


def _fit(
    widths: list[int], limit: int, gap: int, wrap: Sequence[int] | None = None, words: Sequence[int] | None = None
) -> list[int]:
    """Shrink the widest columns until the row fits in ``limit`` characters: first the
    columns allowed to wrap (``wrap``, default all), then the others. Each round first
    keeps every column at least as wide as its longest word (``words``), so a name or an
    address wraps between words, and only then cuts words."""
    widths = list(widths)
    floors = [max(MIN_COLUMN, w) for w in (words or [0] * len(widths))]
    for allowed in ([i for i in (wrap or []) if 0 <= i < len(widths)], list(range(len(widths)))):
        for floor in (floors, [MIN_COLUMN] * len(widths)):
            while sum(widths) + gap * (len(widths) - 1) > limit:
                above = [i for i in allowed if widths[i] > floor[i]]
                if not above:
                    break
                widest = max(above, key=lambda i: widths[i])
                widths[widest] -= 1
    return widths


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    columns: int | None = None,
    indent: str = "",
    wrap: Sequence[int] | None = None,
) -> str:
    """An aligned table: header, a rule, one row per line. When it is wider than the terminal,
    the ``wrap`` columns (indices; default any) wrap within their width first."""
    texts = [[cell(value) for value in row] for row in rows]
    heads = [cell(h) for h in headers]
    natural = [max([len(heads[i])] + [len(row[i]) for row in texts]) for i in range(len(heads))]
    limit = (columns or width()) - len(indent)
    longest = [max([len(word) for row in texts for word in row[i].split()] or [0]) for i in range(len(heads))]
    widths = _fit(natural, limit, 2, wrap, longest)
    out: list[str] = []

    def emit(values: list[str]) -> None:
        wrapped = [
            textwrap.wrap(v, widths[i], break_long_words=True, break_on_hyphens=False) or [""]
            for i, v in enumerate(values)
        ]
        for line in range(max(len(w) for w in wrapped)):
            parts = [(w[line] if line < len(w) else "").ljust(widths[i]) for i, w in enumerate(wrapped)]
            out.append((indent + "  ".join(parts)).rstrip())

    emit(heads)
    out.append(indent + "  ".join("-" * w for w in widths))
    for row in texts:
        emit(row)
    return "\n".join(out) + "\n"


def pairs(rows: Iterable[Sequence[Any]], *, indent: str = "") -> str:
    """``label  value`` lines, labels aligned."""
    items = [(cell(label), cell(value)) for label, value in rows]
    if not items:
        return ""
    pad = max(len(label) for label, _ in items)
    return "".join(f"{indent}{label.ljust(pad)}  {value}".rstrip() + "\n" for label, value in items)


def heading(text: str) -> str:
    return f"{one_line(text)}\n"
