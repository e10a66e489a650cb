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
at the scheduled runs in between (and, with ``--until``, after the last one). With ``--stale-after``
a pipeline gone quiet is an incident too: each version is a batch run; the batches that shipped
come from the repository (``--git``) or from ``--shipped TIME``. Printed: one line per issue that
would have been opened,
commented on, reopened or closed, then the totals and the issues at the end. Nothing is sent.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, runner
from batchops.core import alert, stale, timeutil
from batchops.engines import repository
from batchops.errors import UsageError
from batchops.flags import Command
from batchops.render.alert import replay_lines

_STAMP = re.compile(r"(\d{8}T\d{6})Z?")


def _configure(replay: argparse.ArgumentParser) -> None:
    replay.description = __doc__.split("\n\n", 1)[1] if __doc__ else None
    replay.formatter_class = argparse.RawDescriptionHelpFormatter
    replay.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="control files named with their time, e.g. batch-control.20260128T221100.json",
    )
    replay.add_argument(
        "--times", default="", metavar="LIST", help="file of `TIME PATH` lines giving each file's commit time"
    )
    replay.add_argument(
        "--git",
        default="",
        metavar="PATH",
        help="replay every commit of the repository that changed PATH, e.g. batch-control.json",
    )
    replay.add_argument("--repo", default=".", metavar="DIR", help="the repository for --git (default: .)")
    replay.add_argument(
        "--resolve-after",
        dest="replay_resolve_after",
        default="24h",
        help="as the action's resolve-after (default 24h)",
    )
    replay.add_argument(
        "--every",
        default="1h",
        help="scheduled runs between commits, e.g. 1h; 0 for runs at the commits only (default 1h)",
    )
    replay.add_argument(
        "--stale-after",
        default="",
        help="as the action's stale-after, e.g. 48h: each version is a batch run; with --git the "
        "batches that shipped come from the repository, else from --shipped (default: off)",
    )
    replay.add_argument(
        "--shipped",
        action="append",
        default=[],
        metavar="TIME",
        help="a time a batch shipped recipes, e.g. 2026-05-08T10:00:00Z (repeatable; without --git)",
    )
    replay.add_argument(
        "--until",
        default="",
        metavar="TIME",
        help="keep the scheduled runs going after the last version until this time, "
        "e.g. 2026-07-01T00:00:00Z (default: stop at the last version)",
    )


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
            raise UsageError(
                f"cannot read it ({exc.__class__.__name__})",
                file=times_file,
                field="--times",
                hint="give a file of `2026-01-28T22:11:00Z batch-control.json` lines",
            ) from None
        base = Path(times_file).parent
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            stamp, _, name = line.partition(" ")
            if not name.strip():
                raise UsageError(
                    "a line needs a time and a path",
                    file=times_file,
                    line=number,
                    hint="write `2026-01-28T22:11:00Z batch-control.1.json`",
                )
            at = timeutil.parse_iso(stamp, field="time", file=times_file)
            path = Path(name.strip())
            listed.append((at, str(path if path.is_absolute() else base / path)))
    for name in files:
        named = time_of_name(name)
        if named is None:
            raise UsageError(
                "the file name does not say when it was committed",
                file=name,
                hint="name it like batch-control.20260128T221100.json, or list `TIME PATH` lines in --times, "
                "or replay from git with --git batch-control.json",
            )
        listed.append((named, name))
    if not listed:
        raise UsageError(
            "nothing to replay",
            field="FILE",
            hint="give control files (batch-control.20260128T221100.json …), --times LIST or --git batch-control.json",
        )
    return [(at, Path(name).name, controlfile.load(name)) for at, name in listed]


def _from_git(repo: str, path: str) -> list[tuple[datetime, str, dict[str, Any]]]:
    versions = repository.control_versions(repo, path)
    if not versions:
        raise UsageError(
            f"no commit of {repo} changed {path}",
            field="--git",
            hint="give the path of the control file inside the repository, e.g. --git batch-control.json",
        )
    return [(v.at, f"{v.sha[:12]}:{path}", v.document) for v in versions]


def _run(args: argparse.Namespace) -> int:
    resolve_after = timeutil.parse_duration(args.replay_resolve_after, field="--resolve-after")
    every = timeutil.parse_duration(args.every, field="--every")
    stale_after = stale.parse_stale_after(args.stale_after)
    until = timeutil.parse_iso(args.until, field="--until") if args.until.strip() else None
    shipped = [(timeutil.parse_iso(t, field="--shipped"), "--shipped") for t in args.shipped]
    if args.git:
        if args.files or args.times or shipped:
            raise UsageError(
                "--git replays from git: give no FILE, --times or --shipped with it",
                field="--git",
                hint="batchops alert replay --git batch-control.json",
            )
        history = _from_git(args.repo, args.git)
        if stale_after is not None:
            shipped = [(s.at, f"{s.sha[:12]} {s.subject}") for s in repository.shipped(args.repo)]
    else:
        history = _from_files(list(args.files), args.times)
    steps, issues = alert.replay(
        history,
        resolve_after,
        every if every > timedelta(0) else None,
        shipped=shipped,
        stale_after=stale_after,
        until=until,
    )
    runner.out_block("\n".join(replay_lines(steps, issues)))
    return 0


REPLAY = Command(
    help="replay a history of control files: the issues alert would have opened, commented on and closed",
    configure=_configure,
    run=_run,
)
