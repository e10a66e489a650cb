"""What every entrypoint shares: flags named as the action inputs, env fallbacks, the clock.

A step's flag ``--some-input`` falls back to the environment variable
``INPUT_SOME_INPUT`` (what the composite action passes through ``env:``), then
to its default. Empty values count as unset, as in Actions.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from batchops.adapters import runner
from batchops.errors import UsageError


@dataclass(frozen=True)
class Command:
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def env_name(input_name: str) -> str:
    return "INPUT_" + input_name.upper().replace("-", "_").replace(" ", "_")


class _EnvDefault(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, input_name: str = "", default: Any = None, required: bool = False, **kwargs: Any) -> None:
        value = runner.input_value(input_name)
        if value.strip() != "":
            default = value
            required = False
        super().__init__(option_strings, dest, default=default, required=required, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)


def add_input(parser: argparse.ArgumentParser, name: str, help: str, *, default: Any = None, required: bool = False) -> None:
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


def add_control_file(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "control-file", "path of the control file", default="batch-control.json")


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


def parse_int(value: Any, *, field: str, minimum: int | None = None) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise UsageError(f"{value!r} is not a whole number", field=field, hint="use a number such as 5") from None
    if minimum is not None and number < minimum:
        raise UsageError(f"{number} is below {minimum}", field=field, hint=f"use a number >= {minimum}")
    return number


def parse_float(value: Any, *, field: str, minimum: float | None = None) -> float:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        raise UsageError(f"{value!r} is not a number", field=field, hint="use a number such as 12.5") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise UsageError(f"{value!r} is not a finite number", field=field, hint="use a number such as 12.5")
    if minimum is not None and number < minimum:
        raise UsageError(f"{number} is below {minimum}", field=field, hint=f"use a number >= {minimum}")
    return number


def parse_list(value: Any, *, field: str) -> list[str]:
    """A JSON array, or a comma/newline separated list."""
    import json

    if value is None:
        return []
    if isinstance(value, list):
        items = value
    else:
        text = str(value).strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as exc:
                raise UsageError(
                    f"is not a valid JSON array ({exc.msg})",
                    field=field,
                    hint='write ["homebrew","npm"] or homebrew, npm',
                ) from None
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise UsageError("must be an array of strings", field=field, hint='write ["homebrew","npm"]')
        else:
            items = [part for chunk in text.splitlines() for part in chunk.split(",")]
    seen: list[str] = []
    for item in items:
        item = item.strip()
        if item and item not in seen:
            seen.append(item)
    return seen
