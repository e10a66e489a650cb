"""Many jobs persist to one remote at the same time: no update is ever lost.

Each writer is a real process pair (``batchops breaker-update`` then
``batchops persist-with-retry``) in its own clone of one bare remote, with its
own journal, as the jobs of a matrix are. The final remote state must equal
applying every job's operations: every outcome in its ecosystem's window, every
minute in the budget, and an operator's ``stop`` racing the jobs kept.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from batchops.adapters.runner import parse_output_file
from batchops.core import control
from tests.support.gitrepo import clone, git, make_remote

pytestmark = [pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-06-29T10:00:00Z"
ECOSYSTEMS = ["homebrew", "npm", "pypi", "cargo"]


def writer_plan(n: int) -> list[dict[str, object]]:
    """Writer i records one outcome for ECOSYSTEMS[i % 4] (several writers share an ecosystem)
    and i+1 Linux minutes. At most 2 failures per ecosystem, so no breaker trips mid-test and
    each window simply holds every outcome."""
    plan = []
    for i in range(n):
        plan.append(
            {
                "ecosystem": ECOSYSTEMS[i % len(ECOSYSTEMS)],
                "outcome": "failure" if i // len(ECOSYSTEMS) < 2 else "success",
                "linux": i + 1,
            }
        )
    return plan


def start(script: str, work: Path, journal_file: Path, outputs: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "BATCHOPS_JOURNAL": str(journal_file),
            "GITHUB_OUTPUT": str(outputs),
            "PY": sys.executable,
        }
    )
    return subprocess.Popen(
        ["bash", "-c", script], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def run_writers(
    tmp_path: Path, bare: Path, plan: list[dict[str, object]], operator_after: int | None = None
) -> list[dict[str, str]]:
    procs = []
    for i, job in enumerate(plan):
        work = clone(bare, tmp_path / f"job-{i}")
        outputs = tmp_path / f"job-{i}.out"
        outputs.write_text("")
        script = (
            f'"$PY" -m batchops breaker-update --ecosystem {job["ecosystem"]} --outcome {job["outcome"]} '
            f'--linux-minutes {job["linux"]} --now {NOW} > /dev/null && "$PY" -m batchops persist-with-retry'
        )
        procs.append((start(script, work, tmp_path / f"job-{i}.jsonl", outputs), outputs))
        if operator_after is not None and i == operator_after:
            operator = clone(bare, tmp_path / "operator")
            script = (
                f'"$PY" -m batchops stop --reason "registry incident" --now {NOW} > /dev/null '
                '&& "$PY" -m batchops persist-with-retry'
            )
            procs.append(
                (
                    start(script, operator, tmp_path / "operator.jsonl", tmp_path / "operator.out"),
                    tmp_path / "operator.out",
                )
            )
    results = []
    for proc, outputs in procs:
        log, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, log
        results.append(parse_output_file(outputs.read_text()))
    return results


def expected_windows(plan: list[dict[str, object]]) -> dict[str, Counter[str]]:
    windows: dict[str, Counter[str]] = {}
    for job in plan:
        windows.setdefault(str(job["ecosystem"]), Counter())[str(job["outcome"])] += 1
    return windows


def assert_every_update_landed(bare: Path, plan: list[dict[str, object]]) -> dict[str, object]:
    final = json.loads(git(bare, "show", "main:batch-control.json"))
    windows = {eco: Counter(entry["window"]) for eco, entry in final["circuit_breaker"].items()}
    assert windows == expected_windows(plan)
    assert final["budget"]["linux_minutes_used"] == sum(int(job["linux"]) for job in plan)  # type: ignore[call-overload]
    return final


def assert_each_operation_landed_once(bare: Path, expected: int) -> None:
    trailers = re.findall(
        r"^Batchops-Operation-Id: (\S+)$", git(bare, "log", "--format=%B", "main"), flags=re.MULTILINE
    )
    assert len(trailers) == len(set(trailers)) == expected


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    seed = json.loads(control.TEMPLATE)
    remote, _ = make_remote(tmp_path, {"batch-control.json": control.dumps(seed)})
    return remote


def test_16_writers_and_an_operator_stop_lose_nothing(tmp_path: Path, bare: Path) -> None:
    plan = writer_plan(16)
    results = run_writers(tmp_path, bare, plan, operator_after=7)
    assert all(r["pushed"] == "true" for r in results)
    final = assert_every_update_landed(bare, plan)
    assert final["enabled"] is False and final["reason"] == "registry incident"
    # a straight line, every operation named by exactly one commit (a job that
    # lands may carry the operations other jobs posted while they retried)
    assert git(bare, "rev-list", "--count", "--min-parents=2", "main") == "0"
    assert_each_operation_landed_once(bare, len(plan) * 2 + 1)
    assert not git(bare, "for-each-ref", "refs/batchops/")  # no posted operations left behind


def test_32_writers_on_four_ecosystems_lose_nothing(tmp_path: Path, bare: Path) -> None:
    plan = writer_plan(32)
    results = run_writers(tmp_path, bare, plan)
    assert all(r["pushed"] == "true" for r in results)
    assert max(int(r["attempts"]) for r in results) <= 40
    assert_every_update_landed(bare, plan)
    assert_each_operation_landed_once(bare, len(plan) * 2)
    assert not git(bare, "for-each-ref", "refs/batchops/")
