"""The console reference in docs/console.md, generated from the parsers: every command, sub-command and flag.

``python -m batchops.cli.reference --write docs/console.md`` rewrites the part of the file between the
markers; a test holds the file to what the parsers say, so a new command or flag cannot go undocumented.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from batchops.adapters import runner
from batchops.cli import COMMANDS, _load, _Parser

BEGIN = "<!-- begin: generated from the parser by `python -m batchops.cli.reference --write docs/console.md` -->"
END = "<!-- end: generated -->"


def _cell(text: str) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


def _value(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if action.nargs == "?" and action.const is not None:
        return "[true\\|false]"
    if action.choices:
        return "\\|".join(str(choice) for choice in action.choices)
    return str(action.metavar or action.dest.upper())


def _flag_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = ", ".join(action.option_strings) if action.option_strings else str(action.metavar or action.dest)
        value = _value(action) if action.option_strings else ""
        shown = f"`{name} {value}`".replace(" `", "`") if value else f"`{name}`"
        rows.append(f"| {shown} | {_cell(action.help or '')} |")
    return rows


def _section(title: str, parser: argparse.ArgumentParser, help_text: str) -> list[str]:
    lines = [f"### `{title}`", "", _cell(help_text), ""]
    rows = _flag_rows(parser)
    if rows:
        lines += ["| flag or argument | meaning |", "|---|---|", *rows, ""]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                lines += _section(f"{title} {name}", sub, helps.get(name) or sub.description or "")
    return lines


def generate() -> str:
    """The reference: one section per command of :data:`batchops.cli.COMMANDS` (each sub-command too)."""
    lines = [
        BEGIN,
        "",
        "## Every command and flag",
        "",
        "Generated from the parsers (`batchops <command> --help` says the same). Steps take their flags from",
        "their action's inputs (`INPUT_*` variables are the fallback); `--dry-run` is accepted bare",
        "(`--dry-run`) or with a value (`--dry-run true`, `--dry-run false`).",
        "",
    ]
    for name in COMMANDS:
        command = _load(name)
        if command is None:
            continue
        parser = _Parser(prog=f"batchops {name}", description=command.help)
        command.configure(parser)
        lines += _section(f"batchops {name}", parser, command.help)
    lines.append(END)
    return "\n".join(lines) + "\n"


def replace_in(text: str, generated: str) -> str:
    """``text`` with its generated part replaced (appended when it has none)."""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        return head + generated.rstrip("\n") + tail
    return text.rstrip("\n") + "\n\n" + generated


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--write":
        path = Path(argv[1])
        path.write_text(replace_in(path.read_text(encoding="utf-8"), generate()), encoding="utf-8")
        return 0
    runner.out_block(generate().rstrip("\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
