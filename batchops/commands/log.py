"""``batchops log``: the history of control-plane changes, from the commits' audit trailers.

Every commit that changed the control file is read, newest first. An operator command's
commit carries one trailer group per operation (``Batchops-Operation``, ``-Id``,
``-Actor``, ``-At``, ``-Ecosystem``, ``-Reason``): each group is one row saying who did
what, when and why. A batch job's commit (only ``Batchops-Operation-Id`` trailers) and a
commit without trailers (a hand edit) are one row each, with the commit's author and subject.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from batchops.adapters import git as gitcmd
from batchops.adapters import journal, runner
from batchops.core import control, timeutil
from batchops.errors import UsageError
from batchops.flags import Command, add_control_file, add_now, clock, parse_int
from batchops.render import terminal

_SEP, _END = "\x1f", "\x1e"


@dataclass
class Change:
    when: str
    who: str
    what: str
    ecosystem: str
    why: str
    commit: str
    kind: str  # "operator", "job" or "edit"


def _since(value: str, args: argparse.Namespace) -> str:
    text = (value or "").strip()
    if not text:
        return ""
    if re.fullmatch(r"\d+\s*[smhdw]", text):
        return timeutil.iso(clock(args) - timeutil.parse_duration(text, field="--since"))
    moment = timeutil.parse_iso_or_none(text) or timeutil.parse_iso_or_none(text + "T00:00:00Z")
    if moment is None:
        raise UsageError(f"{text!r} is not a time", field="--since", hint="give a date, a time or a duration, e.g. --since 2026-06-20 or --since 7d")
    return timeutil.iso(moment)


def changes(folder: Path, path: str, ref: str, since: str) -> list[Change]:
    args = ["log", f"--format=%H{_SEP}%cI{_SEP}%an <%ae>{_SEP}%B{_END}"]
    if since:
        args.append(f"--since={since}")
    args += [ref, "--", path]
    try:
        out = gitcmd.text(folder, args)
    except gitcmd.GitError as exc:  # not a checkout, or no such ref: say which, not git's format string
        said = (exc.stderr or str(exc)).splitlines()[0] if (exc.stderr or str(exc)) else ""
        raise UsageError(
            f"cannot read the history of {path} in {ref}: {said}",
            field="--ref",
            hint="run it in a git checkout of the registry, with a ref that exists there, e.g. --ref HEAD or --ref origin/main",
        ) from None
    found: list[Change] = []
    for record in out.split(_END):
        record = record.strip("\n")
        if not record:
            continue
        sha, date, author, body = (record.split(_SEP, 3) + ["", "", ""])[:4]
        moment = timeutil.parse_iso_or_none(date)
        date = timeutil.iso(moment) if moment else date
        subject = body.strip().splitlines()[0] if body.strip() else ""
        groups = control.parse_trailers(body)
        operator = [g for g in groups if g.get("operation")]
        if operator:
            for group in reversed(operator):  # newest first within the commit too
                what = group["operation"] + (f" {group['ecosystem']}" if group.get("ecosystem") else "")
                found.append(Change(group.get("at") or date, group.get("actor") or author, what,
                                    group.get("ecosystem", ""), group.get("reason", ""), sha[:12], "operator"))
        elif groups:
            found.append(Change(date, author, subject, "", f"{len(groups)} batch operation(s)", sha[:12], "job"))
        else:
            found.append(Change(date, author, subject, "", "(no audit trailer)", sha[:12], "edit"))
    return found


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ecosystem", default="", help="only the changes of this ecosystem")
    parser.add_argument("--since", default="", help="only changes since a date, a time or a duration ago (2026-06-20, 7d)")
    parser.add_argument("--ref", default="HEAD", help="history to read (default HEAD; origin/main for what the workflows read)")
    parser.add_argument("--limit", default="50", help="at most this many rows (default 50)")
    parser.add_argument("--json", action="store_true", help="print the changes as JSON")
    add_control_file(parser)
    add_now(parser)


def _matches(change: Change, ecosystem: str) -> bool:
    if not ecosystem:
        return True
    if change.kind == "operator":
        return change.ecosystem == ecosystem
    return re.search(rf"(?<![\w.-]){re.escape(ecosystem)}(?![\w-])", change.what) is not None


def _run(args: argparse.Namespace) -> int:
    path = args.control_file
    limit = parse_int(args.limit, field="--limit", minimum=1)
    ecosystem = control.check_text(args.ecosystem, "--ecosystem", example="npm")
    found = [c for c in changes(Path.cwd(), path, args.ref, _since(args.since, args)) if _matches(c, ecosystem)][:limit]
    if args.json:
        runner.out_json([asdict(c) for c in found])
        return 0
    scope = (f" of {ecosystem}" if ecosystem else "") + (f" since {args.since}" if args.since else "")
    if not found:
        runner.out_block(f"no change to {path}{scope} in {args.ref}")
    else:
        runner.out_block(f"changes to {path}{scope} in {args.ref}, newest first:")
        rows = [[c.when, c.who, c.what, c.why or "-", c.commit] for c in found]
        runner.out_block(terminal.table(["when", "who", "what", "why", "commit"], rows, wrap=[1, 2, 3]))
    pending = len(journal.read())
    if pending:
        runner.out_block(f"{pending} operation(s) journaled here are not pushed yet: `batchops pending` lists them")
    return 0


LOG = Command("the history of control-plane changes from the commit trailers: who, what, when, why", _configure, _run)
