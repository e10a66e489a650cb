"""What every operator command shares: one audited change, previewed, applied or pushed.

A command builds one operation (a name of ``core/operations.py`` and its arguments, with an
``audit`` title and body for the commit message) and hands it to :func:`run_change`, which

* refuses nothing silently and changes nothing twice: when the operation would leave the
  control file as it is, it says so and records nothing (``nothing to change: …``);
* with ``--dry-run`` prints the change as a unified diff and writes nothing;
* otherwise validates, writes atomically, journals the operation (with the actor), and
  prepares ``commit-message.txt`` beside the journal describing *every* pending operation
  (so a push carrying several says what each one did);
* with ``--push`` lands it at once through persist-with-retry with that message.

For commands written by others (``budget sample``): add the flags with
:func:`add_operator_flags` and call ``run_change(args, "budget.xyz", {...}, title=...,
body=[...])``.
"""

from __future__ import annotations

import argparse
import copy
import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, files, journal, runner, schema
from batchops.adapters import git as gitcmd
from batchops.flags import add_control_file, add_now, clock
from batchops.core import breaker, control, escape, operations, timeutil
from batchops.errors import BatchopsError, UsageError


def add_operator_flags(parser: argparse.ArgumentParser) -> None:
    add_control_file(parser)
    add_now(parser)
    parser.add_argument("--dry-run", action="store_true", help="show the change as a diff; write and journal nothing")
    parser.add_argument("--push", action="store_true", help="land it now: persist-with-retry with the audited commit message")


def message_file() -> Path:
    return journal.path().parent / "commit-message.txt"


# --- ecosystems -----------------------------------------------------------------------


def known_ecosystems(document: dict[str, Any]) -> list[str]:
    names = list(breaker.ecosystems(document))
    names += [n for n in (document.get("circuit_breaker") or {}) if n == breaker.TEMPLATE_KEY]  # the legacy `default`: known
    names += [n for n in control.get(document, "disabled_ecosystems") if isinstance(n, str)]
    names += list((document.get(breaker.CONFIG_KEY) or {}).get("ecosystems") or {})
    return list(dict.fromkeys(names))


def closest(name: str, choices: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def check_ecosystem(document: dict[str, Any], name: str, path: str, *, new: bool) -> str:
    """A well-formed ecosystem name the control file knows, or ``--new``; else the closest one."""
    try:
        breaker.check_ecosystem(name)
    except UsageError as exc:
        raise UsageError(exc.message, field="ECOSYSTEM", hint=exc.hint.replace("ecosystem: ", "")) from None
    known = known_ecosystems(document)
    if name in known or new:
        return name
    guess = closest(name, known)
    message = f"{name!r} is not an ecosystem of {path}" + (f"; did you mean {guess!r}?" if guess else "")
    listed = ", ".join(known) if known else "none yet"
    raise UsageError(
        message,
        field="ECOSYSTEM",
        hint=f"use a known one ({listed}), or add --new to name an ecosystem the control file has never seen",
    )


# --- the change -----------------------------------------------------------------------


def diff(path: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    lines = difflib.unified_diff(
        control.dumps(before).splitlines(keepends=True),
        control.dumps(after).splitlines(keepends=True),
        f"a/{path}",
        f"b/{path}",
    )
    return "".join(escape.one_line(line.rstrip("\n")) + "\n" for line in lines)


def prepare_message() -> str:
    """Write commit-message.txt describing every pending operation (or remove it when none)."""
    entries = journal.read()
    target = message_file()
    if not entries:
        if target.exists():
            target.unlink()
        return ""
    message = control.commit_message(entries)
    files.write_atomic(target, message)
    return message


def run_change(
    args: argparse.Namespace,
    op: str,
    op_args: dict[str, Any],
    *,
    title: str,
    body: Sequence[str] = (),
    nothing: str = "",
    notes: Sequence[str] = (),
) -> int:
    """Preview, apply or push one operator operation (see the module docstring)."""
    path = args.control_file
    now = clock(args)
    at = timeutil.iso(now)
    document = controlfile.load(path)
    full_args = {**op_args, "at": at, "audit": {"title": title, "body": [escape.one_line(b) for b in body]}}
    after = copy.deepcopy(document)
    result = operations.apply(after, op, full_args)
    schema.validate(after, "batch-control", file=path)
    if not control.changed_fields(document, after):
        why = nothing or (result.get("why") if isinstance(result, dict) else "") or "the control file already says so"
        runner.out_block(f"nothing to change: {escape.one_line(why)}; nothing written, nothing journaled")
        return 0
    for note in notes:
        runner.notice(note)
    if getattr(args, "dry_run", False):
        runner.out_block(diff(path, document, after))
        runner.out_block(f"dry run: nothing written, nothing journaled (without --dry-run this records {op})")
        return 0
    controlfile.mutate(path, op, full_args, at=at, actor=gitcmd.actor(), document=document)
    message = prepare_message()
    count = len(journal.read())
    if getattr(args, "push", False):
        return push(path, message)
    saved = message_file()
    pending = f" ({count} operations pending: `batchops pending` lists them)" if count > 1 else ""
    runner.log(f"Wrote {path}{pending}. Land it with this message (saved in {saved}), safe while batch jobs push too:")
    runner.log(f'  batchops persist-with-retry --control-file {path} --commit-message "$(cat {saved})"')
    runner.log("(or give the command --push to land it at once)")
    runner.out_block(message)
    return 0


def push(path: str, message: str) -> int:
    """Land every pending operation now with persist-with-retry and ``message``."""
    from batchops.steps import persist_with_retry as pwr

    # an empty commit-message: persist-with-retry uses the prepared message, rewritten for exactly what it carries
    options = pwr.Options(control_file=path, commit_message="", backoff=pwr.backoff_from_env())
    try:
        outcome = pwr.persist(options)
    except BatchopsError as exc:
        exc.hint = (exc.hint + "; " if exc.hint else "") + (
            f"the change is written and still pending (`batchops pending`); push it later with "
            f'`batchops persist-with-retry --control-file {path} --commit-message "$(cat {message_file()})"`'
        )
        raise
    prepare_message()
    if outcome.pushed:
        runner.out_block(f"landed {outcome.commit_sha[:12]}: {len(outcome.applied)} operation(s) with this message:")
        landed = gitcmd.text(Path.cwd(), ["log", "-1", "--format=%B", outcome.commit_sha], check=False)
        runner.out_block(landed or message)
    else:
        runner.out_block("nothing to push: the remote already has this state")
    return 0
