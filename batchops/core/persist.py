"""persist-with-retry's pure rules: rebuild a file from operations, classify push refusals, write the message.

Nothing here touches git, the disk or the clock; the step
(:mod:`batchops.steps.persist_with_retry`) does the I/O and calls these rules.

* :func:`rebuild` takes the remote's copy of a journaled file and re-applies this
  job's pending operations on it (the unit retried is the operation, not the text
  diff), then the operations other jobs posted, each job's set whole or not at all.
* :func:`three_way` decides a file without operations (``paths``): carried when
  only this job changed it, a conflict when both sides did.
* :func:`classify` reads git's answer to a fetch or push: a race (``rejected``) is
  retried; a refusal that will not change (``declined``: branch checked out on a
  non-bare remote, protected branch, a hook that declined, ...), ``auth`` and
  ``missing-branch`` and ``missing-remote`` (the remote repository is not there)
  fail at once with the remote's own reason; ``unreachable`` (DNS, a refused or timed
  out connection) is retried :data:`UNREACHABLE_ATTEMPTS` times in all; other network
  trouble (5xx, a dropped connection) is ``transient``.
* :func:`commit_message` describes every operation a commit carries: a line per
  operation in the body (``- title`` from :func:`batchops.core.control.describe`) and,
  last, one trailer group per operation (``Batchops-Operation``, ``-Operation-Id``,
  ``-Actor``, ``-At``, ...: :func:`batchops.core.control.trailers`, which ``batchops log``
  reads back). Any ``Batchops-*`` line of the given message is dropped first, so no
  trailer is ever unexplained or forged (an id trailer means: this operation landed).
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
from batchops.core.backoff import exponential
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


# --- what git said ---------------------------------------------------------------------

_AUTH = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "invalid username or password",
    "permission denied",
    "terminal prompts disabled",
)
_AUTH_STATUS = re.compile(r"\b(401|403)\b")
# a race: another push moved the branch (or holds its lock) between our fetch and push
_RACE = (
    "non-fast-forward",
    "fetch first",
    "stale info",
    "cannot lock ref",
    "failed to update ref",
    "incorrect old value",
    "reference already exists",
)
# git's own words for a ref that was not updated only because another ref of an atomic push failed
_ATOMIC_ONLY = ("atomic push failed", "atomic transaction failed")
_DECLINED = (
    "hook declined", "protected branch", "gh006", "gh013", "push declined", "denied",
    # refusals before any ref status that no retry changes: the push is too large for the
    # server, or the branch to push does not exist here
    "http 413", "returned error: 413", "src refspec",
)
_MISSING_BRANCH = ("couldn't find remote ref",)
# the remote repository is not where the URL says (moved, deleted, a typo, or not visible to this token)
_MISSING_REMOTE = (
    "does not appear to be a git repository",
    "repository not found",
    "could not read from remote repository",
)
_MISSING_REMOTE_RE = re.compile(r"repository '[^'\n]*' not found")
# the host cannot be reached: worth a couple of attempts (a DNS or network blip), not forty
_UNREACHABLE = (
    "could not resolve host",
    "could not resolve hostname",
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "failed to connect",
    "couldn't connect to server",
    "connection refused",
    "connection timed out",
    "operation timed out",
    "network is unreachable",
    "no route to host",
)
UNREACHABLE_ATTEMPTS = 3  # attempts in all for an unreachable host before giving up with its reason
KINDS = ("auth", "rejected", "declined", "missing-branch", "missing-remote", "unreachable", "transient")
_REF_STATUS = re.compile(r"\[(remote rejected|rejected)\]\s*(?:\S+\s*->\s*\S+\s*)?(?:\((.*)\))?", re.IGNORECASE)
_REMOTE_LINE = re.compile(r"^remote:\s*(.*\S)\s*$", re.IGNORECASE)


def _statuses(output: str) -> list[tuple[str, str]]:
    """(``rejected`` or ``remote rejected``, reason) of every ref git did not update."""
    found = []
    for line in output.splitlines():
        match = _REF_STATUS.search(line)
        if match:
            found.append((match.group(1).lower(), (match.group(2) or "").strip()))
    return found


def classify(output: str) -> str:
    """``auth``, ``rejected`` (a race: retry), ``declined`` (will not change: fail now),
    ``missing-branch``, ``missing-remote`` (fail now), ``unreachable`` (a couple of attempts)
    or ``transient`` for git's output of a fetch or push."""
    text = output.lower()
    statuses = _statuses(output)
    if statuses:
        reasons = [(kind, reason.lower()) for kind, reason in statuses]
        deciding = [(kind, reason) for kind, reason in reasons if not any(m in reason for m in _ATOMIC_ONLY)]
        if not deciding:
            # every ref failed only because the atomic transaction did: a ref moved or was
            # deleted under it (a lock or old-value check), i.e. a race
            return "rejected"
        if any(kind == "rejected" or any(m in reason for m in _RACE) for kind, reason in deciding):
            return "rejected"
        return "declined"
    if any(marker in text for marker in _RACE) or "updates were rejected" in text:
        return "rejected"
    if any(marker in text for marker in _AUTH) or _AUTH_STATUS.search(text):
        return "auth"
    if any(marker in text for marker in _DECLINED):
        return "declined"
    if any(marker in text for marker in _MISSING_BRANCH):
        return "missing-branch"
    # before the missing repository: ssh adds "Could not read from remote repository" to a refused connection
    if any(marker in text for marker in _UNREACHABLE):
        return "unreachable"
    if any(marker in text for marker in _MISSING_REMOTE) or _MISSING_REMOTE_RE.search(text):
        return "missing-remote"
    # 5xx, a dropped connection: worth another attempt
    return "transient"


