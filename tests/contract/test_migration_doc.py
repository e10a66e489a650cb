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


KIT = ROOT / "examples" / "tsuku"
NUMBERS = {"five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}


def _section_one_snippet() -> list[str]:
    section = GUIDE.read_text().split("## 1. `batch-operations.yml`", 1)[1].split("\n## ", 1)[0]
    return section.split("```yaml\n", 1)[1].split("\n```", 1)[0].split("\n")


def test_the_batch_operations_snippet_is_an_excerpt_of_the_kit_in_order() -> None:
    kit = (KIT / "batch-operations.yml").read_text().split("\n")
    position = 0
    for line in _section_one_snippet():
        if line.strip() in ("", "# …"):
            continue
        assert line in kit[position:], f"migration.md §1 snippet line not in the kit (in order): {line!r}"
        position = kit.index(line, position) + 1


def test_the_guide_tells_one_story_about_output_names_the_kits_legacy_job_outputs() -> None:
    snippet = "\n".join(_section_one_snippet())
    kit = (KIT / "batch-operations.yml").read_text()
    for text in (snippet, kit):
        assert "can_proceed: ${{ steps.check.outputs.can-proceed }}" in text
        assert "if: needs.pre-flight.outputs.can_proceed == 'true'" in text
        assert "needs.pre-flight.outputs.can-proceed" not in text
    assert "update the\n`if:` and `needs.*.outputs.*` references" not in GUIDE.read_text()


def test_the_kit_keeps_the_first_users_checkout_pin(corpus: Path) -> None:
    legacy = "\n".join(p.read_text() for p in sorted((corpus / "legacy").glob("*.yml")))
    pins = set(re.findall(r"actions/checkout@([0-9a-f]{40})", legacy))
    assert pins == {"de0fac2e4500dabe0009e67214ff5f5447ce83dd"}
    for path in KIT.glob("*.yml"):
        assert set(re.findall(r"actions/checkout@(\S+)", path.read_text())) <= pins, path.name


def test_the_guide_counts_the_lines_of_the_merge_job_comment_right() -> None:
    said = re.search(r"comment at its top has the job's (\w+) lines", GUIDE.read_text())
    assert said, "docs/migration.md step 4 names the lines of the batch-merge.yml comment"
    comment = (KIT / "batch-merge.yml").read_text().split("\n#\n", 2)[1]
    job = comment.split("\n#\n", 1)[0].split("\n")
    assert job[0] == "#   merge:" and all(line.startswith("#   ") for line in job)
    assert NUMBERS[said.group(1)] == len(job)
