"""The main job: `batchops demo` tells the whole story offline, and the Quick start runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    work = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "BATCHOPS_"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "batchops", "demo", "--workdir", str(work / "w")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    return proc, work / "w"


def test_demo_trips_a_breaker_and_a_probe_recovers_it(demo_run) -> None:  # type: ignore[no-untyped-def]
    proc, _ = demo_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "homebrew  closed → open" in out
    assert "homebrew  half-open → open" in out  # a failed probe re-opens, with a doubled wait
    assert "homebrew  half-open → closed" in out
    assert "skipped (open)" in out


def test_demo_moves_the_budget_into_sampling(demo_run) -> None:  # type: ignore[no-untyped-def]
    proc, work = demo_run
    assert "sampling since run" in proc.stdout
    control = json.loads((work / "registry" / "batch-control.json").read_text())
    used = control["budget"]["macos_minutes_used"]
    assert 800 <= used < 950  # between the sampling and the pause thresholds


def test_demo_persists_every_update_to_the_bare_remote(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, work = demo_run
    remote = subprocess.run(
        ["git", "--git-dir", str(work / "registry.git"), "show", "main:batch-control.json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    local = (work / "registry" / "batch-control.json").read_text()
    assert json.loads(remote) == json.loads(local)
    assert json.loads(remote)["circuit_breaker"]["homebrew"]["state"] == "closed"


def test_demo_reports_slo_drift_and_a_dry_run_rollback(demo_run) -> None:  # type: ignore[no-untyped-def]
    proc, work = demo_run
    out = proc.stdout
    assert "homebrew   71.4% vs SLO 85%  → high" in out
    assert "drift=true, drifted-count=1" in out
    assert "Rollback plan for 2026-06-22-homebrew-r0 (dry run, nothing changed): 3 remove, 1 restore." in out
    plan = json.loads((work / "rollback-plan.json").read_text())
    assert {entry["action"] for entry in plan["files"]} == {"remove", "restore"}
    branches = subprocess.run(
        ["git", "branch", "--list", "rollback-*"], cwd=work / "registry", capture_output=True, text=True, check=True
    ).stdout
    assert branches.strip() == ""  # a dry run creates no branch


def test_demo_writes_every_step_summary_to_the_file_it_names(demo_run) -> None:  # type: ignore[no-untyped-def]
    proc, work = demo_run
    summary = work / "step-summary.md"
    assert f"Every step's Markdown report: {summary}" in proc.stdout
    text = summary.read_text()
    for heading in ("batchops preflight", "breaker-gate", "Circuit breakers", "## Demo overview"):
        assert heading in text


def test_demo_replays_the_alerts_of_the_day_one_issue_for_the_homebrew_incident(demo_run) -> None:  # type: ignore[no-untyped-def]
    proc, _ = demo_run
    alerts = proc.stdout.split("Alerts (the day replayed through `batchops alert`, nothing sent):")[1].split(
        "Rollback plan"
    )[0]
    lines = [line.split() for line in alerts.strip().splitlines()]
    assert [(line[1], line[2]) for line in lines] == [
        ("#1", "open"),
        ("#1", "comment"),
        ("#1", "update"),
        ("#1", "close"),
    ]
    assert "Circuit breaker open: homebrew" in alerts
    assert "the wait before the next probe is now 2h" in alerts  # the failed probe doubled the wait
    assert lines[0][0] == "2026-06-22T08:32:00Z"  # when the trip was pushed, on the story's clock


def test_demo_fits_one_screen(demo_run) -> None:  # type: ignore[no-untyped-def]
    proc, _ = demo_run
    assert len(proc.stdout.splitlines()) <= 45
    assert "Traceback" not in proc.stderr


def test_quick_start_first_command_runs_the_demo(tmp_path: Path) -> None:
    """`bash scripts/demo.sh` in the development environment the test suite runs in."""
    if not (Path(sys.prefix) / "pyvenv.cfg").exists():
        pytest.skip("the suite is not running inside scripts/test.sh's environment")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "BATCHOPS_"))}
    env["BATCHOPS_DEV_VENV"] = sys.prefix
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), "--workdir", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Batches shipped:" in proc.stdout


def test_demo_ends_with_what_to_do_next_in_the_workspace_it_kept(demo_run) -> None:  # type: ignore[no-untyped-def]
    proc, work = demo_run
    tail = proc.stdout.split("What next:", 1)[1]
    assert f"cd {work / 'registry'}" in tail and "batchops status" in tail and "docs/migration.md" in tail
    status = subprocess.run(
        [sys.executable, "-m", "batchops", "status"],
        cwd=work / "registry",
        capture_output=True,
        text=True,
        env={**_clean_env(), "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert "homebrew" in status.stdout


def test_the_kept_clone_is_clean_and_what_next_runs_on_the_demos_clock(demo_run) -> None:  # type: ignore[no-untyped-def]
    proc, work = demo_run
    registry = work / "registry"
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=registry, capture_output=True, text=True, check=True)
    assert dirty.stdout == ""
    assert "checksum-baseline.json change was discarded: the clone is clean" in proc.stdout
    tail = proc.stdout.split("What next:", 1)[1]
    command = re.search(r"batchops batches --since 7d --now (\S+)", tail)
    assert command and command.group(1) == "2026-06-22T22:00:00Z"
    batches = subprocess.run(
        [sys.executable, "-m", "batchops", "batches", "--since", "7d", "--now", command.group(1)],
        cwd=registry,
        capture_output=True,
        text=True,
        env={**_clean_env(), "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert batches.returncode == 0, batches.stdout + batches.stderr
    shipped = re.search(r"Batches that shipped on main since 7d: (\d+)", batches.stdout)
    assert shipped and int(shipped.group(1)) > 0


def test_demo_without_keep_names_only_paths_that_exist_and_shows_keep(tmp_path: Path) -> None:
    env = {**_clean_env(), "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "batchops", "demo"], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    named = re.findall(r"(?<![^\s])(/[^\s()]+)", proc.stdout)  # absolute paths, not URLs
    assert named, proc.stdout
    gone = [
        p for p in named if not Path(p.rstrip(".,:")).exists() and "removed at the end" not in _line_of(p, proc.stdout)
    ]
    assert not gone, f"the demo names paths that do not exist after it ended: {gone}"
    assert "batchops demo --keep" in proc.stdout
    assert "docs/migration.md" in proc.stdout
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("batchops-demo"))
    assert len(left) == 1 and left[0].startswith("batchops-demo-report-"), left  # no workspace, no fixed shared path
    report = tmp_path / left[0]
    assert f"Kept in {report}, a folder of its own: remove it when done." in proc.stdout
    assert sorted(p.name for p in report.iterdir()) == ["step-summary.md"]
    assert f"Every step's Markdown report: {report / 'step-summary.md'}" in proc.stdout
    assert "batchops status --now 2026-06-22T22:00:00Z" in proc.stdout  # the demo's day, not today


def test_two_demos_without_keep_leave_two_reports_neither_overwriting_the_other(tmp_path: Path) -> None:
    env = {**_clean_env(), "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-m", "batchops", "demo", "--html"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    reports = sorted(p for p in tmp_path.iterdir() if p.name.startswith("batchops-demo"))
    assert len(reports) == 2 and all(p.name.startswith("batchops-demo-report-") for p in reports)
    for report in reports:
        assert (report / "step-summary.md").is_file() and (report / "status-page" / "index.html").is_file()


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "BATCHOPS_"))}


def _line_of(text: str, output: str) -> str:
    return next(line for line in output.splitlines() if text in line)


def test_quick_start_says_where_batchops_is_when_it_is_not_on_path(tmp_path: Path) -> None:
    if not (Path(sys.prefix) / "pyvenv.cfg").exists():
        pytest.skip("the suite is not running inside scripts/test.sh's environment")
    env = {**_clean_env(), "BATCHOPS_DEV_VENV": sys.prefix, "PATH": "/usr/local/bin:/usr/bin:/bin"}
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), "--workdir", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"`batchops` is {sys.prefix}/bin/batchops here; to put it on your PATH: pipx install" in proc.stdout
