"""``batchops pending``: the journaled operations not yet pushed; ``--discard`` drops them.

The journal holds every change batchops made to a repository file since the last push
(operator commands, and steps run by hand such as ``breaker-gate``). persist-with-retry
pushes all of them; this lists them (what, when, by whom) and, with ``--discard [ID…]``,
drops them and puts their files back as they would be without them: the committed
version (``HEAD``) with the kept operations re-applied.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchops.adapters import files, journal, runner, schema
from batchops.adapters import git as gitcmd
from batchops.core import control, escape, operations
from batchops.engines.change import prepare_message
from batchops.errors import BatchopsError, UsageError
from batchops.flags import Command, add_dry_run, parse_bool
from batchops.render import terminal


@dataclass
class FileState:
    """One journaled file: its committed version, its local content, its operations."""

    name: str
    local: Path
    entries: list[dict[str, Any]] = field(default_factory=list)
    base: Any = None  # parsed HEAD version, None when not committed
    committed: bool = False
    current: Any = None
    problem: str = ""

    @property
    def schema_name(self) -> str:
        for entry in reversed(self.entries):
            if entry.get("schema"):
                return str(entry["schema"])
        return schema.BY_FILENAME.get(self.local.name, "batch-control")

    def replay(self, entries: list[dict[str, Any]]) -> Any:
        document = copy.deepcopy(self.base)
        for entry in entries:
            operations.apply(document, entry["op"], entry["args"])
        return document

    @property
    def in_sync(self) -> bool:
        """The local file is its committed version with every journaled operation applied."""
        return self.committed and self.current == self.replay(self.entries)


def _committed(local: Path) -> tuple[bool, Any, str]:
    folder = local.parent if local.parent.is_dir() else Path.cwd()
    root = gitcmd.run(folder, ["rev-parse", "--show-toplevel"], check=False)
    if root.returncode != 0:
        return False, None, "not in a git checkout"
    top = Path(root.stdout.decode("utf-8", "replace").strip())
    try:
        relative = local.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        return False, None, "outside the git checkout"
    shown = gitcmd.run(top, ["show", f"HEAD:{relative}"], check=False)
    if shown.returncode != 0:
        return False, None, "not committed at HEAD"
    try:
        return True, schema.parse_json_text(shown.stdout.decode("utf-8"), f"HEAD:{relative}"), ""
    except (UnicodeDecodeError, BatchopsError):
        return False, None, "its committed version is not JSON"


def committed_ids(limit: int = 500) -> set[str]:
    """Operation ids named in the trailers of HEAD's recent commits (committed by hand with
    the prepared message, or pushed): those operations are no longer pending."""
    proc = gitcmd.run(
        Path.cwd(),
        ["log", f"-n{limit}", "--format=%(trailers:key=Batchops-Operation-Id,valueonly)", "HEAD"],
        check=False,
    )
    if proc.returncode != 0:
        return set()
    return {line.strip() for line in proc.stdout.decode("utf-8", "replace").splitlines() if line.strip()}


def file_states(entries: list[dict[str, Any]]) -> list[FileState]:
    states: dict[str, FileState] = {}
    for entry in entries:
        name = str(entry.get("file", ""))
        state = states.get(name)
        if state is None:
            state = states[name] = FileState(name, Path(name) if Path(name).is_absolute() else Path.cwd() / name)
            state.committed, state.base, state.problem = _committed(state.local)
            try:
                state.current = schema.parse_json_text(state.local.read_text(encoding="utf-8"), name)
            except (OSError, UnicodeDecodeError, BatchopsError):
                state.current = None
        state.entries.append(entry)
    return list(states.values())


def _select(entries: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
    if not ids:
        return list(entries)
    chosen: list[dict[str, Any]] = []
    for given in ids:
        if len(given) < 4:
            raise UsageError(
                f"{given!r} is too short",
                field="ID",
                hint="give at least 4 characters of an id shown by `batchops pending`",
            )
        matches = [e for e in entries if str(e.get("id", "")).startswith(given)]
        if not matches:
            listed = ", ".join(str(e.get("id", ""))[:12] for e in entries) or "none"
            raise UsageError(f"no pending operation has the id {given!r}", field="ID", hint=f"pick one of: {listed}")
        if len(matches) > 1:
            raise UsageError(
                f"{given!r} matches {len(matches)} operations", field="ID", hint="give more characters of the id"
            )
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--discard",
        nargs="*",
        metavar="ID",
        default=None,
        help="drop these pending operations (all when no ID is given) and restore what they changed",
    )
    parser.add_argument("--json", action="store_true", help="print the pending operations as JSON")
    add_dry_run(parser, "with --discard: say what would be dropped and restored; write and change nothing")


def _rows(entries: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for entry in entries:
        title, _ = control.describe(entry)
        rows.append(
            [
                str(entry.get("id", ""))[:12],
                str(entry.get("op", "")),
                str(entry.get("file", "")),
                str(entry.get("at", "")),
                str(entry.get("actor", "") or "-"),
                title,
            ]
        )
    return rows


def _list(entries: list[dict[str, Any]], as_json: bool) -> int:
    if as_json:
        runner.out_json(entries)
        return 0
    if not entries:
        runner.out_block(f"nothing pending: no operation is waiting to be pushed (journal {journal.path()})")
        return 0
    runner.out_block(f"{len(entries)} operation(s) journaled, not pushed (journal {journal.path()}):")
    runner.out_block(terminal.table(["id", "operation", "file", "when", "by", "what"], _rows(entries), wrap=[4, 5]))
    anonymous = sorted({str(e.get("op", "")) for e in entries if not e.get("actor")})
    if anonymous:
        runner.out_block(
            f"by -: {', '.join(anonymous)}: journaled by a step (such as breaker-gate), which records a decision, "
            "not a person; the commit that pushes it names whoever pushes it"
        )
    for state in file_states(entries):
        if not state.committed:
            runner.out_block(
                f"note: {escape.one_line(state.name)} is {state.problem}: "
                "its pending operations cannot be checked against it"
            )
        elif not state.in_sync:
            if state.current == state.base:
                runner.out_block(
                    f"warning: {escape.one_line(state.name)} is back at its committed version, "
                    "but its operations are still "
                    "journaled: persist-with-retry would push them; drop them with `batchops pending --discard`"
                )
            else:
                runner.out_block(
                    f"warning: {escape.one_line(state.name)} has changes the journal does not explain (edited by hand?)"
                )
    runner.out_block(
        "Push them with `batchops persist-with-retry` (the message describing them is in "
        f"{journal.message_path()}), or drop them with `batchops pending --discard [ID…]`."
    )
    return 0


def _discard(entries: list[dict[str, Any]], ids: list[str], dry_run: bool = False) -> int:
    if not entries:
        runner.out_block("nothing pending: nothing to discard")
        return 0
    drop = _select(entries, ids)
    drop_ids = {e["id"] for e in drop}
    plans: list[tuple[FileState, Any]] = []
    for state in file_states(entries):
        if not any(e["id"] in drop_ids for e in state.entries):
            continue
        if not state.committed:
            raise BatchopsError(
                f"cannot restore {state.name}: it is {state.problem}",
                file=state.name,
                hint="commit the file first, or restore it by hand and remove the journal's lines",
            )
        if not state.in_sync and state.current != state.base:
            raise BatchopsError(
                "has changes the journal does not explain, so the operations cannot be undone safely",
                file=state.name,
                hint=f"look at `git diff -- {state.name}`; "
                f"`git checkout -- {state.name}` resets it, then discard again",
            )
        held = [e for e in state.entries if e["id"] in drop_ids and _held_at(state.base, e)]
        if held and not all(_held_at(_upstream(state.local), e) for e in held):
            names = ", ".join(f"{str(e['id'])[:12]} {e['op']}" for e in held)
            raise BatchopsError(
                f"its committed version (HEAD) already holds what {names} did, in a commit that is not on the "
                "remote branch: discarding would not undo it",
                file=state.name,
                hint="drop that local commit first and keep your files (`git reset HEAD~1`), "
                "then run `batchops pending --discard` again",
            )
        kept = [e for e in state.entries if e["id"] not in drop_ids]
        restored = state.replay(kept)
        schema.validate(restored, state.schema_name, file=state.name)
        plans.append((state, restored))
    if dry_run:
        for entry in drop:
            title, _ = control.describe(entry)
            runner.out_block(f"would discard {str(entry['id'])[:12]} {entry['op']}: {title}")
        names = ", ".join(escape.one_line(state.name) for state, _ in plans) or "(no file)"
        runner.out_block(f"would restore {names}; dry run: nothing written, nothing removed from the journal")
        return 0
    for state, restored in plans:
        if restored != state.current:
            files.write_atomic(state.local, control.dumps(restored))
    journal.remove(drop_ids)
    prepare_message()
    for entry in drop:
        title, _ = control.describe(entry)
        runner.out_block(f"discarded {str(entry['id'])[:12]} {entry['op']}: {title}")
    restored_names = ", ".join(escape.one_line(state.name) for state, _ in plans)
    left = len(entries) - len(drop)
    runner.out_block(f"restored {restored_names or '(no file)'}; {left} operation(s) still pending")
    runner.summary(f"### batchops pending: discarded {len(drop)} operation(s)")
    return 0


def _held_at(document: Any, entry: dict[str, Any]) -> bool:
    """``document`` already has ``entry``'s effect: applying it there changes nothing."""
    if document is None:
        return False
    changed = copy.deepcopy(document)
    try:
        operations.apply(changed, entry["op"], entry["args"])
    except BatchopsError:  # it no longer applies there: the document does not hold it
        return False
    return bool(changed == document)


