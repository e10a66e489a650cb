"""The first user's runbook, run as written, side by side with batchops.

The five procedures of ``legacy/runbook-batch-operations.md`` are taken from the
runbook file itself (its fenced ``bash`` blocks and its ``jq`` commands) and run
with ``jq`` and ``bash`` in a clone of a bare remote, placeholders filled in as an
operator would. The legacy scripts (``check_breaker.sh``, ``update_breaker.sh``,
``rollback-batch.sh``) are the real ones. Between the procedures batchops steps and
operator commands run on the same file, and after each procedure every batchops
command must accept the file and do what the procedure meant (a stop stops, a
disabled ecosystem is left out, forced sampling samples, a date ``week_start``
is the week).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.cli_helpers import CliRun, run_cli
from tests.support.gitrepo import GIT_ENV, git, make_remote

pytestmark = [
    pytest.mark.usefixtures("first_users_go_code_reads_every_control_file"),
    pytest.mark.skipif(shutil.which("jq") is None, reason="jq (Debian package) is not installed"),
]

# What an operator types for the runbook's placeholders.
PLACEHOLDERS = {
    "<low-priority-ecosystem>": "npm",
    "<description>": "upstream API outage",
    "<description of issue>": "upstream API outage",
    "<your-github-username>": "oncall-operator",
    "<expected resume date>": "2026-12-02",
    "<link to issue or alert>": "https://github.com/example/registry/issues/7",
    "<resolution summary>": "upstream recovered",
}
SCRIPTS = ("check_breaker.sh", "update_breaker.sh", "rollback-batch.sh")


# --- the runbook, read from its file --------------------------------------------------------


def runbook_blocks(corpus: Path) -> dict[int, list[tuple[str, str, str]]]:
    """Section number -> [(label, info string, code)] for every fenced block, in order.

    The label is the last bold line (``**Disable all batch processing:**``) above the block.
    """
    text = (corpus / "legacy" / "runbook-batch-operations.md").read_text()
    sections: dict[int, list[tuple[str, str, str]]] = {}
    section, label = 0, ""
    lines = iter(text.splitlines())
    for line in lines:
        heading = re.match(r"^## (\d+)\. ", line)
        if heading:
            section, label = int(heading.group(1)), ""
            continue
        bold = re.match(r"^\*\*(.+?):?\*\*:?\s*$", line.strip())
        if bold:
            label = bold.group(1).rstrip(":")
            continue
        fence = re.match(r"^(\s*)```(\w*)\s*$", line)
        if fence and section:
            indent, info, body = fence.group(1), fence.group(2), []
            for inner in lines:
                if inner.strip() == "```":
                    break
                body.append(inner[len(indent) :] if inner.startswith(indent) else inner)
            sections.setdefault(section, []).append((label, info, "\n".join(body)))
    return sections


def procedure(corpus: Path, section: int, label: str) -> str:
    """The bash block of ``section`` under the bold ``label``, placeholders filled in."""
    found = [code for name, info, code in runbook_blocks(corpus)[section] if info == "bash" and name == label]
    assert len(found) == 1, f"runbook section {section} has no single bash block under {label!r}"
    code = found[0]
    for placeholder, value in PLACEHOLDERS.items():
        code = code.replace(placeholder, value)
    assert not re.search(r"<[a-z][a-z -]*>", code), f"unfilled placeholder in {label!r}: {code}"
    return code


def investigation(corpus: Path, section: int, starts: str) -> str:
    """The runbook's read-only command of ``section`` that starts with ``starts``."""
    found = [
        code for _, info, code in runbook_blocks(corpus)[section] if info == "" and code.strip().startswith(starts)
    ]
    assert found, f"runbook section {section} has no command starting with {starts!r}"
    return found[0].strip()


def expected_json(corpus: Path, section: int, after_label: str) -> object:
    """The JSON block the runbook shows right after the text ``after_label`` (an expected output)."""
    text = (corpus / "legacy" / "runbook-batch-operations.md").read_text()
    start = text.index(after_label)
    block = re.search(r"```json\n(.*?)\n\s*```", text[start:], re.S)
    assert block, after_label
    return json.loads(re.sub(r"^\s{3}", "", block.group(1), flags=re.M))


