"""breaker-gate against the legacy check_breaker.sh (bash + jq) it replaces, side by side.

    python benchmarks/breaker_gate.py [--runs N] [--file CONTROL] [--quick]

Both read the same copy of the first user's current control file
(``control-history/batch-control.20260626T205108.json``), restored before every run,
with ``$GITHUB_OUTPUT`` set as in a workflow step:

* legacy          ``./scripts/check_breaker.sh <ecosystem>`` as the legacy workflow runs it
                  (``CONTROL_FILE`` unset: ``batch-control.json`` in the working directory)
* batchops step   ``bash scripts/batchops.sh breaker-gate`` with ``INPUT_ECOSYSTEM``, as the
                  action's ``run:`` line calls it (includes the warm check of the environment);
                  a closed breaker is answered by the lean path (``batchops/__main__.py``)
* batchops        ``python -m batchops breaker-gate --ecosystem <ecosystem>`` on that environment
* no .pyc yet     the same on a copy of the package whose ``__pycache__`` folders are removed
                  before every run (what the first batchops step of a job pays)

Cases: ``closed`` (an ecosystem without an entry: read, no write; legacy: one ``jq``) and ``open -> probe``
(``npm``: its wait is over, both move it to half-open and write the file; batchops
also validates, journals and writes a step summary). Runs are interleaved (every
tool, every case, then again), median of ``--runs`` (at least 15). The environment is
the actions' own (``scripts/install.sh``, built first if absent). Floors, for the
diagnosis: interpreter start-up (``python -I -S -c pass``, ``python -c pass``), plus
the standard-library modules the gate's code uses (argparse, dataclasses, datetime,
json, pathlib, re, typing), plus every module the gate imports (no work done).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, table  # noqa: E402

CORPUS = (
    Path(
        os.environ.get("BATCHOPS_CORPUS")
        or next(
            (p for p in (ROOT.parent / "shared" / "corpus", ROOT / "tests" / "data" / "corpus") if p.is_dir()),
            ROOT.parent / "shared" / "corpus",
        )
    )
    / "tsuku"
)
LEGACY = CORPUS / "legacy" / "check_breaker.sh"
CURRENT = CORPUS / "control-history" / "batch-control.20260626T205108.json"
CASES = {"closed": "cargo", "open -> probe": "npm"}


def _environment(work: Path) -> Path:
    venv = Path(os.environ.get("BATCHOPS_VENV") or work / "venv")
    env = {**os.environ, "BATCHOPS_VENV": str(venv)}
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install.sh")], env=env, capture_output=True, text=True, check=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


Row = tuple[str, str, list[str], dict[str, str]]
LEGACY_ROW = "legacy check_breaker.sh"
STEP_ROW = "batchops step (scripts/batchops.sh)"


def _rows(python: Path, work: Path, fresh: Path) -> list[Row]:
    """Every tool on every case, then the floors; run in this order, again and again."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "BATCHOPS_", "PYTHON"))
    }
    base.update(GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(work / "github-output"), RUNNER_TEMP=str(work / "runner-temp"))
    base["BATCHOPS_VENV"] = str(python.parents[1])
    step_env = {**base, "GITHUB_STEP_SUMMARY": str(work / "summary.md")}
    py = str(python)
    rows: list[Row] = []
    for case, ecosystem in CASES.items():
        gate = ["breaker-gate", "--ecosystem", ecosystem]
        rows.append((case, LEGACY_ROW, ["./scripts/check_breaker.sh", ecosystem], base))
        entry = ["bash", str(ROOT / "scripts" / "batchops.sh"), "breaker-gate"]
        rows.append((case, STEP_ROW, entry, {**step_env, "INPUT_ECOSYSTEM": ecosystem}))
        rows.append(
            (
                case,
                "batchops (python -m batchops)",
                [py, "-m", "batchops", *gate],
                {**step_env, "PYTHONPATH": str(ROOT)},
            )
        )
        first = "batchops, no .pyc yet (first step of a job)"
        rows.append((case, first, [py, "-m", "batchops", *gate], {**step_env, "PYTHONPATH": str(fresh)}))
    stdlib = "import argparse, dataclasses, datetime, json, pathlib, re, typing"
    imports = "import batchops.cli, batchops.steps.breaker_gate, batchops.adapters.controlfile"
    rows += [
        ("floor", "python -I -S -c pass", [py, "-I", "-S", "-c", "pass"], base),
        ("floor", "python -c pass", [py, "-c", "pass"], base),
        ("floor", "python -c 'import <stdlib the gate uses>'", [py, "-c", stdlib], base),
        ("floor", "python -c 'import <the gate's modules>'", [py, "-c", imports], {**base, "PYTHONPATH": str(ROOT)}),
    ]
    return rows


