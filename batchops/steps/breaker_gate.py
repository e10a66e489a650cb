"""Entry points of the breaker: ``breaker-gate``, ``breaker-update`` and ``breaker replay``.

The state machine is in :mod:`batchops.core.breaker`; this module reads inputs, goes
through ``control.mutate`` for every change, and reports (outputs, annotations,
step summary). It stays free of network libraries: breaker-gate is on the hot path.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, runner
from batchops.cli.args import (
    Command,
    add_control_file,
    add_input,
    add_now,
    clock,
    parse_float,
    parse_int,
)
from batchops.core import breaker, timeutil
from batchops.core.breaker import FAILURE, OUTCOMES, SUCCESS
from batchops.errors import BatchopsError, UsageError
from batchops.render import markdown

# --- shared report ------------------------------------------------------------------


def breakers_table(document: dict[str, Any], now: datetime) -> str:
    rows = breaker.table_rows(document, now)
    if not rows:
        return "No breaker has recorded anything yet.\n"
    return markdown.md_table(breaker.TABLE_HEADERS, rows)


def _report(title: str, lines: list[str], document: dict[str, Any], now: datetime, transitions: list[breaker.Transition]) -> None:
    text = f"### {title}\n\n" + "".join(f"{line}\n" for line in lines)
    if transitions:
        text += "\n" + breaker.mermaid(transitions)
    text += "\n#### Circuit breakers\n\n" + breakers_table(document, now)
    runner.summary(text)


# --- breaker-gate -------------------------------------------------------------------


def _gate_configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "ecosystem", "ecosystem whose breaker is checked, e.g. homebrew", default="")
    add_control_file(parser)
    add_now(parser)


def _gate_run(args: argparse.Namespace) -> int:
    try:
        ecosystem = breaker.check_ecosystem((args.ecosystem or "").strip())
        now = clock(args)
        document = controlfile.load(args.control_file)
        before, config = breaker.load(document, ecosystem)
        _, decision = breaker.gate(before, now, config)
        if decision.transition is not None:
            at = timeutil.iso(now)
            document, result = controlfile.mutate(
                args.control_file, "breaker.gate", {"ecosystem": ecosystem, "at": at}, at=at, document=document
            )
            decision = breaker.GateDecision(
                result["skip"], result["state"], result["opens-at"], result["reason"], decision.transition
            )
    except BatchopsError as exc:  # fail closed: a batch never runs past a breaker it could not read
        from batchops.cli import report_error

        report_error(exc)
        runner.set_outputs({"skip": True, "state": "", "opens-at": ""})
        return exc.exit_code
    runner.set_outputs(decision.outputs())
    title = "batchops breaker-gate"
    if decision.skip:
        runner.warning(f"{ecosystem}: batch skipped, circuit breaker {decision.reason}", title=title)
    elif decision.state == breaker.HALF_OPEN:
        runner.notice(f"{ecosystem}: circuit breaker {decision.reason}", title=title)
    else:
        runner.log(f"{ecosystem}: circuit breaker closed, the batch runs")
    verdict = "⏭️ skip" if decision.skip else "▶️ run"
    transitions = [decision.transition] if decision.transition else []
    _report(f"{title}: {ecosystem} — {verdict}", [f"{ecosystem}: {decision.reason}."], document, now, transitions)
    return 0


GATE = Command(
    help="per-ecosystem circuit breaker check: skip, run, or run as the half-open probe",
    configure=_gate_configure,
    run=_gate_run,
)

# --- breaker-update -----------------------------------------------------------------


def _update_configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "ecosystem", "ecosystem whose outcome is recorded (default: the results file's ecosystem)", default="")
    add_input(parser, "outcome", "outcome of the batch: success or failure (exclusive with results-file)", default="")
    add_input(parser, "results-file", "results file (schemas/batch-results.schema.json): each passed/failed recipe is one attempt", default="")
    add_input(parser, "macos-minutes", "macOS CI minutes the batch used (default: the results file's macos_minutes)", default="")
    add_input(parser, "linux-minutes", "Linux CI minutes the batch used (default: the results file's linux_minutes)", default="")
    add_control_file(parser)
    add_now(parser)


@dataclass
class _Batch:
    ecosystem: str
    outcomes: list[str]
    macos: float = 0.0
    linux: float = 0.0
    skipped: int = 0
    source: str = ""


def _minutes(value: str | None, fallback: Any, name: str) -> float:
    text = (value or "").strip()
    if text:
        return parse_float(text, field=name, minimum=0)
    return float(fallback or 0)


def _read_batch(args: argparse.Namespace) -> _Batch:
    outcome = (args.outcome or "").strip()
    results_file = (args.results_file or "").strip()
    ecosystem = (args.ecosystem or "").strip()
    if bool(outcome) == bool(results_file):
        raise UsageError(
            "give exactly one of outcome and results-file" + (" (both are set)" if outcome else " (neither is set)"),
            field="outcome / results-file",
            hint="set either outcome (success or failure) or results-file (a batch-results JSON file) in the step's with:, not both",
        )
    if outcome:
        if outcome not in OUTCOMES:
            raise UsageError(f"{outcome!r} is not an outcome", field="outcome", hint="use success or failure")
        if not ecosystem:
            raise UsageError("is empty", field="ecosystem", hint="add `ecosystem: homebrew` (the ecosystem of this batch) to the step's with:")
        return _Batch(
            breaker.check_ecosystem(ecosystem),
            [outcome],
            _minutes(args.macos_minutes, 0, "macos-minutes"),
            _minutes(args.linux_minutes, 0, "linux-minutes"),
            source="outcome input",
        )
    from batchops.adapters import schema

    document = schema.load_json(results_file, "batch-results")
    if ecosystem and ecosystem != document["ecosystem"]:
        raise UsageError(
            f"is {ecosystem!r} but {results_file} is for {document['ecosystem']!r}",
            field="ecosystem",
            hint="leave ecosystem empty to take it from the results file, or pass that ecosystem's results file",
        )
    results = document["results"]
    outcomes = [SUCCESS if r["result"] == "passed" else FAILURE for r in results if r["result"] != "skipped"]
    return _Batch(
        breaker.check_ecosystem(document["ecosystem"]),
        outcomes,
        _minutes(args.macos_minutes, document.get("macos_minutes"), "macos-minutes"),
        _minutes(args.linux_minutes, document.get("linux_minutes"), "linux-minutes"),
        skipped=len(results) - len(outcomes),
        source=results_file,
    )


def _update_run(args: argparse.Namespace) -> int:
    batch = _read_batch(args)
    now = clock(args)
    at = timeutil.iso(now)
    path = args.control_file
    document = controlfile.load(path)
    if batch.outcomes:
        document, raw = controlfile.mutate(
            path, "breaker.record", {"ecosystem": batch.ecosystem, "outcomes": batch.outcomes, "at": at}, at=at, document=document
        )
        transitions = [breaker.Transition(t["name"], t["from"], t["to"], t["at"], t["detail"]) for t in raw["transitions"]]
        notes = raw["notes"]
        outputs = {key: raw[key] for key in ("state", "previous-state", "failure-rate", "tripped")}
    else:
        current, _ = breaker.load(document, batch.ecosystem)
        transitions, notes = [], []
        outputs = {
            "state": current.state,
            "previous-state": current.state,
            "failure-rate": breaker.format_rate(current.window.failure_rate),
            "tripped": False,
        }
    if batch.macos > 0 or batch.linux > 0:
        document, _ = controlfile.mutate(
            path, "budget.add_minutes", {"macos": batch.macos, "linux": batch.linux, "at": at}, at=at, document=document
        )
    runner.set_outputs(outputs)

    title = "batchops breaker-update"
    eco = batch.ecosystem
    passed = batch.outcomes.count(SUCCESS)
    failed = batch.outcomes.count(FAILURE)
    counted = f"{len(batch.outcomes)} attempt(s): {passed} succeeded, {failed} failed" + (
        f", {batch.skipped} skipped (not counted)" if batch.skipped else ""
    )
    lines = [f"{eco}: {counted} (from {batch.source})."]
    if not batch.outcomes:
        runner.notice(f"{eco}: no passed or failed result to record; the breaker is unchanged", title=title)
        lines.append("Nothing recorded: every result was skipped.")
    for move in transitions:
        if move.name == "trip":
            message = f"{eco}: circuit breaker OPENED ({move.detail}); batches are skipped until {breaker.load(document, eco)[0].opens_at}"
            runner.warning(message, title=title)
        elif move.name == "reopen":
            message = f"{eco}: half-open probe failed, circuit breaker re-opened ({move.detail}) until {breaker.load(document, eco)[0].opens_at}"
            runner.warning(message, title=title)
        else:
            message = f"{eco}: half-open probe succeeded, circuit breaker closed and its window cleared ({move.detail})"
            runner.notice(message, title=title)
        lines.append(message + ".")
    if "success-while-open" in notes:
        message = f"{eco}: success reported while the breaker is open; it stays open until a half-open probe succeeds (no open→closed jump)"
        runner.notice(message, title=title)
        lines.append(message + ".")
    if batch.macos > 0 or batch.linux > 0:
        lines.append(f"Budget: added {batch.macos:g} macOS and {batch.linux:g} Linux minute(s).")
    state_line = f"state: {outputs['previous-state']} → {outputs['state']}, failure rate over the window {float(outputs['failure-rate']):.0%}"
    runner.log(f"{eco}: {counted}; {state_line}")
    lines.append(state_line + ".")
    _report(f"{title}: {eco}", lines, document, now, transitions)
    return 0


UPDATE = Command(
    help="record a batch's outcome(s) for one ecosystem: window, transitions, budget minutes",
    configure=_update_configure,
    run=_update_run,
)

# --- breaker replay -----------------------------------------------------------------


@dataclass
class _Group:
    ecosystem: str
    start: datetime
    end: datetime
    outcomes: list[str] = field(default_factory=list)
    source: str = ""


def _interleave(passed: int, failed: int) -> list[str]:
    """Spread failures evenly among successes (a batch-runs record has counts, not order)."""
    total = passed + failed
    out: list[str] = []
    placed = 0
    for index in range(total):
        due = round((index + 1) * failed / total) if total else 0
        if due > placed:
            out.append(FAILURE)
            placed += 1
        else:
            out.append(SUCCESS)
    return out


def _time(value: Any, where: str, name: str) -> datetime:
    return timeutil.parse_iso(str(value or ""), field=name, file=where)


def _ecosystem(value: Any, name: str, number: int) -> str:
    """History files are data: an ecosystem name that is not one never reaches the log."""
    import re

    text = str(value)
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", text):
        raise BatchopsError(
            "ecosystem is not an ecosystem name (lowercase letters, digits, '.', '_', '-')",
            file=name,
            line=number,
            hint="fix the record, or drop the file from the replay",
        )
    return text


def parse_replay_file(path: Path, default_ecosystem: str) -> list[_Group]:
    """Read one JSONL history file into batches (see the README for the accepted formats)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BatchopsError("file not found", file=name, hint="check the path of the history file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchopsError(f"cannot read: {exc.__class__.__name__}", file=name, hint="give a UTF-8 JSONL file") from None
    groups: dict[Any, _Group] = {}

    def add(key: Any, ecosystem: str, at: datetime, outcomes: list[str], where: str) -> None:
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(ecosystem, at, at, [], where)
        group.start = min(group.start, at)
        group.end = max(group.end, at)
        group.outcomes.extend(outcomes)

    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BatchopsError(f"not valid JSON: {exc.msg}", file=name, line=number, hint="one JSON object per line") from None
        if not isinstance(record, dict):
            raise BatchopsError("is not a JSON object", file=name, line=number, hint="one JSON object per line")
        ecosystem = _ecosystem(record.get("ecosystem") or default_ecosystem, name, number)
        if "outcome" in record:  # {"at", "ecosystem", "outcome", "batch_id"?}
            outcome = record["outcome"]
            if outcome not in OUTCOMES:
                raise BatchopsError(f"outcome {outcome!r} is not success or failure", file=name, line=number, hint="use success or failure")
            at = _time(record.get("at"), name, "at")
            key = ("batch", ecosystem, record["batch_id"]) if record.get("batch_id") else ("at", ecosystem, at)
            add(key, ecosystem, at, [outcome], where)
        elif isinstance(record.get("failures"), list):  # corpus failures file: one batch per line
            for failure in record["failures"]:
                package = str(failure.get("package_id", ""))
                eco = ecosystem if record.get("ecosystem") else (_ecosystem(package.split(":", 1)[0], name, number) if ":" in package else ecosystem)
                at = _time(failure.get("timestamp"), name, "failures[].timestamp")
                add(("line", name, number, eco), eco, at, [FAILURE], where)
        elif "recipe" in record and "timestamp" in record:  # batch-*.jsonl: one failed recipe per line
            at = _time(record["timestamp"], name, "timestamp")
            add(("file", name, ecosystem, at), ecosystem, at, [FAILURE], where)
        elif isinstance(record.get("results"), list):  # a batchops results file, one per line
            at = _time(record.get("completed_at") or record.get("started_at"), name, "completed_at")
            outcomes = [SUCCESS if r.get("result") == "passed" else FAILURE for r in record["results"] if r.get("result") in ("passed", "failed")]
            add(("batch", ecosystem, record.get("batch_id"), at), ecosystem, at, outcomes, where)
        elif isinstance(record.get("platforms"), dict):  # batch-runs metrics: counts per platform
            at = _time(record.get("timestamp"), name, "timestamp")
            passed = sum(int(p.get("passed", 0) or 0) for p in record["platforms"].values())
            failed = sum(int(p.get("failed", 0) or 0) for p in record["platforms"].values())
            add(("run", name, number), ecosystem, at, _interleave(passed, failed), where)
        else:
            raise BatchopsError(
                "is not a breaker history record",
                file=name,
                line=number,
                hint='write {"at": "2026-06-26T20:51:01Z", "ecosystem": "homebrew", "outcome": "failure"} per line, or give a failures/*.jsonl file',
            )
    return list(groups.values())


def simulate(groups: list[_Group], base: breaker.BreakerConfig) -> dict[str, Any]:
    """Feed the batches, in time order, through gate and record; count what is skipped."""
    states: dict[str, breaker.Breaker] = {}
    per: dict[str, dict[str, Any]] = {}
    timeline: list[dict[str, Any]] = []
    for group in sorted(groups, key=lambda g: (g.start, g.ecosystem)):
        eco = group.ecosystem
        current = states.get(eco) or breaker.Breaker.from_entry(None, base)
        stats = per.setdefault(eco, {"batches": 0, "run": 0, "skipped": 0, "attempts": 0, "failures": 0, "opens": 0})
        stats["batches"] += 1
        current, decision = breaker.gate(current, group.start, base)
        if decision.transition:
            timeline.append({"ecosystem": eco, **decision.transition.as_json()})
        if decision.skip:
            stats["skipped"] += 1
            timeline.append({"ecosystem": eco, "name": "skipped", "from": decision.state, "to": decision.state,
                             "at": timeutil.iso(group.start), "detail": f"{len(group.outcomes)} attempt(s) not run; {decision.reason}"})
            states[eco] = current
            continue
        stats["run"] += 1
        stats["attempts"] += len(group.outcomes)
        stats["failures"] += group.outcomes.count(FAILURE)
        current, result = breaker.record(current, group.outcomes, group.end, base)
        for move in result.transitions:
            timeline.append({"ecosystem": eco, **move.as_json()})
            stats["opens"] += move.target == breaker.OPEN
        states[eco] = current
    for eco, stats in per.items():
        final = states[eco]
        stats["final_state"] = final.state
        stats["opens_at"] = final.opens_at if final.state == breaker.OPEN else ""
    return {
        "config": base.as_json(),
        "batches": sum(s["batches"] for s in per.values()),
        "skipped": sum(s["skipped"] for s in per.values()),
        "ecosystems": per,
        "timeline": timeline,
    }


def _replay_configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    replay = sub.add_parser(
        "replay",
        help="replay a history of outcomes through a breaker config: transitions and skipped batches",
        description=(
            "Read JSONL histories ({at, ecosystem, outcome[, batch_id]} lines, the pipeline's failures/*.jsonl, "
            "batch-runs metrics or results files) and print the breaker transitions and how many batches would "
            "have been skipped with the given config."
        ),
    )
    replay.add_argument("files", nargs="+", metavar="FILE", help="JSONL history files")
    defaults = breaker.DEFAULT_CONFIG
    replay.add_argument("--window", default=str(defaults.window_size), help=f"window size in attempts (default {defaults.window_size})")
    replay.add_argument("--threshold", default=str(defaults.failure_rate_threshold), help=f"failure rate that trips, 0-1 (default {defaults.failure_rate_threshold})")
    replay.add_argument("--min-attempts", default=str(defaults.minimum_attempts), help=f"attempts needed before tripping (default {defaults.minimum_attempts})")
    replay.add_argument("--wait", default="60m", help="first wait in open (default 60m)")
    replay.add_argument("--max-wait", default="24h", help="cap of the doubling wait (default 24h)")
    replay.add_argument("--probe-timeout", default="6h", help="a probe with no result after this is lost (default 6h)")
    replay.add_argument("--ecosystem", default="unknown", help="ecosystem of records that name none (default: unknown)")
    replay.add_argument("--json", action="store_true", help="print the report as JSON")


def _replay_config(args: argparse.Namespace) -> breaker.BreakerConfig:
    threshold = parse_float(args.threshold, field="--threshold")
    if not 0 < threshold <= 1:
        raise UsageError(f"{threshold} is not in (0, 1]", field="--threshold", hint="write 0.5 for 50%")
    config = breaker.BreakerConfig(
        window_size=parse_int(args.window, field="--window", minimum=1),
        failure_rate_threshold=threshold,
        minimum_attempts=parse_int(args.min_attempts, field="--min-attempts", minimum=1),
        wait=timeutil.parse_duration(args.wait, field="--wait"),
        max_wait=timeutil.parse_duration(args.max_wait, field="--max-wait"),
        probe_timeout=timeutil.parse_duration(args.probe_timeout, field="--probe-timeout"),
    )
    try:
        return config.check("--window / --min-attempts")
    except BatchopsError as exc:
        raise UsageError(exc.message, field=exc.field, hint=exc.hint) from None


def render_replay(report: dict[str, Any], files: int) -> str:
    config = report["config"]
    lines = [
        f"breaker replay: {report['batches']} batch(es) from {files} file(s); window {config['window_size']}, "
        f"threshold {config['failure_rate_threshold']:.0%}, min {config['minimum_attempts']} attempts, "
        f"wait {config['wait']} doubling to {config['max_wait']}, probe timeout {config['probe_timeout']}",
        "",
        "timeline:",
    ]
    if not report["timeline"]:
        lines.append("  (no transition)")
    for event in report["timeline"]:
        move = f"{event['from']} -> {event['to']}" if event["name"] != "skipped" else f"skip ({event['from']})"
        lines.append(f"  {event['at']}  {event['ecosystem']:<12} {event['name']:<14} {move:<22} {event['detail']}")
    lines += ["", f"  {'ecosystem':<12} {'batches':>7} {'run':>5} {'skipped':>7} {'attempts':>8} {'failed':>6} {'opens':>5}  final state"]
    for eco, stats in sorted(report["ecosystems"].items()):
        final = stats["final_state"] + (f" until {stats['opens_at']}" if stats["opens_at"] else "")
        lines.append(
            f"  {eco:<12} {stats['batches']:>7} {stats['run']:>5} {stats['skipped']:>7} {stats['attempts']:>8} "
            f"{stats['failures']:>6} {stats['opens']:>5}  {final}"
        )
    lines += ["", f"{report['skipped']} of {report['batches']} batch(es) would have been skipped."]
    return "\n".join(lines)


def _breaker_run(args: argparse.Namespace) -> int:
    config = _replay_config(args)
    groups: list[_Group] = []
    for name in args.files:
        groups.extend(parse_replay_file(Path(name), args.ecosystem))
    report = simulate(groups, config)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        text = render_replay(report, len(args.files))
        print(text)
        runner.summary("### batchops breaker replay\n\n```text\n" + text.replace("```", "'''") + "\n```")
    return 0


BREAKER = Command(
    help="breaker tools: `replay` a history through a config to tune thresholds",
    configure=_replay_configure,
    run=_breaker_run,
)
