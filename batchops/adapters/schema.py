"""JSON Schema validation (draft 2020-12) with errors that name file, pointer, line and fix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from batchops.errors import BatchopsError

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

# Which schema a file is checked against when `batchops validate` is given a path.
BY_FILENAME = {
    "batch-control.json": "batch-control",
    "checksum-baseline.json": "drift-baseline",
}


@dataclass(frozen=True)
class Problem:
    file: str
    pointer: str
    line: int | None
    message: str
    hint: str

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        pointer = self.pointer or "/"
        return f"{where}: {pointer}: {self.message} (fix: {self.hint})"


@cache
def _load(name: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{name}.schema.json"
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@cache
def _validator(name: str) -> Any:
    """batchops' own checker when the schema only uses keywords it knows, else jsonschema."""
    from batchops.adapters import runner
    from batchops.adapters.fastschema import Checker, supports

    if runner.setting("BATCHOPS_FULL_JSONSCHEMA") != "1":
        documents = [_load(p.name.removesuffix(".schema.json")) for p in SCHEMA_DIR.glob("*.schema.json")]
        if all(supports(document) for document in documents):
            return Checker(_load(name), _load)
    return _jsonschema_validator(name)


@cache
def _jsonschema_validator(name: str) -> Any:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    resources = []
    for path in SCHEMA_DIR.glob("*.schema.json"):
        schema = _load(path.name.removesuffix(".schema.json"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry = Registry().with_resources(resources)
    return Draft202012Validator(_load(name), registry=registry)


def schema_names() -> list[str]:
    return sorted(p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json"))


def required_fields(name: str) -> list[str]:
    """Top-level required fields of a schema (used to recognise a file by its content)."""
    return list(_load(name).get("required", []))


def _pointer(path: Any) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _hint(error: Any) -> str:
    validator = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    described = schema.get("description", "")
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "the field"
        return f"add the field {missing!r}"
    if validator == "enum":
        return "use one of " + ", ".join(json.dumps(v) for v in error.validator_value)
    if validator == "type":
        return f"make it a JSON {error.validator_value}"
    if validator == "pattern":
        return described or f"match the pattern {error.validator_value}"
    if validator in ("anyOf", "oneOf") and described:
        return described
    if validator == "uniqueItems":
        return "remove the duplicate entries"
    if validator in ("minimum", "exclusiveMinimum"):
        return f"use a value >= {error.validator_value}"
    if validator in ("maximum", "exclusiveMaximum"):
        return f"use a value <= {error.validator_value}"
    if validator == "additionalProperties":
        return "remove the unknown field or check its spelling"
    if validator == "propertyNames":
        return "use lowercase ecosystem names (letters, digits, '.', '_', '-')"
    return described or "see the schema under schemas/"


def problems(document: Any, schema: str, *, file: str, text: str | None = None) -> list[Problem]:
    """Every schema violation in ``document``, sorted by position."""
    errors = sorted(_validator(schema).iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    lines = line_index(text) if text is not None else {}
    found = []
    for err in errors:
        pointer = _pointer(err.absolute_path)
        message = err.message
        if len(message) > 200:
            message = message[:197] + "..."
        found.append(Problem(file, pointer, lines.get(pointer), message, _hint(err)))
    return found


def validate(document: Any, schema: str, *, file: str, text: str | None = None) -> None:
    """Raise a BatchopsError naming the first violation (and how many more)."""
    found = problems(document, schema, file=file, text=text)
    if not found:
        return
    first = found[0]
    more = f" (and {len(found) - 1} more problem(s); run `batchops validate {file}`)" if len(found) > 1 else ""
    raise BatchopsError(
        f"{first.pointer or '/'}: {first.message}{more}",
        hint=first.hint,
        file=file,
        line=first.line,
    )


def load_json(path: Path | str, schema: str | None = None, *, label: str | None = None) -> Any:
    """Read, parse and (optionally) validate a JSON file, with user-facing errors."""
    name = label or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BatchopsError("file not found", file=name, hint="check the path, or create the file") from None
    except IsADirectoryError:
        raise BatchopsError("is a directory, not a file", file=name, hint="point at a JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchopsError(f"cannot read: {exc.__class__.__name__}", file=name, hint="check permissions and that it is UTF-8 text") from None
    document = parse_json_text(text, name)
    if schema:
        validate(document, schema, file=name, text=text)
    return document


def parse_json_text(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BatchopsError(
            f"not valid JSON: {exc.msg} at column {exc.colno}",
            file=name,
            line=exc.lineno,
            hint="fix the JSON syntax (a trailing comma or a missing quote is the usual cause); `git diff` shows the last edit",
        ) from None
    except RecursionError:
        raise BatchopsError("JSON nested too deeply", file=name, hint="flatten the document") from None


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
    def __init__(self, text: str, index: dict[str, int]) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.index = index

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
            while True:
                self.skip()
                key = self.string()
                self.skip()
                if self.text[self.pos] != ":":
                    raise ValueError
                self.pos += 1
                self.value(pointer + "/" + key.replace("~", "~0").replace("/", "~1"))
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

    def string(self) -> str:
        if self.text[self.pos] != '"':
            raise ValueError
        decoder = json.JSONDecoder()
        value, end = decoder.raw_decode(self.text, self.pos)
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end
        return value
