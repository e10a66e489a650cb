"""batchops' own schema checker agrees with jsonschema on every schema we ship."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchops.adapters import schema
from batchops.adapters.fastschema import Checker, supports

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 2000)
    | st.floats(-10, 10, allow_nan=False)
    | st.sampled_from([float("nan"), float("inf"), 2**53 + 1, 1e9])
    | st.sampled_from(
        [
            "",
            "closed",
            "open",
            "half-open",
            "ajar",
            "homebrew",
            "Home Brew",
            "2026-06-26T20:51:01Z",
            "2026-06-26",
            "24h",
            "x" * 70,
            "passed",
            "macos",
            "npm\n",
            "2026-06-26T20:51:01Z\n",
            "24h\n",
        ]
    )
)
values = st.recursive(
    scalars,
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "state",
                    "failures",
                    "window",
                    "x",
                    "homebrew",
                    "npm",
                    "Bad Key",
                    "window_size",
                    "ecosystems",
                    "results",
                ]
            ),
            c,
            max_size=3,
        )
    ),
    max_leaves=8,
)


def _paths(document: object) -> list[list[object]]:
    out: list[list[object]] = [[]]
    if isinstance(document, dict):
        for key, value in document.items():
            out += [[key, *p] for p in _paths(value)]
    elif isinstance(document, list):
        for index, value in enumerate(document):
            out += [[index, *p] for p in _paths(value)]
    return out


def _set(document: object, path: list[object], value: object) -> object:
    if not path:
        return value
    node = document
    for part in path[:-1]:
        node = node[part]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    return document


def _seeds(corpus: Path) -> list[dict]:
    docs = [json.loads(p.read_text()) for p in sorted((corpus / "control-history").glob("*.json"))]
    return docs[:6]


def _both(name: str, document: object) -> tuple[set, set]:
    ours = Checker(schema._load(name), schema._load)
    theirs = schema._jsonschema_validator(name)
    mine = {(tuple(e.absolute_path), e.validator) for e in ours.iter_errors(document)}
    ref = {(tuple(e.absolute_path), e.validator) for e in theirs.iter_errors(document)}
    return mine, ref


@pytest.mark.parametrize("name", schema.schema_names())
def test_every_shipped_schema_uses_only_keywords_the_fast_checker_knows(name: str) -> None:
    assert supports(schema._load(name)), f"{name}: add the keyword to batchops/adapters/fastschema.py or avoid it"


def test_agrees_on_every_legacy_control_file(corpus: Path) -> None:
    for path in sorted((corpus / "control-history").glob("*.json")):
        mine, ref = _both("batch-control", json.loads(path.read_text()))
        assert mine == ref == set()


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_agrees_with_jsonschema_on_mutated_control_files(data: st.DataObject) -> None:
    from tests.conftest import corpus_dir

    seeds = _seeds(corpus_dir() / "tsuku")
    document = copy.deepcopy(data.draw(st.sampled_from(seeds)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(document)))
        document = _set(document, path, data.draw(values))
    mine, ref = _both("batch-control", document)
    assert mine == ref


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(schema.schema_names()), document=values)
def test_agrees_with_jsonschema_on_arbitrary_documents(name: str, document: object) -> None:
    mine, ref = _both(name, document)
    assert mine == ref


@pytest.mark.parametrize("value", ["npm\n", "npm\r\n", "homebrew\n\n"])
def test_a_trailing_newline_does_not_pass_a_dollar_anchored_pattern_in_either_engine(value: str) -> None:
    document = {"enabled": True, "disabled_ecosystems": [value]}
    mine, ref = _both("batch-control", document)
    assert mine == ref == {(("disabled_ecosystems", 0), "pattern")}


def test_ecma_patterns_keep_escaped_and_bracketed_dollars() -> None:
    from batchops.adapters.fastschema import ecma_pattern

    assert ecma_pattern("^[a-z]+$") == r"^[a-z]+\Z"
    assert ecma_pattern(r"^a\$b[$]$") == r"^a\$b[$]\Z"


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_not_json_numbers_in_either_engine(number: float) -> None:
    document = {"enabled": True, "budget": {"macos_minutes_used": number}}
    mine, ref = _both("batch-control", document)
    assert mine == ref and (("budget", "macos_minutes_used"), "type") in mine


def test_minutes_beyond_the_documented_bound_do_not_validate() -> None:
    document = {"enabled": True, "budget": {"linux_minutes_used": 100_000_001}}
    mine, ref = _both("batch-control", document)
    assert mine == ref == {(("budget", "linux_minutes_used"), "maximum")}
