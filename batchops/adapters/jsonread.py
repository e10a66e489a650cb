"""The strict JSON reader of batchops, and the line of a JSON pointer in a file's text.

:func:`parse_json_text` is the JSON reader of every file batchops reads (control file,
results, baselines, reports, spools, plans, journal lines via :func:`parse_json_line`,
the schemas themselves): duplicate keys, NaN/Infinity, numbers beyond 2**53 or longer
than 40 characters, nesting deeper than 64 and unpaired surrogates are refused with the
file, the line and the fix. :func:`line_index` maps each JSON pointer of a text to its line
(the schema errors of :mod:`batchops.adapters.schema` name it).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from batchops.errors import BatchopsError


def parse_json_text(text: str, name: str) -> Any:
    """Parse JSON text strictly, or raise one :class:`BatchopsError` naming the file, the place and the fix.

    Beyond the JSON grammar (RFC 8259), refused: duplicate keys (named, with their
    line), ``NaN``/``Infinity``/``-Infinity``, numbers whose magnitude exceeds
    :data:`MAX_SAFE_INTEGER` (2**53, the largest integer every JSON reader holds
    exactly; a float that overflows, ``1e400``, is one), number literals longer than
    :data:`MAX_NUMBER_CHARS` characters (refused before conversion), nesting deeper
    than :data:`MAX_DEPTH` levels (checked without recursion; no ``RecursionError``), and
    unpaired UTF-16 surrogate escapes (``"\\ud800"``, which no UTF-8 file can hold).
    """
    try:
        document = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as exc:
        raise BatchopsError(
            f"not valid JSON: {exc.msg} at column {exc.colno}",
            file=name,
            line=exc.lineno,
            hint="fix the JSON syntax (a trailing comma or a missing quote is the usual cause); "
            "`git diff` shows the last edit",
        ) from None
    except _Duplicate as exc:
        pointer, line = _find_duplicate(text, exc.key)
        raise BatchopsError(
            f"{pointer or '/'}: the key {exc.key!r} appears twice in one object",
            file=name,
            line=line,
            hint='keep one of them: JSON readers disagree on which one wins, e.g. {"enabled": false}',
        ) from None
    except _Refused as exc:
        line, column = _find_literal(text, exc.literal)
        scalar = _find_scalar(text, exc.literal)
        where = f" at column {column}" if column else ""
        field = f"{scalar or '/'}: " if scalar is not None else ""
        raise BatchopsError(f"{field}{exc.message}{where}", file=name, line=line, hint=exc.hint) from None
    except RecursionError:  # nested past the interpreter's limit: refused all the same
        _check_depth(text, name)
        raise BatchopsError(
            f"JSON nested deeper than {MAX_DEPTH} levels", file=name, hint="flatten the document"
        ) from None
    _check_depth(text, name, document, parsed=True)
    if _SURROGATE_ESCAPE.search(text):
        _check_surrogates(document, name)
    return document


def parse_json_line(line: str, name: str, number: int) -> Any:
    """One line of a JSONL file (journal, metrics store), parsed as strictly as a file."""
    try:
        return parse_json_text(line, name)
    except BatchopsError as exc:
        raise BatchopsError(
            f"line {number}: {exc.message}",
            file=name,
            line=number,
            hint=exc.hint or "remove the broken line",
        ) from None


# --- the strict reader's limits and hooks ----------------------------------------------

MAX_DEPTH = 64  # arrays/objects nested in each other; batchops' own files use at most 6
MAX_SAFE_INTEGER = 2**53  # 9007199254740992: the largest magnitude of any number accepted
MAX_NUMBER_CHARS = 40  # a number literal longer than this is refused before conversion

_NUMBER_HINT = "use a finite number between -9007199254740992 and 9007199254740992 (2**53), e.g. 12.5"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


class _Refused(Exception):
    def __init__(self, message: str, literal: str, hint: str = _NUMBER_HINT) -> None:
        self.message, self.literal, self.hint = message, literal, hint


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return document


def _shown(literal: str) -> str:
    return literal if len(literal) <= 24 else f"{literal[:12]}…{literal[-6:]} ({len(literal)} characters)"


def _integer(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _Refused(f"the number {_shown(literal)} is too long", literal)
    value = int(literal)
    if abs(value) > MAX_SAFE_INTEGER:
        raise _Refused(f"the number {_shown(literal)} is out of range", literal)
    return value


def _float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _Refused(f"the number {_shown(literal)} is too long", literal)
    value = float(literal)
    if not math.isfinite(value) or abs(value) > MAX_SAFE_INTEGER:
        raise _Refused(f"the number {_shown(literal)} is out of range", literal)
    return value


def _constant(literal: str) -> Any:
    raise _Refused(f"{literal} is not a JSON number", literal, "write a finite number such as 0.5 (or null)")


def _too_deep(document: Any) -> bool:
    """Does ``document`` nest arrays/objects deeper than MAX_DEPTH? (iterative: no recursion)"""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _check_depth(text: str, name: str, document: Any = None, *, parsed: bool = False) -> None:
    """Refuse nesting deeper than MAX_DEPTH, naming the line where it gets too deep."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    if parsed and not (isinstance(document, (dict, list)) and _too_deep(document)):
        return
    depth = 0
    for token in _TOKEN.finditer(text):
        char = token.group(0)
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                break
        elif char in "]}":
            depth -= 1
    else:
        token = None
    line = text.count("\n", 0, token.start()) + 1 if token is not None else None
    raise BatchopsError(
        f"JSON nested deeper than {MAX_DEPTH} levels",
        file=name,
        line=line,
        hint=f"batchops files nest a few levels; flatten the value (at most {MAX_DEPTH} levels of arrays and objects)",
    )


