"""Every action and workflow passes actionlint and zizmor, and documents its inputs and outputs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = sorted([ROOT / "action.yml", *ROOT.glob("actions/*/action.yml")])
WORKFLOWS = sorted(
    [*ROOT.glob("examples/workflows/*.yml"), *ROOT.glob("examples/tsuku/*.yml"), *ROOT.glob(".github/workflows/*.yml")]
)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed; `pip install -e .[test]` installs it")
    return path


def test_actionlint_reports_nothing_on_the_example_workflows() -> None:
    if not WORKFLOWS:
        pytest.skip("no example workflows yet")
    proc = subprocess.run(
        [_need("actionlint"), "-no-color", *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_reports_nothing_on_actions_and_workflows() -> None:
    targets = [str(p) for p in ACTIONS + WORKFLOWS]
    proc = subprocess.run(
        [_need("zizmor"), "--offline", "--no-progress", *targets], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


@pytest.mark.parametrize("action", ACTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_input_and_output_has_a_description(action: Path) -> None:
    data = yaml.safe_load(action.read_text())
    assert data.get("description"), f"{action}: no description"
    for section in ("inputs", "outputs"):
        for name, spec in (data.get(section) or {}).items():
            assert re.fullmatch(r"[a-z][a-z0-9-]*", name), f"{action}: {section}.{name} is not kebab-case"
            assert isinstance(spec, dict) and spec.get("description"), f"{action}: {section}.{name} has no description"


@pytest.mark.parametrize("action", ACTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_input_expression_inside_run_scripts(action: Path) -> None:
    text = action.read_text()
    for block in re.findall(r"run: \|?(.*?)(?=\n    - |\Z)", text, flags=re.S):
        assert "${{" not in block, f"{action}: an expression inside run:"


def test_ruff_is_clean() -> None:
    proc = subprocess.run(
        [_need("ruff"), "check", "batchops", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_is_clean_on_the_package() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "batchops",
            "--ignore-missing-imports",
            "--no-error-summary",
            "--cache-dir",
            os.devnull,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def test_no_module_over_500_lines_and_no_function_over_80() -> None:
    """One concept a file, a function that fits on a screen: the sizes a reviewer can hold."""
    import ast

    too_long = []
    for path in sorted((ROOT / "batchops").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT)
        if text.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {text.count(chr(10))} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(
                        f"{name}:{node.lineno}: {node.name} has {length} lines (at most {MAX_FUNCTION_LINES})"
                    )
    assert not too_long, "split these by concept:\n" + "\n".join(too_long)
