"""metrics: import the first user's metrics history and report on it, side by side with the legacy script.

    python benchmarks/metrics.py [--runs 5]

Rows (medians of --runs, each a fresh process as an operator would run it):

* ``batchops metrics import`` of the corpus history (``metrics/batch-runs/``: 11 files,
  50 records in both layouts and both shapes) into a fresh store;
* ``batchops slo --last 80`` on the store of the 80-line sample;
* the legacy ``scripts/batch-metrics.sh --last 80`` (several ``jq`` runs per record) on the
  same 80 lines: what an operator ran before.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, median_ms, table, time_command, time_it

CORPUS = ROOT.parent / "shared" / "corpus" / "tsuku"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    history, sample, legacy = (
        CORPUS / "metrics" / "batch-runs",
        CORPUS / "metrics" / "batch-runs.sample.jsonl",
        CORPUS / "legacy" / "batch-metrics.sh",
    )
    if not history.is_dir() or not legacy.is_file():
        print(f"the shared corpus is not at {CORPUS}", file=sys.stderr)
        return 2
    batchops = [sys.executable, "-m", "batchops"]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)

        def fresh_import() -> None:
            (work / "history.db").unlink(missing_ok=True)
            subprocess.run(
                [*batchops, "metrics", "import", str(history), "--database", str(work / "history.db")],
                check=True,
                capture_output=True,
                env=env,
            )

        importing = time_it(fresh_import, args.runs)
        subprocess.run(
            [*batchops, "metrics", "import", str(sample), "--database", str(work / "sample.db")],
            check=True,
            capture_output=True,
            env=env,
        )
        report = time_command(
            [
                *batchops,
                "slo",
                "--database",
                str(work / "sample.db"),
                "--last",
                "80",
                "--now",
                "2026-02-07T00:00:00Z",
                "--format",
                "text",
            ],
            args.runs,
            env=env,
        )
        (work / "data" / "metrics").mkdir(parents=True)
        shutil.copy(sample, work / "data" / "metrics" / "batch-runs.jsonl")
        old = time_command(["bash", str(legacy), "--last", "80"], args.runs, cwd=work)
    print(
        table(
            ["what", "median ms", "runs"],
            [
                [
                    "batchops metrics import (11 files, 50 records, both layouts and shapes)",
                    f"{median_ms(importing):.0f}",
                    args.runs,
                ],
                ["batchops slo --last 80 (80-line sample)", f"{median_ms(report):.0f}", args.runs],
                ["legacy batch-metrics.sh --last 80 (same 80 lines)", f"{median_ms(old):.0f}", args.runs],
            ],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
