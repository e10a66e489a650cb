"""Benchmark: N concurrent persist-with-retry writers against one bare remote on loopback.

Each writer is a clone of the same bare remote with its own journal holding one
``breaker.record`` (several writers share an ecosystem) and one
``budget.add_minutes``; then all N ``batchops persist-with-retry`` processes
start at once. Reported, as medians over several runs:

* lost updates: outcomes or minutes missing from the final remote file (must be 0);
* attempts per writer: min / median / max;
* wall time of the N parallel writers against N x the single-writer time
  (target: parallel <= 1.5 x serial).

    python benchmarks/persist.py            # N = 1, 4, 16, 32; 5 runs each
    python benchmarks/persist.py --quick    # N = 1, 4; 2 runs (a few seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from batchops.adapters import controlfile  # noqa: E402
from batchops.core import control  # noqa: E402

NOW = "2026-06-29T10:00:00Z"
ECOSYSTEMS = ["homebrew", "npm", "pypi", "cargo", "go", "rubygems", "nuget", "maven"]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.test",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.test",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def plan(n: int) -> list[dict[str, object]]:
    return [
        {
            "ecosystem": ECOSYSTEMS[i % len(ECOSYSTEMS)],
            "outcome": "failure" if i % 3 == 0 else "success",
            "linux": i + 1,
        }
        for i in range(n)
    ]


def prepare(root: Path, n: int) -> tuple[Path, list[tuple[Path, Path]]]:
    """A bare remote and n clones, each with its operations applied and journaled (untimed)."""
    bare = root / "remote.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = root / "seed"
    git(root, "clone", "-q", str(bare), str(seed))
    (seed / "batch-control.json").write_text(control.dumps(json.loads(control.TEMPLATE)))
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "push", "-q", "origin", "HEAD:main")
    writers = []
    here = Path.cwd()
    for i, job in enumerate(plan(n)):
        work = root / f"job-{i}"
        git(root, "clone", "-q", str(bare), str(work))
        journal_file = root / f"job-{i}.jsonl"
        os.environ["BATCHOPS_JOURNAL"] = str(journal_file)
        os.chdir(work)
        try:
            controlfile.mutate(
                "batch-control.json",
                "breaker.record",
                {"ecosystem": job["ecosystem"], "outcomes": [job["outcome"]], "at": NOW},
                at=NOW,
            )
            controlfile.mutate(
                "batch-control.json", "budget.add_minutes", {"macos": 0, "linux": job["linux"], "at": NOW}, at=NOW
            )
        finally:
            os.chdir(here)
            del os.environ["BATCHOPS_JOURNAL"]
        writers.append((work, journal_file))
    return bare, writers


PYCACHE = Path(tempfile.gettempdir()) / "batchops-bench-pycache"


def run_once(n: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-persist-") as tmp:
        root = Path(tmp)
        bare, writers = prepare(root, n)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
        base_env.update({"PYTHONPATH": str(REPO_ROOT), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})
        # as on a runner, where the first step leaves .pyc files for the next ones
        base_env.pop("PYTHONDONTWRITEBYTECODE", None)
        base_env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
        started = time.perf_counter()
        procs = []
        for work, journal_file in writers:
            env = {**base_env, "BATCHOPS_JOURNAL": str(journal_file)}
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "batchops", "persist-with-retry"],
                    cwd=work,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        attempts = []
        failed = 0
        for proc in procs:
            out, err = proc.communicate()
            if proc.returncode != 0:
                failed += 1
                print(err, file=sys.stderr)
                continue
            outputs = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
            attempts.append(int(outputs["attempts"]))
        wall = time.perf_counter() - started
        final = json.loads(git(bare, "show", "main:batch-control.json"))
    expected: Counter[tuple[str, str]] = Counter((str(j["ecosystem"]), str(j["outcome"])) for j in plan(n))
    found: Counter[tuple[str, str]] = Counter(
        (eco, outcome) for eco, entry in final.get("circuit_breaker", {}).items() for outcome in entry.get("window", [])
    )
    lost_outcomes = sum((expected - found).values())
    minutes_expected = sum(int(j["linux"]) for j in plan(n))  # type: ignore[call-overload]
    lost_minutes = minutes_expected - final["budget"]["linux_minutes_used"]
    return {"wall": wall, "attempts": attempts, "lost": max(lost_outcomes, failed, 1 if lost_minutes else 0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1, 4 with 2 runs each")
    parser.add_argument("--runs", type=int, default=None, help="runs per N (default 5, quick 2)")
    parser.add_argument("--writers", default=None, help="comma separated N values (default 1,4,16,32)")
    args = parser.parse_args()
    sizes = [int(x) for x in (args.writers or ("1,4" if args.quick else "1,4,16,32")).split(",")]
    runs = args.runs or (2 if args.quick else 5)
    if 1 not in sizes:
        sizes = [1, *sizes]
    results: dict[int, list[dict[str, object]]] = {}
    for n in sizes:
        results[n] = [run_once(n) for _ in range(runs)]
    single = statistics.median(float(r["wall"]) for r in results[1])  # type: ignore[arg-type]
    header = (
        f"{'N':>3} {'runs':>4} {'lost':>4} {'attempts min/med/max':>21} {'parallel s':>10} "
        f"{'N x single s':>12} {'ratio':>6}"
    )
    print(f"persist-with-retry, bare remote on disk, {runs} run(s) per N, medians (single writer: {single:.3f}s)")
    print(header)
    print("-" * len(header))
    worst = 0.0
    lost_total = 0
    for n in sizes:
        rows = results[n]
        walls = [float(r["wall"]) for r in rows]  # type: ignore[arg-type]
        all_attempts = [a for r in rows for a in r["attempts"]]  # type: ignore[attr-defined]
        lost = sum(int(r["lost"]) for r in rows)  # type: ignore[call-overload]
        lost_total += lost
        wall = statistics.median(walls)
        serial = n * single
        ratio = wall / serial
        worst = max(worst, ratio)
        dist = f"{min(all_attempts)}/{statistics.median(all_attempts):g}/{max(all_attempts)}" if all_attempts else "-"
        print(f"{n:>3} {runs:>4} {lost:>4} {dist:>21} {wall:>10.3f} {serial:>12.3f} {ratio:>6.2f}")
    verdict = "ok" if lost_total == 0 and worst <= 1.5 else "MISSED"
    print(
        f"\nlost updates: {lost_total} (must be 0); worst parallel/serial ratio: {worst:.2f} (target <= 1.5): {verdict}"
    )
    return 0 if lost_total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