def _measure(rows: list[Row], runs: int, work: Path, fresh: Path, text: str) -> dict[tuple[str, str], float]:
    """Median wall time (ms) of every row, the rows interleaved; the file and the runner's files reset every run."""
    repo = work / "repo"

    def once(cmd: list[str], env: dict[str, str]) -> float:
        (repo / "batch-control.json").write_text(text, encoding="utf-8")
        (work / "github-output").write_text("")
        for cache in fresh.rglob("__pycache__"):
            shutil.rmtree(cache)
        shutil.rmtree(work / "runner-temp", ignore_errors=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"{cmd} failed: {proc.stderr.decode()[-500:]}")
        return elapsed

    for _, _, cmd, env in rows:  # warm: .pyc files, the OS cache
        once(cmd, env)
    samples: dict[tuple[str, str], list[float]] = {(c, t): [] for c, t, _, _ in rows}
    for _ in range(runs):
        for case, tool, cmd, env in rows:
            samples[(case, tool)].append(once(cmd, env))
    return {key: statistics.median(values) * 1000 for key, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31, help="interleaved runs per row (default 31, at least 15)")
    parser.add_argument(
        "--file", type=Path, default=CURRENT, help="control file (default: the first user's current one)"
    )
    parser.add_argument("--quick", action="store_true", help="3 runs per row (not a measurement)")
    args = parser.parse_args()
    runs = 3 if args.quick else max(15, args.runs)
    if not shutil.which("jq"):
        sys.exit("jq is needed for the legacy script")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        python = _environment(work)
        (work / "repo" / "scripts").mkdir(parents=True)
        shutil.copy(LEGACY, work / "repo" / "scripts" / "check_breaker.sh")
        (work / "repo" / "scripts" / "check_breaker.sh").chmod(0o755)
        # a copy of the package without .pyc files, removed before every run: what a step pays
        # when nothing was byte-compiled
        fresh = work / "fresh-checkout"
        shutil.copytree(
            ROOT / "batchops", fresh / "batchops", symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
        shutil.copytree(ROOT / "schemas", fresh / "schemas")
        rows = _rows(python, work, fresh)
        median = _measure(rows, runs, work, fresh, args.file.read_text(encoding="utf-8"))
    lines = []
    for case, tool, _, _ in rows:
        legacy = median.get((case, LEGACY_ROW))
        ratio = f"{median[(case, tool)] / legacy:.2f}x" if legacy and case != "floor" else ""
        lines.append([case, tool, f"{median[(case, tool)]:.1f}", ratio])
    print(f"breaker-gate vs legacy check_breaker.sh on {args.file.name}: median of {runs} interleaved runs ({python})")
    print(table(["case", "tool", "wall ms (median)", "vs legacy"], lines))
    ratios = [f"{case} {median[(case, STEP_ROW)] / median[(case, LEGACY_ROW)]:.2f}x" for case in CASES]
    print(f"\nbreaker-gate as the action runs it / legacy check_breaker.sh: {', '.join(ratios)}")
    print("target: at most 1.00x in each case")


if __name__ == "__main__":
    main()
