"""Validating batchops' JSON files: the schemas, one schema engine, errors with the fix.

Reading is :mod:`batchops.adapters.jsonread` (the strict reader: :func:`parse_json_text`,
:func:`parse_json_line`, :data:`MAX_SAFE_INTEGER`, :func:`line_index`, re-exported here for
the callers that read and validate through this module). Validation (draft 2020-12, ECMA-262 patterns) is done by
:mod:`batchops.adapters.fastschema` (why: ``benchmarks/schema.py``), with errors that
name file, pointer, line and fix.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

from batchops.adapters.jsonread import (  # noqa: F401 - re-exported: read and validate through one module
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    MAX_SAFE_INTEGER,
    line_index,
    parse_json_line,
    parse_json_text,
)
from batchops.core.values import valueclass
from batchops.errors import BatchopsError

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

# Which schema a file is checked against when `batchops validate` is given a path.
BY_FILENAME = {
    "batch-control.json": "batch-control",
    "checksum-baseline.json": "drift-baseline",
}


@valueclass(frozen=True)
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
        return parse_json_text(handle.read(), str(path))


@cache
def _validator(name: str) -> Any:
    """batchops' own checker when the schema only uses keywords it knows, else jsonschema."""
    from batchops.adapters import runner
    from batchops.adapters.fastschema import Checker, supports

    if runner.setting("BATCHOPS_FULL_JSONSCHEMA") != "1":
        if all(supports(document) for document in _with_references(name)):
            return Checker(_load(name), _load)
    return _jsonschema_validator(name)


def _with_references(name: str) -> list[dict[str, Any]]:
    """The schema ``name`` and every schema file it refers to (``"$ref": "other.schema.json#…"``), transitively."""
    found: dict[str, dict[str, Any]] = {}
    pending = [name]
    while pending:
        current = pending.pop()
        if current in found:
            continue
        found[current] = _load(current)
        stack: list[Any] = [found[current]]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                target = node.get("$ref")
                if isinstance(target, str) and ".schema.json" in target.split("#", 1)[0]:
                    pending.append(target.split("#", 1)[0].rsplit("/", 1)[-1].removesuffix(".schema.json"))
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return list(found.values())


