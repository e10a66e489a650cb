"""``batchops breaker``: breaker tools for operators.

``replay`` a history through a config; ``reset`` / ``probe`` / ``open`` an ecosystem's breaker
(audited operations ``breaker.reset``, ``breaker.probe``, ``breaker.open``, each with the actor
and a required ``--reason``; ``reset`` is the one way from open to closed).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, runner, schema
from batchops.commands.operate import add_operator_flags, check_ecosystem, run_change
from batchops.core import breaker, control, metrics, timeutil
from batchops.core.breaker import FAILURE, OUTCOMES, SUCCESS
from batchops.errors import BatchopsError, UsageError
from batchops.flags import Command, parse_float, parse_int


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


def _read_history(path: Path) -> str:
    name = str(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BatchopsError("file not found", file=name, hint="check the path of the history file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchopsError(
            f"cannot read: {exc.__class__.__name__}", file=name, hint="give a UTF-8 JSONL file"
        ) from None


def _record(chunk: metrics.Chunk, name: str) -> dict[str, Any]:
    """One record of a history file, as a JSON object."""
    number = chunk.line
    if chunk.error:
        raise BatchopsError(
            f"{chunk.error} (column {chunk.column})", file=name, line=number, hint="one JSON object per record"
        )
    try:
        record = schema.parse_json_text(chunk.text, name)
    except BatchopsError as exc:
        line = number + (exc.line - 1 if exc.line else 0)
        raise BatchopsError(exc.message, file=name, line=line, hint=exc.hint or "one JSON object per record") from None
    if not isinstance(record, dict):
        raise BatchopsError("is not a JSON object", file=name, line=number, hint="one JSON object per record")
    return record


_Add = Callable[[Any, str, datetime, list[str], str], None]


def _add_record(add: _Add, record: dict[str, Any], ecosystem: str, name: str, number: int, where: str) -> None:
    """Add one record's outcomes to its batch, whichever of the history formats it is."""
    if "outcome" in record:  # {"at", "ecosystem", "outcome", "batch_id"?}
        outcome = record["outcome"]
        if outcome not in OUTCOMES:
            raise BatchopsError(
                f"outcome {outcome!r} is not success or failure",
                file=name,
                line=number,
                hint="use success or failure",
            )
        at = _time(record.get("at"), name, "at")
        key = ("batch", ecosystem, record["batch_id"]) if record.get("batch_id") else ("at", ecosystem, at)
        add(key, ecosystem, at, [outcome], where)
    elif isinstance(record.get("failures"), list):  # corpus failures file: one batch per line
        for failure in record["failures"]:
            package = str(failure.get("package_id", ""))
            eco = (
                ecosystem
                if record.get("ecosystem")
                else (_ecosystem(package.split(":", 1)[0], name, number) if ":" in package else ecosystem)
            )
            at = _time(failure.get("timestamp"), name, "failures[].timestamp")
            add(("line", name, number, eco), eco, at, [FAILURE], where)
    elif "recipe" in record and "timestamp" in record:  # batch-*.jsonl: one failed recipe per line
        at = _time(record["timestamp"], name, "timestamp")
        add(("file", name, ecosystem, at), ecosystem, at, [FAILURE], where)
    elif isinstance(record.get("results"), list):  # a batchops results file, one per line
        at = _time(record.get("completed_at") or record.get("started_at"), name, "completed_at")
        outcomes = [
            SUCCESS if r.get("result") == "passed" else FAILURE
            for r in record["results"]
            if r.get("result") in ("passed", "failed")
        ]
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
            hint=(
                'write {"at": "2026-06-26T20:51:01Z", "ecosystem": "homebrew", "outcome": "failure"} per line, '
                "or give a failures/*.jsonl file"
            ),
        )


