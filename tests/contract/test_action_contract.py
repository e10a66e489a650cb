"""Each action's ``action.yml`` is the source of its inputs: the CLI flags and fail-closed outputs are held to it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml

from batchops import cli
from batchops.steps import Step

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = sorted(p.parent.name for p in (ROOT / "actions").glob("*/action.yml"))
CLI_ONLY = {"now", "help"}  # flags every step has that are not action inputs


def action(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "actions" / name / "action.yml").read_text(encoding="utf-8"))


def step(name: str) -> Step:
    command = cli._load(name)
    assert isinstance(command, Step), f"batchops {name} must be a batchops.steps.Step returning a StepResult"
    return command


def flags(command: Step, monkeypatch: pytest.MonkeyPatch) -> dict[str, argparse.Action]:
    for variable in list(__import__("os").environ):
        if variable.startswith("INPUT_"):
            monkeypatch.delenv(variable)
    parser = argparse.ArgumentParser(prog=f"batchops {command.name}")
    command.configure(parser)
    found = {}
    for item in parser._actions:
        for option in item.option_strings:
            if option.startswith("--"):
                found[option[2:]] = item
    return found


@pytest.mark.parametrize("name", ACTIONS)
def test_every_action_input_is_a_cli_flag_of_the_same_name_and_nothing_else(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = set((action(name).get("inputs") or {}).keys())
    found = set(flags(step(name), monkeypatch)) - CLI_ONLY
    assert found == inputs, (
        f"{name}: only in action.yml: {sorted(inputs - found)}; only in the CLI: {sorted(found - inputs)}"
    )


@pytest.mark.parametrize("name", ACTIONS)
def test_cli_defaults_are_the_action_defaults(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    found = flags(step(name), monkeypatch)
    wrong = []
    for input_name, spec in (action(name).get("inputs") or {}).items():
        if "default" not in spec or input_name not in found:
            continue
        if str(spec["default"]).startswith(
            "${{"
        ):  # an expression (e.g. the job's token): only the runner knows its value
            continue
        default = found[input_name].default
        expected = str(spec["default"])
        if isinstance(spec["default"], bool):
            expected = expected.lower()
        if str(default if default is not None else "").lower() != expected.lower():
            wrong.append(f"--{input_name}: CLI default {default!r}, action.yml default {spec['default']!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", ACTIONS)
def test_fail_closed_outputs_are_exactly_the_action_outputs(name: str) -> None:
    declared = step(name).fail_closed
    if not declared:
        pytest.skip(f"{name} does not fail closed")
    assert set(declared) == set((action(name).get("outputs") or {}).keys())


def test_the_status_page_action_keeps_the_designed_inputs_and_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = action("status-page")
    assert {"out", "database", "endpoint", "token", "days"} <= set(spec["inputs"])
    assert spec["inputs"]["out"]["default"] == "status-page" and str(spec["inputs"]["days"]["default"]) == "30"
    assert set(spec["outputs"]) == {"page-dir", "open-incidents"}
    assert set(spec["inputs"]) == set(flags(step("status-page"), monkeypatch)) - CLI_ONLY


def test_the_alert_action_turns_an_empty_stale_after_off_not_into_the_default() -> None:
    spec = action("alert")
    assert str(spec["inputs"]["stale-after"]["default"]) == "48h"
    env = spec["runs"]["steps"][0]["env"]
    assert env["INPUT_STALE_AFTER"] == "${{ inputs.stale-after || 'off' }}"
