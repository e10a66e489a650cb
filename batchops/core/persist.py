"""persist-with-retry's pure rules: rebuild a file from operations, back off, write the message.

Nothing here touches git, the disk or the clock; the engine (:mod:`batchops.engines.persist`)
does the I/O and calls these rules. What git's answer to a fetch or push means is decided by the
git adapter, as a type (:mod:`batchops.adapters.git.errors`).

* :func:`rebuild` takes the remote's copy of a journaled file and re-applies this
  job's pending operations on it (the unit retried is the operation, not the text
  diff), then the operations other jobs posted, each job's set whole or not at all.
* :func:`three_way` decides a file without operations (``paths``): carried when
  only this job changed it, a conflict when both sides did.
* :class:`Backoff` is the wait between attempts (full jitter); :func:`gives_up` stops on an
  unreachable host after :data:`UNREACHABLE_ATTEMPTS` attempts in all.
* :class:`Message` is the commit message as a value; :func:`commit_message` describes every
  operation a commit carries: a line per operation in the body (``- title`` from
  :func:`batchops.core.control.describe`) and, last, one trailer group per operation
  (``Batchops-Operation``, ``-Operation-Id``, ``-Actor``, ``-At``, ...:
  :func:`batchops.core.control.trailers`, which ``batchops log`` reads back). Any ``Batchops-*``
  line of the given message is dropped first, so no trailer is ever unexplained or forged (an id
  trailer means: this operation landed).
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from batchops.core import control, escape
from batchops.core import operations as ops
from batchops.core.retry import Wait, exponential
from batchops.errors import BatchopsError, OperationConflict

DEFAULT_MESSAGE = "batchops: update control state [skip ci]"
TRAILER = "Batchops-Operation-Id"
_TRAILER_LINE = re.compile(r"^\s*batchops-[a-z0-9-]*\s*:", re.IGNORECASE)
_LANDED = re.compile(rf"^{TRAILER}:[ \t]*([0-9a-f]{{8,64}})[ \t]*$", re.MULTILINE)

Problems = Callable[[Any], list[str]]  # document -> schema problems ("pointer: message"), [] when valid


# --- backoff -------------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: sleep uniform(0, min(cap, slot * 2**(n-1))).

    The slot is ``base`` or, when longer, how long this job's last attempt took
    (fetch to rejected push): on a slow remote or a busy runner the windows
    widen with the time a competing push actually holds the branch.
    """

    base: float = 0.1
    cap: float = 8.0

    def delay(self, retry: int, rng: random.Random, slot: float = 0.0) -> float:
        return rng.uniform(0.0, exponential(max(1, retry), max(self.base, slot), self.cap))

    def wait(self, rng: random.Random) -> Wait:
        """This backoff as a :class:`batchops.core.retry.Wait`: the slot is the attempt's ``slot``
        (0 when the attempt state has none)."""
        return Wait(lambda attempt: self.delay(attempt.number, rng, float(getattr(attempt, "slot", 0.0))))


# --- giving up ----------------------------------------------------------------------------

UNREACHABLE_ATTEMPTS = 3  # attempts in all for an unreachable host before giving up with its reason


def gives_up(kind: str, consecutive: int) -> bool:
    """Whether ``consecutive`` failures of ``kind`` (``unreachable``, ``transient``, ...: the ``kind`` of the
    git adapter's failure type) in a row are enough to stop retrying."""
    return kind == "unreachable" and consecutive >= UNREACHABLE_ATTEMPTS


def one_line(text: str, limit: int = 300) -> str:
    """Untrusted text (git's words) as one printable line, at most ``limit`` characters."""
    return escape.clip(escape.one_line(text).strip(), limit)


# --- landed operations ------------------------------------------------------------------


