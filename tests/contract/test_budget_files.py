"""The budget on the real files: every legacy control file, and the schema's limits on the budget fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from batchops.adapters import schema
from batchops.core import budget
from batchops.core.budget import view
from tests.core.test_budget import MONDAY, THURSDAY, add


def legacy_files(corpus: Path) -> list[Path]:
    files = sorted((corpus / "control-history").glob("batch-control.*.json"))
    assert files
    return files


def test_every_legacy_control_file_reads_with_the_default_limits(corpus: Path) -> None:
    for path in legacy_files(corpus):
        document = json.loads(path.read_text())
        schema.validate(document, "batch-control", file=str(path))
        current = view(document, THURSDAY)
        assert [(g.limit, g.state) for g in current.gauges] == [(1000, "ok"), (5000, "ok")], path.name
        assert budget.preflight_outputs(current) == {
            "sampling-active": False,
            "sample-rate": "1.0",
            "paused-platforms": [],
        }


def test_minutes_added_to_every_legacy_file_still_validate(corpus: Path) -> None:
    for path in legacy_files(corpus):
        document = json.loads(path.read_text())
        add(document, "2026-06-29T00:00:00Z", macos=951, linux=10)
        schema.validate(document, "batch-control", file=str(path))
        assert view(document, datetime(2026, 6, 29, 1, tzinfo=UTC)).paused_platforms == ["macos"]


def test_a_control_file_without_a_budget_object_gets_one() -> None:
    document = {"enabled": True}
    add(document, "2026-06-25T10:00:00Z", linux=3)
    assert document["budget"]["linux_minutes_used"] == 3 and document["budget"]["week_start"] == MONDAY
    schema.validate(document, "batch-control", file="batch-control.json")


def test_schema_refuses_a_zero_limit_and_percentages_above_100() -> None:
    for bad in (
        {"macos_minutes_limit": 0},
        {"pause_percent": 120},
        {"sample_rate_floor": 2},
        {"history": [{"macos_minutes_used": 1}]},
    ):
        assert schema.problems({"enabled": True, "budget": bad}, "batch-control", file="x"), bad
