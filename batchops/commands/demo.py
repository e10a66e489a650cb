"""``batchops demo``: the whole control plane, offline, in one run.

It builds a temporary registry repository with a bare remote, starts a local
upstream for checksum files, and plays two days of a batch pipeline through the
same entrypoints the actions call (preflight, breaker-gate, breaker-update,
persist-with-retry, metrics-upload, drift-monitor, rollback): a failure burst
trips the homebrew breaker, a failed probe doubles the wait, a good probe closes
it, the macOS budget moves into sampling, metrics land in the embedded SQLite
store with the SLO report, an upstream checksum changes under a published
version, a dry-run rollback plans exactly what one batch shipped, and the
alerts the day would have raised are replayed from the control file's history.

Every step's Markdown report is collected into one file, named at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from batchops.adapters import git as gitcmd
from batchops.adapters import runner
from batchops.commands.demo_registry import BOT_ENV, Demo, Step, Upstream, build_registry, publish, recipe
from batchops.core.timeutil import iso
from batchops.flags import Command
from batchops.render import demo_text

__all__ = ["BOT_ENV", "DEMO", "Demo", "Step", "Upstream", "build_registry", "play"]

START = datetime(2026, 6, 22, 6, 0, tzinfo=UTC)  # a Monday morning
ECOSYSTEMS = ["homebrew", "npm", "crates.io"]
RUNS = 8
RUN_EVERY = timedelta(hours=2)
RECIPES_PER_RUN = 3

# What each run's validation finds, per ecosystem: a homebrew failure burst in
# runs 1-2 (trip, then a failed probe) that a fixed upstream ends in run 4.
FAILING = {
    ("homebrew", 1): 3,
    ("homebrew", 2): 3,
    ("npm", 5): 1,
}
MACOS_MINUTES_PER_RECIPE = 14.0  # the week's macOS budget is 1000 minutes
LINUX_MINUTES_PER_RECIPE = 10.0


def ship_batch(demo: Demo, batch_id: str, ecosystem: str, run: int) -> list[str]:
    """The user's batch step: generate recipes, commit them with the batch id, merge."""
    names = [f"{ecosystem.replace('.', '-')}-tool-{run}-{i}" for i in range(RECIPES_PER_RUN)]
    folder = demo.repo / "recipes" / ecosystem
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.toml").write_text(recipe(name, f"{run}.0.{len(name) % 7}", demo.upstream.url))
        publish(demo.upstream, name, f"{run}.0.{len(name) % 7}")
    if ecosystem == "homebrew" and run == 0:
        # the batch also bumps an existing recipe: a rollback must restore it, not delete it
        (demo.repo / "recipes" / "jq.toml").write_text(recipe("jq", "1.8.0", demo.upstream.url))
        publish(demo.upstream, "jq", "1.8.0")
    demo.git("add", "recipes")
    at = iso(START + run * RUN_EVERY + timedelta(minutes=10))  # at the story's time, as the day's page shows it
    message = f"feat(recipes): {ecosystem} batch {run}\n\nbatch_id: {batch_id}"
    gitcmd.text(
        demo.repo, ["commit", "-q", "-m", message], env={**BOT_ENV, "GIT_AUTHOR_DATE": at, "GIT_COMMITTER_DATE": at}
    )
    demo.git("push", "-q", "origin", "main")
    return names


def results_file(
    demo: Demo, batch_id: str, ecosystem: str, run: int, names: list[str], when: datetime, sampled: float
) -> Path:
    failing = FAILING.get((ecosystem, run), 0)
    results = []
    for index, name in enumerate(names):
        outcome = "failed" if index < failing else "passed"
        entry: dict[str, Any] = {
            "recipe_name": name,
            "result": outcome,
            "platform": "linux-x86_64",
            "duration_seconds": 40 + index,
        }
        if outcome == "failed":
            entry["error_category"] = "checksum_mismatch" if ecosystem == "homebrew" else "install_failed"
            entry["error_message"] = (
                "bottle checksum does not match the formula"
                if ecosystem == "homebrew"
                else "postinstall script exited 1"
            )
        results.append(entry)
    document = {
        "batch_id": batch_id,
        "ecosystem": ecosystem,
        "started_at": iso(when),
        "completed_at": iso(when + timedelta(minutes=25)),
        "macos_minutes": MACOS_MINUTES_PER_RECIPE * len(names),
        "linux_minutes": LINUX_MINUTES_PER_RECIPE * len(names),
        "results": results,
    }
    if sampled < 1.0:
        document["sampled"] = True
        document["sample_rate"] = sampled
    path = demo.work / "runner-temp" / f"results-{ecosystem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    return path


