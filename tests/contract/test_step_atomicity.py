"""One step's operations apply together or not at all (breaker-update: ``breaker.record`` + ``budget.add_minutes``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batchops.adapters import controlfile, journal
from batchops.core import control
from batchops.errors import BatchopsError
from tests.cli_helpers import run_cli
from tests.support.operations import operation

AT = "2026-06-29T10:00:00Z"


def seeded(tmp_path: Path, linux_used: float) -> Path:
    document = json.loads(control.TEMPLATE)
    document["budget"]["linux_minutes_used"] = linux_used
    path = tmp_path / "batch-control.json"
    path.write_text(control.dumps(document))
    return path


def journal_lines(tmp_path: Path) -> list[str]:
    path = tmp_path / "ops" / "journal.jsonl"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize(
    ("used", "minutes"), [(1.7e308, "1e308"), (9.0e15, "5e14")], ids=["1.7e308+1e308", "9e15+5e14"]
)
def test_breaker_update_whose_minutes_overflow_applies_nothing(tmp_path: Path, used: float, minutes: str) -> None:
    """The issue's case: the outcome was recorded, the minutes were not, exit 70. Now: nothing, a user error
    (whichever boundary refuses it: the file, the flag or the sum)."""
    path = seeded(tmp_path, used)
    before = path.read_bytes()
    run = run_cli(
        ["breaker-update", "--ecosystem", "npm", "--outcome", "failure", "--linux-minutes", minutes, "--now", AT],
        tmp_path,
        env={"BATCHOPS_JOURNAL": str(tmp_path / "ops" / "journal.jsonl")},
    )
    assert run.returncode in (1, 2), run.log
    assert path.read_bytes() == before  # no outcome recorded without its minutes
    assert journal_lines(tmp_path) == []
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and ("batch-control.json" in errors[0] or "linux-minutes" in errors[0])
    assert "unexpectedly" not in run.log


def test_the_budget_is_written_with_the_outcome_in_one_write_and_two_journal_lines(tmp_path: Path) -> None:
    path = seeded(tmp_path, 10)
    run = run_cli(
        ["breaker-update", "--ecosystem", "npm", "--outcome", "failure", "--linux-minutes", "5", "--now", AT],
        tmp_path,
        env={"BATCHOPS_JOURNAL": str(tmp_path / "ops" / "journal.jsonl")},
    )
    assert run.returncode == 0, run.log
    final = json.loads(path.read_text())
    assert final["circuit_breaker"]["npm"]["window"] == ["failure"] and final["budget"]["linux_minutes_used"] == 15
    assert [json.loads(line)["op"] for line in journal_lines(tmp_path)] == ["breaker.record", "budget.add_minutes"]


@operation("atomicitytest.fail")
def _fail(document: dict[str, Any], args: dict[str, Any]) -> None:
    raise ArithmeticError("the value does not fit")


def test_a_later_operation_that_fails_takes_the_earlier_ones_with_it(tmp_path: Path) -> None:
    path = seeded(tmp_path, 0)
    before = path.read_bytes()
    operations = [("control.disable", {"ecosystem": "npm", "at": AT}), ("atomicitytest.fail", {"at": AT})]
    with pytest.raises(BatchopsError) as raised:
        controlfile.mutate_all(path, operations, at=AT)
    assert (
        raised.value.file == str(path)
        and "nothing of control.disable + atomicitytest.fail was applied" in raised.value.message
    )
    assert path.read_bytes() == before and journal.read() == []
