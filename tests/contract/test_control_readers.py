"""The control file's other readers: the first user's generator and dashboard (its Go code) and the jq scripts.

Every scenario here goes through :class:`Scenario`, which checks the control file after **every** step
that wrote it (batchops's steps and operator commands, and the generator's own rewrite):

* the generator's struct decodes it (a file it cannot decode makes it treat every breaker as closed),
  and so does the dashboard's;
* no entry is ``null``; the legacy jq reads see the same breaker states;
* the generator, run at the scenario's clock on a copy, sees for every ecosystem the state batchops's
  gate gives (``breaker-gate --dry-run true``): open, half-open (the probe) or closed.

The generator also takes real turns (:meth:`Scenario.generator_turn`): it rewrites the file as it does,
dropping batchops's fields, and batchops carries on from that file (one probe; a failed probe re-opens).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from batchops.core.control import TEMPLATE
from tests.cli_helpers import CliRun, run_cli
from tests.support.tsuku_go import Decoded, GoReaders, built_once

START = datetime(2026, 6, 26, 20, 0, 0, tzinfo=UTC)


def _nulls(value: Any, where: str = "") -> list[str]:
    if value is None:
        return [where or "/"]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _nulls(item, f"{where}/{key}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _nulls(item, f"{where}/{i}")]
    return []


class Scenario:
    """A control file that batchops and the first user's programs take turns on, checked after every write."""

    def __init__(self, folder: Path, go: GoReaders, text: str = TEMPLATE) -> None:
        self.folder, self.go = folder, go
        self.path = folder / "batch-control.json"
        self.path.write_text(text)
        self.now = START
        self.checked = 0

    @property
    def stamp(self) -> str:
        return self.now.strftime("%Y-%m-%dT%H:%M:%SZ")

    def wait(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)

    def document(self) -> dict[str, Any]:
        return json.loads(self.path.read_text())

    def batchops(self, *args: str) -> CliRun:
        """A batchops step or command at the scenario's clock; the file it wrote is checked."""
        run = run_cli([*args, "--now", self.stamp], self.folder, actions=args[0] in STEPS)
        assert run.returncode == 0, run.log
        self.check()
        return run

    def gate(self, ecosystem: str, *, dry_run: bool = False) -> dict[str, str]:
        run = run_cli(
            ["breaker-gate", "--ecosystem", ecosystem, "--dry-run", str(dry_run).lower(), "--now", self.stamp],
            self.folder,
        )
        assert run.returncode == 0, run.log
        if not dry_run:
            self.check()
        return run.outputs

    def generator_turn(self) -> Decoded:
        """The generator at the scenario's clock: open breakers past opens_at go half-open, the file rewritten."""
        decoded = self.go.transition(self.path, self.stamp)
        assert decoded.ok, f"the generator cannot decode the control file: {decoded.error}"
        self.check(nulls_allowed=True)  # the generator writes null for a list, map or budget the file lacked
        return decoded

    def check(self, *, nulls_allowed: bool = False) -> Decoded:
        document = self.document()
        assert nulls_allowed or _nulls(document) == [], f"null entries: {_nulls(document)}"
        decoded = self.go.decode(self.path)
        assert decoded.ok, f"the generator cannot decode what batchops wrote: {decoded.error}\n{self.path.read_text()}"
        dashboard = self.go.dashboard(self.path)
        assert {name: entry["state"] for name, entry in dashboard.items()} == decoded.states
        assert self._jq_states(decoded.states) == decoded.states
        view = self.folder / "generator-view.json"  # the generator at this clock, on a copy
        shutil.copy(self.path, view)
        seen = self.go.transition(view, self.stamp)
        gate = {eco: self.gate(eco, dry_run=True)["state"] for eco in seen.states}
        assert seen.states == gate, f"the generator sees {seen.states}, batchops's gate {gate} at {self.stamp}"
        self.checked += 1
        return decoded

    def _jq_states(self, states: dict[str, str]) -> dict[str, str]:
        """The legacy scripts' read: ``jq -r '.circuit_breaker[$eco].state // "closed"'`` (check_breaker.sh)."""
        found = {}
        for eco in states:
            run = subprocess.run(
                ["jq", "-r", "--arg", "eco", eco, '.circuit_breaker[$eco].state // "closed"', str(self.path)],
                capture_output=True,
                text=True,
                check=True,
            )
            found[eco] = run.stdout.strip()
        return found


STEPS = {"breaker-gate", "breaker-update", "preflight"}


@pytest.fixture(scope="session")
def go_readers(tmp_path_factory: pytest.TempPathFactory) -> GoReaders:
    """The first user's generator and dashboard, built from the corpus once per session."""
    return built_once(tmp_path_factory)


@pytest.fixture
def scenario(tmp_path: Path, go_readers: GoReaders) -> Scenario:
    if shutil.which("jq") is None:
        pytest.fail("jq is not installed: run scripts/test-tools.sh")
    return Scenario(tmp_path, go_readers)


