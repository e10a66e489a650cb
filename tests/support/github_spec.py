"""GitHub's official REST description, cut down to the operations batchops calls.

The source is ``api.github.com.deref.json`` from the npm package ``@octokit/openapi``
(installed by ``scripts/test-tools.sh``; see ``tests/support/tools.py``). Reading its
73 MB in every test process would be slow, so :func:`load` extracts the operations in
:data:`OPERATIONS` once into a small JSON file next to it (keyed by the source's size
and mtime) and later processes read only that.

    spec = load()
    op, path_params = spec.match("GET", "/repos/o/r/issues")
    problems = op.check_query({"state": ["bogus"]})       # -> ["query parameter 'state': ..."]
    problems = op.check_body({"title": 1.5})
    media = op.accept("application/vnd.github+json")       # -> "raw"; None when not offered
    problems = op.check_response(200, body)                # [] when body fits the schema

Schemas are converted from OpenAPI 3.0 to JSON Schema (draft 4, which OpenAPI 3.0
schemas follow) when the subset is built: ``nullable: true`` becomes a ``"null"`` type.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from tests.support.tools import github_openapi_file

OPERATIONS: tuple[tuple[str, str], ...] = (
    ("GET", "/repos/{owner}/{repo}"),
    ("GET", "/repos/{owner}/{repo}/releases/latest"),
    ("GET", "/repos/{owner}/{repo}/labels"),
    ("POST", "/repos/{owner}/{repo}/labels"),
    ("GET", "/repos/{owner}/{repo}/labels/{name}"),
    ("GET", "/repos/{owner}/{repo}/issues"),
    ("POST", "/repos/{owner}/{repo}/issues"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("GET", "/search/issues"),
    ("GET", "/repos/{owner}/{repo}/pulls"),
    ("POST", "/repos/{owner}/{repo}/pulls"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/commits"),
    ("GET", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"),
    ("GET", "/rate_limit"),
)

SUBSET_FORMAT = 1  # bump when the subset's layout or the schema conversion changes

# Media types every operation answers with JSON (GitHub's generic ones).
GENERIC_MEDIA = {
    "*/*",
    "application/*",
    "application/json",
    "application/vnd.github+json",
    "application/vnd.github.v3+json",
}

_ANNOTATIONS = {
    "description",
    "example",
    "examples",
    "externalDocs",
    "xml",
    "discriminator",
    "readOnly",
    "writeOnly",
    "deprecated",
}


class SpecMissing(RuntimeError):
    """The npm package with GitHub's description is not installed."""


# --- building the subset -------------------------------------------------------------------


def to_json_schema(schema: Any) -> Any:
    """An OpenAPI 3.0 schema object as a JSON Schema (draft 4) without annotations."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS or key.startswith("x-") or key == "nullable":
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_json_schema(sub) for sub in value]
        else:
            out[key] = value
    if schema.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        elif kind is None:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _media_params(description: str) -> list[str]:
    """Custom media types (``raw``, ``full``, ``diff``, ``text-match``...) an operation's text offers."""
    found = set(re.findall(r"application/vnd\.github\.([a-z][a-z0-9-]*)(?:\+json)?", description))
    if re.search(r"`text-match` media type", description):
        found.add("text-match")
    found.discard("v3")
    return sorted(found)


def _path_regex(template: str) -> str:
    return "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"


def build_subset(source: Path) -> dict[str, Any]:
    with source.open("rb") as handle:
        document = json.load(handle)
    operations = []
    for method, template in OPERATIONS:
        op = document["paths"][template][method.lower()]
        body = None
        if "requestBody" in op:
            content = op["requestBody"].get("content", {})
            schema = (content.get("application/json") or {}).get("schema")
            body = {
                "required": bool(op["requestBody"].get("required")),
                "media": sorted(content),
                "schema": to_json_schema(schema),
            }
        responses = {}
        for status, response in op.get("responses", {}).items():
            content = response.get("content") or {}
            schema = (content.get("application/json") or {}).get("schema")
            responses[status] = {
                "media": sorted(content),
                "schema": to_json_schema(schema) if schema is not None else None,
                "headers": sorted(response.get("headers") or {}),
            }
        operations.append(
            {
                "id": op["operationId"],
                "method": method,
                "path": template,
                "regex": _path_regex(template),
                "parameters": [
                    {
                        "name": p["name"],
                        "in": p["in"],
                        "required": bool(p.get("required")),
                        "schema": to_json_schema(p.get("schema", {})),
                    }
                    for p in op.get("parameters", [])
                ],
                "body": body,
                "media": _media_params(op.get("description", "")),
                "responses": responses,
            }
        )
    return {
        "format": SUBSET_FORMAT,
        "source": {"file": source.name, "version": document.get("info", {}).get("version")},
        "operations": operations,
    }


def subset_file(source: Path) -> Path:
    stat = source.stat()
    wanted = json.dumps([SUBSET_FORMAT, stat.st_size, stat.st_mtime_ns, OPERATIONS])
    key = hashlib.sha256(wanted.encode()).hexdigest()[:16]
    return source.parent / f"batchops-subset-{key}.json"


def load_subset(source: Path | None = None) -> dict[str, Any]:
    """The subset as a dict, built and cached on first use."""
    source = source or github_openapi_file()
    if not source.is_file():
        raise SpecMissing(f"{source} is missing: run `bash scripts/test-tools.sh` to install @octokit/openapi")
    cached = subset_file(source)
    try:
        with cached.open("rb") as handle:
            return json.load(handle)  # type: ignore[no-any-return]
    except (OSError, ValueError):
        pass
    subset = build_subset(source)
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(subset, separators=(",", ":")))
    os.replace(tmp, cached)
    return subset


# --- using it ------------------------------------------------------------------------------

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE_TIME.match(value))


