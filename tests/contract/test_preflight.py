"""preflight: what may run, and failing closed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli


def write_control(folder: Path, document: dict | str) -> Path:
    path = folder / "batch-control.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent=2))
    return path


def test_enabled_pipeline_returns_candidates_minus_disabled_as_a_json_array(tmp_path: Path) -> None:
    write_control(tmp_path, {"enabled": True, "disabled_ecosystems": ["npm"]})
    run = run_cli(["preflight", "--ecosystems", '["homebrew","npm","crates.io"]'], tmp_path)
    assert run.returncode == 0, run.log
    assert run.outputs["can-proceed"] == "true"
    assert json.loads(run.outputs["ecosystems"]) == ["homebrew", "crates.io"]
    assert json.loads(run.outputs["disabled-ecosystems"]) == ["npm"]
    assert "npm" in run.stdout and "::notice" in run.stdout
    assert "can proceed" in run.summary


def test_candidates_come_from_the_action_input_environment_as_a_list(tmp_path: Path) -> None:
    write_control(tmp_path, {"enabled": True})
    run = run_cli(["preflight"], tmp_path, env={"INPUT_ECOSYSTEMS": "homebrew\nnpm, pypi\n"})
    assert json.loads(run.outputs["ecosystems"]) == ["homebrew", "npm", "pypi"]


def test_without_candidates_every_ecosystem_the_control_file_knows_runs(tmp_path: Path, corpus: Path) -> None:
    shutil.copy(corpus / "control-history" / "batch-control.20260626T205108.json", tmp_path / "batch-control.json")
    run = run_cli(["preflight"], tmp_path)
    assert json.loads(run.outputs["ecosystems"]) == ["github", "homebrew", "rubygems", "crates.io", "npm", "pypi"]


def test_stopped_pipeline_exits_zero_with_a_warning_carrying_the_incident(tmp_path: Path) -> None:
    write_control(
        tmp_path,
        {
            "enabled": False,
            "reason": "checksum mismatch in homebrew",
            "incident_url": "https://example.test/i/7",
            "expected_resume": "2026-06-27T12:00:00Z",
            "disabled_by": "alice",
        },
    )
    run = run_cli(["preflight", "--ecosystems", "homebrew"], tmp_path)
    assert run.returncode == 0
    assert run.outputs["can-proceed"] == "false"
    assert run.outputs["ecosystems"] == "[]"
    assert run.outputs["reason"] == "checksum mismatch in homebrew"
    warning = next(line for line in run.stdout.splitlines() if line.startswith("::warning"))
    assert "checksum mismatch in homebrew" in warning and "https%3A//example.test/i/7" not in warning
    assert "https://example.test/i/7" in warning and "2026-06-27T12:00:00Z" in warning


def test_every_candidate_disabled_means_no_batch(tmp_path: Path) -> None:
    write_control(tmp_path, {"enabled": True, "disabled_ecosystems": ["npm"]})
    run = run_cli(["preflight", "--ecosystems", "npm"], tmp_path)
    assert run.returncode == 0 and run.outputs["can-proceed"] == "false"
    assert "every candidate ecosystem is disabled" in run.outputs["reason"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "file not found"),
        ('{"enabled": true,', "not valid JSON"),
        ('{"enabled": "yes"}', "/enabled"),
        ("[]", "is not of type 'object'"),
    ],
)
def test_unusable_control_file_fails_closed_with_an_error_that_names_the_fix(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    if content is not None:
        write_control(tmp_path, content)
    run = run_cli(["preflight", "--ecosystems", "homebrew"], tmp_path)
    assert run.returncode != 0
    assert run.outputs["can-proceed"] == "false"
    error = next(line for line in run.stdout.splitlines() if line.startswith("::error"))
    assert "batch-control.json" in error and expected in error.replace("%0A", "\n") and "fix" in error
    assert "Traceback" not in run.log
    assert "batchops error" in run.summary


def test_unreadable_control_file_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "batch-control.json").mkdir()
    run = run_cli(["preflight"], tmp_path)
    assert run.returncode != 0 and run.outputs["can-proceed"] == "false"


def test_bad_candidate_list_is_a_clear_error(tmp_path: Path) -> None:
    write_control(tmp_path, {"enabled": True})
    run = run_cli(["preflight", "--ecosystems", '["homebrew",'], tmp_path)
    assert run.returncode == 2 and "ecosystems" in run.stdout and "JSON array" in run.stdout
    assert run.outputs["can-proceed"] == "false"


def test_outside_actions_outputs_print_as_name_value_lines(tmp_path: Path) -> None:
    write_control(tmp_path, {"enabled": True})
    run = run_cli(["preflight", "--ecosystems", "homebrew"], tmp_path, actions=False)
    assert run.stdout.splitlines()[:4] == [
        "can-proceed=true",
        'ecosystems=["homebrew"]',
        "disabled-ecosystems=[]",
        "reason=",
    ]


def test_preflight_does_not_import_network_or_github_libraries(tmp_path: Path) -> None:
    import subprocess
    import sys

    write_control(tmp_path, {"enabled": True})
    code = (
        "import sys; from batchops.cli import main; main(['preflight','--ecosystems','npm']);"
        "bad=[m for m in ('requests','github','urllib3') if m in sys.modules]; print('HEAVY', bad)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout
    assert "HEAVY []" in out
