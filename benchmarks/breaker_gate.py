"""breaker-gate warm wall time against a bare interpreter start.

    python benchmarks/breaker_gate.py [--runs N] [--quick]

Each run is a fresh `python -m batchops breaker-gate` process on a temporary
copy of a real (legacy, 6 ecosystems) control file, schema validation on, as a
workflow step runs it once the environment is installed. Rows:

* python -c pass          the floor: interpreter start-up
* gate: closed            read + validate, no write
* gate: open (skip)       read + validate, no write
* gate: probe (write)     read + validate, operation, validate, atomic write, journal
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, table  # noqa: E402

CONTROL = {
    "enabled": True,
    "disabled_ecosystems": [],
    "circuit_breaker": {
        name: {"state": "open", "failures": 900, "last_failure": "2026-06-26T20:51:01Z", "opens_at": "2026-06-26T21:51:01Z"}
        for name in ("github", "homebrew", "rubygems", "crates.io", "npm", "pypi")
    }
    | {"cargo": {"state": "closed", "failures": 1}, "default": {"state": "closed", "failures": 0}},
    "budget": {"macos_minutes_used": 0, "linux_minutes_used": 0, "week_start": "", "sampling_active": False},
}


def _run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user+sys of the child) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per row (default 15, at least 10 counts)")
    parser.add_argument("--quick", action="store_true", help="3 runs per row")
    args = parser.parse_args()
    runs = 3 if args.quick else max(10, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        control = work / "batch-control.json"
        text = json.dumps(CONTROL, indent=2)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # a runner keeps .pyc files between steps
        env.update(PYTHONPATH=str(ROOT), BATCHOPS_JOURNAL=str(work / "journal.jsonl"), PYTHONPYCACHEPREFIX=str(work / "pycache"))
        gate = [sys.executable, "-m", "batchops", "breaker-gate", "--control-file", str(control)]
        cases: list[tuple[str, list[str]]] = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("gate: closed", [*gate, "--ecosystem", "cargo", "--now", "2026-06-26T21:00:00Z"]),
            ("gate: open (skip)", [*gate, "--ecosystem", "homebrew", "--now", "2026-06-26T21:00:00Z"]),
            ("gate: probe (write)", [*gate, "--ecosystem", "homebrew", "--now", "2026-06-26T22:00:00Z"]),
        ]
        control.write_text(text)
        for _, cmd in cases:  # warm: .pyc files and the OS cache
            _run_once(cmd, env)
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in cases}
        for _ in range(runs):  # interleaved, so load from other processes hits every case alike
            for label, cmd in cases:
                control.write_text(text)
                samples[label].append(_run_once(cmd, env))
    wall = {label: statistics.median(w for w, _ in values) * 1000 for label, values in samples.items()}
    cpu = {label: statistics.median(c for _, c in values) * 1000 for label, values in samples.items()}
    base = "python -c pass"
    rows = []
    for label, _ in cases:
        extra = "-" if label == base else f"+{wall[label] - wall[base]:.1f}"
        rows.append([label, f"{wall[label]:.1f}", extra, f"{cpu[label]:.1f}", runs])
    print(f"breaker-gate warm wall time, median of {runs} interleaved runs ({sys.executable}, {sys.version.split()[0]})")
    print(table(["case", "wall ms (median)", "over python -c pass", "cpu ms (median)", "runs"], rows))


if __name__ == "__main__":
    main()