def _where(error: jsonschema.ValidationError, root: str) -> str:
    where = root
    for part in error.absolute_path:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    return where


def _branch_types(schema: dict[str, Any]) -> list[str]:
    types: list[str] = []
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        kind = branch.get("type")
        types += kind if isinstance(kind, list) else [kind] if kind else _branch_types(branch)
    return types


def _message(error: jsonschema.ValidationError) -> tuple[jsonschema.ValidationError, str]:
    """For oneOf/anyOf failures, the branch error that got deeper, or the types the branches allow."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        deeper = [e for e in error.context if len(e.absolute_path) > len(error.absolute_path)]
        if not deeper:
            types = _branch_types(error.schema) if isinstance(error.schema, dict) else []
            expected = f" (expected {' or '.join(dict.fromkeys(types))})" if types else ""
            return error, f"{error.instance!r} is not valid under any of the given schemas{expected}"
        error = max(deeper, key=lambda e: len(e.absolute_path))
    return error, error.message


def schema_problems(schema: dict[str, Any], value: Any, root: str = "$", limit: int = 5) -> list[str]:
    validator = _validator(json.dumps(schema, sort_keys=True))
    problems = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
        error, message = _message(error)
        problems.append(f"{_where(error, root)}: {message}")
        if len(problems) >= limit:
            break
    return problems


@cache
def _validator(schema_json: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads(schema_json), format_checker=_FORMATS)


def _coerce(raw: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "integer" in kinds and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if "number" in kinds and re.fullmatch(r"-?\d+(\.\d+)?", raw):
        return float(raw)
    if "boolean" in kinds and raw in ("true", "false"):
        return raw == "true"
    return raw


@dataclass
class Operation:
    id: str
    method: str
    path: str
    regex: re.Pattern[str]
    parameters: list[dict[str, Any]]
    body: dict[str, Any] | None
    media: list[str]
    responses: dict[str, dict[str, Any]]
    _params: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._params = {(p["in"], p["name"]): p for p in self.parameters}

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.id})"

    def check_path(self, values: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
        """Path parameters coerced to their schema types, and what does not fit."""
        out, problems = {}, []
        for name, raw in values.items():
            schema = self._params[("path", name)]["schema"]
            out[name] = _coerce(raw, schema)
            problems += schema_problems(schema, out[name], f"path parameter {name!r}")
        return out, problems

    def check_query(self, query: dict[str, list[str]]) -> tuple[dict[str, Any], list[str], list[str]]:
        """(values with defaults, problems GitHub answers 422 for, parameters GitHub ignores)."""
        values: dict[str, Any] = {}
        problems: list[str] = []
        for param in self.parameters:
            if param["in"] != "query":
                continue
            name, schema = param["name"], param["schema"]
            if name in query:
                raws = query[name]
                if len(raws) > 1:
                    problems.append(f"query parameter {name!r} is given {len(raws)} times")
                values[name] = _coerce(raws[-1], schema)
                problems += schema_problems(schema, values[name], f"query parameter {name!r}")
            elif param["required"]:
                problems.append(f"query parameter {name!r} is required")
            elif "default" in schema:
                values[name] = schema["default"]
        unknown = sorted(name for name in query if ("query", name) not in self._params)
        return values, problems, unknown

    def check_body(self, body: Any, present: bool) -> list[str]:
        if self.body is None:
            return ["this operation takes no request body"] if present and body not in (None, {}, "") else []
        if not present:
            return ["a request body is required"] if self.body["required"] else []
        if self.body["schema"] is None:
            return []
        return schema_problems(self.body["schema"], body, "body")

    def accept(self, header: str | None) -> str | None:
        """The body format the ``Accept`` header asks for (``raw``, ``full``...), None when not offered."""
        if not header:
            return "raw"
        for item in header.split(","):
            media = item.split(";")[0].strip().lower()
            if not media:
                continue
            if media in GENERIC_MEDIA:
                return "raw"
            match = re.fullmatch(r"application/vnd\.github(?:\.v3)?\.([a-z][a-z0-9-]*)(\+json)?", media)
            if match and match[1] in self.media:
                return match[1]
        return None

    def response_schema(self, status: int) -> dict[str, Any] | None:
        entry = self.responses.get(str(status))
        return entry["schema"] if entry else None

    def check_response(self, status: int, body: Any, limit: int = 5) -> list[str]:
        """What in ``body`` does not fit the operation's schema for ``status`` ([] when it fits)."""
        entry = self.responses.get(str(status))
        if entry is None:
            if status < 400:
                return [f"status {status} is not among the operation's responses {sorted(self.responses)}"]
            return []  # error statuses GitHub sends for any operation (rate limits, 5xx, ...)
        if entry["schema"] is None:
            return [] if body in (None, b"", "") else [f"status {status} has no body in the description"]
        return schema_problems(entry["schema"], body, "response", limit)


class Spec:
    def __init__(self, subset: dict[str, Any]) -> None:
        self.version = subset["source"].get("version")
        self.operations = [
            Operation(
                o["id"],
                o["method"],
                o["path"],
                re.compile(o["regex"]),
                o["parameters"],
                o["body"],
                o["media"],
                o["responses"],
            )
            for o in subset["operations"]
        ]
        self.by_id = {op.id: op for op in self.operations}

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation for ``method path`` and its raw path parameters, None when no route matches."""
        for op in self.operations:
            if op.method == method.upper():
                found = op.regex.match(path)
                if found:
                    return op, found.groupdict()
        return None

    def methods_for(self, path: str) -> Iterable[str]:
        return sorted({op.method for op in self.operations if op.regex.match(path)})


@cache
def load(source: str | None = None) -> Spec:
    """The cut-down description (cached per process)."""
    return Spec(load_subset(Path(source) if source else None))