@cache
def _jsonschema_validator(name: str) -> Any:
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError
    from referencing import Registry, Resource

    from batchops.adapters.fastschema import ecma_pattern, is_json_number

    def pattern(validator: Any, expected: str, instance: Any, schema: Any) -> Any:
        # ECMA-262 semantics, as fastschema: `$` is the end of the text, not "before a final newline"
        if validator.is_type(instance, "string") and not re.search(ecma_pattern(expected), instance):
            yield ValidationError(f"{instance!r} does not match {expected!r}")

    base = Draft202012Validator.TYPE_CHECKER
    checker = base.redefine_many(
        {
            "number": lambda c, v: is_json_number(v) and base.is_type(v, "number"),
            "integer": lambda c, v: is_json_number(v) and base.is_type(v, "integer"),
        }
    )
    strict = validators.extend(Draft202012Validator, {"pattern": pattern}, type_checker=checker)
    resources = []
    for path in SCHEMA_DIR.glob("*.schema.json"):
        schema = _load(path.name.removesuffix(".schema.json"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry = Registry().with_resources(resources)
    return strict(_load(name), registry=registry)


def warm_in_background(name: str) -> None:
    """Make the checker of ``name`` on a thread now, while the caller waits for something else
    (a rollback for its history walk): the check at the end then finds it made."""
    import threading

    threading.Thread(target=_validator, args=(name,), name=f"batchops-schema-{name}", daemon=True).start()


def schema_names() -> list[str]:
    return sorted(p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json"))


def required_fields(name: str) -> list[str]:
    """Top-level required fields of a schema (used to recognise a file by its content)."""
    return list(_load(name).get("required", []))


def _pointer(path: Any) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _examples(schema: dict[str, Any]) -> str:
    """``use 2026-11-30 or 2026-11-30T00:00:00Z`` from the schema's ``examples`` (empty when it has none)."""
    values = [v for v in schema.get("examples", []) if v is not None]
    if not values:
        return ""
    shown = [json.dumps(v) if v == "" or not isinstance(v, str) else v for v in values]
    return "use " + (", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else shown[0])


# example strings offered for a pattern without ``examples``; only one the pattern matches is shown
_PATTERN_CANDIDATES = (
    "homebrew",
    "control.disable",
    "linux/x86_64",
    "https://example.com/tool-1.0.tar.gz",
    "2026-06-26",
    "0123456789abcdef01234567",
    "0123456789abcdef0123456789abcdef01234567",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "90m",
    "a",
)
_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "a string",
    "object": "an object",
    "array": "an array",
}


def _resolve(schema: Any) -> dict[str, Any]:
    """``schema`` with a reference into defs.schema.json followed (other references are left as they are)."""
    if (
        isinstance(schema, dict)
        and isinstance(schema.get("$ref"), str)
        and schema["$ref"].startswith("defs.schema.json#/$defs/")
    ):
        found = _load("defs").get("$defs", {}).get(schema["$ref"].rsplit("/", 1)[1])
        if isinstance(found, dict):
            return {**found, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema if isinstance(schema, dict) else {}


def _pattern_example(pattern: str) -> str | None:
    from batchops.adapters.fastschema import ecma_pattern

    try:
        compiled = re.compile(ecma_pattern(pattern))
    except (re.error, ValueError, TypeError):
        return None
    return next((text for text in _PATTERN_CANDIDATES if compiled.search(text)), None)


def _in_range(schema: dict[str, Any], integer: bool) -> int | float:
    """A number ``schema``'s bounds allow (10 when they allow it)."""
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value: int | float = 10
    if (
        isinstance(low, (int, float))
        and not isinstance(low, bool)
        and value < low + ("exclusiveMinimum" in schema and "minimum" not in schema)
    ):
        value = low if "minimum" in schema else (math.floor(low) + 1 if integer else low + 1)
    if (
        isinstance(high, (int, float))
        and not isinstance(high, bool)
        and (value > high or (value == high and "maximum" not in schema))
    ):
        value = high if "maximum" in schema else (math.ceil(high) - 1 if integer else high - 0.5)
        if isinstance(low, (int, float)) and not isinstance(low, bool) and value < low:
            value = low
    if integer or (isinstance(value, float) and value.is_integer()):
        value = int(value)
    return value


def _example(schema: Any, depth: int = 0) -> Any:
    """A value valid against ``schema`` as far as its examples, enum, const, pattern, bounds and type tell;
    None: unknown."""
    schema = _resolve(schema)
    if depth > 4:
        return None
    values = [v for v in schema.get("examples", []) if v is not None]
    if values:
        return values[0]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for alternative in schema.get("anyOf", schema.get("oneOf", [])):
        found = _example(alternative, depth + 1)
        if found is not None:
            return found
    kinds = schema.get("type")
    kind = kinds[0] if isinstance(kinds, list) and kinds else kinds
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return _in_range(schema, kind == "integer")
    if kind == "string":
        if isinstance(schema.get("pattern"), str):
            return _pattern_example(schema["pattern"])
        low, high = int(schema.get("minLength", 0) or 0), schema.get("maxLength")
        if isinstance(high, int) and high < 4:
            return "x" * min(low, high) if low else ""
        return "text" if low <= 4 else "x" * low
    if kind == "array":
        item = _example(schema.get("items", {}), depth + 1)
        if item is None:
            return []
        second = _resolve(schema.get("items", {})).get("examples", [])
        return [item, second[1]] if len(second) > 1 and second[1] != item else [item]
    if kind == "object":
        return {}
    if kind == "null":
        return None
    return None


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _type_fix(schema: dict[str, Any], wanted: Any) -> str:
    """``use true or false``, ``use a number such as 10``, ``use ["homebrew", "crates.io"]``, ..."""
    kinds = wanted if isinstance(wanted, list) else [wanted]
    parts: list[str] = []
    for kind in kinds:
        if kind == "boolean":
            parts.append("true or false")
        elif kind == "null":
            parts.append("null")
        else:
            example = _example({**schema, "type": kind})
            if kind == "array" and example:
                parts.append(_json(example))
            elif example is not None and kind in _TYPE_WORDS:
                parts.append(f"{_TYPE_WORDS[kind]} such as {_json(example)}")
            else:
                parts.append(_TYPE_WORDS.get(str(kind), f"a JSON {kind}"))
    return "use " + " or ".join(parts)


def _hint(error: Any) -> str:
    """The fix of one violation: always an action with an example value, never the schema's description."""
    validator = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    examples = _examples(schema)
    value = error.validator_value
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "the field"
        example = _example(schema.get("properties", {}).get(missing, {}))
        shown = (
            f", e.g. {_json(missing)}: {_json(example)}"
            if example is not None or _resolve(schema.get("properties", {}).get(missing, {})).get("type") == "null"
            else ""
        )
        return f"add the field {missing!r}{shown}"
    if validator == "enum":
        return "use one of " + ", ".join(_json(v) for v in value)
    if validator == "const":
        return f"use {_json(value)}"
    if validator == "type":
        if schema.get("enum"):
            return "use one of " + ", ".join(_json(v) for v in schema["enum"])
        return examples or _type_fix(schema, value)
    if validator == "pattern":
        example = _pattern_example(str(value))
        return examples or (f"use a value such as {example}" if example else f"match the pattern {value}")
    if validator in ("anyOf", "oneOf"):
        if examples:
            return examples
        found = [_example(sub) for sub in value if isinstance(sub, dict)]
        forms = [_json(v) for v in found if v is not None]
        return (
            "use " + " or ".join(dict.fromkeys(forms))
            if forms
            else "use a value of one of the allowed forms (see the schema under schemas/)"
        )
    if validator == "uniqueItems":
        example = _example(schema)
        return "remove the duplicate entries (each value once)" + (f", e.g. {_json(example)}" if example else "")
    if validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[validator]
        integer = schema.get("type") == "integer"
        return f"use a value {sign} {value}, such as {_json(_in_range(schema, integer))}"
    if validator == "minLength":
        return f"use at least {value} character(s), e.g. {_json(_example(schema) or 'x' * int(value))}"
    if validator == "maxLength":
        example = _example(schema)
        if not isinstance(example, str) or len(example) > int(value):
            example = "x" * min(int(value), 8)
        return f"shorten it to at most {value} character(s), e.g. {_json(example)}"
    if validator in ("minItems", "maxItems"):
        bound = "at least" if validator == "minItems" else "at most"
        return f"use {bound} {value} entries, e.g. {_json(_example(schema) or [])}"
    if validator == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        listed = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        return "remove the unknown field or check its spelling" + (f" (known fields: {listed})" if known else "")
    if validator == "propertyNames":
        example = _pattern_example(str(value.get("pattern", ""))) if isinstance(value, dict) else None
        return (
            f"rename the key to one such as {example}" if example else "rename the key (see the schema under schemas/)"
        )
    example = _example(schema)
    return examples or (
        f"use a value such as {_json(example)}" if example is not None else "see the schema under schemas/"
    )


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
        raise BatchopsError(
            f"cannot read: {exc.__class__.__name__}", file=name, hint="check permissions and that it is UTF-8 text"
        ) from None
    document = parse_json_text(text, name)
    if schema:
        validate(document, schema, file=name, text=text)
    return document
