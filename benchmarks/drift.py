"""Benchmark: drift-monitor over 1,000 recipes against a loopback upstream with 20 ms latency.

    python benchmarks/drift.py            # 1,000 recipes, 5 runs
    python benchmarks/drift.py --quick    # 300 recipes, 2 runs (seconds); never fails on the target

The upstream is a ThreadingHTTPServer (HTTP/1.1 keep-alive) in its own process
that sleeps 20 ms before every answer. The serial sum is the number of checksum
files times the measured latency of one request on a warm connection; the
speed-up is serial sum / wall time of a whole drift-monitor run (recipe reading,
version resolution, fetching, classification, baseline write). Target: >= 20x.
Side by side: what the legacy script does (one ``curl -sfL --max-time 30`` per file,
one after the other, piped to ``sha256sum``), timed on ``--legacy-sample`` files and
scaled to the same count.
Peak memory: the process's max RSS, and tracemalloc's peak during one run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from batchops.adapters import runner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LATENCY = 0.020
TARGET = 20.0


def _serve(port_queue: Any, latency: float) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            # headers and body go out as two writes: without NODELAY, Nagle and
            # delayed ACKs add ~40 ms to every answer and inflate the serial sum
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:  # noqa: N802
            time.sleep(latency)
            body = f"{'0' * 64}  {self.path.rsplit('/', 2)[-2]}.tar.gz\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def _recipes(folder: Path, count: int, base: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"tool{n:04d}.toml").write_text(
            f"""[metadata]
name = "tool{n:04d}"

[version]
version = "1.{n % 50}.{n}"
tag_prefix = "v"

[[steps]]
action = "download"
url = "{base}/tool{n:04d}/{{version_tag}}/tool-{{os}}-{{arch}}.tar.gz"
checksum_url = "{base}/tool{n:04d}/{{version_tag}}/SHA256SUMS"
arch_mapping = {{ amd64 = "x86_64" }}
when = {{ os = ["linux"] }}
"""
        )


def _latency(base: str, samples: int = 30) -> float:
    import requests

    with requests.Session() as session:
        session.get(f"{base}/warm/v0/SHA256SUMS", timeout=5).raise_for_status()
        times = []
        for n in range(samples):
            start = time.perf_counter()
            session.get(f"{base}/probe{n}/v0/SHA256SUMS", timeout=5).raise_for_status()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _legacy(base: str, sample: int) -> float | None:
    """Seconds per file of the legacy loop: curl | sha256sum, serially (None without curl)."""
    import shutil
    import subprocess

    if not shutil.which("curl") or not shutil.which("sha256sum"):
        return None
    start = time.perf_counter()
    for n in range(sample):
        subprocess.run(
            f"curl -sfL --max-time 30 '{base}/legacy{n}/v0/SHA256SUMS' | sha256sum",
            shell=True,
            check=True,
            capture_output=True,
        )
    return (time.perf_counter() - start) / sample


def _one_run(folder: Path, workers: int) -> tuple[float, float, dict[str, int]]:
    from batchops.engines import drift

    baseline = folder / "checksum-baseline.json"
    if baseline.exists():
        baseline.unlink()
    config = drift.RunConfig(
        recipes_dir=str(folder / "recipes"), baseline_file=str(baseline), concurrency=workers, timeout=10
    )
    start, cpu = time.perf_counter(), time.process_time()
    result = drift.monitor(config, runner.now())
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    counts = {s: result.count(s) for s in drift.STATUSES}
    return wall, cpu, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 recipes, 2 runs")
    parser.add_argument("--recipes", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None, help="default: the concurrency input's default")
    parser.add_argument(
        "--legacy-sample",
        type=int,
        default=None,
        help="files timed with the legacy curl loop (default 200, 50 with --quick; 0: skip)",
    )
    args = parser.parse_args()
    from batchops.engines import drift

    workers = args.workers or drift.DEFAULT_CONCURRENCY
    count = args.recipes or (300 if args.quick else 1000)
    runs = args.runs or (2 if args.quick else 5)
    if args.legacy_sample is None:
        args.legacy_sample = 50 if args.quick else 200

    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=_serve, args=(ports, LATENCY), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{ports.get(timeout=30)}"
    try:
        with tempfile.TemporaryDirectory(prefix="batchops-drift-bench-") as tmp:
            folder = Path(tmp)
            os.environ["BATCHOPS_JOURNAL"] = str(folder / "journal.jsonl")
            _recipes(folder / "recipes", count, base)
            latency = _latency(base)
            serial = count * latency
            legacy_per_file = _legacy(base, args.legacy_sample) if args.legacy_sample else None
            walls, cpus = [], []
            for _ in range(runs):
                wall, cpu, counts = _one_run(folder, workers)
                cpus.append(cpu)
                if counts["new"] != count:
                    print(f"unexpected result: {counts}", file=sys.stderr)
                    return 1
                walls.append(wall)
            tracemalloc.start()
            _one_run(folder, workers)
            _, traced_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    finally:
        server.terminate()
        server.join(5)
    wall = statistics.median(walls)
    speedup = serial / wall
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("recipes (checksum files)", f"{count}"),
        ("workers", f"{workers}"),
        ("runs", f"{runs}"),
        ("latency per request (median)", f"{latency * 1000:.1f} ms"),
        ("serial sum (files x latency)", f"{serial:.2f} s"),
        ("wall time (median)", f"{wall:.2f} s"),
        ("wall time (min / max)", f"{min(walls):.2f} / {max(walls):.2f} s"),
        ("CPU time of the run (median)", f"{statistics.median(cpus):.2f} s"),
        ("speed-up vs serial", f"{speedup:.1f}x (target >= {TARGET:.0f}x)"),
        *(
            [
                (
                    "legacy loop: curl per file, serial (scaled)",
                    f"{legacy_per_file * count:.2f} s "
                    f"({legacy_per_file * 1000:.1f} ms a file, {args.legacy_sample} timed)",
                ),
                ("speed-up vs the legacy loop", f"{legacy_per_file * count / wall:.1f}x"),
            ]
            if legacy_per_file
            else []
        ),
        ("peak RSS (process)", f"{maxrss_mib:.1f} MiB"),
        ("peak traced allocations (1 run)", f"{traced_peak / 1024 / 1024:.1f} MiB"),
        ("load average at the end (1 min)", f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'metric':<{width}} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name:<{width}} | {value} |")
    if args.quick:  # a smoke run: too few files to amortise the fixed costs; the target is for 1,000
        return 0
    return 0 if speedup >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
