"""``batchops status``: what the next batch of each ecosystem meets, and whether this is what the branch says.

Computed, never written: the switch, the disabled ecosystems, each breaker asked as the
gate would ask it (on a copy: nothing is journaled), the budget; then the local control
file compared with the remote-tracking branch the workflows read (``origin/<branch>`` of
this checkout, without fetching unless ``--fetch``), with how old that copy is, the
operations journaled but not pushed and the commits behind.

At a terminal it prints plain aligned tables; the Markdown form goes to the step summary.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, journal, runner
from batchops.adapters import git as gitcmd
from batchops.core import breaker, budget, control, escape, timeutil
from batchops.core.next_batch import verdict_text
from batchops.flags import Command, add_control_file, add_now, clock, naming_control_file
from batchops.render import breaker as render_breaker
from batchops.render import budget as render_budget
from batchops.render import markdown, terminal


def ecosystems(document: dict[str, Any]) -> list[str]:
    names = breaker.ecosystems(document) + [
        n for n in control.get(document, "disabled_ecosystems") if isinstance(n, str)
    ]
    return list(dict.fromkeys(names))


def next_rows(document: dict[str, Any], now: datetime) -> list[list[str]]:
    rows = []
    for name in ecosystems(document):
        answer = control.next_batch(document, name, now)
        rows.append([name, verdict_text(answer, now), answer.get("state") or "-", answer["why"]])
    return rows


# --- local vs remote ------------------------------------------------------------------


def _reflog_time(root: Path, ref: str) -> datetime | None:
    proc = gitcmd.run(root, ["reflog", "show", "-n1", "--date=iso-strict", "--format=%gd", ref], check=False)
    text = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0 or "@{" not in text:
        return None
    return timeutil.parse_iso_or_none(text.rsplit("@{", 1)[1].rstrip("}"))


def remote_lines(path: str, local: dict[str, Any], now: datetime, fetch: bool) -> list[str]:
    """How the local control file stands against origin/<branch>, in a few lines."""
    target = Path(path)
    folder = target.parent if target.parent.is_dir() else Path.cwd()
    top = gitcmd.run(folder, ["rev-parse", "--show-toplevel"], check=False)
    if top.returncode != 0:
        return ["not in a git checkout: nothing to compare with (the workflows read the file on the branch)"]
    root = Path(top.stdout.decode("utf-8", "replace").strip())
    branch = gitcmd.text(root, ["symbolic-ref", "--short", "-q", "HEAD"], check=False) or runner.current_branch_hint()
    if not branch:
        return ["HEAD is detached: no branch to compare with"]
    ref = f"refs/remotes/origin/{branch}"
    lines: list[str] = []
    if fetch:
        done = gitcmd.run(root, ["fetch", "-q", "origin", f"+refs/heads/{branch}:{ref}"], check=False)
        if done.returncode != 0:
            lines.append(f"fetch failed: {escape.one_line(done.stderr.decode('utf-8', 'replace').strip())}")
    if gitcmd.run(root, ["rev-parse", "-q", "--verify", ref], check=False).returncode != 0:
        return lines + [
            f"no origin/{branch} in this checkout: run `git fetch` (or `batchops status --fetch`) to compare"
        ]
    seen = _reflog_time(root, ref)
    age = "age unknown"
    if seen is not None:
        age = f"as of {timeutil.iso(seen)}" + (f", {timeutil.format_duration(now - seen)} ago" if seen <= now else "")
    where = f"origin/{branch} ({age}; --fetch to refresh)"
    try:
        relative = target.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return lines + [f"{path} is outside the checkout: nothing to compare"]
    shown = gitcmd.run(root, ["show", f"{ref}:{relative}"], check=False)
    pending = len(journal.read())
    if shown.returncode != 0:
        lines.append(f"{path} is not on {where}: the workflows do not see it yet")
    else:
        try:
            from batchops.adapters import schema
            from batchops.errors import BatchopsError

            remote = schema.parse_json_text(shown.stdout.decode("utf-8"), f"{where}:{path}")
        except (UnicodeDecodeError, BatchopsError):
            remote = None
        if remote == local:
            lines.append(f"the local {path} is the same as on {where}")
        elif not isinstance(remote, dict):
            lines.append(
                f"{path} on {where} is not a valid control file: the workflows fail closed (`batchops validate`)"
            )
        else:
            fields = control.changed_fields(remote, local)
            lines.append(f"the local {path} differs from {where} in: {', '.join(fields) or '(formatting)'}")
            there = "enabled" if control.get(remote, "enabled") else "stopped"
            disabled = ", ".join(control.get(remote, "disabled_ecosystems")) or "(none)"
            lines.append(f"the workflows read origin/{branch}: there the pipeline is {there}, disabled: {disabled}")
    if pending:
        lines.append(f"{pending} operation(s) journaled, not pushed: `batchops pending` lists them")
    counts = gitcmd.text(root, ["rev-list", "--left-right", "--count", f"HEAD...{ref}"], check=False).split()
    if len(counts) == 2:
        ahead, behind = int(counts[0]), int(counts[1])
        if behind:
            lines.append(f"this checkout is {behind} commit(s) behind origin/{branch}: `git pull --ff-only`")
        if ahead:
            lines.append(f"this checkout has {ahead} commit(s) not on origin/{branch}")
    return lines


# --- the two forms ---------------------------------------------------------------------


def _switch_rows(document: dict[str, Any], enabled: str, stopped: str) -> list[list[Any]]:
    """The pipeline switch and the disabled ecosystems, with why when stopped (or when some are disabled)."""
    on = control.get(document, "enabled")
    rows: list[list[Any]] = [
        ["pipeline", enabled if on else stopped],
        ["disabled ecosystems", ", ".join(control.get(document, "disabled_ecosystems")) or "(none)"],
    ]
    if not on:
        for key in ("reason", "incident_url", "disabled_by", "disabled_at", "expected_resume"):
            if document.get(key):
                rows.append([key.replace("_", " "), document[key]])
    elif document.get("reason") and control.get(document, "disabled_ecosystems"):
        rows.append(["reason", document["reason"]])  # the runbook's "disable non-critical ecosystems" says why here
    return rows


def status_terminal(document: dict[str, Any], now: datetime, path: str, remote: list[str]) -> str:
    rows = _switch_rows(document, "enabled", "STOPPED")
    text = f"batchops status: {path} at {timeutil.iso(now)}\n\n" + terminal.pairs(rows)
    found = next_rows(document, now)
    text += "\nnext batch of each ecosystem:\n"
    text += (
        terminal.table(["ecosystem", "next batch", "breaker", "why"], found, wrap=[3])
        if found
        else "  (no ecosystem has recorded anything yet)\n"
    )
    text += "\n" + budget_terminal(budget.view(document, now))
    text += "\nremote:\n" + "".join(f"  {escape.one_line(line)}\n" for line in remote)
    return text


def budget_terminal(current: budget.BudgetView) -> str:
    """The budget at a terminal: the week, each platform's minutes and state, the previous weeks."""
    text = (
        f"budget: week {current.week_start:%Y-%m-%d} to {current.week_end:%Y-%m-%d} "
        f"({current.days_left:.1f} days left), sample rate {budget.format_rate(current.sample_rate)}\n"
    )
    gauges = [
        [
            budget.LABELS[g.platform],
            f"{budget.format_minutes(g.used)} / {budget.format_minutes(g.limit)}",
            g.percent,
            {"ok": "full validation", "sampling": "sampling", "paused": "PAUSED"}[g.state],
            "-" if g.state == "ok" else budget.format_rate(g.rate),
        ]
        for g in current.gauges
    ]
    text += terminal.table(["platform", "minutes used / limit", "used", "state", "sample rate"], gauges)
    text += render_budget.forced_note(current)
    if current.history:
        weeks = []
        for entry in reversed(current.history):
            week = str(entry.get("week_start", ""))[:10]
            if entry.get("reset_at"):
                week += f" (reset {str(entry['reset_at'])[:16].replace('T', ' ')})"
            weeks.append(
                [week]
                + [
                    budget.format_minutes(entry[f"{p}_minutes_used"]) if f"{p}_minutes_used" in entry else "-"
                    for p in budget.PLATFORMS
                ]
            )
        text += "previous weeks:\n" + terminal.table(["week", "macOS minutes", "Linux minutes"], weeks)
    if current.rollover_due:
        text += (
            f"the week of {str(current.rollover_due['week_start'])[:10]} is over: "
            "usage counts from 0 (recorded by the next breaker-update)\n"
        )
    return text


