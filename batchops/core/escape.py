"""How untrusted text is printed: the pure rules behind every line batchops writes.

``batchops.adapters.runner`` is the only writer to the runner and sends every line
through these functions; they are pure (text in, text out) so they can be tested
deeply. The rules:

* :func:`one_line`: line breaks and control characters (C0 including tab, DEL, C1
  including U+0085, U+2028, U+2029, the bidi overrides/isolates and U+FEFF) become
  ``\\n``, ``\\r``, ``\\t``, ``\\xNN`` or ``\\uNNNN``: a value can never start a new line.
  :func:`short_line` is that, stripped and clipped (a tool's words); :func:`flatten` collapses
  blanks and unprintable characters to single spaces and clips (what a server said).
* :func:`defuse`: a line the runner would read as a workflow command (``::name`` after
  leading blanks, the runner trims them; or the legacy ``##[name`` anywhere) gets one
  character written as a ``\\u00NN`` escape (a valid JSON escape, so printed JSON stays JSON).
* :func:`redact`: the credentials of every URL (``scheme://user:secret@host``) become ``***``.
* :func:`output_line_value`: a step output printed as ``name=value`` (no ``$GITHUB_OUTPUT``):
  URL credentials redacted, backslashes doubled, so :func:`parse_output_line_value` gives the exact value back.
* :func:`safe_markdown`: step-summary Markdown without raw HTML (``<`` is ``&lt;`` outside
  fenced blocks, code spans included, except the few tags batchops writes itself), control characters escaped,
  credentials redacted.
"""

from __future__ import annotations

import json
import re
from typing import Any

_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_COMMAND_START = re.compile(r"^(\s*):")
LEGACY_COMMAND = "##["
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"


def one_line(value: Any) -> str:
    """Any value (text, or as :func:`value_text` writes it) as one printable line: line breaks and
    control characters escaped, nothing else changed. For what is printed as it is: a reason, a name, a path."""
    return _BREAKING.sub(_escape_char, value if isinstance(value, str) else value_text(value))


def clip(line: str, limit: int) -> str:
    """``line`` cut to ``limit`` characters, with an ellipsis when cut."""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def short_line(text: str, limit: int = 300) -> str:
    """Untrusted text (a tool's words, such as git's) as one escaped line, stripped, at most ``limit`` characters."""
    return clip(one_line(text).strip(), limit)


def flatten(text: str, limit: int) -> str:
    """A reply or a reason from outside as one short line: every run of blanks or unprintable characters is one
    space (nothing escaped: for what a server or an API said, where the exact bytes do not matter)."""
    return clip(" ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split()), limit)


def is_command(line: str) -> bool:
    """Would the runner read this line as a workflow command?"""
    return line.lstrip().startswith("::") or LEGACY_COMMAND in line


def defuse(line: str) -> str:
    """One line that the runner will not read as a workflow command (``::x::`` or ``##[x]``)."""
    if LEGACY_COMMAND in line:
        line = line.replace(LEGACY_COMMAND, "#\\u0023[")
    if line.lstrip().startswith("::"):
        line = _COMMAND_START.sub(r"\1\\u003a", line, count=1)
    return line


def redact(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced: ``https://***@host/…``."""
    return _URL_CREDENTIALS.sub(r"\1***@", text) if "@" in text else text


def safe_line(text: str) -> str:
    """What every printed line goes through: one line, credentials redacted, no workflow command."""
    return defuse(redact(one_line(text)))


def safe_lines(text: str) -> list[str]:
    """A multi-line block as safe lines (split on ``\\n`` only; a ``\\r\\n`` ending counts as one)."""
    return [safe_line(line.removesuffix("\r")) for line in text.split("\n")]


def output_line_value(text: str) -> str:
    """A value as printed in a ``name=value`` line: reversible backslash escapes, one line, no command.

    Printed, so URL credentials are redacted first (the value round-trips but for them).
    """
    return defuse(one_line(redact(text).replace("\\", "\\\\")))


_UNESCAPE = re.compile(r"\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4})")


def parse_output_line_value(text: str) -> str:
    """The inverse of :func:`output_line_value`."""

    def back(match: re.Match[str]) -> str:
        code = match.group(1)
        return {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}.get(code) or chr(int(code[1:], 16))

    return _UNESCAPE.sub(back, text)


# --- step-summary Markdown ---------------------------------------------------------------

# Raw HTML batchops itself writes in summaries (no attributes); every other `<` is text.
_ALLOWED_TAGS = re.compile(r"<(/?(?:details|summary|br|b|code|sub|sup)\s*/?)>", re.IGNORECASE)
# A fence is trusted only where CommonMark surely opens one at the top level: at column 0,
# at the start or after a blank line (so not inside a list item or an HTML block), and for
# backticks with no backtick after the fence. It closes exactly where CommonMark closes it.
_FENCE_OPEN = re.compile(r"^(`{3,})[^`]*$|^(~{3,})")
_SUMMARY_BREAKING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_HOLE = re.compile("\x00([0-9]+)\x00")


def _no_html(text: str) -> str:
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    text = _ALLOWED_TAGS.sub(keep, text).replace("<", "&lt;")
    return _HOLE.sub(lambda m: kept[int(m.group(1))], text) if kept else text


def _closes(line: str, fence: str) -> bool:
    return re.fullmatch(" {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + ",}[ \t]*", line) is not None


def safe_markdown(markdown: str) -> str:
    """Summary Markdown with control characters escaped, no raw HTML outside fences, no credentials.

    ``<`` becomes ``&lt;`` everywhere but inside a fenced block (code spans included: a
    code span can start on an earlier line or be undone by a backslash or a longer
    backtick run, so only a fence is trusted). A fence left open is closed, so text
    appended later cannot be read as inside or outside it the other way round.
    """
    text = _SUMMARY_BREAKING.sub(_escape_char, redact(markdown.replace("\r\n", "\n")))
    lines = []
    fence = ""
    blank_before = True
    for line in text.split("\n"):
        if fence:
            if _closes(line, fence):
                fence = ""
            lines.append(line)
        elif blank_before and (opened := _FENCE_OPEN.match(line)):
            fence = opened.group(1) or opened.group(2)
            lines.append(line)
        else:
            lines.append(_no_html(line))
        blank_before = not fence and line.strip(" \t") == ""
    if fence:
        lines.append(fence[0] * len(fence))
    return "\n".join(lines)


def mermaid_label(text: str, limit: int = 80) -> str:
    """Text safe inside a quoted Mermaid label or title: one line, no quotes, brackets or HTML."""
    value = one_line(text)
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        value = value.replace(char, code)
    value = re.sub(r"[\[\]{}()|;`]", "_", value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def value_text(value: Any) -> str:
    """A value as an output or a table cell writes it: booleans as true/false, None as empty, lists compact JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
