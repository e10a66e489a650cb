"""What batchops writes stays readable by the control file's other readers (core.readers, through operations)."""

from __future__ import annotations

import copy

from batchops.core import operations, readers

AT = "2026-06-26T20:00:00Z"


def test_a_fraction_of_a_minute_is_written_back_whole_rounded_up_in_the_week_and_its_history() -> None:
    document = {
        "enabled": True,
        "budget": {
            "macos_minutes_used": 12.5,
            "linux_minutes_used": 7.0,
            "week_start": "2026-06-22",
            "history": [{"week_start": "2026-06-15", "macos_minutes_used": 0.25, "linux_minutes_used": 3}],
        },
    }
    readers.for_readers(document)
    budget = document["budget"]
    assert (budget["macos_minutes_used"], budget["linux_minutes_used"]) == (13, 7)
    assert type(budget["linux_minutes_used"]) is int
    assert budget["history"][0]["macos_minutes_used"] == 1 and budget["week_start"] == "2026-06-22"


def test_a_sum_of_fractions_that_is_whole_is_not_billed_a_minute_more() -> None:
    assert readers.whole_minutes(0.1 + 0.2 + 0.7) == 1
    assert readers.whole_minutes(3) == 3 and readers.whole_minutes(3.000001) == 4


def test_timestamps_are_written_in_the_generators_layout_and_dates_stay_dates() -> None:
    entry = {"state": "open", "failures": 3.0, "opens_at": "2026-06-26T21:51:01.250+00:00", "last_failure": None}
    document = {"enabled": False, "disabled_at": "2026-06-26T20:51:01+00:00", "circuit_breaker": {"npm": entry}}
    readers.for_readers(document)
    assert entry == {"state": "open", "failures": 3, "opens_at": "2026-06-26T21:51:01Z", "last_failure": ""}
    assert document["disabled_at"] == "2026-06-26T20:51:01Z"
    assert readers.canonical_time("2026-12-01") == "2026-12-01" and readers.canonical_time("soon") == "soon"


def test_the_nulls_the_generator_writes_read_as_the_defaults() -> None:
    document = {"enabled": True, "disabled_ecosystems": None, "circuit_breaker": None, "budget": None, "reason": None}
    readers.readable(document)
    assert document == {"enabled": True, "disabled_ecosystems": [], "circuit_breaker": {}, "budget": {}, "reason": ""}


def test_every_control_file_operation_leaves_a_file_the_other_readers_decode() -> None:
    generator_rewrite = {"enabled": True, "disabled_ecosystems": None, "circuit_breaker": None, "budget": None}
    for name, args in [
        ("control.disable", {"ecosystem": "npm"}),
        ("breaker.record", {"ecosystem": "npm", "outcomes": ["failure"], "at": AT}),
        ("budget.add_minutes", {"macos": 2.25, "linux": 3.5, "at": AT}),
    ]:
        document = copy.deepcopy(generator_rewrite)
        operations.apply(document, name, args)
        assert None not in document.values(), name
    operations.apply(document, "budget.add_minutes", {"macos": 2.25, "linux": 0, "at": AT})
    assert document["budget"]["macos_minutes_used"] == 3 + 3  # each job's 2.25 billed as 3