def landed_ids(commits: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Operation id -> commit, from (commit id, message) pairs, newest first.

    A trailer line anywhere after the subject counts, so a squash merge that lists the
    squashed commits' messages still marks their operations landed. Lines batchops writes
    cannot forge one: ids are hex, ``Batchops-`` lines of given messages are dropped and
    every described value is escaped onto its own prefixed line."""
    found: dict[str, str] = {}
    for sha, message in commits:
        for op_id in _LANDED.findall(message.partition("\n")[2]):  # not the subject line
            found.setdefault(op_id, sha)
    return found


# --- the commit message -------------------------------------------------------------------


def strip_trailers(message: str) -> str:
    """The message without any ``Batchops-*:`` line (those are written from the operations carried)."""
    kept = [line for line in message.replace("\r\n", "\n").split("\n") if not _TRAILER_LINE.match(line)]
    text = "\n".join(kept)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def prepared_names(message: str) -> list[str]:
    """The operation ids a prepared message names in its trailers."""
    return _LANDED.findall(message)


_TOKEN = re.compile(r"[\w.@/:+-]+", re.ASCII)


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value if _TOKEN.fullmatch(value) else json.dumps(value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return ",".join(_value(v) for v in value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def describe(entry: dict[str, Any]) -> list[str]:
    """The lines describing one operation in a commit body: ``- title`` and its indented details.

    The title is the operation's own (an operator command's audit title, a step's
    template: :func:`batchops.core.control.describe`); an operation without one is
    described by its arguments. Untrusted text is escaped: every line is one line.
    """
    title, body = control.describe(entry)
    op = str(entry.get("op", ""))
    if title == escape.one_line(op):
        args = {key: value for key, value in (entry.get("args") or {}).items() if key not in ("at", "audit")}
        details = " ".join(f"{key}={_value(value)}" for key, value in args.items())
        title = one_line(f"{op}: {details}" if details else op, 500)
    return [f"- {title}", *(f"  {line}" for line in body)]


def commit_message(message: str, carried: Sequence[dict[str, Any]]) -> str:
    """``message`` (its ``Batchops-*`` lines dropped), the lines describing each carried operation,
    then the trailer group of each (:func:`batchops.core.control.trailers`), last, as git reads trailers."""
    text = strip_trailers(message) or DEFAULT_MESSAGE
    if not carried:
        return text + "\n"
    body = [line for entry in carried for line in describe(entry)]
    trailers = [line for entry in carried for line in control.trailers(entry)]
    return text + "\n\n" + "\n".join(body) + "\n\n" + "\n".join(trailers) + "\n"


def prepared_message(carried: Sequence[dict[str, Any]]) -> str:
    """The message an operator command prepares, for exactly the operations carried."""
    subject = (control.commit_message(list(carried)) or DEFAULT_MESSAGE).split("\n", 1)[0]
    return commit_message(subject, carried)


@dataclass(frozen=True)
class Message:
    """The commit message persist writes, as a value: chosen once the carried operations are known.

    ``given``: the text of the ``commit-message`` input (empty: not given). ``prepared``: the text of
    the message an operator command prepared (``commit-message.txt``), '' when none. ``audited``: an
    operator command pushing its own change (``--push``): its audited message, written for exactly
    the operations carried.
    """

    given: str = ""
    prepared: str = ""
    audited: bool = False

    def belongs(self, carried: Sequence[dict[str, Any]]) -> bool:
        """The prepared message describes (some of) ``carried``: it is used, and consumed once landed."""
        if self.audited:
            return True
        names = set(prepared_names(self.prepared))
        return bool(self.prepared.strip()) and (not names or bool(names & {entry["id"] for entry in carried}))

    def uses_prepared(self, carried: Sequence[dict[str, Any]]) -> bool:
        explicit = self.given.strip()
        if explicit and strip_trailers(explicit) != strip_trailers(self.prepared):
            return False
        return self.belongs(carried)

    def text(self, carried: Sequence[dict[str, Any]]) -> str:
        """``given`` (unless it is the prepared message's own text), a line per carried operation and
        their trailers; else the prepared (audited) message written afresh for what is carried; else
        the default subject with the lines and trailers."""
        explicit = self.given.strip()
        if explicit and strip_trailers(explicit) != strip_trailers(self.prepared):
            return commit_message(explicit, carried)
        if self.belongs(carried) and carried:
            return prepared_message(carried)
        return commit_message(explicit or DEFAULT_MESSAGE, carried)


# --- rebuilding a file ---------------------------------------------------------------------


Group = tuple[Any, list[dict[str, Any]]]  # (another job's post, its operations)


def _apply_all(document: Any, entries: Iterable[dict[str, Any]]) -> None:
    for entry in entries:
        ops.apply(document, entry["op"], copy.deepcopy(entry["args"]))


def _apply_groups(document: Any, groups: list[Group], problems: Problems | None) -> tuple[Any, list[Group]]:
    applied = []
    for group in groups:
        trial = copy.deepcopy(document)
        try:
            _apply_all(trial, group[1])
        except (BatchopsError, ArithmeticError, ValueError, TypeError, KeyError):
            continue
        if problems is not None and problems(trial):
            continue
        document = trial
        applied.append(group)
    return document, applied


def carry(document: Any, groups: list[Group], problems: Problems) -> tuple[Any, list[Group]]:
    """Apply each other job's posted operations whole, or leave them out whole.

    One schema check for the lot; only when that fails is each job's set checked
    on its own (so one bad post never blocks the others).
    """
    combined, applied = _apply_groups(document, groups, None)
    if problems(combined):
        combined, applied = _apply_groups(document, groups, problems)
    return combined, applied


def rebuild(
    path: str, document: Any, pending: list[dict[str, Any]], others: list[Group], problems: Problems
) -> tuple[Any, list[Group]]:
    """The remote's ``document`` with this job's ``pending`` operations re-applied, then others' posts.

    Raises OperationConflict (naming the operation and the file) when an operation
    no longer applies or the result is not a valid file: nothing is pushed then.
    """
    document = copy.deepcopy(document)
    for entry in pending:
        try:
            ops.apply(document, entry["op"], copy.deepcopy(entry["args"]))
        except OperationConflict as exc:
            raise OperationConflict(
                f"cannot re-apply {entry['op']} (operation {entry['id']}, recorded {entry['at']}) "
                f"on the remote's {path}: {exc.message}",
                file=path,
                field=exc.field,
                hint=exc.hint or "another job or an operator changed the same state; re-run this job on the new state",
            ) from None
        except (ArithmeticError, ValueError, TypeError, KeyError) as exc:
            raise OperationConflict(
                f"cannot re-apply {entry['op']} (operation {entry['id']}) on the remote's {path}: {one_line(str(exc))}",
                file=path,
                hint="the remote's copy holds a value this operation cannot follow; fix it on the branch, then re-run",
            ) from None
    carried: list[Group] = []
    if others:
        document, carried = carry(document, others, problems)
    found = problems(document)
    if found:
        raise OperationConflict(
            f"re-applying this job's {len(pending)} operation(s) on the remote's copy gives an invalid file: "
            f"{found[0]}",
            file=path,
            hint="another job or an operator changed the same state in a way these operations cannot follow; "
            "re-run this job on the new state (nothing was pushed)",
        )
    return document, carried


def three_way(path: str, local: Any, base: Any, remote: Any) -> Any:
    """A file without operations: this job's version when only this job changed it, else the remote's.

    ``local``/``base``/``remote`` are opaque versions (contents or object ids; None: absent).
    """
    if local == base or local == remote:
        return remote
    if remote == base:
        return local
    raise OperationConflict(
        f"{path} was changed by this job and, differently, on the remote, "
        "and it has no recorded operations to re-apply",
        file=path,
        hint="change the file through a batchops command (so its operations are journaled), "
        "or persist it from a single job",
    )
