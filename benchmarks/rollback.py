"""Benchmark: rollback planning against the legacy pipeline on a large generated history.

    python benchmarks/rollback.py --cli      # end to end, as a workflow runs it (the target: <= 2x)
    python benchmarks/rollback.py --cli --against REV  # ... and the entry script of commit REV, in the same runs
    python benchmarks/rollback.py            # the planner in process, 20,000+ commits, 500+ batches
    python benchmarks/rollback.py --quick    # a few thousand commits, seconds
    python benchmarks/rollback.py --prs 1000 # squash-merged batch PRs with a thousand PR refs

``--cli`` times, interleaved, median of ``--runs`` (default 21), for batches early, in the
middle and late in a 20,000-commit history:

* legacy: ``git log --all --name-only --grep "batch_id: ID" | grep '^recipes/' | sort -u`` (bash);
* batchops: ``bash scripts/batchops.sh rollback`` with ``INPUT_BATCH_ID``, ``INPUT_DRY_RUN=true``,
  ``INPUT_BASE_BRANCH=main``, as the action's ``run:`` line calls it (environment warm: the
  actions' own, built by ``scripts/install.sh``; ``.pyc`` written by a first run), plan file,
  annotations and the plan on screen included.

The history is generated with `git fast-import`: a registry of recipes where
ordinary commits edit recipes, and batches (1-3 commits carrying
``batch_id: ID``) add and modify recipes; every fifth batch reaches main through
a merge commit, and some later commits touch batch files again (conflicts).
Batch ids include prefix pairs (``…-npm`` / ``…-npm2``). For batches early,
in the middle and late in the history it times

* plan: ``rollback.plan_rollback(..., dry_run=True)`` in process (history walk,
  diffs, tree, later commits; no branch), and
* grep: ``git log --grep "batch_id: ID" --format=%H main`` (a subprocess),

and prints the medians over several runs and their ratio (target: <= 2x).
The plan uses a constant number of git processes whatever the history length.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from batchops.steps import rollback  # noqa: E402

ECOSYSTEMS = ["npm", "homebrew", "pypi", "cargo", "gem"]


def generate(repo: Path, commits: int, batches: int, seed: int = 7) -> list[str]:
    """Create the repository; returns the batch ids in history order."""
    rng = random.Random(seed)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    out: list[bytes] = []
    mark = 0
    clock = 1_700_000_000
    recipes = [f"recipes/r{i:05d}.toml" for i in range(2000)]
    ids: list[str] = []
    start = date(2024, 1, 1)
    per_batch = max(1, (commits - batches * 3) // batches)
    main_tip = 0

    def commit(branch: str, message: str, files: dict[str, str], *, parent: int = 0, merge: int = 0) -> int:
        nonlocal mark, clock
        mark += 1
        clock += 60
        data = message.encode()
        out.append(f"commit refs/heads/{branch}\nmark :{mark}\n".encode())
        out.append(
            f"author Bot <bot@example.test> {clock} +0000\ncommitter Bot <bot@example.test> {clock} +0000\n".encode()
        )
        out.append(f"data {len(data)}\n".encode() + data + b"\n")
        if parent:
            out.append(f"from :{parent}\n".encode())
        if merge:
            out.append(f"merge :{merge}\n".encode())
        for path, text in files.items():
            blob = text.encode()
            out.append(f"M 100644 inline {path}\ndata {len(blob)}\n".encode() + blob + b"\n")
        return mark

    main_tip = commit("main", "seed\n", {path: f"name = '{path}'\nversion = 0\n" for path in recipes})
    total = 1
    made_batch_files: list[str] = []
    for number in range(batches):
        for _ in range(per_batch):
            target = rng.choice(recipes + made_batch_files[-50:])
            main_tip = commit("main", f"chore: bump {target}\n", {target: f"version = {rng.random()}\n"})
            total += 1
        day = (start + timedelta(days=number // 2)).isoformat()
        eco = ECOSYSTEMS[number % len(ECOSYSTEMS)]
        batch_id = f"{day}-{eco}" + ("2" if number % 10 == 9 else "")
        ids.append(batch_id)
        parts = rng.randint(1, 3)
        via_merge = number % 5 == 4
        branch = "main"
        tip = main_tip
        side_files: dict[str, str] = {}
        for part in range(parts):
            files = {}
            for k in range(rng.randint(2, 4)):
                name = f"recipes/{eco}/b{number:04d}-{part}-{k}.toml"
                files[name] = f"added by {batch_id}\n"
                made_batch_files.append(name)
            files[rng.choice(recipes)] = f"modified by {batch_id}\n"
            message = f"feat(recipes): {eco} batch part {part + 1}\n\nbatch_id: {batch_id}\n"
            if via_merge:
                tip = commit("side", message, files, parent=tip if part == 0 else 0)
                side_files.update(files)
                branch = "side"
            else:
                main_tip = commit("main", message, files)
            total += 1
        if branch == "side":
            # fast-import does not merge trees: the merge commit states the merged result
            main_tip = commit("main", f"Merge batch {batch_id}\n", side_files, merge=tip)
            total += 1
    while total < commits:
        main_tip = commit("main", "chore: tidy\n", {rng.choice(recipes): f"v = {rng.random()}\n"})
        total += 1
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(out), check=True)
    return ids


def generate_prs(repo: Path, prs: int, noise: int, seed: int = 11) -> list[str]:
    """A history shaped like the first user's: batches reach main as squash merges of PRs
    (no batch_id line, a third with `(#N)`), each PR's head kept as refs/pull/N/head (its
    commit carries `batch_id:`), ten PRs per batch id, ordinary commits in between, and
    some PRs based on an earlier PR's branch. Returns the batch ids in history order."""
    rng = random.Random(seed)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    out: list[bytes] = []
    mark = 0
    clock = 1_700_000_000
    recipes = [f"recipes/{chr(97 + i % 26)}/r{i:05d}.toml" for i in range(2000)]

    def commit(ref: str, message: str, files: dict[str, str], parent: int) -> int:
        nonlocal mark, clock
        mark += 1
        clock += 60
        data = message.encode()
        out.append(f"commit {ref}\nmark :{mark}\n".encode())
        out.append(
            f"author Bot <bot@example.test> {clock} +0000\ncommitter Bot <bot@example.test> {clock} +0000\n".encode()
        )
        out.append(f"data {len(data)}\n".encode() + data + b"\n")
        if parent:
            out.append(f"from :{parent}\n".encode())
        for path, text in files.items():
            blob = text.encode()
            out.append(f"M 100644 inline {path}\ndata {len(blob)}\n".encode() + blob + b"\n")
        return mark

    main = commit("refs/heads/main", "seed\n", {path: f"version = 0 # {path}\n" for path in recipes}, 0)
    ids: list[str] = []
    heads: list[int] = []
    per_pr = max(1, noise // prs)
    for number in range(1, prs + 1):
        for _ in range(per_pr):
            main = commit(
                "refs/heads/main", "chore: bump\n", {rng.choice(recipes): f"version = {rng.random()}\n"}, main
            )
        batch_id = (date(2024, 1, 1) + timedelta(days=(number - 1) // 10)).isoformat()
        if not ids or ids[-1] != batch_id:
            ids.append(batch_id)
        files = {
            f"recipes/{ECOSYSTEMS[number % 5]}/p{number:05d}-{k}.toml": f"added by PR {number}\n"
            for k in range(rng.randint(1, 3))
        }
        base = heads[-1] if heads and number % 25 == 0 else main  # now and then a PR based on another's branch
        head = commit(
            f"refs/pull/{number}/head",
            f"feat(recipes): add batch {batch_id} recipes\n\nbatch_id: {batch_id}\n",
            files,
            base,
        )
        heads.append(head)
        subject = f"feat(recipes): add batch recipes ({len(files)} recipes)" + (
            f" (#{number})" if number % 3 == 0 else ""
        )
        main = commit("refs/heads/main", subject + "\n\nBatch generation.\n", files, main)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(out), check=True)
    subprocess.run(
        ["git", "fetch", "-q", ".", "+refs/pull/*/head:refs/remotes/origin/pull/*/head"], cwd=repo, check=True
    )
    return ids


def bench_prs(args: argparse.Namespace, runs: int) -> int:
    with tempfile.TemporaryDirectory(prefix="batchops-bench-") as tmp:
        repo = args.keep or Path(tmp) / "registry"
        if args.keep and (args.keep / ".git").exists():
            log = subprocess.run(
                ["git", "log", "--format=%B", "--all"], cwd=repo, capture_output=True, text=True, check=True
            )
            ids = sorted(
                {line[len("batch_id: ") :] for line in log.stdout.splitlines() if line.startswith("batch_id: ")}
            )
        else:
            ids = generate_prs(repo, args.prs, args.commits or 20_000)
        count = int(
            subprocess.run(
                ["git", "rev-list", "--count", "main"], cwd=repo, capture_output=True, text=True, check=True
            ).stdout
        )
        refs = len(
            subprocess.run(
                ["git", "for-each-ref", "refs/remotes/origin/pull"],
                cwd=repo,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()
        )
        print(f"history: {count} commits on main, {refs} PR refs, {len(ids)} batch ids; medians over {runs} runs\n")
        print("| batch | landings | files | plan wall | `git log --all --grep` wall | ratio |")
        print("|---|---:|---:|---:|---:|---:|")
        worst = 0.0
        for label, batch_id in {"early": ids[len(ids) // 20], "middle": ids[len(ids) // 2], "late": ids[-2]}.items():
            outcome = rollback.plan_rollback(repo, batch_id, paths=["recipes/"], base_branch="main", dry_run=True)
            plan_wall, _ = median_seconds(
                lambda b=batch_id: rollback.plan_rollback(
                    repo, b, paths=["recipes/"], base_branch="main", dry_run=True
                ),
                runs,
            )
            grep_wall, _ = median_seconds(
                lambda b=batch_id: subprocess.run(
                    ["git", "log", "--all", "--grep", f"batch_id: {b}", "--format=%H"],
                    cwd=repo,
                    capture_output=True,
                    check=True,
                ),
                runs,
            )
            worst = max(worst, plan_wall / grep_wall)
            print(
                f"| {batch_id} ({label}) | {len(outcome.document['landings'])} | {len(outcome.document['files'])} "
                f"| {plan_wall * 1000:.0f} ms | {grep_wall * 1000:.0f} ms | {plan_wall / grep_wall:.2f}x |"
            )
        print(
            f"\nworst ratio: {worst:.2f}x (the legacy grep finds only the PR refs' commits; "
            "the plan also finds what main shipped)"
        )
    return 0


def _cpu() -> float:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def median_seconds(fn, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median wall time and median CPU time (this process + its git children)."""
    walls, cpus = [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), _cpu()
        fn()
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def _environment(work: Path) -> Path:
    import os

    venv = Path(os.environ.get("BATCHOPS_VENV") or work / "venv")
    env = {**os.environ, "BATCHOPS_VENV": str(venv)}
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        ["bash", str(root / "scripts" / "install.sh")], env=env, capture_output=True, text=True, check=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def bench_cli(args: argparse.Namespace) -> int:
    """End to end through the action's entry script, side by side with the legacy pipeline."""
    import os

    root = Path(__file__).resolve().parents[1]
    runs = args.runs or 21
    with tempfile.TemporaryDirectory(prefix="batchops-bench-") as tmp:
        work = Path(tmp)
        repo = args.keep or work / "registry"
        if args.keep and (args.keep / ".git").exists():
            log = subprocess.run(
                ["git", "log", "--reverse", "--format=%B", "main"], cwd=repo, capture_output=True, text=True, check=True
            )
            ids = list(
                dict.fromkeys(
                    line[len("batch_id: ") :] for line in log.stdout.splitlines() if line.startswith("batch_id: ")
                )
            )
        else:
            ids = generate(repo, args.commits or 20_000, args.batches or 500)
        python = _environment(work)
        count = int(
            subprocess.run(
                ["git", "rev-list", "--count", "main"], cwd=repo, capture_output=True, text=True, check=True
            ).stdout
        )
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "BATCHOPS_", "PYTHON"))
        }
        base.update(
            GITHUB_ACTIONS="true",
            GITHUB_OUTPUT=str(work / "output"),
            RUNNER_TEMP=str(work / "runner-temp"),
            GITHUB_STEP_SUMMARY=str(work / "summary.md"),
            BATCHOPS_VENV=str(python.parents[1]),
        )
        picks = {"early": ids[len(ids) // 20], "middle, merged": ids[(len(ids) // 2) // 5 * 5 + 4], "late": ids[-3]}
        tools = [("batchops", root)]
        if args.against:  # the same entry script of an earlier commit, in the same runs
            tools.append((f"at {args.against}", _tree_at(root, args.against, work / "against")))
        rows: list[tuple[str, str, list[str], dict[str, str]]] = []
        for label, batch_id in picks.items():
            legacy = f"git log --all --name-only --grep 'batch_id: {batch_id}' | grep '^recipes/' | sort -u"
            rows.append((f"{batch_id} ({label})", "legacy", ["bash", "-c", legacy], base))
            step = {**base, "INPUT_BATCH_ID": batch_id, "INPUT_DRY_RUN": "true", "INPUT_BASE_BRANCH": "main"}
            for tool, tree in tools:
                entry = ["bash", str(tree / "scripts" / "batchops.sh"), "rollback"]
                rows.append((f"{batch_id} ({label})", tool, entry, step))

        def once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
            cpu, started = _children_cpu(), time.perf_counter()
            proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True)
            elapsed = time.perf_counter() - started
            if proc.returncode != 0:
                sys.exit(f"{cmd} failed: {proc.stderr.decode()[-800:]}")
            return elapsed, _children_cpu() - cpu

        for _, _, cmd, env in rows:  # warm: .pyc files, the OS cache
            once(cmd, env)
        walls: dict[tuple[str, str], list[float]] = {(case, tool): [] for case, tool, _, _ in rows}
        cpus: dict[tuple[str, str], list[float]] = {(case, tool): [] for case, tool, _, _ in rows}
        for _ in range(runs):
            for case, tool, cmd, env in rows:
                wall, cpu = once(cmd, env)
                walls[(case, tool)].append(wall)
                cpus[(case, tool)].append(cpu)
    print(f"history: {count} commits on main, {len(ids)} batches; end to end, interleaved, medians of {runs} runs\n")
    for tool, _ in tools:
        _print_cli(tool, rows, walls, cpus)
    return 0


def _tree_at(root: Path, revision: str, folder: Path) -> Path:
    """The files the entry script runs (package, scripts, schemas, lock) as they were at ``revision``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = ["batchops", "scripts", "schemas", "requirements.lock"]
    archive = subprocess.run(["git", "archive", revision, *paths], cwd=root, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def _print_cli(
    tool: str,
    rows: list[tuple[str, str, list[str], dict[str, str]]],
    walls: dict[tuple[str, str], list[float]],
    cpus: dict[tuple[str, str], list[float]],
) -> None:
    if tool != "batchops":
        print(f"\n{tool}:\n")
    print(f"| batch | legacy wall | {tool} wall | ratio | legacy cpu | {tool} cpu | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    worst = worst_cpu = 0.0
    for label in dict.fromkeys(case for case, _, _, _ in rows):
        legacy, ours = (statistics.median(walls[(label, name)]) * 1000 for name in ("legacy", tool))
        legacy_cpu, ours_cpu = (statistics.median(cpus[(label, name)]) * 1000 for name in ("legacy", tool))
        worst, worst_cpu = max(worst, ours / legacy), max(worst_cpu, ours_cpu / legacy_cpu)
        print(
            f"| {label} | {legacy:.0f} ms | {ours:.0f} ms | {ours / legacy:.2f}x "
            f"| {legacy_cpu:.0f} ms | {ours_cpu:.0f} ms | {ours_cpu / legacy_cpu:.2f}x |"
        )
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    verdict = "OK" if worst <= 2 else "OVER TARGET"
    print(f"\nworst ratio: wall {worst:.2f}x (target <= 2x: {verdict}), cpu {worst_cpu:.2f}x; load average {load}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small history (seconds)")
    parser.add_argument("--commits", type=int, default=None)
    parser.add_argument("--batches", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument(
        "--keep", type=Path, default=None, help="build the repository here and keep it (reused when it exists)"
    )
    parser.add_argument(
        "--prs", type=int, default=0, help="benchmark squash-merged batch PRs with this many PR refs instead"
    )
    parser.add_argument(
        "--cli", action="store_true", help="end to end through the action's entry script vs the legacy pipeline"
    )
    parser.add_argument(
        "--against", default="", help="with --cli: also time the entry script of this commit, in the same runs"
    )
    args = parser.parse_args()
    if args.cli:
        return bench_cli(args)
    if args.prs:
        return bench_prs(args, args.runs or 5)
    commits = args.commits or (2_000 if args.quick else 20_000)
    batches = args.batches or (50 if args.quick else 500)
    runs = args.runs or (3 if args.quick else 5)

    with tempfile.TemporaryDirectory(prefix="batchops-bench-") as tmp:
        repo = args.keep or Path(tmp) / "registry"
        started = time.perf_counter()
        if args.keep and (args.keep / ".git").exists():  # reuse a kept history
            log = subprocess.run(
                ["git", "log", "--reverse", "--format=%B", "main"], cwd=repo, capture_output=True, text=True, check=True
            )
            ids = list(
                dict.fromkeys(
                    line[len("batch_id: ") :] for line in log.stdout.splitlines() if line.startswith("batch_id: ")
                )
            )
        else:
            ids = generate(repo, commits, batches)
        built = time.perf_counter() - started
        count = int(
            subprocess.run(
                ["git", "rev-list", "--count", "main"], cwd=repo, capture_output=True, text=True, check=True
            ).stdout
        )
        print(f"history: {count} commits, {len(ids)} batches (generated in {built:.1f}s); medians over {runs} runs\n")
        picks = {"early": ids[len(ids) // 20], "middle, merged": ids[(len(ids) // 2) // 5 * 5 + 4], "late": ids[-3]}
        print(
            f"| {'batch':<30} | landings | files | conflicts "
            "| plan wall | grep wall | ratio | plan cpu | grep cpu | ratio |"
        )
        print(
            f"|{'-' * 32}|----------|-------|-----------|-----------|-----------|-------|----------|----------|-------|"
        )
        worst = worst_cpu = 0.0
        for label, batch_id in picks.items():
            outcome = rollback.plan_rollback(repo, batch_id, paths=["recipes/"], base_branch="main", dry_run=True)
            counts = outcome.document["counts"]
            plan_wall, plan_cpu = median_seconds(
                lambda b=batch_id: rollback.plan_rollback(
                    repo, b, paths=["recipes/"], base_branch="main", dry_run=True
                ),
                runs,
            )
            grep_wall, grep_cpu = median_seconds(
                lambda b=batch_id: subprocess.run(
                    ["git", "log", "--grep", f"batch_id: {b}", "--format=%H", "main"],
                    cwd=repo,
                    capture_output=True,
                    check=True,
                ),
                runs,
            )
            worst = max(worst, plan_wall / grep_wall)
            worst_cpu = max(worst_cpu, plan_cpu / grep_cpu)
            name = f"{batch_id} ({label})"
            print(
                f"| {name:<30} | {len(outcome.document['landings']):>8} | {sum(counts.values()):>5} "
                f"| {counts['conflict']:>9} "
                f"| {plan_wall * 1000:>7.0f}ms | {grep_wall * 1000:>7.0f}ms | {plan_wall / grep_wall:>4.2f}x "
                f"| {plan_cpu * 1000:>6.0f}ms | {grep_cpu * 1000:>6.0f}ms | {plan_cpu / grep_cpu:>4.2f}x |"
            )
        verdict = "OK" if worst <= 2 else "OVER TARGET"
        if count < 20_000:
            verdict += (
                " (small history: the fixed cost of a few git processes dominates; the target is for >= 20,000 commits)"
            )
        print(f"\nworst ratio: wall {worst:.2f}x, cpu {worst_cpu:.2f}x (target <= 2x on wall time): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
