"""Hostile JSON and numbers: refused at the one strict reader, with the file, the place and the fix.

Every file batchops reads goes through ``batchops.adapters.schema.parse_json_text``;
these tests drive it through the real commands (in and out of Actions) and through
each reader of the product (control file, results, spool, baseline, plan, journal).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchops.adapters import controlfile, journal, schema
from batchops.errors import BatchopsError
from tests.cli_helpers import run_cli

STOPPED_THEN_ENABLED = '{"enabled": false, "reason": "stopped", "enabled": true}'


def write(folder: Path, text: str, name: str = "batch-control.json") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("actions", [True, False], ids=["in-actions", "terminal"])
def test_a_duplicate_key_is_refused_not_resolved_to_the_last(tmp_path: Path, actions: bool) -> None:
    write(tmp_path, STOPPED_THEN_ENABLED)
    run = run_cli(["preflight", "--ecosystems", "homebrew"], tmp_path, actions=actions)
    assert run.returncode == 1, run.log
    assert run.outputs["can-proceed"] == "false"
    assert "the key 'enabled' appears twice" in run.log and "batch-control.json" in run.log
    check = run_cli(["validate", "batch-control.json"], tmp_path, actions=actions)
    assert check.returncode == 1 and "batch-control.json:1: /enabled: the key 'enabled' appears twice" in check.stdout


def test_a_nested_duplicate_key_is_named_by_its_pointer_and_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        '{\n  "enabled": true,\n  "circuit_breaker": {\n'
        '    "npm": {"state": "open",\n            "state": "closed"}\n  }\n}\n',
    )
    check = run_cli(["validate", "batch-control.json"], tmp_path, actions=False)
    assert check.returncode == 1
    assert "batch-control.json:5: /circuit_breaker/npm/state: the key 'state' appears twice" in check.stdout


NON_NUMBERS = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "overflowing float": "1e400",
    "5000-digit integer": "9" * 5000,
    "beyond 2**53": str(2**53 + 1),
    "long fraction": "0." + "1" * 60,
}


@pytest.mark.parametrize("literal", NON_NUMBERS.values(), ids=NON_NUMBERS.keys())
def test_a_number_no_reader_can_hold_fails_preflight_closed_naming_the_file(tmp_path: Path, literal: str) -> None:
    write(tmp_path, '{"enabled": true, "budget": {"macos_minutes_used": ' + literal + "}}")
    run = run_cli(["preflight", "--ecosystems", "homebrew"], tmp_path)
    assert run.returncode == 1, run.log
    assert run.outputs["can-proceed"] == "false"
    assert "::error" in run.stdout and "batch-control.json" in run.stdout and "line=1" in run.stdout
    assert "/budget/macos_minutes_used" in run.stdout and "fix" in run.stdout
    assert "failed unexpectedly" not in run.log


@pytest.mark.parametrize("literal", NON_NUMBERS.values(), ids=NON_NUMBERS.keys())
def test_a_number_no_reader_can_hold_makes_the_gate_skip(tmp_path: Path, literal: str) -> None:
    write(tmp_path, '{"enabled": true, "circuit_breaker": {"npm": {"state": "closed", "failures": ' + literal + "}}}")
    run = run_cli(["breaker-gate", "--ecosystem", "npm"], tmp_path)
    assert run.returncode == 1, run.log
    assert run.outputs["skip"] == "true"
    check = run_cli(["validate", "batch-control.json"], tmp_path, actions=False)
    assert check.returncode == 1 and "fix:" in check.stdout and "Traceback" not in check.log


def test_the_largest_exact_integer_is_still_accepted(tmp_path: Path) -> None:
    write(
        tmp_path, '{"enabled": true, "circuit_breaker": {"npm": {"state": "closed", "failures": ' + str(2**53) + "}}}"
    )
    assert run_cli(["validate", "batch-control.json"], tmp_path, actions=False).returncode == 0


@pytest.mark.parametrize("value", ["npm\n", "npm\r\n", "npm\u2028"])
def test_an_ecosystem_name_with_a_trailing_line_break_is_refused(tmp_path: Path, value: str) -> None:
    write(tmp_path, json.dumps({"enabled": True}))
    run = run_cli(["disable", value], tmp_path, actions=False)
    assert run.returncode == 2, run.log
    assert json.loads((tmp_path / "batch-control.json").read_text()) == {"enabled": True}
    write(tmp_path, json.dumps({"enabled": True, "disabled_ecosystems": [value]}))
    assert run_cli(["validate", "batch-control.json"], tmp_path, actions=False).returncode == 1
    preflight = run_cli(["preflight", "--ecosystems", "npm"], tmp_path)
    assert preflight.outputs["can-proceed"] == "false" and preflight.returncode == 1


@pytest.mark.parametrize(
    "document, pointer",
    [
        ({"enabled": False, "reason": "x", "disabled_at": "2026-06-26T20:51:01Z\n"}, "/disabled_at"),
        (
            {"enabled": True, "circuit_breaker": {"npm": {"state": "open", "opens_at": "2026-06-26T20:51:01Z\n"}}},
            "/circuit_breaker/npm/opens_at",
        ),
        ({"enabled": True, "breaker_config": {"wait": "60m\n"}}, "/breaker_config/wait"),
    ],
)
def test_a_timestamp_or_duration_with_a_trailing_newline_does_not_validate(
    tmp_path: Path, document: dict, pointer: str
) -> None:
    write(tmp_path, json.dumps(document))
    check = run_cli(["validate", "batch-control.json"], tmp_path, actions=False)
    assert check.returncode == 1, check.log
    assert pointer in check.stdout


@pytest.mark.parametrize("depth", [65, 600, 985, 2000])
def test_deep_nesting_under_an_unknown_key_is_one_clear_error_everywhere(tmp_path: Path, depth: int) -> None:
    write(tmp_path, '{"enabled": true, "x": ' + "[" * depth + "]" * depth + "}")
    for args in (
        ["validate", "batch-control.json"],
        ["preflight", "--ecosystems", "npm"],
        ["disable", "npm"],
        ["status"],
    ):
        run = run_cli(args, tmp_path, actions=False)
        assert run.returncode in (1, 2), (args, run.log)
        assert "nested deeper than 64 levels" in run.log, (args, run.log)
        assert "RecursionError" not in run.log and "failed unexpectedly" not in run.log


def test_a_surrogate_escape_no_utf8_file_can_hold_is_refused(tmp_path: Path) -> None:
    write(tmp_path, '{"enabled": false, "reason": "bad \\ud800 half"}')
    check = run_cli(["validate", "batch-control.json"], tmp_path, actions=False)
    assert check.returncode == 1 and "unpaired surrogate" in check.stdout


def test_a_reason_with_unicode_line_separators_keeps_the_journal_one_line_per_operation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHOPS_JOURNAL", str(tmp_path / "journal.jsonl"))
    reason = "bad\u2028thing\u2029and\x85more\r\nend"
    for index in range(3):
        journal.record(
            journal.new_operation(
                "control.stop", "batch-control.json", {"reason": reason, "n": index}, "2026-06-26T20:51:01Z"
            )
        )
    raw = (tmp_path / "journal.jsonl").read_bytes()
    assert raw.isascii() and raw.count(b"\n") == 3
    assert [e["args"] for e in journal.read()] == [{"reason": reason, "n": i} for i in range(3)]


def test_a_journal_line_with_a_duplicate_key_is_refused_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.jsonl"
    monkeypatch.setenv("BATCHOPS_JOURNAL", str(path))
    journal.record(journal.new_operation("control.resume", "batch-control.json", {}, "2026-06-26T20:51:01Z"))
    with path.open("a") as handle:
        handle.write('{"op": "control.stop", "op": "control.resume"}\n')
    with pytest.raises(BatchopsError) as caught:
        journal.read()
    assert caught.value.line == 2 and "appears twice" in caught.value.message


# --- every reader, fuzzed ---------------------------------------------------------------------

HOSTILE_VALUES = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "9" * 5000,
    str(2**53 + 1),
    "[" * 100 + "]" * 100,
    '"\\ud800"',
]


def _readers(folder: Path):  # type: ignore[no-untyped-def]
    def control(text: str) -> object:
        return controlfile.load(write(folder, text))

    def of(schema_name: str):  # type: ignore[no-untyped-def]
        return lambda text: schema.load_json(write(folder, text, f"{schema_name}.json"), schema_name)

    def journal_file(text: str) -> object:
        (folder / "journal.jsonl").write_text(text.replace("\n", " ") + "\n", encoding="utf-8")
        return journal.read()

    return {
        "control file": control,
        "results file": of("batch-results"),
        "metrics spool": of("batch-metrics-spool"),
        "drift baseline": of("drift-baseline"),
        "rollback plan": of("rollback-plan"),
        "journal": journal_file,
    }


def _seed(name: str) -> dict:
    return {
        "control file": {"enabled": True, "circuit_breaker": {"npm": {"state": "closed", "failures": 0}}},
        "results file": {"batch_id": "2026-06-26-npm", "ecosystem": "npm", "results": []},
        "metrics spool": {"attempts": 0},
        "drift baseline": {},
        "rollback plan": {},
        "journal": {
            "id": "a" * 32,
            "op": "control.resume",
            "file": "batch-control.json",
            "args": {},
            "at": "2026-06-26T20:51:01Z",
        },
    }[name]


def _hostile_text(data: st.DataObject, seed: dict) -> str:
    text = json.dumps(seed)
    choice = data.draw(st.sampled_from(["value", "duplicate", "key"]))
    if choice == "duplicate" and seed:
        key = data.draw(st.sampled_from(sorted(seed)))
        return text[:-1] + f", {json.dumps(key)}: {json.dumps(seed[key])}}}"
    literal = data.draw(st.sampled_from(HOSTILE_VALUES))
    key = json.dumps(data.draw(st.sampled_from(["x", "y\n::error::PWN", "enabled", "attempts", "\u2028"])))
    return (text[:-1] + ", " if seed else "{") + f"{key}: {literal}}}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    reader=st.sampled_from(
        ["control file", "results file", "metrics spool", "drift baseline", "rollback plan", "journal"]
    ),
)
def test_every_reader_refuses_hostile_json_with_one_batchops_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: st.DataObject, reader: str
) -> None:
    monkeypatch.setenv("BATCHOPS_JOURNAL", str(tmp_path / "journal.jsonl"))
    text = _hostile_text(data, _seed(reader))
    with pytest.raises(BatchopsError) as caught:
        _readers(tmp_path)[reader](text)
    assert caught.value.file and caught.value.hint


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**53), 2**53)
        | st.floats(allow_nan=False, allow_infinity=False, min_value=-(2.0**53), max_value=2.0**53)
        | st.text(),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=20,
    )
)
def test_every_document_json_can_hold_exactly_reads_back_the_same(document: object) -> None:
    for ensure_ascii in (True, False):
        assert schema.parse_json_text(json.dumps(document, ensure_ascii=ensure_ascii), "doc.json") == document