def _results(folder: Path, name: str, passed: int, failed: int, **minutes: float) -> str:
    rows = [{"recipe_name": f"ok-{i}", "result": "passed"} for i in range(passed)]
    rows += [{"recipe_name": f"bad-{i}", "result": "failed"} for i in range(failed)]
    document = {
        "batch_id": name,
        "ecosystem": "npm",
        "started_at": "2026-06-26T19:00:00Z",
        "completed_at": "2026-06-26T19:30:00Z",
        "results": rows,
        **minutes,
    }
    (folder / f"{name}.json").write_text(json.dumps(document))
    return f"{name}.json"


# --- the generator cannot decode fractions: the defect, then its fix --------------------------------


def test_the_generator_ignores_a_control_file_with_fractional_minutes(tmp_path: Path, go_readers: GoReaders) -> None:
    """Why minutes are whole: the first user's generator then treats every breaker as closed."""
    path = tmp_path / "batch-control.json"
    path.write_text(json.dumps({"enabled": True, "budget": {"macos_minutes_used": 2.25, "linux_minutes_used": 0}}))
    decoded = go_readers.decode(path)
    assert not decoded.ok and "cannot unmarshal number 2.25" in decoded.error


def test_fractional_minutes_from_inputs_and_results_files_are_recorded_whole_rounded_up(scenario: Scenario) -> None:
    scenario.batchops("breaker-update", "--ecosystem", "npm", "--outcome", "success", "--macos-minutes", "2.25")
    scenario.batchops("breaker-update", "--ecosystem", "npm", "--outcome", "success", "--linux-minutes", "3.5")
    results = _results(scenario.folder, "2026-06-26-npm", 3, 1, macos_minutes=1.5, linux_minutes=0.25)
    run = scenario.batchops("breaker-update", "--results-file", results)
    assert "Budget: added 2 macOS (1.5 rounded up) and 1 Linux (0.25 rounded up) minute(s)" in run.summary
    budget = scenario.check().document["budget"]
    assert (budget["macos_minutes_used"], budget["linux_minutes_used"]) == (3 + 2, 4 + 1)


def test_a_file_with_fractional_minutes_is_written_back_whole_by_the_next_change(scenario: Scenario) -> None:
    scenario.path.write_text(
        json.dumps(
            {
                "enabled": True,
                "budget": {
                    "macos_minutes_used": 12.5,
                    "linux_minutes_used": 7.01,
                    "week_start": "2026-06-22",
                    "sampling_active": False,
                },
            }
        )
    )
    assert not scenario.go.decode(scenario.path).ok  # as a hand edit or an older batchops left it
    scenario.batchops("disable", "npm", "--new")
    budget = scenario.document()["budget"]
    assert (budget["macos_minutes_used"], budget["linux_minutes_used"], budget["week_start"]) == (13, 8, "2026-06-22")


# --- trips, probes and the generator's turns ---------------------------------------------------------


def test_batchops_and_the_generator_taking_turns_both_always_see_an_open_breaker(scenario: Scenario) -> None:
    for _ in range(5):
        run = scenario.batchops("breaker-update", "--ecosystem", "npm", "--outcome", "failure")
        scenario.wait(1)
    assert run.outputs["tripped"] == "true"
    assert scenario.check().states["npm"] == "open"
    assert scenario.generator_turn().states["npm"] == "open"  # before opens_at: it leaves the file alone
    assert scenario.gate("npm")["skip"] == "true"

    scenario.wait(61)
    turn = scenario.generator_turn()  # past opens_at: half-open, the file rewritten with its struct
    assert turn.modified and turn.states["npm"] == "half-open"
    assert "window" not in scenario.document()["circuit_breaker"]["npm"]
    first, second = scenario.gate("npm"), scenario.gate("npm")
    assert (first["skip"], first["state"]) == ("false", "half-open")  # batchops grants one probe
    assert (second["skip"], second["state"]) == ("true", "half-open")  # and only one
    reopened = scenario.batchops("breaker-update", "--ecosystem", "npm", "--outcome", "failure")
    assert (reopened.outputs["state"], reopened.outputs["tripped"]) == ("open", "true")  # a failed probe re-opens
    assert scenario.check().states["npm"] == "open"

    scenario.wait(61)
    assert scenario.generator_turn().states["npm"] == "open"  # the wait doubled: still open for both
    assert scenario.gate("npm")["skip"] == "true"
    scenario.wait(60)
    assert scenario.generator_turn().states["npm"] == "half-open"
    assert scenario.gate("npm")["skip"] == "false"
    closed = scenario.batchops("breaker-update", "--ecosystem", "npm", "--outcome", "success")
    assert closed.outputs["state"] == "closed"
    assert scenario.check().states["npm"] == "closed"
    assert scenario.checked >= 15


def test_a_probe_batchops_granted_is_not_granted_again_by_the_generators_turn(scenario: Scenario) -> None:
    results = _results(scenario.folder, "2026-06-26-npm", 1, 5, macos_minutes=0.5)
    assert scenario.batchops("breaker-update", "--results-file", results).outputs["tripped"] == "true"
    scenario.wait(90)
    assert scenario.gate("npm")["state"] == "half-open"  # batchops took the probe first
    turn = scenario.generator_turn()
    assert not turn.modified and turn.states["npm"] == "half-open"
    assert scenario.gate("npm")["skip"] == "true"


