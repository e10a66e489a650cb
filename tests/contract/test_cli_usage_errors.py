"""A command line argparse refuses: one error line naming the flag and the fix with an example, exit 2.

In Actions it is one ``::error`` annotation (no usage text); at a terminal the usage
is still shown above the ``error:`` line. The real CLI in a subprocess.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchops.core import control
from tests.cli_helpers import run_cli


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "batch-control.json").write_text(control.dumps(json.loads(control.TEMPLATE)))
    return tmp_path


@pytest.mark.parametrize(
    ("args", "example"),
    [
        (["breaker", "reset", "npm"], 'batchops breaker reset npm --reason "'),
        (["stop"], 'batchops stop --reason "'),
    ],
)
def test_a_missing_required_flag_in_actions_is_one_error_annotation_naming_it_with_an_example(
    checkout: Path, args: list[str], example: str
) -> None:
    run = run_cli(args, checkout)
    assert run.returncode == 2
    lines = [line for line in run.log.splitlines() if line.strip()]
    assert len(lines) == 1, run.log  # no usage text in the job log
    assert lines[0].startswith(
        f"::error title=batchops::batchops {' '.join(args[:2]) if args[0] == 'breaker' else args[0]}: "
    )
    assert "the following arguments are required: --reason" in lines[0]
    assert f"(fix: add --reason, e.g. `{example}" in lines[0]


def test_at_a_terminal_the_usage_is_still_shown_above_the_error(checkout: Path) -> None:
    run = run_cli(["breaker", "reset", "npm"], checkout, actions=False)
    assert run.returncode == 2
    lines = run.stderr.splitlines()
    assert lines[0].startswith("usage: batchops breaker reset")
    assert lines[-1].startswith(
        "error: batchops breaker reset: the following arguments are required: --reason (fix: add --reason"
    )
    assert "::error" not in run.stderr


def test_a_missing_positional_and_flag_are_both_named_and_the_example_completes_the_command_line(
    checkout: Path,
) -> None:
    run = run_cli(["breaker", "reset"], checkout, actions=False)
    assert run.returncode == 2
    assert "add ECOSYSTEM, --reason, e.g. `batchops breaker reset npm --reason " in run.stderr


def test_a_misspelt_required_flag_is_named_with_the_right_one(checkout: Path) -> None:
    run = run_cli(["stop", "--reasn", "outage"], checkout)
    assert run.returncode == 2
    assert "did you mean --reason (not --reasn)? e.g. `batchops stop --reason outage`" in run.stdout


def test_a_flag_without_its_value_gets_an_example_value(checkout: Path) -> None:
    run = run_cli(["persist-with-retry", "--max-attempts"], checkout)
    assert run.returncode == 2
    assert (
        "argument --max-attempts: expected one argument (fix: give --max-attempts a value, e.g. --max-attempts 40)"
        in run.stdout
    )


def test_an_unknown_flag_is_named_and_cannot_inject_a_workflow_command(checkout: Path) -> None:
    run = run_cli(["status", "--bogus\n::error::forged"], checkout)
    assert run.returncode == 2
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(
        "::error title=batchops::batchops status: unrecognized arguments: --bogus"
    )
    assert "`batchops status --help` lists them" in lines[0]


def test_an_invalid_choice_lists_the_choices_with_an_example(checkout: Path) -> None:
    run = run_cli(["breaker", "rest", "npm"], checkout)
    assert run.returncode == 2
    assert "invalid choice: 'rest'" in run.stdout
    assert (
        "(fix: did you mean reset? use one of replay, reset, probe, open, e.g. `batchops breaker reset`)" in run.stdout
    )


def test_help_still_prints_the_usage_and_exits_0(checkout: Path) -> None:
    run = run_cli(["stop", "--help"], checkout, actions=False)
    assert run.returncode == 0 and run.stdout.startswith("usage: batchops stop")
