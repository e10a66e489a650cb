"""What steps and commands share to read their arguments: flags named as the action inputs, env fallbacks, the clock.

A step's flag ``--some-input`` falls back to the environment variable
``INPUT_SOME_INPUT`` (what the composite action passes through ``env:``), then
to its default. Empty values count as unset, as in Actions.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from batchops.adapters import runner
from batchops.core.values import valueclass
from batchops.errors import ControlFileError, UsageError


@valueclass(frozen=True)
class Command:
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class _EnvDefault(argparse.Action):
    def __init__(
        self,
        option_strings: list[str],
        dest: str,
        input_name: str = "",
        default: Any = None,
        required: bool = False,
        **kwargs: Any,
    ) -> None:
        value = runner.input_value(input_name)
        if value.strip() != "":
            default = value
            required = False
        super().__init__(option_strings, dest, default=default, required=required, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)


def add_input(
    parser: argparse.ArgumentParser, name: str, help: str, *, default: Any = None, required: bool = False
) -> None:
    """Add ``--name`` with the INPUT_NAME environment fallback."""
    parser.add_argument(
        f"--{name}",
        action=_EnvDefault,
        input_name=name,
        default=default,
        required=required,
        help=help + (f" (default: {default})" if default not in (None, "") else ""),
        metavar=name.upper().replace("-", "_"),
    )


# The words a boolean flag takes; ``--dry-run`` alone means true.
BOOLEAN_WORDS = ("true", "false", "yes", "no", "on", "off", "1", "0")


def add_dry_run(parser: argparse.ArgumentParser, help: str) -> None:
    """``--dry-run``, bare or with a value (``--dry-run``, ``--dry-run true``, ``--dry-run false``).

    The value is text ("true"/"false"), as any input; read it with :func:`parse_bool`.
    The CLI entry joins ``--dry-run WORD`` into ``--dry-run=WORD`` first (see
    :func:`join_flag_values`), so a bare ``--dry-run`` never swallows a positional argument.
    """
    value = runner.input_value("dry-run")
    parser.add_argument(
        "--dry-run",
        nargs="?",
        const="true",
        default=value if value.strip() else "false",
        choices=BOOLEAN_WORDS,
        metavar="true|false",
        help=help + " (bare --dry-run means true)",
    )


def add_reason(
    parser: argparse.ArgumentParser,
    help: str = "why (one line; recorded in the commit trailers and shown by `batchops log`)",
    *,
    required: bool = False,
) -> None:
    """``--reason TEXT``: the why of an audited change (``Batchops-Reason`` trailer)."""
    parser.add_argument("--reason", required=required, default="", help=help)


def join_flag_values(args: list[str]) -> list[str]:
    """``--dry-run true`` -> ``--dry-run=true``; a bare ``--dry-run`` -> ``--dry-run=true``."""
    joined: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        if token == "--dry-run":
            following = args[index + 1] if index + 1 < len(args) else ""
            if following.lower() in BOOLEAN_WORDS:
                joined.append(f"--dry-run={following.lower()}")
                index += 2
                continue
            joined.append("--dry-run=true")
        else:
            joined.append(token)
        index += 1
    return joined


def add_control_file(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "control-file", "path of the control file", default="batch-control.json")


def naming_control_file(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``run``, where a control-file error that names no file names ``args.control_file``.

    (A field the schema takes but no reader can use is found only while reading it.)
    """

    def named(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except ControlFileError as exc:
            exc.file = exc.file or args.control_file
            raise

    return named


def add_now(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--now", default=None, help="fix the clock (ISO 8601); also BATCHOPS_NOW")


def clock(args: argparse.Namespace) -> datetime:
    return runner.now(getattr(args, "now", None))


def parse_bool(value: Any, *, field: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise UsageError(f"{value!r} is not a boolean", field=field, hint="use true or false")


# The numbers a flag accepts: finite, at most 2**53 in magnitude (as in every file
# batchops reads, see batchops.adapters.schema.parse_json_text), at most 40 characters.
MAX_NUMBER = 2**53
MAX_NUMBER_CHARS = 40
# ASCII digits only (Python's int() and float() also take "1_000", "٣", "nan", "infinity")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _number_text(value: Any, *, field: str, example: str) -> str:
    text = str(value if value is not None else "").strip()
    if len(text) > MAX_NUMBER_CHARS:
        raise UsageError(
            f"{text[:12]!r}… ({len(text)} characters) is too long for a number",
            field=field,
            hint=f"use a number such as {example}",
        )
    return text


def parse_int(value: Any, *, field: str, minimum: int | None = None) -> int:
    text = _number_text(value, field=field, example="5")
    if not _INTEGER.fullmatch(text):
        raise UsageError(f"{text!r} is not a whole number", field=field, hint="use a number such as 5")
    number = int(text)
    if abs(number) > MAX_NUMBER:
        raise UsageError(
            f"{number} is out of range",
            field=field,
            hint=f"use a number between -{MAX_NUMBER} and {MAX_NUMBER}, e.g. 5",
        )
    if minimum is not None and number < minimum:
        raise UsageError(f"{number} is below {minimum}", field=field, hint=f"use a number >= {minimum}")
    return number


def parse_float(value: Any, *, field: str, minimum: float | None = None) -> float:
    text = _number_text(value, field=field, example="12.5")
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise UsageError(f"{text!r} is not a finite number", field=field, hint="use a number such as 12.5")
    if not _DECIMAL.fullmatch(text):
        raise UsageError(f"{text!r} is not a number", field=field, hint="use a number such as 12.5")
    number = float(text)
    if not math.isfinite(number):
        raise UsageError(f"{text!r} is not a finite number", field=field, hint="use a number such as 12.5")
    from decimal import Decimal

    if abs(Decimal(text)) > MAX_NUMBER:  # exact: 2**53+1 rounds to 2**53 as a float
        raise UsageError(
            f"{text} is out of range",
            field=field,
            hint=f"use a number between -{MAX_NUMBER} and {MAX_NUMBER}, e.g. 12.5",
        )
    if minimum is not None and number < minimum:
        raise UsageError(f"{number} is below {minimum}", field=field, hint=f"use a number >= {minimum}")
    return number


def parse_list(value: Any, *, field: str) -> list[str]:
    """A JSON array, or a comma/newline separated list."""
    if value is None:
        return []
    if isinstance(value, list):
        items = value
    else:
        text = str(value).strip()
        if not text:
            return []
        if text.startswith("["):
            from batchops.adapters.schema import parse_json_text
            from batchops.errors import BatchopsError

            try:
                items = parse_json_text(text, field)
            except BatchopsError as exc:
                raise UsageError(
                    f"is not a valid JSON array ({exc.message})",
                    field=field,
                    hint='write ["homebrew","npm"] or homebrew, npm',
                ) from None
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise UsageError("must be an array of strings", field=field, hint='write ["homebrew","npm"]')
        else:
            items = [part for chunk in text.split("\n") for part in chunk.split(",")]
    seen: list[str] = []
    for item in items:
        item = item.strip()
        if item and item not in seen:
            seen.append(item)
    return seen
