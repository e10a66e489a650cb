"""The release and CI workflows: lint clean, and the release notes are the tag's CHANGELOG section."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        pytest.fail(f"{name} is not installed; `pip install -e .[test]` installs it")
    return path


def test_release_and_ci_workflows_pass_actionlint_and_zizmor() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "release.yml"}
    lint = subprocess.run([_tool("actionlint"), "-no-color", *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    audit = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert audit.returncode == 0 and "No findings to report" in audit.stdout + audit.stderr, audit.stdout + audit.stderr


def _release_steps() -> dict[str, dict]:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    return {step.get("name", ""): step for step in workflow["jobs"]["release"]["steps"]}


def test_every_job_has_minimal_permissions_and_only_release_may_write() -> None:
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        assert workflow["permissions"] == {}, path.name
        for name, job in workflow["jobs"].items():
            allowed = {"contents": "write"} if (path.name, name) == ("release.yml", "release") else {"contents": "read"}
            assert job["permissions"] == allowed, f"{path.name}: {name}"


def _notes(tmp_path: Path, tag: str, changelog: str | None = None) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "checkout"
    work.mkdir(exist_ok=True)
    (work / "CHANGELOG.md").write_text(changelog if changelog is not None else (ROOT / "CHANGELOG.md").read_text())
    script = _release_steps()["release notes from CHANGELOG.md"]["run"]
    env = {"PATH": os.environ["PATH"], "TAG": tag, "RUNNER_TEMP": str(tmp_path)}
    return subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True, text=True, check=False)


def test_release_notes_are_the_changelog_section_of_the_tag(tmp_path: Path) -> None:
    changelog = "# Changelog\n\n## [Unreleased]\n\n- next\n\n## [1.1.0] - 2027-01-04\n\n### Fixed\n\n- b\n\n## [1.0.0] - 2026-12-01\n\n- a\n\n[1.0.0]: x\n"
    run = _notes(tmp_path, "v1.1.0", changelog)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "notes.md").read_text() == "\n### Fixed\n\n- b\n\n"


def test_the_1_0_0_section_of_the_changelog_makes_release_notes(tmp_path: Path) -> None:
    run = _notes(tmp_path, "v1.0.0")
    assert run.returncode == 0, run.stdout + run.stderr
    notes = (tmp_path / "notes.md").read_text()
    assert "actions/preflight" in notes and "## [" not in notes
    assert "[1.0.0]:" not in notes  # the link references at the end are not part of the section


def test_a_tag_without_a_changelog_section_fails_the_release(tmp_path: Path) -> None:
    run = _notes(tmp_path, "v9.9.9")
    assert run.returncode == 1
    assert "::error file=CHANGELOG.md" in run.stdout and "## [9.9.9]" in run.stdout


def test_a_tag_that_is_not_a_version_fails_the_release(tmp_path: Path) -> None:
    run = _notes(tmp_path, "v1.0.0;echo")
    assert run.returncode == 1
    assert "is not a version tag" in run.stdout


def _version_check(tmp_path: Path, tag: str, pyproject_version: str, module_version: str) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "checkout"
    (work / "batchops").mkdir(parents=True, exist_ok=True)
    (work / "pyproject.toml").write_text(f'[project]\nname = "batchops"\nversion = "{pyproject_version}"\n')
    (work / "batchops" / "__init__.py").write_text(f'"""batchops."""\n\n__version__ = "{module_version}"\n')
    script = _release_steps()["the tag is the version of the package"]["run"]
    env = {"PATH": os.environ["PATH"], "TAG": tag}
    return subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True, text=True, check=False)


def test_a_release_needs_the_tag_to_be_the_package_version(tmp_path: Path) -> None:
    assert _version_check(tmp_path, "v1.2.0", "1.2.0", "1.2.0").returncode == 0
    stale = _version_check(tmp_path, "v1.2.0", "1.1.0", "1.2.0")
    assert stale.returncode == 1
    assert "pyproject.toml says '1.1.0'" in stale.stdout and "set both to 1.2.0" in stale.stdout
    assert _version_check(tmp_path, "v1.2.0", "1.2.0", "0.1.0").returncode == 1