# --- operator commands ------------------------------------------------------------------------------


def test_every_operator_command_leaves_a_file_the_generator_and_dashboard_read_alike(scenario: Scenario) -> None:
    scenario.batchops("stop", "--reason", "registry outage", "--incident-url", "https://example.com/incident/1")
    assert scenario.check().document["enabled"] is False
    scenario.batchops("resume")
    scenario.batchops("disable", "npm", "--new")
    assert scenario.check().document["disabled_ecosystems"] == ["npm"]
    scenario.batchops("enable", "npm")
    scenario.batchops("breaker", "open", "pypi", "--new", "--reason", "upstream 5xx")
    assert scenario.check().states["pypi"] == "open"
    scenario.batchops("breaker", "probe", "pypi", "--reason", "upstream fixed")
    assert scenario.check().states["pypi"] == "half-open"
    scenario.batchops("breaker", "reset", "pypi", "--reason", "known good")
    assert scenario.check().states["pypi"] == "closed"
    scenario.batchops("breaker-update", "--ecosystem", "npm", "--outcome", "success", "--macos-minutes", "900.5")
    scenario.batchops("budget", "sample", "--on")
    assert scenario.check().document["budget"]["sampling_active"] is True
    scenario.batchops("budget", "sample", "--off")
    scenario.batchops("budget", "reset", "--platform", "macos")
    budget = scenario.check().document["budget"]
    assert budget["macos_minutes_used"] == 0
    assert scenario.document()["budget"]["history"][-1]["macos_minutes_used"] == 901
    assert scenario.checked >= 11


# --- the first user's own file, and the generator's nulls -------------------------------------------


def test_the_first_users_last_control_file_carries_on_through_both_writers(
    tmp_path: Path, go_readers: GoReaders, corpus: Path
) -> None:
    history = sorted((corpus / "control-history").glob("batch-control.*.json"))
    scenario = Scenario(tmp_path, go_readers, history[-1].read_text())
    scenario.now = datetime(2026, 6, 26, 22, 0, 0, tzinfo=UTC)  # after the opens_at of every open breaker
    scenario.check()
    turn = scenario.generator_turn()
    assert turn.modified and {turn.states[e] for e in turn.states if e != "default"} == {"half-open"}
    assert scenario.gate("homebrew")["skip"] == "false"
    assert (
        scenario.batchops("breaker-update", "--ecosystem", "homebrew", "--outcome", "failure").outputs["state"]
        == "open"
    )
    scenario.batchops("stop", "--reason", "every ecosystem fails")
    scenario.batchops("resume")
    assert scenario.check().states["homebrew"] == "open"


def test_a_file_the_generator_rewrote_with_nulls_is_read_and_written_back_without_them(scenario: Scenario) -> None:
    opened = {
        "state": "open",
        "failures": 6,
        "last_failure": "2026-06-26T18:00:00Z",
        "opens_at": "2026-06-26T19:00:00Z",
    }
    scenario.path.write_text(json.dumps({"enabled": True, "circuit_breaker": {"npm": opened}}))
    scenario.go.transition(scenario.path, scenario.stamp)
    assert {"disabled_ecosystems": None, "budget": None}.items() <= scenario.document().items()  # the generator's nulls
    assert run_cli(["preflight", "--now", scenario.stamp], scenario.folder).outputs["can-proceed"] == "true"
    assert scenario.gate("npm")["skip"] == "false"  # batchops reads it (and checks what it wrote)
    scenario.batchops("breaker-update", "--ecosystem", "npm", "--outcome", "success", "--linux-minutes", "2.5")
    document = scenario.document()
    assert document["disabled_ecosystems"] == [] and document["budget"]["linux_minutes_used"] == 3
    assert document["circuit_breaker"]["npm"]["state"] == "closed"


def test_an_opens_at_in_another_iso_form_is_written_back_in_the_layout_the_generator_parses(scenario: Scenario) -> None:
    opened = {
        "state": "open",
        "failures": 6,
        "last_failure": "2026-06-26T18:00:00Z",
        "opens_at": "2026-06-26T19:00:00+00:00",
    }
    scenario.path.write_text(json.dumps({"enabled": True, "circuit_breaker": {"npm": opened, "pypi": dict(opened)}}))
    assert scenario.go.transition(scenario.folder / "batch-control.json", scenario.stamp).states["npm"] == "open"
    scenario.path.write_text(json.dumps({"enabled": True, "circuit_breaker": {"npm": opened, "pypi": dict(opened)}}))
    scenario.batchops("breaker-update", "--ecosystem", "pypi", "--outcome", "failure")  # any write: the whole file
    assert scenario.document()["circuit_breaker"]["npm"]["opens_at"] == "2026-06-26T19:00:00Z"
    assert scenario.generator_turn().states["npm"] == "half-open"  # its wait is over for the generator too
