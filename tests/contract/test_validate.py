"""Schemas and `batchops validate`: every legacy control file loads as it is; bad input gets a line, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchops.adapters import schema
from batchops.commands.validate import validate_file
from tests.cli_helpers import run_cli


def test_every_committed_legacy_control_file_validates_as_it_is(corpus: Path) -> None:
    files = sorted((corpus / "control-history").glob("*.json"))
    assert len(files) == 23
    for path in files:
        assert validate_file(path, "batch-control") == [], path.name


def test_the_repository_control_file_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    assert validate_file(root / "batch-control.json", None) == []


def test_invalid_file_gets_one_line_per_problem_with_pointer_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "batch-control.json"
    path.write_text('{\n  "enabled": "yes",\n  "circuit_breaker": {\n    "npm": {"state": "ajar"}\n  }\n}\n')
    run = run_cli(["validate", str(path)], tmp_path, actions=False)
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert f"{path}:2: /enabled: 'yes' is not of type 'boolean' (fix: use true or false)" in lines
    assert any(line.startswith(f"{path}:4: /circuit_breaker/npm/state:") and '"half-open"' in line for line in lines)
    assert "Traceback" not in run.log


def test_broken_json_names_the_line_and_the_usual_cause(tmp_path: Path) -> None:
    path = tmp_path / "batch-control.json"
    path.write_text('{\n  "enabled": true,\n}\n')
    run = run_cli(["validate", str(path)], tmp_path)
    assert run.returncode == 1
    assert f"{path}:3: not valid JSON" in run.stdout
    assert "::error" in run.stdout and "trailing comma" in run.stdout


def test_validate_checks_results_files_by_content(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(
        json.dumps(
            {
                "batch_id": "2026-02-03-homebrew",
                "ecosystem": "homebrew",
                "started_at": "2026-02-03T04:58:07Z",
                "completed_at": "2026-02-03T05:00:00Z",
                "results": [{"recipe_name": "jq", "result": "ok"}],
            }
        )
    )
    run = run_cli(["validate", str(path)], tmp_path, actions=False)
    assert run.returncode == 1
    assert "/results/0/result" in run.stdout and '"passed"' in run.stdout


def test_missing_file_and_directory_are_reported_not_raised(tmp_path: Path) -> None:
    run = run_cli(["validate", str(tmp_path / "nope.json"), str(tmp_path)], tmp_path, actions=False)
    assert run.returncode == 1
    assert "file not found" in run.stdout and "is a directory" in run.stdout
    assert "Traceback" not in run.log


def test_valid_files_say_ok_and_exit_zero(tmp_path: Path, corpus: Path) -> None:
    first = sorted((corpus / "control-history").glob("*.json"))[0]
    run = run_cli(["validate", str(first)], tmp_path, actions=False)
    assert run.returncode == 0 and run.stdout.strip() == f"{first}: ok"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        json_values.map(json.dumps), st.text(max_size=200), st.binary(max_size=100).map(lambda b: b.decode("latin-1"))
    )
)
def test_validate_never_raises_on_any_input(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    for schema_name in ("batch-control", "batch-results"):
        problems = validate_file(path, schema_name)
        # either valid, or every problem is reported against the file, with a fix
        assert all(line.startswith(str(path)) and "(fix: " in line for line in problems)


@settings(max_examples=200)
@given(json_values)
def test_control_fuzz_problems_are_single_lines_naming_the_file(value: object) -> None:
    text = json.dumps(value, indent=2)
    for problem in schema.problems(value, "batch-control", file="batch-control.json", text=text):
        rendered = problem.render()
        assert rendered.startswith("batch-control.json")
        assert "fix:" in rendered


def test_line_index_maps_pointers_to_lines() -> None:
    text = '{\n "a": [1,\n  {"b": "x"}],\n "c/d": true\n}'
    index = schema.line_index(text)
    assert index["/a/1/b"] == 3 and index["/c~1d"] == 4 and index[""] == 1


@pytest.mark.parametrize("name", ["defs", "batch-control", "batch-results", "operation"])
def test_schemas_are_valid_draft_2020_12(name: str) -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema._load(name))
