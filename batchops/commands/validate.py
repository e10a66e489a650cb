"""``batchops validate``: check control, results and other batchops files against their schemas."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from batchops.adapters import runner, schema
from batchops.errors import BatchopsError
from batchops.flags import Command


def guess_schema(path: Path, document: Any) -> str:
    if path.name in schema.BY_FILENAME:
        return schema.BY_FILENAME[path.name]
    if isinstance(document, dict):
        # the schema whose required fields the document carries, most specific first
        best, best_count = "batch-control", 0
        for name in schema.schema_names():
            required = schema.required_fields(name)
            if required and all(key in document for key in required) and len(required) > best_count:
                best, best_count = name, len(required)
        return best
    return "batch-control"


def validate_file(path: Path, schema_name: str | None) -> list[str]:
    """Problems of one file as one-line messages (empty when it is valid)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        document = schema.parse_json_text(text, name)
    except BatchopsError as exc:
        return [exc.render()]
    except FileNotFoundError:
        return [f"{name}: file not found (fix: check the path)"]
    except IsADirectoryError:
        return [f"{name}: is a directory (fix: name a JSON file)"]
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{name}: cannot read ({exc.__class__.__name__}) (fix: check permissions and that it is UTF-8 JSON)"]
    chosen = schema_name or guess_schema(path, document)
    problems = [problem.render() for problem in schema.problems(document, chosen, file=name, text=text)]
    if not problems and chosen == "batch-control":
        from batchops.core.control import impossible_times

        problems = [
            f"{name}: {pointer}: {value!r} is not a real date or time (fix: use {example})"
            for pointer, value, example in impossible_times(document)
        ]
    return problems


def mixed_writer_warnings(path: Path, schema_name: str | None) -> list[str]:
    """Breaker entries of a (valid) control file whose legacy fields a legacy script wrote after batchops."""
    document = schema.parse_json_text(path.read_text(encoding="utf-8"), str(path))
    if (schema_name or guess_schema(path, document)) != "batch-control" or not isinstance(document, dict):
        return []
    from batchops.core.breaker import mixed_writer_warnings as warnings_of

    return warnings_of(document)


def _validate_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="*", default=["batch-control.json"], help="JSON files (default: batch-control.json)"
    )
    parser.add_argument(
        "--schema", choices=schema.schema_names(), help="schema to use (default: by file name or content)"
    )


def _validate_run(args: argparse.Namespace) -> int:
    failed = 0
    for name in args.files:
        lines = validate_file(Path(name), args.schema)
        if not lines:
            warnings = mixed_writer_warnings(Path(name), args.schema)
            runner.out(f"{name}: ok" + (f" ({len(warnings)} warning(s))" if warnings else ""))
            for line in warnings:
                runner.out(f"{name}: warning: {line}")
                if runner.in_actions():
                    runner.warning(line, title="batchops validate", file=name)
            continue
        failed += 1
        for line in lines:
            runner.out(line)
            if runner.in_actions():
                runner.error(line, title="batchops validate", file=name)
    if failed:
        runner.summary(f"### batchops validate: {failed} invalid file(s)")
    return 1 if failed else 0


VALIDATE = Command(
    "check control, results and other batchops files against their schemas", _validate_configure, _validate_run
)