def git_reason(output: str) -> str:
    """git's own words for a fetch or push that failed, on one line: the line that says why
    (``ssh: connect to host ...: Connection refused`` rather than ssh's closing
    ``Could not read from remote repository``), else the first ``fatal:``/``error:`` line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for markers in (_UNREACHABLE, _MISSING_REMOTE[:2]):  # not ssh's closing line
        for line in lines:
            if any(marker in line.lower() for marker in markers):
                return escape.short_line(line)
    for line in lines:
        if _MISSING_REMOTE_RE.search(line.lower()):
            return escape.short_line(line)
    return first_line(output)


def gives_up(kind: str, consecutive: int) -> bool:
    """Whether ``consecutive`` failures of ``kind`` in a row are enough to stop retrying."""
    return kind == "unreachable" and consecutive >= UNREACHABLE_ATTEMPTS


def reason(output: str) -> str:
    """The remote's own reason for a refusal, on one line: the ref status and what the remote said."""
    parts: list[str] = []
    for kind, why in _statuses(output):
        if why and not any(m in why.lower() for m in _ATOMIC_ONLY):
            parts.append(f"[{kind}] {why}")
    for line in output.splitlines():
        match = _REMOTE_LINE.match(line.strip())
        if match and match.group(1) not in parts and not match.group(1).lower().startswith(("resolving deltas", "counting", "compressing", "total")):
            parts.append(match.group(1))
    if not parts:
        parts = [first_line(output)]
    unique: list[str] = []
    for part in parts:
        if part not in unique:
            unique.append(part)
    return escape.short_line("; ".join(unique[:4]))


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith(("fatal:", "error:", "!")):
            return escape.short_line(line)
    return escape.short_line(lines[0]) if lines else "(no message)"


def refusal_hint(output: str) -> str:
    """What to change for a refusal that will not go away by retrying."""
    text = output.lower()
    if "currently checked out" in text:
        return (
            "the remote is a non-bare repository with this branch checked out: push to a bare repository, "
            "or run `git config receive.denyCurrentBranch updateInstead` in the remote's repository"
        )
    if any(marker in text for marker in ("protected branch", "gh006", "gh013")):
        return "the branch is protected: allow github-actions[bot] to push to it (or bypass the rule), or persist to another branch"
    if "hook declined" in text or "push declined" in text:
        return "a server-side hook refused the push (its message is above): change what it checks, or persist to another branch"
    return "the remote refuses this push for the reason above; retrying would not change it"


# --- landed operations ------------------------------------------------------------------


def landed_ids(log: str) -> dict[str, str]:
    """Operation id -> commit, from ``git log --format=%x1e%H%n%B`` text (newest first).

    A trailer line anywhere after the subject counts, so a squash merge that lists the
    squashed commits' messages still marks their operations landed. Lines batchops writes
    cannot forge one: ids are hex, ``Batchops-`` lines of given messages are dropped and
    every described value is escaped onto its own prefixed line."""
    found: dict[str, str] = {}
    for record in log.split("\x1e"):
        sha, _, body = record.strip().partition("\n")
        for op_id in _LANDED.findall(body.partition("\n")[2]):  # not the subject line
            found.setdefault(op_id, sha.strip())
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
        title = escape.short_line(f"{op}: {details}" if details else op, 500)
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


def rebuild(path: str, document: Any, pending: list[dict[str, Any]], others: list[Group], problems: Problems) -> tuple[Any, list[Group]]:
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
                f"cannot re-apply {entry['op']} (operation {entry['id']}, recorded {entry['at']}) on the remote's {path}: {exc.message}",
                file=path,
                field=exc.field,
                hint=exc.hint or "another job or an operator changed the same state; re-run this job on the new state",
            ) from None
        except (ArithmeticError, ValueError, TypeError, KeyError) as exc:
            raise OperationConflict(
                f"cannot re-apply {entry['op']} (operation {entry['id']}) on the remote's {path}: {escape.short_line(str(exc))}",
                file=path,
                hint="the remote's copy holds a value this operation cannot follow; fix it on the branch, then re-run",
            ) from None
    carried: list[Group] = []
    if others:
        document, carried = carry(document, others, problems)
    found = problems(document)
    if found:
        raise OperationConflict(
            f"re-applying this job's {len(pending)} operation(s) on the remote's copy gives an invalid file: {found[0]}",
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
        f"{path} was changed by this job and, differently, on the remote, and it has no recorded operations to re-apply",
        file=path,
        hint="change the file through a batchops command (so its operations are journaled), or persist it from a single job",
    )