def parse_replay_file(path: Path, default_ecosystem: str) -> list[_Group]:
    """Read one history file into batches: JSONL or pretty-printed objects (see docs for the formats)."""
    name = str(path)
    text = _read_history(path)
    groups: dict[Any, _Group] = {}

    def add(key: Any, ecosystem: str, at: datetime, outcomes: list[str], where: str) -> None:
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(ecosystem, at, at, [], where)
        group.start = min(group.start, at)
        group.end = max(group.end, at)
        group.outcomes.extend(outcomes)

    # one object per line, or pretty-printed objects one after another (the legacy metrics files)
    for chunk in metrics.split_records(text):
        number = chunk.line
        record = _record(chunk, name)
        named = record.get("ecosystem")
        if not named and isinstance(record.get("ecosystems"), dict):  # the newer batch records: a map of counts
            named = next(iter(record["ecosystems"])) if len(record["ecosystems"]) == 1 else metrics.MIXED
        ecosystem = _ecosystem(named or default_ecosystem, name, number)
        _add_record(add, record, ecosystem, name, number, f"{name}:{number}")
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
            timeline.append(
                {
                    "ecosystem": eco,
                    "name": "skipped",
                    "from": decision.state,
                    "to": decision.state,
                    "at": timeutil.iso(group.start),
                    "detail": f"{len(group.outcomes)} attempt(s) not run; {decision.reason}",
                }
            )
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
    replay.add_argument(
        "--window", default=str(defaults.window_size), help=f"window size in attempts (default {defaults.window_size})"
    )
    replay.add_argument(
        "--threshold",
        default=str(defaults.failure_rate_threshold),
        help=f"failure rate that trips, 0-1 (default {defaults.failure_rate_threshold})",
    )
    replay.add_argument(
        "--min-attempts",
        default=str(defaults.minimum_attempts),
        help=f"attempts needed before tripping (default {defaults.minimum_attempts})",
    )
    replay.add_argument("--wait", default="60m", help="first wait in open (default 60m)")
    replay.add_argument("--max-wait", default="24h", help="cap of the doubling wait (default 24h)")
    replay.add_argument("--probe-timeout", default="6h", help="a probe with no result after this is lost (default 6h)")
    replay.add_argument("--ecosystem", default="unknown", help="ecosystem of records that name none (default: unknown)")
    replay.add_argument("--json", action="store_true", help="print the report as JSON")
    for name, text in CONTROLS.items():
        control_parser = sub.add_parser(name, help=text[0], description=text[1])
        control_parser.add_argument("ecosystem", metavar="ECOSYSTEM", help="ecosystem of the breaker, e.g. npm")
        control_parser.add_argument("--reason", required=True, help="why (one line; recorded in the commit trailers)")
        if name == "open":
            control_parser.add_argument(
                "--wait",
                default="",
                help="how long it stays open, e.g. 6h (default: the breaker's wait, doubling per re-open)",
            )
        control_parser.add_argument(
            "--new", action="store_true", help="the ecosystem is new: the control file has never seen it"
        )
        add_operator_flags(control_parser)


CONTROLS = {
    "reset": (
        "close the breaker and clear its window and counters (the one audited path from open to closed)",
        "Close ECOSYSTEM's breaker now: state closed, window, consecutive failures and opens counted from zero.",
    ),
    "probe": (
        "half-open now: the next batch of the ecosystem is the probe",
        "Move ECOSYSTEM's breaker to half-open without waiting for opens_at: the next batch runs as the probe.",
    ),
    "open": (
        "trip the breaker by hand: batches are skipped until the wait is over",
        "Open ECOSYSTEM's breaker now (a manual trip), for --wait or the breaker's own doubling wait.",
    ),
}
_OPERATIONS = {"reset": "breaker.reset", "probe": "breaker.probe", "open": "breaker.open"}
_TITLES = {
    "reset": "reset the {e} circuit breaker",
    "probe": "probe the {e} circuit breaker now",
    "open": "open the {e} circuit breaker",
}


def _control_run(args: argparse.Namespace) -> int:
    document = controlfile.load(args.control_file)
    name = check_ecosystem(document, args.ecosystem, args.control_file, new=args.new)
    reason = control.check_text(args.reason, "--reason", example='"npm registry recovered, see status page"')
    if not reason:
        raise UsageError("is empty", field="--reason", hint='say why, e.g. --reason "npm registry recovered"')
    op_args: dict[str, Any] = {"ecosystem": name, "reason": reason}
    if getattr(args, "wait", ""):
        wait = timeutil.parse_duration(args.wait, field="--wait")
        op_args["wait"] = timeutil.format_duration(wait)
    current, _ = breaker.load(document, name)
    body = [
        f"Reason: {reason}",
        f"Was: {current.state}, {current.window.failures} of {current.window.attempts} failed in the window, "
        f"{current.failures} consecutive failure(s)",
    ]
    return run_change(args, _OPERATIONS[args.action], op_args, title=_TITLES[args.action].format(e=name), body=body)


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
    lines += [
        "",
        f"  {'ecosystem':<12} {'batches':>7} {'run':>5} {'skipped':>7} {'attempts':>8} "
        f"{'failed':>6} {'opens':>5}  final state",
    ]
    for eco, stats in sorted(report["ecosystems"].items()):
        final = stats["final_state"] + (f" until {stats['opens_at']}" if stats["opens_at"] else "")
        lines.append(
            f"  {eco:<12} {stats['batches']:>7} {stats['run']:>5} {stats['skipped']:>7} {stats['attempts']:>8} "
            f"{stats['failures']:>6} {stats['opens']:>5}  {final}"
        )
    lines += ["", f"{report['skipped']} of {report['batches']} batch(es) would have been skipped."]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    if args.action in CONTROLS:
        return _control_run(args)
    config = _replay_config(args)
    groups: list[_Group] = []
    for name in args.files:
        groups.extend(parse_replay_file(Path(name), args.ecosystem))
    report = simulate(groups, config)
    if args.json:
        runner.out_json(report)
    else:
        text = render_replay(report, len(args.files))
        runner.out_block(text)
        runner.summary("### batchops breaker replay\n\n```text\n" + text.replace("```", "'''") + "\n```")
    return 0


BREAKER = Command(
    help="breaker controls (`reset`, `probe`, `open` ECOSYSTEM --reason …, audited) and `replay` of a history",
    configure=_replay_configure,
    run=_run,
)
