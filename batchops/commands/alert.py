"""``batchops alert replay``: what alert would have told people over a history of control files.

Sources (one of):

- ``FILE…``: control files whose names carry their commit time, as a history folder holds
  them (``batch-control.20260128T221100.json``: UTC, ``YYYYMMDDTHHMMSS``, an optional ``Z``);
- ``--times LIST``: a file of ``TIME PATH`` lines (ISO 8601 time, then the file; ``#`` starts
  a comment) for files whose names do not say when they were committed;
- ``--git PATH``: every commit of the current repository (or ``--repo DIR``) that changed
  ``PATH``, at its commit time, read from git itself.

The files are replayed in time order; an alert run happens at each commit (the run after each
batch) and, with ``--every`` (default ``1h``, the example workflow's schedule; ``0`` for none),
at the scheduled runs in between. Printed: one line per issue that would have been opened,
commented on, reopened or closed, then the totals and the issues at the end. Nothing is sent.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, runner, schema
from batchops.core import alert, timeutil
from batchops.errors import UsageError
from batchops.render.alert import replay_lines

_STAMP = re.compile(r"(\d{8}T\d{6})Z?")


def configure(sub: Any) -> None:
    """Add ``replay`` to the subcommands of ``batchops alert``."""
    replay = sub.add_parser(
        "replay",
        help="replay a history of control files: the issues alert would have opened, commented on and closed",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("files", nargs="*", metavar="FILE", help="control files named with their time, e.g. batch-control.20260128T221100.json")
    replay.add_argument("--times", default="", metavar="LIST", help="file of `TIME PATH` lines giving each file's commit time")
    replay.add_argument("--git", default="", metavar="PATH", help="replay every commit of the repository that changed PATH, e.g. batch-control.json")
    replay.add_argument("--repo", default=".", metavar="DIR", help="the repository for --git (default: .)")
    replay.add_argument("--resolve-after", dest="replay_resolve_after", default="24h", help="as the action's resolve-after (default 24h)")
    replay.add_argument("--every", default="1h", help="scheduled runs between commits, e.g. 1h; 0 for runs at the commits only (default 1h)")


def time_of_name(path: str) -> datetime | None:
    match = _STAMP.search(Path(path).name)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _from_files(files: list[str], times_file: str) -> list[tuple[datetime, str, dict[str, Any]]]:
    listed: list[tuple[datetime, str]] = []
    if times_file:
        try:
            text = Path(times_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read it ({exc.__class__.__name__})", file=times_file, field="--times", hint="give a file of `2026-01-28T22:11:00Z batch-control.json` lines") from None
        base = Path(times_file).parent
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            stamp, _, name = line.partition(" ")
            if not name.strip():
                raise UsageError("a line needs a time and a path", file=times_file, line=number, hint="write `2026-01-28T22:11:00Z batch-control.1.json`")
            at = timeutil.parse_iso(stamp, field="time", file=times_file)
            path = Path(name.strip())
            listed.append((at, str(path if path.is_absolute() else base / path)))
    for name in files:
        named = time_of_name(name)
        if named is None:
            raise UsageError(
                "the file name does not say when it was committed",
                file=name,
                hint="name it like batch-control.20260128T221100.json, or list `TIME PATH` lines in --times, or replay from git with --git batch-control.json",
            )
        listed.append((named, name))
    if not listed:
        raise UsageError("nothing to replay", field="FILE", hint="give control files (batch-control.20260128T221100.json …), --times LIST or --git batch-control.json")
    return [(at, Path(name).name, controlfile.load(name)) for at, name in listed]


def _from_git(repo: str, path: str) -> list[tuple[datetime, str, dict[str, Any]]]:
    from batchops.adapters import git

    log = git.text(repo, ["log", "--reverse", "--format=%H %cI", "--", path], hint=f"run in a git checkout that has {path}, or give --repo DIR")
    commits = [line.split(" ", 1) for line in log.splitlines() if line.strip()]
    if not commits:
        raise UsageError(f"no commit of {repo} changed {path}", field="--git", hint="give the path of the control file inside the repository, e.g. --git batch-control.json")
    request = "".join(f"{sha}:{path}\n" for sha, _ in commits).encode()
    data = git.run(repo, ["cat-file", "--batch"], input=request).stdout
    history = []
    offset = 0
    for sha, stamp in commits:
        end = data.index(b"\n", offset)
        header = data[offset:end].decode()
        offset = end + 1
        if header.endswith("missing"):
            continue  # the commit deleted the file
        size = int(header.rsplit(" ", 1)[1])
        text = data[offset : offset + size].decode("utf-8", "replace")
        offset += size + 1
        label = f"{sha[:12]}:{path}"
        document = schema.parse_json_text(text, label)
        schema.validate(document, "batch-control", file=label, text=text)
        history.append((timeutil.parse_iso(stamp, field="commit time"), label, document))
    return history


def run(args: argparse.Namespace) -> int:
    resolve_after = timeutil.parse_duration(args.replay_resolve_after, field="--resolve-after")
    every = timeutil.parse_duration(args.every, field="--every")
    if args.git:
        if args.files or args.times:
            raise UsageError("--git replays from git: give no FILE and no --times with it", field="--git", hint="batchops alert replay --git batch-control.json")
        history = _from_git(args.repo, args.git)
    else:
        history = _from_files(list(args.files), args.times)
    steps, issues = alert.replay(history, resolve_after, every if every > timedelta(0) else None)
    runner.out_block("\n".join(replay_lines(steps, issues)))
    return 0
