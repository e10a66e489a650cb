"""The SLO rules: severities at their boundaries, SLO defaults, pooling over runs, the last-N and window selection."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from batchops.core import slo
from batchops.errors import UsageError


def run(ecosystem: str, completed_at: str, passed: int, failed: int, skipped: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "id": 0,
        "ecosystem": ecosystem,
        "completed_at": completed_at,
        "started_at": completed_at,
        "passed": passed,
        "failed": failed,
        "skipped": skipped,
        **extra,
    }


@pytest.mark.parametrize(
    ("rate", "slo_pct", "passed", "latest", "expected"),
    [
        (None, 85, 0, None, "no-data"),
        (0.0, 85, 0, 0.0, "critical"),
        (64.9, 85, 50, 60, "critical"),
        (65.0, 85, 50, 60, "high"),
        (74.9, 85, 50, 80, "high"),
        (75.0, 85, 50, 80, "medium"),
        (84.99, 85, 50, 90, "medium"),
        (85.0, 85, 50, 70, "low"),
        (99.0, 98, 50, 98, "ok"),
        (100.0, 98, 50, None, "ok"),
    ],
)
def test_severity_boundaries(
    rate: float | None, slo_pct: float, passed: int, latest: float | None, expected: str
) -> None:
    assert slo.classify(rate, slo_pct, passed, latest) == expected


def test_homebrew_defaults_to_85_and_every_other_ecosystem_to_98() -> None:
    slos = slo.parse_slos(None)
    assert slo.slo_for("homebrew", slos) == 85 and slo.slo_for("crates.io", slos) == 98
    custom = slo.parse_slos(["homebrew=80", "default=95%"])
    assert slo.slo_for("homebrew", custom) == 80 and slo.slo_for("npm", custom) == 95


def test_rate_is_pooled_over_runs_and_skipped_recipes_do_not_count() -> None:
    runs = [run("npm", "2026-02-05T10:00:00Z", 99, 1, 50), run("npm", "2026-02-06T10:00:00Z", 1, 1)]
    (report,) = slo.evaluate(runs, slo.parse_slos(None))
    assert report.success_rate == pytest.approx(100 * 100 / 102, abs=0.01)
    assert report.latest_run_rate == 50.0
    assert report.severity == "low"  # meets 98% over the window, the last run did not
    assert [(d.date, d.success_rate) for d in report.daily] == [("2026-02-05", 99.0), ("2026-02-06", 50.0)]


@pytest.mark.parametrize("bad", ["homebrew", "homebrew=fast", "npm=120", "npm=nan", "npm=inf"])
def test_bad_slo_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError):
        slo.parse_slos([bad])


def test_last_n_keeps_the_latest_runs_of_each_ecosystem_and_the_window_the_completed_ones() -> None:
    runs = [run("npm", f"2026-02-0{day}T00:00:00Z", 10, 0) for day in range(1, 6)] + [
        run("pypi", "2026-02-02T00:00:00Z", 5, 5),
        run("pypi", "2026-02-08T00:00:00Z", 0, 5),
    ]
    now = datetime(2026, 2, 6, tzinfo=UTC)
    last, _ = slo.select(runs, now, window=None, last=2)
    assert [(r["ecosystem"], r["completed_at"][:10]) for r in last] == [
        ("pypi", "2026-02-02"),
        ("npm", "2026-02-04"),
        ("npm", "2026-02-05"),
    ]
    week, described = slo.select(runs, now, window="3d", last=None)
    assert [r["completed_at"][:10] for r in week] == ["2026-02-04", "2026-02-05"]
    assert described == {
        "kind": "window",
        "window": "3d",
        "from": "2026-02-03T00:00:00Z",
        "until": "2026-02-06T00:00:00Z",
    }


def test_runs_read_from_an_endpoint_with_offsets_and_no_completion_are_placed_in_time() -> None:
    runs = [run("npm", "", 1, 0, started_at="2026-02-05T23:30:00-02:00"), run("npm", "2026-02-05T10:00:00+00:00", 0, 1)]
    runs[0]["completed_at"] = None
    kept, _ = slo.select(runs, datetime(2026, 2, 7, tzinfo=UTC), window="7d", last=None)
    (report,) = slo.evaluate(kept, slo.parse_slos(None))
    assert [(d.date, d.passed, d.failed) for d in report.daily] == [("2026-02-05", 0, 1), ("2026-02-06", 1, 0)]
    assert report.latest_run_rate == 100.0


def test_counts_that_are_not_numbers_count_as_zero() -> None:
    (report,) = slo.evaluate([run("npm", "2026-02-05T00:00:00Z", "x", None)], slo.parse_slos(None))  # type: ignore[arg-type]
    assert (report.passed, report.failed, report.severity) == (0, 0, "no-data")
