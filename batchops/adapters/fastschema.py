"""A small JSON Schema (draft 2020-12) checker for the keywords batchops' schemas use.

Why batchops keeps its own checker (``benchmarks/schema.py``, on the first user's
control file, median of 15 fresh processes; numbers in ``docs/benchmarks.md``,
"schema engine"): a step validates its files once to three times per process, so
what counts is import plus the first validation: 2.6 ms here against 14-19 ms for
jsonschema-rs 0.61 (its native module alone takes 10-12 ms to load) and 45 ms for the
Python jsonschema. jsonschema-rs is far faster per call (2 µs against 177 µs), which
would only pay off beyond ~65-95 validations in one process. Error quality is the same:
the same instance paths and comparable messages, and batchops' hints (file, field, fix
with an example value, see ``batchops.adapters.schema._hint``) are built from the
keyword, its value and the subschema that this checker reports directly.

Semantics are JSON Schema's, not Python's: patterns are ECMA-262 (``$`` matches only at
the very end: ``"npm\\n"`` does not match ``^[a-z]+$``; see :func:`ecma_pattern`), and
NaN and the infinities are not numbers. The checker yields errors shaped like
jsonschema's (``message``, ``absolute_path``, ``validator``, ``validator_value``,
``schema``). A schema that uses any other keyword is handed to the Python jsonschema
instead (see ``batchops.adapters.schema``), given the same pattern and number rules;
the test suite checks that both agree on fuzzed input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from batchops.core.values import field, valueclass

ANNOTATIONS = {
    "$schema",
    "$id",
    "title",
    "description",
    "$defs",
    "default",
    "examples",
    "format",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
}
ASSERTIONS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "const",
    "pattern",
    "items",
    "$ref",
    "anyOf",
    "oneOf",
    "allOf",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "uniqueItems",
    "propertyNames",
    "minItems",
    "maxItems",
    "patternProperties",
    "unevaluatedProperties",
}
SUPPORTED = ANNOTATIONS | ASSERTIONS


@valueclass
class Error:
    message: str
    absolute_path: list[Any]
    validator: str
    validator_value: Any
    schema: Any
    context: list[Error] = field(default_factory=list)


def supports(schema: Any) -> bool:
    """True when every keyword in ``schema`` (recursively) is one this checker knows."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict):
        return False
    for key, value in schema.items():
        if key not in SUPPORTED:
            return False
        if key in ("properties", "$defs", "patternProperties"):
            if not all(supports(sub) for sub in value.values()):
                return False
        elif key in ("items", "additionalProperties", "propertyNames", "unevaluatedProperties"):
            if not supports(value):
                return False
        elif key in ("anyOf", "oneOf", "allOf"):
            if not all(supports(sub) for sub in value):
                return False
    return True


def ecma_pattern(text: str) -> str:
    """A JSON Schema (ECMA-262) pattern as a Python one with the same meaning.

    ECMA-262's ``$`` (no multiline flag) matches only at the very end of the text;
    Python's also matches before a final newline, so ``"npm\\n"`` would pass
    ``^[a-z]+$``. Every unescaped ``$`` outside a character class becomes ``\\Z``.
    """
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            out.append(text[index : index + 2])
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        out.append(char)
        index += 1
    return "".join(out)


@cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(ecma_pattern(text))


def is_json_number(instance: Any) -> bool:
    """False for NaN and the infinities (no JSON text holds them), True for every other value."""
    return not (isinstance(instance, float) and not math.isfinite(instance))


def _is_type(instance: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(instance, dict)
    if kind == "array":
        return isinstance(instance, list)
    if kind == "string":
        return isinstance(instance, str)
    if kind == "boolean":
        return isinstance(instance, bool)
    if kind == "null":
        return instance is None
    if isinstance(instance, bool):
        return False
    if not is_json_number(instance):
        return False  # NaN and the infinities are not JSON numbers
    if kind == "number":
        return isinstance(instance, (int, float))
    if kind == "integer":
        return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())
    return False


def _equal(a: Any, b: Any) -> bool:
    # JSON equality: booleans are not numbers; 1 == 1.0 (one object is equal to itself, NaN too, as in jsonschema)
    if a is b:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _r(value: Any) -> str:
    return repr(value)