def status_markdown(document: dict[str, Any], now: datetime, path: str, remote: list[str] | None = None) -> str:
    rows = _switch_rows(document, "🟢 enabled", "🔴 stopped")
    text = f"### batchops status — {path}\n\n" + markdown.md_table(["", ""], rows)
    found = next_rows(document, now)
    if found:
        text += "\n#### Next batch\n\n" + markdown.md_table(["ecosystem", "next batch", "breaker", "why"], found)
    text += "\n" + _breaker_section(document, now)
    text += "\n" + render_budget.gauge_markdown(budget.view(document, now), heading="####", with_history=True)
    if remote:
        text += "\n#### Local and remote\n\n" + "".join(f"- {markdown.md_escape(line)}\n" for line in remote)
    return text


def _breaker_section(document: dict[str, Any], now: datetime) -> str:
    rows = render_breaker.table_rows(document, now)  # the legacy template entry 'default' is left out
    if not rows:
        return "#### Circuit breakers\n\nNo breaker has recorded anything yet.\n"
    return "#### Circuit breakers\n\n" + markdown.md_table(render_breaker.TABLE_HEADERS, rows)


def _status_configure(parser: argparse.ArgumentParser) -> None:
    add_control_file(parser)
    add_now(parser)
    parser.add_argument("--json", action="store_true", help="print the control file as JSON instead of tables")
    parser.add_argument(
        "--fetch", action="store_true", help="git fetch the branch first, to compare with what the remote has now"
    )


@naming_control_file
def _status_run(args: argparse.Namespace) -> int:
    document = controlfile.load(args.control_file)
    if args.json:
        runner.out_block(control.dumps(document))
        return 0
    now = clock(args)
    remote = remote_lines(args.control_file, document, now, args.fetch)
    runner.out_block(status_terminal(document, now, args.control_file, remote))
    runner.summary(status_markdown(document, now, args.control_file, remote))
    return 0


STATUS = Command(
    (
        "what the next batch of each ecosystem meets (runs, skipped until, probe) "
        "and whether the local file is what the branch says"
    ),
    _status_configure,
    _status_run,
)
