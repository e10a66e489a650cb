"""Setup of the actions' environment, cold and warm, against a plain venv + pip of the same pins.

    python benchmarks/setup.py [--cold-runs N] [--runs N] [--quick]

Cold (what the first step of a job on a fresh runner pays), the three interleaved per run:
  - scripts/install.sh, uv NOT installed: new environment, empty tool cache and uv cache, so
    it includes fetching the pinned uv into the tool cache;
  - scripts/install.sh with uv already on PATH (empty uv cache);
  - the alternative: `python3 -m venv` + `pip install --no-cache-dir -r requirements.lock`.
Warm: scripts/install.sh when the environment exists (what every later step pays), and
`scripts/batchops.sh preflight` on it against `python -c pass`.
Every install downloads from the package index (no local find-links or pip config).
Targets: cold at most 0.35x the plain venv + pip; warm at most 0.1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, median_ms, table, time_command  # noqa: E402

INSTALL = ["bash", str(ROOT / "scripts" / "install.sh")]


def clean_env(work: Path) -> dict[str, str]:
    """The environment of a fresh runner: no uv on PATH, no pip config, no caches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "GITHUB_", "RUNNER_", "BATCHOPS_"))}
    env["PATH"] = os.pathsep.join(
        d for d in env.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "uv").exists()
    )
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_NO_CACHE_DIR"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["XDG_CACHE_HOME"] = str(work / "xdg-cache")
    if "PIP_CERT" in os.environ:
        env["PIP_CERT"] = os.environ["PIP_CERT"]
    return env


def timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(cmd)}\n{proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cold-runs", type=int, default=3, help="cold installs of each kind (default 3)")
    parser.add_argument("--runs", type=int, default=15, help="warm runs (default 15)")
    parser.add_argument("--quick", action="store_true", help="3 warm runs, no cold install")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    cold_runs = 0 if args.quick else args.cold_runs
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = clean_env(work)
        rows: list[list[object]] = []
        if cold_runs:
            # a uv to put on PATH for the "uv present" row, bootstrapped once outside the timing
            seed = {**env, "RUNNER_TOOL_CACHE": str(work / "seed-tools"), "BATCHOPS_VENV": str(work / "seed-venv")}
            timed(INSTALL, seed)
            uv_bin = work / "uv-on-path"
            uv_bin.mkdir()
            (uv_bin / "uv").symlink_to(next((work / "seed-tools").glob("batchops-uv/*/bin/uv")))
            bootstrap, present, plain = [], [], []
            for i in range(cold_runs):
                run = work / f"cold-{i}"
                bootstrap.append(
                    timed(
                        INSTALL,
                        {
                            **env,
                            "BATCHOPS_VENV": str(run / "a-venv"),
                            "RUNNER_TOOL_CACHE": str(run / "a-tools"),
                            "UV_CACHE_DIR": str(run / "a-uv"),
                        },
                    )
                )
                present.append(
                    timed(
                        INSTALL,
                        {
                            **env,
                            "PATH": f"{uv_bin}{os.pathsep}{env['PATH']}",
                            "BATCHOPS_VENV": str(run / "b-venv"),
                            "RUNNER_TOOL_CACHE": str(run / "b-tools"),
                            "UV_CACHE_DIR": str(run / "b-uv"),
                        },
                    )
                )
                venv = run / "c-venv"
                start = time.perf_counter()
                timed([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)], env)
                timed(
                    [
                        str(venv / "bin" / "python"),
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--no-cache-dir",
                        "-r",
                        str(ROOT / "requirements.lock"),
                    ],
                    env,
                )
                plain.append(time.perf_counter() - start)
                shutil.rmtree(run, ignore_errors=True)
            base = statistics.median(plain)
            rows.append(
                [
                    "setup, cold: install.sh, no uv yet (fetches it first)",
                    f"{median_ms(bootstrap):.0f}",
                    f"{statistics.median(bootstrap) / base:.2f}x",
                    cold_runs,
                ]
            )
            rows.append(
                [
                    "setup, cold: install.sh, uv on PATH",
                    f"{median_ms(present):.0f}",
                    f"{statistics.median(present) / base:.2f}x",
                    cold_runs,
                ]
            )
            rows.append(
                [
                    "setup, cold: python3 -m venv + pip install -r requirements.lock",
                    f"{median_ms(plain):.0f}",
                    "1.00x",
                    cold_runs,
                ]
            )
        warm = {**env, "BATCHOPS_VENV": str(work / "venv")}
        timed(INSTALL, warm)  # make sure the warm environment exists
        rows.append(["setup, warm (reuse)", f"{median_ms(time_command(INSTALL, runs, env=warm)):.1f}", "", runs])
        (work / "batch-control.json").write_text(json.dumps({"enabled": True, "disabled_ecosystems": ["npm"]}))
        preflight = ["bash", str(ROOT / "scripts" / "batchops.sh"), "preflight", "--ecosystems", "homebrew,npm"]
        rows.append(
            ["preflight, warm install", f"{median_ms(time_command(preflight, runs, env=warm, cwd=work)):.1f}", "", runs]
        )
        python = str(work / "venv" / "bin" / "python")
        rows.append(
            [
                "python -c pass (same interpreter)",
                f"{median_ms(time_command([python, '-c', 'pass'], runs)):.1f}",
                "",
                runs,
            ]
        )
        print(table(["what", "median ms", "vs venv+pip", "runs"], rows))
        print("targets: cold at most 0.35x of python3 -m venv + pip; warm at most 100 ms")


if __name__ == "__main__":
    main()
