"""``batchops budget`` (status; reset and sample --on|--off: audited) and ``batchops sample``
(the deterministic sampler)."""

from __future__ import annotations

import argparse
import copy
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, runner
from batchops.commands.operate import add_operator_flags, run_change
from batchops.commands.switch import reason_of
from batchops.core import timeutil
from batchops.core.budget import (
    FORCED_SAMPLE_RATE,
    LABELS,
    PLATFORMS,
    format_minutes,
    format_rate,
    sample,
    set_sampling,
    status_json,
    view,
)
from batchops.errors import UsageError
from batchops.flags import (
    Command,
    add_control_file,
    add_input,
    add_now,
    add_reason,
    clock,
    naming_control_file,
    parse_float,
)
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
            raise UsageError(
                "file not found", file=where, hint="give a file with one recipe name a line, or pipe the names on stdin"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"cannot read ({exc.__class__.__name__})",
                file=where,
                hint="give a UTF-8 text file with one recipe name a line",
            ) from None
    del where
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _sample_configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "rate", "fraction of the candidates to keep, 0..1 (preflight's sample-rate)", required=True)
    add_input(parser, "seed", "batch id: the same seed chooses the same names on every re-run", required=True)
    parser.add_argument(
        "file",
        nargs="?",
        default=None,
        help="file with one candidate name a line (default: stdin; lines starting with # are ignored)",
    )


def _sample_run(args: argparse.Namespace) -> int:
    rate = parse_float(args.rate, field="--rate", minimum=0.0)
    if rate > 1:
        raise UsageError(
            f"{rate:g} is above 1",
            field="--rate",
            hint="use a fraction between 0 and 1, e.g. the sample-rate output of preflight",
        )
    seed = str(args.seed).strip()
    if not seed:
        raise UsageError("is empty", field="--seed", hint="pass the batch id, e.g. --seed 2026-06-26-homebrew")
    names = _read_names(args.file)
    chosen = sample(names, rate, seed)
    for name in chosen:
        runner.out(name)
    unique = len(dict.fromkeys(names))
    runner.summary(
        f"### batchops sample: {len(chosen)} of {unique} candidates (rate {format_rate(rate)})\n\n"
        + md_table(
            ["", "value"],
            [["seed", seed], ["rate", format_rate(rate)], ["candidates", unique], ["chosen", len(chosen)]],
        )
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
    reset_parser.add_argument(
        "--platform", choices=PLATFORMS, action="append", help="only this platform (repeatable; default: both)"
    )
    add_reason(reset_parser)
    add_operator_flags(reset_parser)
    sample_parser = sub.add_parser(
        "sample",
        help="force sampling on for this week (--on) or clear the operator's flag (--off), audited commit message",
    )
    switch = sample_parser.add_mutually_exclusive_group(required=True)
    switch.add_argument(
        "--on",
        dest="on",
        action="store_const",
        const=True,
        help=f"sample every running platform at rate {FORCED_SAMPLE_RATE:g} or lower until --off or the week ends",
    )
    switch.add_argument(
        "--off", dest="on", action="store_const", const=False, help="clear the flag: the rate follows the usage again"
    )
    add_reason(sample_parser)
    add_operator_flags(sample_parser)
    status_parser = sub.add_parser("status", help="the budget gauges, sample rate and previous weeks")
    status_parser.add_argument("--json", action="store_true", help="print the budget as JSON")
    add_control_file(status_parser)
    add_now(status_parser)


@naming_control_file
def _budget_run(args: argparse.Namespace) -> int:
    now = clock(args)
    document = controlfile.load(args.control_file)
    if args.action == "status":
        current = view(document, now)
        if args.json:
            runner.out_json(status_json(current))
            return 0
        from batchops.commands.status import budget_terminal

        runner.out_block(f"batchops budget: {args.control_file}\n\n" + budget_terminal(current))
        runner.summary(
            f"### batchops budget — {args.control_file}\n\n"
            + gauge_markdown(current, heading="####", with_history=True)
        )
        return 0
    if args.action == "sample":
        return _sample_switch(args, document, now)
    platforms = list(dict.fromkeys(args.platform or PLATFORMS))
    current = view(document, now)
    body = []
    for gauge in current.gauges:
        if gauge.platform in platforms:
            body.append(
                f"Reset-{LABELS[gauge.platform]}: {format_minutes(gauge.used)} of {format_minutes(gauge.limit)} "
                f"minutes ({gauge.percent}) -> 0"
            )
    body.append(f"Week: {timeutil.iso(current.week_start)}")
    reason = reason_of(args)
    body = ([f"Reason: {reason}"] if reason else []) + body
    which = " and ".join(LABELS[p] for p in platforms)
    if all(g.used == 0 for g in current.gauges if g.platform in platforms):
        runner.out_block(
            f"nothing to change: this week's {which} usage is already 0; nothing written, nothing journaled"
        )
        return 0
    op_args: dict[str, Any] = {"platforms": platforms, **({"reason": reason} if reason else {})}
    return run_change(args, "budget.reset", op_args, title=f"reset the {which} CI-minutes budget", body=body)


def _sample_switch(args: argparse.Namespace, document: dict[str, Any], now: datetime) -> int:
    on = bool(args.on)
    current = view(document, now)
    preview = copy.deepcopy(document)
    set_sampling(preview, {"on": on, "at": timeutil.iso(now)})
    after = view(preview, now)
    body = [
        f"Sampling: {'forced on by an operator' if on else 'operator flag cleared'} "
        f"(budget.sampling_active: {str(on).lower()})",
        f"Sample-Rate: {format_rate(current.sample_rate)} -> {format_rate(after.sample_rate)} "
        f"(usage alone: {format_rate(after.usage_rate)})",
        f"Week: {timeutil.iso(after.week_start)} to {timeutil.iso(after.week_end)}",
    ]
    reason = reason_of(args)
    body = ([f"Reason: {reason}"] if reason else []) + body
    title = "force CI-minutes sampling on for this week" if on else "clear forced CI-minutes sampling"
    nothing = (
        "sampling is already forced for this week"
        if on
        else "sampling is not forced (budget.sampling_active is not true)"
    )
    op_args: dict[str, Any] = {"on": on, **({"reason": reason} if reason else {})}
    return run_change(args, "budget.sample", op_args, title=title, body=body, nothing=nothing)


BUDGET = Command(
    "the weekly CI-minutes budget: `budget status`, `budget reset`, `budget sample --on|--off` (audited)",
    _budget_configure,
    _budget_run,
)