def _upstream(local: Path) -> Any:
    """The file as the branch's upstream (``@{upstream}``) holds it, as last fetched; None when unknown."""
    folder = local.parent if local.parent.is_dir() else Path.cwd()
    shown = gitcmd.run(folder, ["show", f"@{{upstream}}:./{local.name}"], check=False)
    if shown.returncode != 0:
        return None
    try:
        return schema.parse_json_text(shown.stdout.decode("utf-8"), f"@{{upstream}}:{local.name}")
    except (UnicodeDecodeError, BatchopsError):
        return None


def _run(args: argparse.Namespace) -> int:
    entries = journal.read()
    done = committed_ids() if entries else set()
    landed = [e for e in entries if e.get("id") in done]
    for entry in landed:  # committed by hand with the prepared message: not pending any more
        runner.out_block(f"already committed at HEAD, not pending: {str(entry['id'])[:12]} {entry['op']}")
    dry_run = parse_bool(args.dry_run, field="--dry-run")
    if landed and args.discard is not None and not dry_run:
        journal.remove({e["id"] for e in landed})
        prepare_message()
    entries = [e for e in entries if e not in landed]
    if args.discard is not None:
        return _discard(entries, list(args.discard), dry_run)
    return _list(entries, args.json)


PENDING = Command(
    "list the journaled operations not yet pushed; --discard [ID…] drops them and restores the files", _configure, _run
)
