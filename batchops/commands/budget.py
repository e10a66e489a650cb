"""``batchops budget`` (status, reset: audited) and ``batchops sample`` (the deterministic sampler)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from batchops.adapters import controlfile, runner
from batchops.cli.args import Command, add_control_file, add_input, add_now, clock, parse_float
from batchops.commands.operate import apply_operator
from batchops.core import timeutil
from batchops.core.budget import (
    LABELS,
    PLATFORMS,
    format_minutes,
    format_rate,
    sample,
    status_json,
    view,
)
from batchops.errors import UsageError
from batchops.render.budget import gauge_markdown
from batchops.render.markdown import md_table


def _read_names(source: str | None) -> list[str]:
    if source in (None, "-"):
        text = sys.stdin.read()
        where = "stdin"
    else:
        where = str(source)
        try:
            text = Path(where).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError("file not found", file=where, hint="give a file with one recipe name a line, or pipe the names on stdin") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read ({exc.__class__.__name__})", file=where, hint="give a UTF-8 text file with one recipe name a line") from None
    del where
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _sample_configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "rate", "fraction of the candidates to keep, 0..1 (preflight's sample-rate)", required=True)
    add_input(parser, "seed", "batch id: the same seed chooses the same names on every re-run", required=True)
    parser.add_argument("file", nargs="?", default=None, help="file with one candidate name a line (default: stdin; lines starting with # are ignored)")


def _sample_run(args: argparse.Namespace) -> int:
    rate = parse_float(args.rate, field="--rate", minimum=0.0)
    if rate > 1:
        raise UsageError(f"{rate:g} is above 1", field="--rate", hint="use a fraction between 0 and 1, e.g. the sample-rate output of preflight")
    seed = str(args.seed).strip()
    if not seed:
        raise UsageError("is empty", field="--seed", hint="pass the batch id, e.g. --seed 2026-06-26-homebrew")
    names = _read_names(args.file)
    chosen = sample(names, rate, seed)
    for name in chosen:
        sys.stdout.write(name + "\n")
    sys.stdout.flush()
    unique = len(dict.fromkeys(names))
    runner.summary(
        f"### batchops sample: {len(chosen)} of {unique} candidates (rate {format_rate(rate)})\n\n"
        + md_table(["", "value"], [["seed", seed], ["rate", format_rate(rate)], ["candidates", unique], ["chosen", len(chosen)]])
    )
    return 0


SAMPLE = Command(
    "keep a deterministic sample of candidate names (stdin or FILE) at --rate for the batch --seed",
    _sample_configure,
    _sample_run,
)


# --- batchops budget (reset, status) ------------------------------------------------------


def _budget_configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    reset_parser = sub.add_parser("reset", help="set this week's usage to 0 (kept in history), audited commit message")
    reset_parser.add_argument("--platform", choices=PLATFORMS, action="append", help="only this platform (repeatable; default: both)")
    add_control_file(reset_parser)
    add_now(reset_parser)
    status_parser = sub.add_parser("status", help="the budget gauges, sample rate and previous weeks")
    status_parser.add_argument("--json", action="store_true", help="print the budget as JSON")
    add_control_file(status_parser)
    add_now(status_parser)


def _budget_run(args: argparse.Namespace) -> int:
    now = clock(args)
    document = controlfile.load(args.control_file)
    if args.action == "status":
        current = view(document, now)
        if args.json:
            import json

            print(json.dumps(status_json(current), indent=2))
            return 0
        text = f"### batchops budget — {args.control_file}\n\n" + gauge_markdown(current, heading="####", with_history=True)
        print(text)
        runner.summary(text)
        return 0
    platforms = list(dict.fromkeys(args.platform or PLATFORMS))
    current = view(document, now)
    body = []
    for gauge in current.gauges:
        if gauge.platform in platforms:
            body.append(f"Reset-{LABELS[gauge.platform]}: {format_minutes(gauge.used)} of {format_minutes(gauge.limit)} minutes ({gauge.percent}) -> 0")
    body.append(f"Week: {timeutil.iso(current.week_start)}")
    which = " and ".join(LABELS[p] for p in platforms)
    apply_operator(args.control_file, "budget.reset", {"platforms": platforms}, now, f"batchops: reset the {which} CI-minutes budget", body)
    return 0


BUDGET = Command("the weekly CI-minutes budget: `budget status`, `budget reset` (audited)", _budget_configure, _budget_run)
