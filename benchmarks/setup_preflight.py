"""Setup (cold and warm) and preflight wall time through the actions' entry script.

    python benchmarks/setup_preflight.py [--runs N] [--cold-runs N] [--quick]

Cold: a new environment built by scripts/install.sh (pinned wheels from the index).
Warm: the same script when the environment exists (what every later step pays).
preflight: `scripts/batchops.sh preflight` on a warm install, against `python -c pass`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, median_ms, table, time_command  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 warm runs, no cold install")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    cold_runs = 0 if args.quick else args.cold_runs
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "batch-control.json").write_text(json.dumps({"enabled": True, "disabled_ecosystems": ["npm"]}))
        env = {**os.environ, "BATCHOPS_VENV": str(work / "venv")}
        env.pop("GITHUB_OUTPUT", None)
        install = ["bash", str(ROOT / "scripts" / "install.sh")]
        rows = []
        if cold_runs:
            cold = []
            for i in range(cold_runs):
                env_i = {**env, "BATCHOPS_VENV": str(work / f"cold-{i}")}
                cold += time_command(install, 1, env=env_i)
            rows.append(["setup, cold (new environment)", f"{median_ms(cold):.0f}", len(cold)])
        time_command(install, 1, env=env)  # make sure the warm environment exists
        rows.append(["setup, warm (reuse)", f"{median_ms(time_command(install, runs, env=env)):.1f}", runs])
        preflight = ["bash", str(ROOT / "scripts" / "batchops.sh"), "preflight", "--ecosystems", "homebrew,npm"]
        rows.append(["preflight, warm install", f"{median_ms(time_command(preflight, runs, env=env, cwd=work)):.1f}", runs])
        python = str(work / "venv" / "bin" / "python")
        rows.append(["python -c pass (same interpreter)", f"{median_ms(time_command([python, '-c', 'pass'], runs)):.1f}", runs])
        print(table(["what", "median ms", "runs"], rows))


if __name__ == "__main__":
    main()
