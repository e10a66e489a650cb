"""``batchops log``: the history of control-plane changes, from the commits' audit trailers.

Every commit that changed the control file is read, newest first. An operator command's
commit carries one trailer group per operation (``Batchops-Operation``, ``-Id``,
``-Actor``, ``-At``, ``-Ecosystem``, ``-Reason``): each group is one row saying who did
what, when and why, with what changed in words (the operation's audit title, e.g. "force CI-minutes
sampling on for this week"). A batch job's commit (only ``Batchops-Operation-Id`` trailers) and a
commit without trailers (a hand edit, a legacy script's "update batch state") are one row each, with
the commit's author and subject; ``--ecosystem`` attributes them by what they changed in the file (the
ecosystem's breaker entry, its place in ``disabled_ecosystems``), read from the file before and after.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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
    operation: str = ""  # the operation name (operator rows)
    touched: list[str] = field(default_factory=list)  # ecosystems a job or edit changed in the file


def _titles(body: str, count: int) -> list[str]:
    """The audit title of each of ``count`` operations of a batchops commit message, oldest first; else empty."""
    lines = body.strip().splitlines()
    if not lines:
        return [""] * count
    subject = re.fullmatch(r"batchops: (.*?)(?: \[skip ci\])?", lines[0].strip())
    if count == 1:
        return [subject.group(1) if subject else ""]
    listed = [line[2:].strip() for line in lines[1:] if line.startswith("- ")]
    return listed if len(listed) == count else [""] * count


def touched_ecosystems(before: Any, after: Any) -> list[str]:
    """The ecosystems whose breaker entry or disabled state differs between two control documents."""

    def part(doc: Any, key: str) -> Any:
        return doc.get(key) if isinstance(doc, dict) else None

    old, new = part(before, "circuit_breaker") or {}, part(after, "circuit_breaker") or {}
    names = (
        [n for n in dict.fromkeys([*old, *new]) if old.get(n) != new.get(n)]
        if isinstance(old, dict) and isinstance(new, dict)
        else []
    )
    was = part(before, "disabled_ecosystems") or []
    now = part(after, "disabled_ecosystems") or []
    if isinstance(was, list) and isinstance(now, list):
        names += [str(n) for n in [*was, *now] if (n in was) != (n in now)]
    return list(dict.fromkeys(names))


def _attribute(folder: Path, path: str, found: list[Change]) -> None:
    """Set ``touched`` of every job or edit row from the file before and after its commit."""
    rows = [c for c in found if c.kind != "operator"]
    if not rows:
        return
    names = [name for c in rows for name in (f"{c.commit}^:./{path}", f"{c.commit}:./{path}")]
    with gitcmd.ObjectReader(folder) as reader:
        blobs = reader.read_many(names)
    for index, change in enumerate(rows):
        before, after = (_json(blobs[2 * index]), _json(blobs[2 * index + 1]))
        if before is not None and after is not None:  # a commit that created or broke the file changed no breaker
            change.touched = touched_ecosystems(before, after)


def _json(blob: tuple[str, str, bytes] | None) -> Any:
    if blob is None or blob[1] != "blob":
        return None
    try:
        return json.loads(blob[2])
    except ValueError:  # a commit that left the file broken: it touched nothing we can name
        return None


def _since(value: str, args: argparse.Namespace) -> str:
    text = (value or "").strip()
    if not text:
        return ""
    if re.fullmatch(r"\d+\s*[smhdw]", text):
        return timeutil.iso(clock(args) - timeutil.parse_duration(text, field="--since"))
    moment = timeutil.parse_iso_or_none(text) or timeutil.parse_iso_or_none(text + "T00:00:00Z")
    if moment is None:
        raise UsageError(
            f"{text!r} is not a time",
            field="--since",
            hint="give a date, a time or a duration, e.g. --since 2026-06-20 or --since 7d",
        )
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
            hint=(
                "run it in a git checkout of the registry, with a ref that exists there, "
                "e.g. --ref HEAD or --ref origin/main"
            ),
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
            titles = _titles(body, len(operator))
            for group, title in reversed(
                list(zip(operator, titles, strict=True))
            ):  # newest first within the commit too
                what = group["operation"] + (f" {group['ecosystem']}" if group.get("ecosystem") else "")
                what += f": {title}" if title else ""
                found.append(
                    Change(
                        group.get("at") or date,
                        group.get("actor") or author,
                        what,
                        group.get("ecosystem", ""),
                        group.get("reason", ""),
                        sha[:12],
                        "operator",
                        group["operation"],
                    )
                )
        elif groups:
            found.append(Change(date, author, subject, "", f"{len(groups)} batch operation(s)", sha[:12], "job"))
        else:
            found.append(Change(date, author, subject, "", "(no audit trailer)", sha[:12], "edit"))
    return found


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ecosystem", default="", help="only the changes of this ecosystem")
    parser.add_argument(
        "--since", default="", help="only changes since a date, a time or a duration ago (2026-06-20, 7d)"
    )
    parser.add_argument(
        "--ref", default="HEAD", help="history to read (default HEAD; origin/main for what the workflows read)"
    )
    parser.add_argument("--limit", default="50", help="at most this many rows (default 50)")
    parser.add_argument("--json", action="store_true", help="print the changes as JSON")
    add_control_file(parser)
    add_now(parser)


def _matches(change: Change, ecosystem: str) -> bool:
    if not ecosystem:
        return True
    if change.kind == "operator":
        return change.ecosystem == ecosystem
    if ecosystem in change.touched:
        return True
    return re.search(rf"(?<![\w.-]){re.escape(ecosystem)}(?![\w-])", change.what) is not None


def _why(change: Change) -> str:
    if change.kind != "operator" and change.touched:
        return f"{change.why}; changed {', '.join(change.touched)}"
    return change.why or "-"


def _run(args: argparse.Namespace) -> int:
    path = args.control_file
    limit = parse_int(args.limit, field="--limit", minimum=1)
    ecosystem = control.check_text(args.ecosystem, "--ecosystem", example="npm")
    found = changes(Path.cwd(), path, args.ref, _since(args.since, args))
    if ecosystem:
        _attribute(Path.cwd(), path, found)
    found = [c for c in found if _matches(c, ecosystem)][:limit]
    if args.json:
        runner.out_json([asdict(c) for c in found])
        return 0
    scope = (f" of {ecosystem}" if ecosystem else "") + (f" since {args.since}" if args.since else "")
    if not found:
        runner.out_block(f"no change to {path}{scope} in {args.ref}")
    else:
        runner.out_block(f"changes to {path}{scope} in {args.ref}, newest first:")
        rows = [[c.when, c.who, c.what, _why(c), c.commit] for c in found]
        runner.out_block(terminal.table(["when", "who", "what", "why", "commit"], rows, wrap=[1, 2, 3]))
    pending = len(journal.read())
    if pending:
        runner.out_block(f"{pending} operation(s) journaled here are not pushed yet: `batchops pending` lists them")
    return 0


LOG = Command("the history of control-plane changes from the commit trailers: who, what, when, why", _configure, _run)
