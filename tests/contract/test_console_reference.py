"""docs/console.md lists every command, sub-command and flag the parsers have: its reference part is
generated from them, and this test holds the file to what they say now."""

from __future__ import annotations

import argparse
from pathlib import Path

from batchops.cli import COMMANDS, _load, _Parser, reference

CONSOLE = Path(__file__).resolve().parents[2] / "docs" / "console.md"


def _every_parser() -> list[tuple[str, argparse.ArgumentParser]]:
    found = []

    def walk(title: str, parser: argparse.ArgumentParser) -> None:
        found.append((title, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(f"{title} {name}", sub)

    for name in COMMANDS:
        command = _load(name)
        assert command is not None, name
        parser = _Parser(prog=f"batchops {name}")
        command.configure(parser)
        walk(f"batchops {name}", parser)
    return found


def test_the_console_reference_is_what_the_parsers_say() -> None:
    text = CONSOLE.read_text()
    assert reference.replace_in(text, reference.generate()) == text, (
        "docs/console.md is behind the parsers: run `python -m batchops.cli.reference --write docs/console.md`"
    )


def test_every_command_subcommand_and_flag_is_in_the_console_reference() -> None:
    text = CONSOLE.read_text()
    for title, parser in _every_parser():
        assert f"### `{title}`" in text, title
        section = text.split(f"### `{title}`", 1)[1].split("\n### ", 1)[0]
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings:
                assert f"`{option}" in section or f", {option}" in section, f"{title}: {option}"


def test_budget_sample_and_its_reason_are_in_the_console_and_the_runbook() -> None:
    console = CONSOLE.read_text()
    runbook = (CONSOLE.parent / "operators.md").read_text()
    assert "### `batchops budget sample`" in console and "budget sample --on\\|--off [--reason R]" in console
    assert "batchops budget sample --on --reason" in runbook