# --- the story -----------------------------------------------------------------------


def play(demo: Demo, say: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {"batches": 0, "skipped": 0, "transitions": [], "sampling_from": None, "batch_ids": {}}
    say("A day of batches: every 2 hours, 3 ecosystems, each job gated by its breaker.")
    for run in range(RUNS):
        when = START + run * RUN_EVERY
        pre = demo.run("preflight", "--ecosystems", ",".join(ECOSYSTEMS), now=when)
        if pre.outputs.get("can-proceed") != "true":
            raise RuntimeError(f"preflight refused run {run}: {pre.outputs.get('reason')}\n{pre.log}")
        rate = float(pre.outputs.get("sample-rate", "1") or 1)
        if pre.outputs.get("sampling-active") == "true" and facts["sampling_from"] is None:
            facts["sampling_from"] = (run, rate)
        row = [iso(when)[5:16].replace("T", " "), f"{rate:.2f}"]
        for ecosystem in json.loads(pre.outputs["ecosystems"]):
            batch_id = f"{iso(when)[:10]}-{ecosystem.replace('.', '-')}-r{run}"
            gate = demo.run("breaker-gate", "--ecosystem", ecosystem, now=when)
            if gate.outputs.get("skip") == "true":
                facts["skipped"] += 1
                row.append(f"skipped ({gate.outputs.get('state')})")
                continue
            names = ship_batch(demo, batch_id, ecosystem, run)
            facts["batch_ids"].setdefault(ecosystem, []).append(batch_id)
            if rate < 1.0:
                chosen = demo.run("sample", "--rate", str(rate), "--seed", batch_id, stdin="\n".join(names) + "\n")
                names = [line for line in chosen.log.splitlines() if line in names] or names[:1]
            results = results_file(demo, batch_id, ecosystem, run, names, when, rate)
            update = demo.run(
                "breaker-update",
                "--ecosystem",
                ecosystem,
                "--results-file",
                str(results),
                now=when + timedelta(minutes=30),
            )
            if update.code != 0:
                raise RuntimeError(f"breaker-update failed:\n{update.log}")
            before, after = update.outputs.get("previous-state"), update.outputs.get("state")
            if gate.outputs.get("state") == "half-open":
                facts["transitions"].append((iso(when), ecosystem, "open → half-open (probe granted)"))
            if before != after:
                facts["transitions"].append((iso(when + timedelta(minutes=30)), ecosystem, f"{before} → {after}"))
            metrics = demo.run(
                "metrics-upload",
                "--results-file",
                str(results),
                "--database",
                str(demo.work / "metrics.db"),
                now=when + timedelta(minutes=31),
            )
            if metrics.code != 0:
                raise RuntimeError(f"metrics-upload failed:\n{metrics.log}")
            persist = demo.run(
                "persist-with-retry",
                "--commit-message",
                f"batch {batch_id}: record {ecosystem} [skip ci]",
                now=when + timedelta(minutes=32),
            )
            if persist.code != 0:
                raise RuntimeError(f"persist-with-retry failed:\n{persist.log}")
            facts["batches"] += 1
            rate_text = update.outputs.get("failure-rate", "")
            row.append(
                f"{after} ({_percent(rate_text)} fail)" + (" ⚡" if update.outputs.get("tripped") == "true" else "")
            )
        demo.timeline.append(row)
    return facts


def _percent(value: str) -> str:
    try:
        return f"{float(value) * 100:.0f}%"
    except ValueError:
        return value or "-"


def drift_and_rollback(demo: Demo, facts: dict[str, Any], say: Any) -> None:
    end = START + RUNS * RUN_EVERY
    first = demo.run(
        "drift-monitor", "--grace-period", "0", "--report-file", str(demo.work / "drift-first.json"), now=end
    )
    if first.code != 0:
        raise RuntimeError(f"drift-monitor failed:\n{first.log}")
    demo.run(
        "persist-with-retry",
        "--paths",
        "checksum-baseline.json",
        "--commit-message",
        "chore(drift): record checksum baseline [skip ci]",
    )
    # upstream re-publishes jq 1.8.0 with different bytes under the same version
    publish(demo.upstream, "jq", "1.8.0", marker="-tampered")
    second = demo.run(
        "drift-monitor",
        "--grace-period",
        "0",
        "--report-file",
        str(demo.work / "drift-report.json"),
        now=end + timedelta(days=1),
    )
    facts["drift"] = second.outputs
    # the second run's baseline change is not committed: discard it, so the kept clone matches its remote
    if demo.git("status", "--porcelain", "--", "checksum-baseline.json").strip():
        demo.git("checkout", "--", "checksum-baseline.json")
        facts["baseline_discarded"] = True
    facts["drift_first"] = first.outputs
    plan_file = demo.work / "rollback-plan.json"
    homebrew_first = facts["batch_ids"]["homebrew"][0]
    rollback = demo.run(
        "rollback",
        "--batch-id",
        homebrew_first,
        "--dry-run",
        "true",
        "--plan-file",
        str(plan_file),
        now=end + timedelta(days=1),
    )
    if rollback.code != 0:
        raise RuntimeError(f"rollback failed:\n{rollback.log}")
    facts["rollback"] = (homebrew_first, json.loads(plan_file.read_text()))


def alerts(demo: Demo, facts: dict[str, Any]) -> None:
    """What `batchops alert` would have told people over the day: replayed from the control file's commits."""
    step = demo.run("alert", "replay", "--git", "batch-control.json", "--repo", str(demo.repo), "--every", "1h")
    if step.code != 0:
        raise RuntimeError(f"alert replay failed:\n{step.log}")
    facts["alerts"] = [line for line in step.log.splitlines() if " #" in line and line[:4].isdigit()]
    facts["alerts_total"] = next((line for line in step.log.splitlines() if "alert run(s)" in line), "")


def slo_report(demo: Demo, facts: dict[str, Any]) -> None:
    end = START + RUNS * RUN_EVERY
    report = demo.work / "slo.md"
    step = demo.run(
        "slo", "--database", str(demo.work / "metrics.db"), "--window", "7d", "--output", str(report), now=end
    )
    as_json = demo.work / "slo.json"
    demo.run(
        "slo",
        "--database",
        str(demo.work / "metrics.db"),
        "--window",
        "7d",
        "--json",
        "--output",
        str(as_json),
        now=end,
    )
    facts["slo"] = json.loads(as_json.read_text()) if as_json.exists() else {}
    facts["slo_file"] = report if step.code == 0 else None


def status_page(demo: Demo, where: str) -> Path:
    """The day as the status page (``--html``): built by `batchops status-page` from the registry's history."""
    out = Path(where).resolve() if where else demo.work / "status-page"
    end = START + RUNS * RUN_EVERY
    step = demo.run(
        "status-page",
        "--out",
        str(out),
        "--days",
        "7",
        "--database",
        str(demo.work / "metrics.db"),
        "--drift-report",
        str(demo.work / "drift-report.json"),
        now=end,
    )
    if step.code != 0:
        raise RuntimeError(f"status-page failed:\n{step.log}")
    return out


# --- the command ----------------------------------------------------------------------


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", help="where to build the demo (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (always kept with --workdir)")
    parser.add_argument(
        "--summary-file", help="write the collected step-summary Markdown here (default: <workdir>/step-summary.md)"
    )
    html_help = "also build the day's status page (index.html, feed.xml) in DIR (default: <workdir>/status-page)"
    parser.add_argument("--html", nargs="?", const="", default=None, metavar="DIR", help=html_help)


def _run(args: argparse.Namespace) -> int:
    if args.workdir:
        work = Path(args.workdir).resolve()
    else:
        work = Path(tempfile.mkdtemp(prefix="batchops-demo-", dir=runner.temp_dir()))
    work.mkdir(parents=True, exist_ok=True)
    keep = args.keep or bool(args.workdir)
    summary = Path(args.summary_file).resolve() if args.summary_file else work / "step-summary.md"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text("# batchops demo: every step's report\n\n")
    lines: list[str] = []

    def say(text: str = "") -> None:
        lines.append(text)
        runner.out_block(text)

    say("batchops demo — the control plane of a batch pipeline, offline")
    say(f"  workspace: {work}" + ("" if keep else " (removed at the end; --keep keeps it)"))
    with Upstream() as upstream:
        repo = build_registry(work, upstream)
        demo = Demo(work, repo, summary, upstream, entry=args.entry)
        facts = play(demo, say)
        slo_report(demo, facts)
        alerts(demo, facts)
        drift_and_rollback(demo, facts, say)
        page = status_page(demo, args.html) if args.html is not None else None
    _final(demo, facts, say)
    report = None
    if not keep and (summary.is_relative_to(work) or (page is not None and page.is_relative_to(work))):
        # what outlives the removed workspace goes to a folder of its own (never a fixed shared path)
        report = Path(tempfile.mkdtemp(prefix="batchops-demo-report-", dir=runner.temp_dir()))
        if summary.is_relative_to(work):
            shutil.copy(summary, report / "step-summary.md")
            summary = report / "step-summary.md"
    with summary.open("a", encoding="utf-8") as handle:
        handle.write("\n## Demo overview\n\n```text\n" + "\n".join(lines) + "\n```\n")
    if not keep:
        if report is not None and page is not None and page.is_relative_to(work):  # the page outlives it too
            shutil.copytree(page, report / "status-page")
            page = report / "status-page"
        shutil.rmtree(work, ignore_errors=True)
    if page is not None:
        runner.out_block(f"status page of the day (open it in a browser): {page / 'index.html'}")
    day = iso(START + RUNS * RUN_EVERY)
    discarded = bool(facts.get("baseline_discarded"))
    for line in demo_text.next_steps(repo, summary, day, kept=keep, report=report, discarded=discarded):
        runner.out_block(line)
    runner.summary(summary.read_text() if runner.summary_path() else "")
    return 0


def _final(demo: Demo, facts: dict[str, Any], say: Any) -> None:
    say("")
    say("run (UTC)    sample  " + "  ".join(f"{e:<24}" for e in ECOSYSTEMS))
    for row in demo.timeline:
        say(f"{row[0]:<12} {row[1]:<7} " + "  ".join(f"{cell:<24}" for cell in row[2:]))
    say("")
    say(f"Batches shipped: {facts['batches']}, skipped by an open breaker: {facts['skipped']}.")
    say("Breaker transitions:")
    for when, ecosystem, text in facts["transitions"]:
        say(f"  {when}  {ecosystem:<9} {text}")
    control = json.loads((demo.repo / "batch-control.json").read_text())
    budget = control.get("budget", {})
    limit = budget.get("macos_minutes_limit", 1000)
    used = budget.get("macos_minutes_used", 0)
    if facts["sampling_from"]:
        run, rate = facts["sampling_from"]
        say(
            f"Budget: macOS {used:.0f}/{limit:.0f} min ({used / limit * 100:.0f}%); "
            f"sampling since run {run} (sample rate {rate:.2f})."
        )
    else:
        say(f"Budget: macOS {used:.0f}/{limit:.0f} min ({used / limit * 100:.0f}%); no sampling yet.")
    pushes = demo.git("rev-list", "--count", "origin/main")
    say(f"Remote: {pushes} commits on origin/main (recipes + every control-state update, no lost update).")
    say("SLO (last 7 days):")
    for entry in facts.get("slo", {}).get("ecosystems", []):
        rate = entry.get("success_rate")
        shown = f"{rate:.1f}%" if isinstance(rate, (int, float)) else "-"
        say(
            f"  {entry.get('ecosystem', '?'):<9} {shown:>6} vs SLO {entry.get('slo', 0):g}%  "
            f"→ {entry.get('severity', '?')}"
        )
    drift = facts.get("drift", {})
    say(
        f"Drift: first run recorded the baseline ({facts.get('drift_first', {}).get('drifted-count', '0')} drift); "
        f"after upstream re-published jq 1.8.0: drift={drift.get('drift')}, drifted-count={drift.get('drifted-count')} "
        "(no token: reported, no issue opened)."
    )
    say("Alerts (the day replayed through `batchops alert`, nothing sent):")
    for line in facts.get("alerts", []):
        say("  " + line.split("  [")[0])
    batch_id, plan = facts["rollback"]
    files = plan.get("files", [])
    actions: dict[str, int] = {}
    for entry in files:
        actions[entry.get("action", "?")] = actions.get(entry.get("action", "?"), 0) + 1
    shown = ", ".join(f"{count} {action}" for action, count in sorted(actions.items()))
    say(f"Rollback plan for {batch_id} (dry run, nothing changed): {shown}.")


DEMO = Command(
    help=(
        "run the whole control plane offline on a temporary registry: "
        "breaker, budget, persist, metrics, SLO, drift, rollback"
    ),
    configure=_configure,
    run=_run,
)
