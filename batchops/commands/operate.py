"""What every operator command shares: one audited change, previewed, applied or pushed.

A command builds one operation (a name of ``core/operations.py`` and its arguments, with an
``audit`` title and body for the commit message) and hands it to :func:`run_change`, which
builds a :class:`batchops.engines.change.Change` from the arguments, runs the change engine
(apply once -> validate -> write -> journal) and says what happened:

* when the operation would leave the control file as it is, it says so and records nothing
  (``nothing to change: …``);
* with ``--dry-run`` it prints the change as a unified diff and writes nothing;
* otherwise it prints ``commit-message.txt`` (prepared beside the journal, describing *every*
  pending operation, so a push carrying several says what each one did);
* with ``--push`` it lands every pending operation at once through the persist engine, the
  audited commit message handed over as a value.

For commands written by others (``budget sample``): add the flags with
:func:`add_operator_flags` and call ``run_change(args, "budget.xyz", {...}, title=...,
body=[...])``.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batchops.adapters import git as gitcmd
from batchops.adapters import journal, runner
from batchops.core import breaker, control, escape, timeutil
from batchops.core.persist import Message
from batchops.engines import change as engine
from batchops.engines import persist
from batchops.errors import BatchopsError, UsageError
from batchops.flags import add_control_file, add_dry_run, add_now, clock, parse_bool


def add_operator_flags(parser: argparse.ArgumentParser) -> None:
    add_control_file(parser)
    add_now(parser)
    add_dry_run(parser, "show the change as a diff; write, journal, commit and push nothing")
    parser.add_argument(
        "--push", action="store_true", help="land it now: persist-with-retry with the audited commit message"
    )


def message_file() -> Path:
    return journal.message_path()


# --- ecosystems -----------------------------------------------------------------------


def known_ecosystems(document: dict[str, Any]) -> list[str]:
    names = list(breaker.ecosystems(document))
    # the legacy `default`: known
    names += [n for n in (document.get("circuit_breaker") or {}) if n == breaker.TEMPLATE_KEY]
    names += [n for n in control.get(document, "disabled_ecosystems") if isinstance(n, str)]
    names += list((document.get(breaker.CONFIG_KEY) or {}).get("ecosystems") or {})
    return list(dict.fromkeys(names))


def listed_ecosystems(document: dict[str, Any], known: Sequence[str]) -> list[str]:
    """The ecosystems an error lists: the legacy template ``default`` (accepted, hidden by ``status``) left out."""
    real = breaker.ecosystems(document)
    return [name for name in known if name != breaker.TEMPLATE_KEY or name in real]


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
    guess = closest(name, listed_ecosystems(document, known))
    message = f"{name!r} is not an ecosystem of {path}" + (f"; did you mean {guess!r}?" if guess else "")
    shown = listed_ecosystems(document, known)
    listed = ", ".join(shown) if shown else "none yet"
    raise UsageError(
        message,
        field="ECOSYSTEM",
        hint=f"use a known one ({listed}), or add --new to name an ecosystem the control file has never seen",
    )


# --- the change -----------------------------------------------------------------------


def prepare_message() -> str:
    """Write commit-message.txt describing every pending operation (or remove it when none)."""
    return engine.prepare_message()


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
    dry_run = parse_bool(getattr(args, "dry_run", False), field="--dry-run")
    if dry_run and getattr(args, "push", False):
        runner.notice("--push does nothing in a dry run: nothing is written, nothing is pushed")
    wanted = engine.Change(
        path,
        op,
        op_args,
        title=title,
        at=timeutil.iso(clock(args)),
        actor="" if dry_run else gitcmd.actor(),
        body=body,
        nothing=nothing,
        dry_run=dry_run,
    )
    applied = engine.apply(wanted)
    if applied.status is engine.Status.UNCHANGED:
        runner.out_block(f"nothing to change: {escape.one_line(applied.why)}; nothing written, nothing journaled")
        return 0
    for note in notes:
        runner.notice(note)
    if applied.status is engine.Status.PREVIEWED:
        runner.out_block(applied.diff)
        runner.out_block(f"dry run: nothing written, nothing journaled (without --dry-run this records {op})")
        return 0
    if getattr(args, "push", False):
        return push(path)
    message = prepare_message()
    count = len(journal.read())
    saved = message_file()
    pending = f" ({count} operations pending: `batchops pending` lists them)" if count > 1 else ""
    runner.log(f"Wrote {path}{pending}. Land it with this message (saved in {saved}), safe while batch jobs push too:")
    runner.log(f'  batchops persist-with-retry --control-file {path} --commit-message "$(cat {saved})"')
    runner.log("(or give the command --push to land it at once)")
    runner.out_block(message)
    return 0


def push(path: str) -> int:
    """Land every pending operation now through the persist engine, with the audited message as a value."""
    options = persist.Options(
        control_file=path, message=Message(audited=True), backoff=persist.backoff_from_env(), mask=runner.mask
    )
    try:
        landed = persist.persist(options, log=runner.log)
    except BatchopsError as exc:
        prepare_message()  # the change stays pending: its message is kept for a later push
        exc.hint = (exc.hint + "; " if exc.hint else "") + (
            f"the change is written and still pending (`batchops pending`); push it later with "
            f'`batchops persist-with-retry --control-file {path} --commit-message "$(cat {message_file()})"`'
        )
        raise
    prepare_message()
    if landed.pushed:
        runner.out_block(f"landed {landed.commit_sha[:12]}: {len(landed.applied)} operation(s) with this message:")
        runner.out_block(gitcmd.Git(Path.cwd()).message(landed.commit_sha) or landed.message)
    else:
        runner.out_block("nothing to push: the remote already has this state")
    return 0