def _check_surrogates(document: Any, name: str) -> None:
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        value, pointer = stack.pop()
        if isinstance(value, str):
            texts = [value]
        elif isinstance(value, dict):
            texts = list(value)
            stack += [(v, f"{pointer}/{_escape_token(k)}") for k, v in value.items()]
        elif isinstance(value, list):
            texts = []
            stack += [(v, f"{pointer}/{i}") for i, v in enumerate(value)]
        else:
            continue
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise BatchopsError(
                    f"{pointer or '/'}: a string holds an unpaired surrogate escape (\\ud800-\\udfff)",
                    file=name,
                    hint="write the character itself (UTF-8) or a valid surrogate pair, e.g. \\ud83d\\ude00",
                ) from None


def _escape_token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _find_literal(text: str, literal: str) -> tuple[int | None, int | None]:
    """Line and column of the first ``literal`` outside strings (best effort)."""
    position = 0
    for token in re.finditer(r'"(?:[^"\\]|\\.)*"|' + re.escape(literal), text):
        if not token.group(0).startswith('"') or literal.startswith('"'):
            position = token.start()
            line = text.count("\n", 0, position) + 1
            return line, position - (text.rfind("\n", 0, position) + 1) + 1
    return None, None


def _find_scalar(text: str, literal: str) -> str | None:
    """JSON pointer of the first scalar written exactly as ``literal`` (None when not found)."""
    scanner = _Scanner(text, {}, literal=literal)
    try:
        scanner.value("")
    except (IndexError, ValueError, RecursionError):
        pass
    return scanner.found[0][0] if scanner.found else None


def _find_duplicate(text: str, key: str) -> tuple[str, int | None]:
    """JSON pointer and line of the second occurrence of a duplicate key."""
    found: list[tuple[str, int]] = []
    try:
        _Scanner(text, {}, duplicates=found).value("")
    except (IndexError, ValueError, RecursionError):
        pass
    for pointer, line in found:
        return pointer, line
    return "", None


# --- line numbers for JSON pointers -------------------------------------------------

_WS = " \t\r\n"


def line_index(text: str) -> dict[str, int]:
    """Map every JSON pointer in ``text`` to the line its value starts on (best effort)."""
    index: dict[str, int] = {}
    try:
        _Scanner(text, index).value("")
    except (IndexError, ValueError, RecursionError):
        pass
    return index


class _Scanner:
    def __init__(
        self,
        text: str,
        index: dict[str, int],
        duplicates: list[tuple[str, int]] | None = None,
        literal: str | None = None,
    ) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.index = index
        self.duplicates = duplicates  # collect the first duplicate key (pointer, line), then stop
        self.literal = literal  # find the first scalar written exactly so (pointer, line), then stop
        self.found: list[tuple[str, int]] = []

    def skip(self) -> None:
        text = self.text
        while self.pos < len(text) and text[self.pos] in _WS:
            if text[self.pos] == "\n":
                self.line += 1
            self.pos += 1

    def value(self, pointer: str) -> None:
        self.skip()
        self.index[pointer] = self.line
        char = self.text[self.pos]
        if char == "{":
            self.pos += 1
            self.skip()
            if self.text[self.pos] == "}":
                self.pos += 1
                return
            keys: set[str] = set()
            while True:
                self.skip()
                key_line = self.line
                key = self.string()
                child = pointer + "/" + key.replace("~", "~0").replace("/", "~1")
                if self.duplicates is not None and key in keys:
                    self.duplicates.append((child, key_line))
                    raise ValueError  # the first duplicate is all a reader needs
                keys.add(key)
                self.skip()
                if self.text[self.pos] != ":":
                    raise ValueError
                self.pos += 1
                self.value(child)
                self.skip()
                if self.text[self.pos] == ",":
                    self.pos += 1
                    continue
                if self.text[self.pos] == "}":
                    self.pos += 1
                    return
                raise ValueError
        if char == "[":
            self.pos += 1
            self.skip()
            if self.text[self.pos] == "]":
                self.pos += 1
                return
            item = 0
            while True:
                self.value(f"{pointer}/{item}")
                item += 1
                self.skip()
                if self.text[self.pos] == ",":
                    self.pos += 1
                    continue
                if self.text[self.pos] == "]":
                    self.pos += 1
                    return
                raise ValueError
        if char == '"':
            self.string()
            return
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _WS + ",]}":
            self.pos += 1
        if self.pos == start:
            raise ValueError
        if self.literal is not None and self.text[start : self.pos] == self.literal:
            self.found.append((pointer, self.line))
            raise ValueError  # found: stop scanning

    def string(self) -> str:
        if self.text[self.pos] != '"':
            raise ValueError
        decoder = json.JSONDecoder()
        value, end = decoder.raw_decode(self.text, self.pos)
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end
        return value