# --- the registry ---------------------------------------------------------------------------


class Registry:
    """A clone of a bare remote holding the first user's latest control file and legacy scripts."""

    def __init__(self, tmp_path: Path, corpus: Path) -> None:
        latest = sorted((corpus / "control-history").glob("batch-control.*.json"))[-1]
        files = {"batch-control.json": latest.read_text()}
        for name in SCRIPTS:
            files[f"scripts/{name}"] = (corpus / "legacy" / name).read_text()
        self.remote, self.work = make_remote(tmp_path, files)
        for name in SCRIPTS:
            (self.work / "scripts" / name).chmod(0o755)
        git(self.work, "commit", "-q", "-am", "scripts are executable")
        git(self.work, "push", "-q", "origin", "main")
        self.tmp = tmp_path
        self.env = {**os.environ, **GIT_ENV}
        for key in list(self.env):
            if key.startswith(("GITHUB_", "INPUT_", "RUNNER_")) or key == "BATCHOPS_NOW":
                del self.env[key]

    @property
    def control(self) -> Path:
        return self.work / "batch-control.json"

    def document(self) -> dict:
        return json.loads(self.control.read_text())

    def sh(self, code: str) -> str:
        """Run ``code`` with bash, as the operator pastes it (``set -e``: every line must succeed)."""
        proc = subprocess.run(
            ["bash", "-e", "-c", code],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, f"runbook code failed ({proc.returncode}):\n{code}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def batchops(self, *args: str, code: int = 0) -> CliRun:
        run = run_cli(list(args), self.work)
        assert run.returncode == code, f"batchops {' '.join(args)} exited {run.returncode}:\n{run.log}"
        assert "Traceback" not in run.log
        return run

    def pushed_control(self) -> dict:
        return json.loads(git(self.work, "show", "origin/main:batch-control.json"))


@pytest.fixture
def registry(tmp_path: Path, corpus: Path) -> Registry:
    return Registry(tmp_path, corpus)


WRITING_COMMANDS = (
    ["breaker-gate", "--ecosystem", "homebrew"],
    ["breaker-gate", "--ecosystem", "default"],
    ["breaker-update", "--ecosystem", "default", "--outcome", "success", "--linux-minutes", "2"],
    ["breaker-update", "--ecosystem", "homebrew", "--outcome", "failure", "--macos-minutes", "1.5"],
    ["disable", "--new", "pypi"],
    ["enable", "pypi"],
    ["stop", "--reason", "drill"],
    ["resume"],
    ["budget", "sample", "--on"],
    ["budget", "sample", "--off"],
    ["budget", "reset"],
    ["breaker", "reset", "homebrew", "--reason", "drill"],
    ["validate"],
)


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """``batchops ARGS`` in this process (fast) in ``cwd`` with its own journal; returns (exit code, output)."""
    from batchops.cli import main

    def run(args: list[str], cwd: Path) -> tuple[int, str]:
        with monkeypatch.context() as scoped:
            scoped.chdir(cwd)
            scoped.setenv("BATCHOPS_JOURNAL", str(cwd / "journal" / "journal.jsonl"))
            capsys.readouterr()
            code = main(list(args))
            captured = capsys.readouterr()
        return code, captured.out + captured.err

    return run


def every_command_accepts(registry: Registry, tmp_path: Path, in_process, tag: str) -> dict[str, CliRun]:  # type: ignore[no-untyped-def]
    """Every batchops command on the current file: the read-only ones here, the writing ones on a copy.

    Returns the read-only runs by name for the caller to check what they say.
    """
    runs = {
        "validate": registry.batchops("validate"),
        "status": registry.batchops("status"),
        "preflight": registry.batchops("preflight"),
        "budget status --json": registry.batchops("budget", "status", "--json"),
    }
    assert "batch-control.json: ok" in runs["validate"].stdout
    scratch = tmp_path / f"scratch-{tag}"
    scratch.mkdir()
    shutil.copy(registry.control, scratch / "batch-control.json")
    for args in (["status", "--json"], ["budget", "status"], *WRITING_COMMANDS):
        code, output = in_process(args, scratch)
        assert code == 0, f"[{tag}] batchops {' '.join(args)} exited {code}:\n{output}"
    return runs


# --- the five procedures --------------------------------------------------------------------


def test_procedure_1_success_rate_drop_with_the_legacy_breaker_scripts(
    registry: Registry, corpus: Path, tmp_path: Path, in_process
) -> None:  # type: ignore[no-untyped-def]
    query = investigation(corpus, 1, "jq '.circuit_breaker")
    failing = {e["key"] for e in json.loads(registry.sh(query))}
    assert failing == {"github", "homebrew", "rubygems", "crates.io", "npm", "pypi"}  # every one but default
    # check_breaker.sh moves homebrew's long-expired open breaker to half-open in the file
    assert registry.sh("./scripts/check_breaker.sh homebrew").splitlines()[:2] == ["skip=false", "state=half-open"]
    every_command_accepts(registry, tmp_path, in_process, "after-check-breaker")
    gate = registry.batchops("breaker-gate", "--ecosystem", "homebrew")
    assert gate.outputs["skip"] == "false" and gate.outputs["state"] == "half-open"
    failed = registry.batchops("breaker-update", "--ecosystem", "homebrew", "--outcome", "failure")
    assert failed.outputs["state"] == "open" and failed.outputs["tripped"] == "true"
    # the runbook's query and script still read what batchops wrote
    assert "homebrew" in {e["key"] for e in json.loads(registry.sh(query))}
    assert registry.sh("./scripts/check_breaker.sh homebrew").splitlines()[:2] == ["skip=true", "state=open"]
    # the legacy workflow's success (update_breaker.sh) after batchops': reconciled, validate warns
    registry.sh("./scripts/update_breaker.sh homebrew success")
    assert "warning: /circuit_breaker/homebrew" in registry.batchops("validate").stdout
    one_failure = registry.batchops("breaker-update", "--ecosystem", "homebrew", "--outcome", "failure")
    assert one_failure.outputs["state"] == "closed" and one_failure.outputs["tripped"] == "false"
    assert "a legacy script wrote the breaker after batchops" in one_failure.log
    assert registry.batchops("validate").stdout.strip() == "batch-control.json: ok"
    every_command_accepts(registry, tmp_path, in_process, "after-update-breaker")


def test_procedure_2_emergency_stop_as_written(registry: Registry, corpus: Path, tmp_path: Path, in_process) -> None:  # type: ignore[no-untyped-def]
    check = investigation(corpus, 2, "jq '{enabled")
    all_enabled = expected_json(corpus, 2, "Expected output (all enabled):")
    assert json.loads(registry.sh(check)) == all_enabled

    registry.sh(procedure(corpus, 2, "Disable a single ecosystem"))
    assert registry.pushed_control()["disabled_ecosystems"] == ["homebrew"]
    runs = every_command_accepts(registry, tmp_path, in_process, "disable-one")
    assert json.loads(runs["preflight"].outputs["disabled-ecosystems"]) == ["homebrew"]
    assert "homebrew" not in json.loads(runs["preflight"].outputs["ecosystems"])
    registry.batchops("enable", "homebrew")  # batchops undoes the runbook's edit
    assert json.loads(registry.sh(check)) == all_enabled

    registry.sh(procedure(corpus, 2, "Disable all batch processing"))
    runs = every_command_accepts(registry, tmp_path, in_process, "disable-all")
    assert runs["preflight"].outputs["can-proceed"] == "false"
    assert runs["preflight"].outputs["reason"] == "Emergency stop: upstream API outage"
    assert "stopped" in runs["status"].stdout and "oncall-operator" in runs["status"].stdout
    disabled_at = registry.document()["disabled_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", disabled_at)  # jq's (now | todate)

    registry.sh(procedure(corpus, 2, "Re-enable after resolution"))
    runs = every_command_accepts(registry, tmp_path, in_process, "re-enable")
    assert runs["preflight"].outputs["can-proceed"] == "true"
    assert json.loads(registry.sh(check)) == all_enabled
    # and the other way round: batchops stops, the runbook re-enables
    registry.batchops("stop", "--reason", "drill", "--push")
    assert registry.pushed_control()["enabled"] is False
    registry.sh(procedure(corpus, 2, "Re-enable after resolution"))
    assert registry.batchops("preflight").outputs["can-proceed"] == "true"
    assert json.loads(registry.sh(check)) == all_enabled


def test_procedure_3_rollback_as_written_leaves_the_control_file_usable(
    registry: Registry, corpus: Path, tmp_path: Path, in_process
) -> None:  # type: ignore[no-untyped-def]
    for name in ("cmake", "ninja"):
        path = registry.work / "recipes" / "homebrew" / f"{name}.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'[metadata]\nname = "{name}"\n')
    git(registry.work, "add", "recipes")
    git(registry.work, "commit", "-q", "-m", "chore: add homebrew recipes batch_id: 2026-01-28-001")
    registry.batchops("breaker-update", "--ecosystem", "homebrew", "--outcome", "success", "--macos-minutes", "12")
    git(registry.work, "commit", "-q", "-am", "chore: update circuit breaker state [skip ci]")

    find = investigation(corpus, 3, 'git log --all --name-only --grep="batch_id: 2026-01-28-001"')
    assert registry.sh(find).split() == ["recipes/homebrew/cmake.toml", "recipes/homebrew/ninja.toml"]
    out = registry.sh("./scripts/rollback-batch.sh 2026-01-28-001")
    assert "Rollback branch created: rollback-batch-2026-01-28-001" in out
    assert not (registry.work / "recipes" / "homebrew" / "cmake.toml").exists()
    every_command_accepts(registry, tmp_path, in_process, "after-rollback")


def test_procedure_4_budget_threshold_alert_as_written(
    registry: Registry, corpus: Path, tmp_path: Path, in_process
) -> None:  # type: ignore[no-untyped-def]
    registry.batchops(
        "breaker-update",
        "--ecosystem",
        "default",
        "--outcome",
        "success",
        "--macos-minutes",
        "450",
        "--linux-minutes",
        "1200",
    )
    shown = json.loads(registry.sh(investigation(corpus, 4, "jq '.budget'")))
    assert set(expected_json(corpus, 4, "Expected output:")) <= set(shown)  # the runbook's four fields are there
    assert shown["macos_minutes_used"] == 450

    registry.sh(procedure(corpus, 4, "At 80% threshold -- enable sampling"))
    runs = every_command_accepts(registry, tmp_path, in_process, "sampling")
    assert runs["preflight"].outputs["sampling-active"] == "true" and runs["preflight"].outputs["sample-rate"] == "0.5"
    assert (
        "sampling forced by an operator" in runs["status"].stdout.lower()
        and json.loads(runs["budget status --json"].stdout)["sampling_forced"] is True
    )
    # the next batch's minutes keep the operator's flag
    registry.batchops("breaker-update", "--ecosystem", "homebrew", "--outcome", "success", "--macos-minutes", "10")
    assert registry.document()["budget"]["sampling_active"] is True

    registry.sh(procedure(corpus, 4, "At 90%+ threshold -- disable non-critical ecosystems"))
    runs = every_command_accepts(registry, tmp_path, in_process, "non-critical")
    assert json.loads(runs["preflight"].outputs["disabled-ecosystems"]) == ["npm"]
    assert runs["preflight"].outputs["can-proceed"] == "true"

    registry.sh(procedure(corpus, 4, "After weekly reset"))
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert registry.pushed_control()["budget"]["week_start"] == today  # the runbook writes a date
    runs = every_command_accepts(registry, tmp_path, in_process, "weekly-reset")
    assert runs["preflight"].outputs["sampling-active"] == "false" and runs["preflight"].outputs["sample-rate"] == "1.0"
    assert json.loads(runs["budget status --json"].stdout)["week_start"] == f"{today}T00:00:00Z"
    assert f"week {today} to" in runs["status"].stdout
    registry.batchops("breaker-update", "--ecosystem", "homebrew", "--outcome", "success", "--macos-minutes", "5")
    budget = registry.document()["budget"]
    assert budget["week_start"] == today and budget["macos_minutes_used"] == 5  # batchops keeps the date form
    registry.batchops("budget", "sample", "--on")
    assert registry.batchops("preflight").outputs["sample-rate"] == "0.5"
    registry.batchops("budget", "sample", "--off")
    assert registry.batchops("preflight").outputs["sample-rate"] == "1.0"


def test_procedure_5_security_incident_stops_everything_until_re_enabled(
    registry: Registry, corpus: Path, tmp_path: Path, in_process
) -> None:  # type: ignore[no-untyped-def]
    runbook = (corpus / "legacy" / "runbook-batch-operations.md").read_text()
    assert 'see Emergency Stop, "Disable all" procedure' in runbook  # step 1 of the security procedure
    registry.sh(procedure(corpus, 2, "Disable all batch processing"))
    assert registry.sh(investigation(corpus, 5, "git log --all --oneline --diff-filter=M -- recipes/")) == ""
    runs = every_command_accepts(registry, tmp_path, in_process, "security-stop")
    assert runs["preflight"].outputs["can-proceed"] == "false"
    for ecosystem in ("homebrew", "default"):  # no batch runs while stopped, whatever its breaker says
        assert registry.batchops("preflight", "--ecosystems", ecosystem).outputs["ecosystems"] == "[]"
    registry.batchops("resume")
    check = investigation(corpus, 2, "jq '{enabled")
    assert json.loads(registry.sh(check)) == expected_json(corpus, 2, "Expected output (all enabled):")


# --- the legacy workflow's calls and the control history --------------------------------------


def test_the_legacy_workflows_default_fallback_works_unchanged(registry: Registry, corpus: Path) -> None:
    workflow = (corpus / "legacy" / "batch-operations.yml").read_text()
    calls = re.findall(
        r'\./scripts/(check_breaker|update_breaker)\.sh "\$\{\{ matrix\.ecosystem \|\| \'default\' \}\}"', workflow
    )
    assert calls == ["check_breaker", "update_breaker"]  # no matrix in that workflow: the ecosystem is 'default'
    # batchops in their place, as the migrated workflow calls it (the action inputs)
    gate = run_cli(["breaker-gate"], registry.work, env={"INPUT_ECOSYSTEM": "default"})
    assert gate.returncode == 0 and gate.outputs["skip"] == "false", gate.log
    for _ in range(5):
        update = run_cli(["breaker-update", "--outcome", "failure"], registry.work, env={"INPUT_ECOSYSTEM": "default"})
        assert update.returncode == 0, update.log
    assert update.outputs["tripped"] == "true"
    assert registry.sh("./scripts/check_breaker.sh default").splitlines()[:2] == ["skip=true", "state=open"]
    status = registry.batchops("status").stdout
    assert re.search(r"^default\s", status, re.M)  # shown now that it has recorded something
    assert registry.batchops("preflight").outputs["ecosystems"].count('"default"') == 1


def test_the_untouched_default_entry_stays_out_of_the_tables(registry: Registry) -> None:
    status = registry.batchops("status").stdout
    assert re.search(r"^homebrew\s", status, re.M) and not re.search(r"^default\s", status, re.M)
    assert '"default"' not in registry.batchops("preflight").outputs["ecosystems"]
    # but the operator commands know it: it is in the file
    registry.batchops("disable", "default")
    assert registry.document()["disabled_ecosystems"] == ["default"]
    assert registry.batchops("preflight", "--ecosystems", "default").outputs["can-proceed"] == "false"


def test_every_control_history_file_loads_in_every_command(corpus: Path, tmp_path: Path, in_process) -> None:  # type: ignore[no-untyped-def]
    files = sorted((corpus / "control-history").glob("batch-control.*.json"))
    assert len(files) >= 20
    checked = run_cli(["validate", *map(str, files)], tmp_path)
    assert checked.returncode == 0 and checked.stdout.count(": ok\n") == len(files), checked.log
    for path in files:
        work = tmp_path / path.stem
        work.mkdir()
        shutil.copy(path, work / "batch-control.json")
        for args in (["status"], ["preflight"], ["budget", "status"], *WRITING_COMMANDS):
            code, output = in_process(args, work)
            assert code == 0, f"{path.name}: batchops {' '.join(args)} exited {code}\n{output}"
