"""The status page built from a history of the first user's size, side by side with reading that history with git.

    python benchmarks/status_page.py [--runs N] [--versions 1226]

The history: the 23 corpus control files (``control-history/``) as 1,226 commits of
``batch-control.json`` (the runs in between carry the latest corpus version with the run's minutes)
and the batches as daily squash merges up to the real last one (2026-05-08), made with
``git fast-import`` by :mod:`tests.support.control_history`. Timed, interleaved, median of ``--runs``:

* status-page 30d   ``python -m batchops status-page --out DIR --now 2026-06-29T12:00:00Z`` as the
                    action's entry script runs it (the environment warm, ``$GITHUB_OUTPUT`` set):
                    reads every version (one ``git log``, one ``cat-file --batch``), the landings,
                    writes index.html and feed.xml
* status-page 160d  the same with ``--days 160`` (the whole history on the page)
* git log -p        ``git log -p -- batch-control.json``: git alone printing every version's change,
                    what any page built from the history pays at least (what a user would script)
* python -c pass    the interpreter's start-up
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import control_history  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "tsuku" / "control-history"
NOW = "2026-06-29T12:00:00Z"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--versions", type=int, default=control_history.VERSIONS)
    fallback = ROOT / "tests/data/corpus/tsuku/control-history"
    parser.add_argument("--corpus", default=str(CORPUS if CORPUS.is_dir() else fallback))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "tsuku"
        commits = control_history.build(repo, Path(args.corpus), total=args.versions)
        out = Path(tmp) / "page"
        output = Path(tmp) / "github-output"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output)}
        python = sys.executable
        page = [python, "-m", "batchops", "status-page", "--out", str(out), "--now", NOW]
        cases = {
            "status-page 30d": [*page, "--days", "30"],
            "status-page 160d": [*page, "--days", "160"],
            "git log -p": ["git", "log", "-p", "--", "batch-control.json"],
            "python -c pass": [python, "-c", "pass"],
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for command in cases.values():  # warm-up
            subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True)
        for _ in range(args.runs):
            for name, command in cases.items():
                output.write_text("")
                start = time.perf_counter()
                subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True)
                samples[name].append(time.perf_counter() - start)
        size = (out / "index.html").stat().st_size
        print(f"history: {commits} commits ({args.versions} control-file versions); page: {size:,} bytes (160 days)")
        base = statistics.median(samples["git log -p"])
        print(f"{'case':<18} {'median ms':>10} {'vs git log -p':>14}")
        for name, values in samples.items():
            median = statistics.median(values)
            print(f"{name:<18} {median * 1000:>10.0f} {median / base:>13.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
