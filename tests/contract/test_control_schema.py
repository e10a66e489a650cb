"""The control file's schema on the legacy forms, and fixes that give an example value."""

from __future__ import annotations

import json

import pytest

from batchops.adapters import schema


def control(**budget: object) -> dict:
    return {
        "enabled": True,
        "budget": {"macos_minutes_used": 0, "linux_minutes_used": 0, "sampling_active": False, **budget},
    }


@pytest.mark.parametrize("week_start", ["2026-12-01", "2026-11-30T00:00:00Z", "2026-11-30T00:00:00.5+00:00", ""])
def test_week_start_takes_the_runbooks_date_a_timestamp_or_empty(week_start: str) -> None:
    assert schema.problems(control(week_start=week_start), "batch-control", file="batch-control.json") == []


def test_history_keeps_a_date_week_start_too() -> None:
    document = control(week_start="2026-12-08", history=[{"week_start": "2026-12-01", "macos_minutes_used": 3}])
    assert schema.problems(document, "batch-control", file="batch-control.json") == []


@pytest.mark.parametrize("bad", ["12/01/2026", "2026-12-1", "next monday"])
def test_a_bad_week_start_says_which_forms_to_use(bad: str) -> None:
    [problem] = schema.problems(control(week_start=bad), "batch-control", file="batch-control.json")
    assert problem.pointer == "/budget/week_start"
    assert problem.hint == "use 2026-11-30 or 2026-11-30T00:00:00Z"


def _full_jsonschema_hints(document: dict) -> list[str]:
    return [schema._hint(e) for e in schema._jsonschema_validator("batch-control").iter_errors(document)]


BAD_VALUES = [
    ({"enabled": True, "disabled_at": "yesterday"}, 'use 2026-06-26T20:51:01Z or ""'),
    ({"enabled": True, "disabled_ecosystems": ["Home Brew"]}, "use homebrew or crates.io"),
    ({"enabled": True, "breaker_config": {"wait": "an hour"}}, "use 90m, 24h or 7d"),
    (control(week_start="tuesday"), "use 2026-11-30 or 2026-11-30T00:00:00Z"),
    (control(history=[{"week_start": "last week"}]), "use 2026-11-30 or 2026-11-30T00:00:00Z"),
    ({"enabled": True, "circuit_breaker": {"npm": {"opens_at": "soon"}}}, 'use 2026-06-26T20:51:01Z or ""'),
]


@pytest.mark.parametrize(("document", "hint"), BAD_VALUES)
def test_every_fix_of_a_bad_form_is_an_example_value_in_both_validators(document: dict, hint: str) -> None:
    descriptions = set()

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("description"), str):
                descriptions.add(node["description"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    for name in ("batch-control", "defs"):
        collect(json.loads((schema.SCHEMA_DIR / f"{name}.schema.json").read_text()))
    fast = [p.hint for p in schema.problems(document, "batch-control", file="batch-control.json")]
    full = _full_jsonschema_hints(document)
    assert fast == [hint] and full == [hint]
    assert not descriptions & set(fast + full)


BAD_KINDS = [
    ({"enabled": "false"}, "/enabled", "use true or false"),
    ({"enabled": True, "disabled_ecosystems": "npm"}, "/disabled_ecosystems", 'use ["homebrew", "crates.io"]'),
    (control(macos_minutes_used="ten"), "/budget/macos_minutes_used", "use a number such as 10"),
    (
        {"enabled": True, "budget": []},
        "/budget",
        'use {"macos_minutes_used": 0, "linux_minutes_used": 0, "week_start": "", "sampling_active": false}',
    ),
    ({"enabled": True, "reason": 5}, "/reason", 'use a string such as "text"'),
    (
        {"enabled": True, "circuit_breaker": {"npm": {"state": "weird"}}},
        "/circuit_breaker/npm/state",
        'use one of "closed", "open", "half-open"',
    ),
    (control(macos_minutes_used=-1), "/budget/macos_minutes_used", "use a value >= 0, such as 10"),
    ({"disabled_ecosystems": []}, "", "add the field 'enabled', e.g. \"enabled\": true"),
    (
        {"enabled": True, "disabled_ecosystems": ["npm", "npm"]},
        "/disabled_ecosystems",
        'remove the duplicate entries (each value once), e.g. ["homebrew", "crates.io"]',
    ),
]


@pytest.mark.parametrize(("document", "pointer", "hint"), BAD_KINDS)
def test_the_fix_of_a_wrong_kind_enum_or_bound_shows_a_value_to_write_in_both_validators(
    document: dict, pointer: str, hint: str
) -> None:
    """`jq '.enabled="false"'`: the fix says `use true or false`, not `make it a JSON boolean`."""
    [fast] = schema.problems(document, "batch-control", file="batch-control.json")
    assert (fast.pointer, fast.hint) == (pointer, hint)
    assert _full_jsonschema_hints(document) == [hint]


def test_an_unknown_field_lists_the_known_ones() -> None:
    [problem] = schema.problems(
        {"enabled": True, "breaker_config": {"threshold": 3}}, "batch-control", file="batch-control.json"
    )
    assert "known fields: ecosystems, failure_rate_threshold" in problem.hint


@pytest.mark.parametrize(
    ("keyword", "bound", "kind", "allowed"),
    [
        ("minimum", 5, "integer", lambda v: v >= 5),
        ("exclusiveMinimum", 0, "number", lambda v: v > 0),
        ("maximum", 3, "integer", lambda v: v <= 3),
        ("exclusiveMaximum", 1, "number", lambda v: v < 1),
    ],
)
def test_a_bound_is_fixed_by_an_example_inside_it(keyword: str, bound: float, kind: str, allowed) -> None:  # type: ignore[no-untyped-def]
    from batchops.adapters.fastschema import Error

    hint = schema._hint(Error("out of range", [], keyword, bound, {"type": kind, keyword: bound}))
    example = json.loads(hint.rsplit("such as ", 1)[1])
    assert allowed(example) and hint.startswith("use a value ")


def test_a_pattern_without_examples_is_fixed_by_a_value_it_matches() -> None:
    [problem] = schema.problems(
        {"id": "XYZ", "op": "control.disable", "file": "f", "args": {}, "at": "2026-06-26T20:51:01Z"},
        "operation",
        file="journal",
    )
    example = problem.hint.removeprefix("use a value such as ")
    assert problem.hint != example and len(example) >= 8 and set(example) <= set("0123456789abcdef")
