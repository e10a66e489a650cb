"""docs/migration.md is a procedure that holds: its steps are in order, every kit file it names exists
(and every kit file is named), and what it says the first run does to the legacy breakers, and how to
start clean, is what batchops does on the first user's real control file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.support.gitrepo import operator_checkout

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "migration.md"
LEGACY = "control-history/batch-control.20260626T205108.json"
NOW = "2026-06-27T03:00:00Z"  # after the legacy breakers' opens_at


def _steps() -> str:
    return GUIDE.read_text().split("## The move, step by step", 1)[1].split("\n## ", 1)[0]


def test_the_guide_starts_with_numbered_steps_in_order() -> None:
    numbers = [int(n) for n in re.findall(r"^(\d+)\. \*\*", _steps(), re.M)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 8


def test_every_kit_file_is_named_by_the_guide_and_every_named_one_exists() -> None:
    text = GUIDE.read_text()
    named = set(re.findall(r"examples/tsuku/([\w.-]+\.yml)", text))
    kit = {p.name for p in (ROOT / "examples" / "tsuku").glob("*.yml")}
    assert named == kit


@pytest.fixture
def checkout(tmp_path: Path, corpus: Path) -> Path:
    return operator_checkout(tmp_path, (corpus / LEGACY).read_text())


def test_legacy_open_breakers_become_probes_on_the_first_run_as_the_guide_says(checkout: Path) -> None:
    said = re.search(r"that is ([\w.,\s]+?) and (\w+),\s+all `open`", _steps())
    assert said, "step 2 names the ecosystems whose breakers the legacy scripts left open"
    names = [n.strip() for n in said.group(1).split(",")] + [said.group(2)]
    assert len(names) == 6
    run = run_cli(["status", "--now", NOW], checkout, actions=False, env={"COLUMNS": "200"})
    assert run.returncode == 0, run.log
    for name in names:
        row = next(line for line in run.stdout.splitlines() if line.startswith(name + " "))
        assert "runs as the probe" in row, row


def test_the_start_clean_commands_of_the_guide_close_or_keep_open_as_it_says(checkout: Path) -> None:
    commands = re.findall(r"`(batchops breaker (?:reset|open) [^`]+?) --push`", _steps())
    assert len(commands) == 2
    for command in commands:
        argv = re.findall(r'"[^"]*"|\S+', command)[1:]
        run = run_cli([*(a.strip('"') for a in argv), "--now", NOW], checkout, actions=False)
        assert run.returncode == 0, run.log
    status = run_cli(["status", "--now", NOW], checkout, actions=False, env={"COLUMNS": "200"}).stdout
    homebrew = next(line for line in status.splitlines() if line.startswith("homebrew "))
    npm = next(line for line in status.splitlines() if line.startswith("npm "))
    assert "runs " in homebrew and "closed" in homebrew
    assert "skipped until" in npm