class Checker:
    def __init__(self, root: dict[str, Any], load: Any) -> None:
        self.root = root
        self.load = load  # name -> schema document

    def iter_errors(self, instance: Any) -> Iterator[Error]:
        yield from self._check(instance, self.root, self.root, [])

    def _resolve(self, ref: str, base: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        target, _, fragment = ref.partition("#")
        document = base if not target else self.load(Path(target).name.removesuffix(".schema.json"))
        node: Any = document
        for part in [p for p in fragment.split("/") if p]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return document, node

    def _check(self, instance: Any, schema: Any, base: dict[str, Any], path: list[Any]) -> Iterator[Error]:
        if schema is True:
            return
        if schema is False:
            yield Error("False schema does not allow " + _r(instance), list(path), "false", False, schema)
            return
        if "$ref" in schema:
            document, target = self._resolve(schema["$ref"], base)
            yield from self._check(instance, target, document, path)
        yield from _check_value(instance, schema, path)
        if isinstance(instance, str):
            yield from _check_string(instance, schema, path)
        if _is_type(instance, "number"):
            yield from _check_number(instance, schema, path)
        if isinstance(instance, list):
            yield from self._check_array(instance, schema, base, path)
        if isinstance(instance, dict):
            yield from self._check_object(instance, schema, base, path)
        for sub in schema.get("allOf", []):
            yield from self._check(instance, sub, base, path)
        if isinstance(instance, dict) and "unevaluatedProperties" in schema:
            seen = self._evaluated(instance, schema, base)
            leftover = [key for key in instance if key not in seen]
            yield from self._leftover("unevaluatedProperties", leftover, instance, schema, base, path)
        yield from self._check_alternatives(instance, schema, base, path)

    def _check_array(self, instance: list[Any], schema: Any, base: dict[str, Any], path: list[Any]) -> Iterator[Error]:
        if "minItems" in schema and len(instance) < schema["minItems"]:
            short = "should be non-empty" if schema["minItems"] == 1 else "is too short"
            yield _error(f"{_r(instance)} {short}", path, "minItems", schema)
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            yield _error(f"{_r(instance)} is too long", path, "maxItems", schema)
        if schema.get("uniqueItems"):
            for i, item in enumerate(instance):
                if any(_equal(item, other) for other in instance[:i]):
                    yield _error(f"{_r(instance)} has non-unique elements", path, "uniqueItems", schema)
                    break
        if "items" in schema:
            for index, item in enumerate(instance):
                yield from self._check(item, schema["items"], base, [*path, index])

    def _check_object(
        self, instance: dict[str, Any], schema: Any, base: dict[str, Any], path: list[Any]
    ) -> Iterator[Error]:
        for name in schema.get("required", []):
            if name not in instance:
                yield _error(f"{_r(name)} is a required property", path, "required", schema)
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        if "propertyNames" in schema:
            for key in instance:
                # as jsonschema does: the name's own error, reported at the object
                for err in self._check(key, schema["propertyNames"], base, []):
                    err.absolute_path = list(path)
                    yield err
        extras = []
        for key, value in instance.items():
            matched = False
            if key in properties:
                matched = True
                yield from self._check(value, properties[key], base, [*path, key])
            for pattern, sub in patterns.items():
                if _pattern(pattern).search(key):
                    matched = True
                    yield from self._check(value, sub, base, [*path, key])
            if not matched:
                extras.append(key)
        yield from self._leftover("additionalProperties", extras, instance, schema, base, path)

    def _check_alternatives(self, instance: Any, schema: Any, base: dict[str, Any], path: list[Any]) -> Iterator[Error]:
        if "anyOf" in schema:
            context: list[Error] = []
            for sub in schema["anyOf"]:
                errs = list(self._check(instance, sub, base, path))
                if not errs:
                    break
                context += errs
            else:
                message = f"{_r(instance)} is not valid under any of the given schemas"
                yield Error(message, list(path), "anyOf", schema["anyOf"], schema, context)
        if "oneOf" in schema:
            valid = [sub for sub in schema["oneOf"] if not any(True for _ in self._check(instance, sub, base, path))]
            if len(valid) == 0:
                yield _error(f"{_r(instance)} is not valid under any of the given schemas", path, "oneOf", schema)
            elif len(valid) > 1:
                yield _error(
                    f"{_r(instance)} is valid under each of {', '.join(map(_r, valid))}", path, "oneOf", schema
                )

    def _leftover(
        self,
        keyword: str,
        keys: list[str],
        instance: dict[str, Any],
        schema: dict[str, Any],
        base: dict[str, Any],
        path: list[Any],
    ) -> Iterator[Error]:
        """additionalProperties / unevaluatedProperties for the ``keys`` no other keyword took."""
        rule = schema.get(keyword, True)
        if keys and rule is False:
            shown = ", ".join(repr(k) for k in keys)
            verb = "was" if len(keys) == 1 else "were"
            label = "Additional" if keyword == "additionalProperties" else "Unevaluated"
            yield Error(
                f"{label} properties are not allowed ({shown} {verb} unexpected)", list(path), keyword, False, schema
            )
        elif keys and isinstance(rule, dict):
            for key in keys:
                yield from self._check(instance[key], rule, base, [*path, key])

    def _valid(self, instance: Any, schema: Any, base: dict[str, Any]) -> bool:
        return not any(True for _ in self._check(instance, schema, base, []))

    def _evaluated(self, instance: dict[str, Any], schema: Any, base: dict[str, Any]) -> set[str]:
        """Keys of ``instance`` that ``schema`` (and its in-place subschemas) evaluate."""
        if not isinstance(schema, dict):
            return set()
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        seen = {key for key in instance if key in properties}
        seen |= {key for key in instance for pattern in patterns if _pattern(pattern).search(key)}
        if "additionalProperties" in schema or "unevaluatedProperties" in schema:
            return set(instance)
        if "$ref" in schema:
            document, target = self._resolve(schema["$ref"], base)
            seen |= self._evaluated(instance, target, document)
        for sub in schema.get("allOf", []):
            seen |= self._evaluated(instance, sub, base)
        for keyword in ("anyOf", "oneOf"):
            for sub in schema.get(keyword, []):
                if self._valid(instance, sub, base):
                    seen |= self._evaluated(instance, sub, base)
        return seen


# --- the keywords that need no recursion ------------------------------------------------------------

_BOUNDS = (
    ("minimum", lambda value, bound: value < bound, "is less than the minimum of"),
    ("maximum", lambda value, bound: value > bound, "is greater than the maximum of"),
    ("exclusiveMinimum", lambda value, bound: value <= bound, "is less than or equal to the minimum of"),
    ("exclusiveMaximum", lambda value, bound: value >= bound, "is greater than or equal to the maximum of"),
)


def _error(message: str, path: list[Any], keyword: str, schema: dict[str, Any]) -> Error:
    return Error(message, list(path), keyword, schema[keyword], schema)


def _check_value(instance: Any, schema: dict[str, Any], path: list[Any]) -> Iterator[Error]:
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_is_type(instance, k) for k in kinds):
            shown = ", ".join(repr(k) for k in kinds) if isinstance(kind, list) else repr(kind)
            yield _error(f"{_r(instance)} is not of type {shown}", path, "type", schema)
    if "enum" in schema and not any(_equal(instance, v) for v in schema["enum"]):
        yield _error(f"{_r(instance)} is not one of {_r(schema['enum'])}", path, "enum", schema)
    if "const" in schema and not _equal(instance, schema["const"]):
        yield _error(f"{_r(schema['const'])} was expected", path, "const", schema)


def _check_string(instance: str, schema: dict[str, Any], path: list[Any]) -> Iterator[Error]:
    if "pattern" in schema and not _pattern(schema["pattern"]).search(instance):
        yield _error(f"{_r(instance)} does not match {_r(schema['pattern'])}", path, "pattern", schema)
    length = len(instance)
    if "minLength" in schema and length < schema["minLength"]:
        yield _error(f"{_r(instance)} is too short", path, "minLength", schema)
    if "maxLength" in schema and length > schema["maxLength"]:
        yield _error(f"{_r(instance)} is too long", path, "maxLength", schema)


def _check_number(instance: Any, schema: dict[str, Any], path: list[Any]) -> Iterator[Error]:
    for keyword, breaks, words in _BOUNDS:
        if keyword in schema and breaks(instance, schema[keyword]):
            yield _error(f"{_r(instance)} {words} {schema[keyword]}", path, keyword, schema)
