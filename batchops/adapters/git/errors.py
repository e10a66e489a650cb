"""What went wrong with git, as a type: the kind of failure is decided once, where git answered.

The tree (like httpx's ``_exceptions.py``)::

    GitError                     any git command that failed (a BatchopsError: message, hint)
    └── RemoteError              a fetch or a push the remote refused or could not answer
        ├── PushRejected         a race: another push moved the branch (or held its lock): retry
        ├── PushDeclined         a refusal no retry changes (checked-out branch, protected branch,
        │                        a hook, a push too large, a refspec that names nothing): fail now
        ├── AuthenticationFailed the credentials may not read or push: fail now
        ├── BranchMissing        the branch is not on the remote: fail now
        ├── RepositoryMissing    no repository at the remote's address: fail now
        ├── RemoteUnreachable    DNS, a refused or timed-out connection: a couple of attempts
        └── RemoteTransient      5xx, a dropped connection: retry

:func:`remote_error` reads git's output of a fetch or push and returns the exception of its
kind; :func:`git_reason`, :func:`reason` and :func:`refusal_hint` put git's own words on one line
for the person reading the log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from batchops.core import escape
from batchops.errors import BatchopsError


class GitError(BatchopsError):
    """A git command failed: ``stderr`` and ``output`` (stderr then stdout) hold git's words, secrets redacted."""

    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        returncode: int = 1,
        stderr: str = "",
        output: str = "",
        git_args: Sequence[str] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.returncode = returncode
        self.stderr = stderr
        self.output = output or stderr
        self.git_args = list(git_args)


class RemoteError(GitError):
    """A fetch or push failed; the subclass says why."""

    kind = "remote"


class PushRejected(RemoteError):
    kind = "rejected"


class PushDeclined(RemoteError):
    kind = "declined"


class AuthenticationFailed(RemoteError):
    kind = "auth"


class BranchMissing(RemoteError):
    kind = "missing-branch"


class RepositoryMissing(RemoteError):
    kind = "missing-remote"


class RemoteUnreachable(RemoteError):
    kind = "unreachable"


class RemoteTransient(RemoteError):
    kind = "transient"


KINDS: tuple[type[RemoteError], ...] = (
    AuthenticationFailed,
    PushRejected,
    PushDeclined,
    BranchMissing,
    RepositoryMissing,
    RemoteUnreachable,
    RemoteTransient,
)

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
    "hook declined",
    "protected branch",
    "gh006",
    "gh013",
    "push declined",
    "denied",
    # refusals before any ref status that no retry changes: the push is too large for the
    # server, or the branch to push does not exist here
    "http 413",
    "returned error: 413",
    "src refspec",
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
_REF_STATUS = re.compile(r"\[(remote rejected|rejected)\]\s*(?:\S+\s*->\s*\S+\s*)?(?:\((.*)\))?", re.IGNORECASE)
_REMOTE_LINE = re.compile(r"^remote:\s*(.*\S)\s*$", re.IGNORECASE)
_PROGRESS = ("resolving deltas", "counting", "compressing", "total")


def _statuses(output: str) -> list[tuple[str, str]]:
    """(``rejected`` or ``remote rejected``, reason) of every ref git did not update."""
    found = []
    for line in output.splitlines():
        match = _REF_STATUS.search(line)
        if match:
            found.append((match.group(1).lower(), (match.group(2) or "").strip()))
    return found


def _from_statuses(statuses: list[tuple[str, str]]) -> type[RemoteError]:
    reasons = [(kind, reason.lower()) for kind, reason in statuses]
    deciding = [(kind, reason) for kind, reason in reasons if not any(m in reason for m in _ATOMIC_ONLY)]
    if not deciding:
        # every ref failed only because the atomic transaction did: a ref moved or was
        # deleted under it (a lock or old-value check), i.e. a race
        return PushRejected
    if any(kind == "rejected" or any(m in reason for m in _RACE) for kind, reason in deciding):
        return PushRejected
    return PushDeclined


def failure_type(output: str) -> type[RemoteError]:
    """The kind of failure git's ``output`` of a fetch or push tells, as the exception type to raise."""
    text = output.lower()
    statuses = _statuses(output)
    if statuses:
        return _from_statuses(statuses)
    if any(marker in text for marker in _RACE) or "updates were rejected" in text:
        return PushRejected
    if any(marker in text for marker in _AUTH) or _AUTH_STATUS.search(text):
        return AuthenticationFailed
    if any(marker in text for marker in _DECLINED):
        return PushDeclined
    if any(marker in text for marker in _MISSING_BRANCH):
        return BranchMissing
    # before the missing repository: ssh adds "Could not read from remote repository" to a refused connection
    if any(marker in text for marker in _UNREACHABLE):
        return RemoteUnreachable
    if any(marker in text for marker in _MISSING_REMOTE) or _MISSING_REMOTE_RE.search(text):
        return RepositoryMissing
    return RemoteTransient  # 5xx, a dropped connection: worth another attempt


def remote_error(exc: GitError) -> RemoteError:
    """``exc`` (a fetch or push that failed) as the exception of its kind; one already typed is kept."""
    if isinstance(exc, RemoteError):
        return exc
    typed = failure_type(exc.output)(
        exc.message,
        hint=exc.hint,
        returncode=exc.returncode,
        stderr=exc.stderr,
        output=exc.output,
        git_args=exc.git_args,
    )
    typed.__cause__ = exc.__cause__
    return typed


def one_line(text: str, limit: int = 300) -> str:
    """Untrusted text (git's words) as one printable line, at most ``limit`` characters."""
    return escape.clip(escape.one_line(text).strip(), limit)


def first_line(text: str) -> str:
    """git's first ``fatal:``/``error:``/``!`` line (else its first line), on one line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith(("fatal:", "error:", "!")):
            return one_line(line)
    return one_line(lines[0]) if lines else "(no message)"


def git_reason(output: str) -> str:
    """git's own words for a fetch or push that failed, on one line: the line that says why
    (``ssh: connect to host ...: Connection refused`` rather than ssh's closing
    ``Could not read from remote repository``), else the first ``fatal:``/``error:`` line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for markers in (_UNREACHABLE, _MISSING_REMOTE[:2]):  # not ssh's closing line
        for line in lines:
            if any(marker in line.lower() for marker in markers):
                return one_line(line)
    for line in lines:
        if _MISSING_REMOTE_RE.search(line.lower()):
            return one_line(line)
    return first_line(output)


def reason(output: str) -> str:
    """The remote's own reason for a refusal, on one line: the ref status and what the remote said."""
    parts: list[str] = []
    for kind, why in _statuses(output):
        if why and not any(m in why.lower() for m in _ATOMIC_ONLY):
            parts.append(f"[{kind}] {why}")
    for line in output.splitlines():
        match = _REMOTE_LINE.match(line.strip())
        if match and match.group(1) not in parts and not match.group(1).lower().startswith(_PROGRESS):
            parts.append(match.group(1))
    if not parts:
        parts = [first_line(output)]
    unique: list[str] = []
    for part in parts:
        if part not in unique:
            unique.append(part)
    return one_line("; ".join(unique[:4]))


def refusal_hint(output: str) -> str:
    """What to change for a refusal that will not go away by retrying."""
    text = output.lower()
    if "currently checked out" in text:
        return (
            "the remote is a non-bare repository with this branch checked out: push to a bare repository, "
            "or run `git config receive.denyCurrentBranch updateInstead` in the remote's repository"
        )
    if any(marker in text for marker in ("protected branch", "gh006", "gh013")):
        return (
            "the branch is protected: allow github-actions[bot] to push to it (or bypass the rule), "
            "or persist to another branch"
        )
    if "hook declined" in text or "push declined" in text:
        return (
            "a server-side hook refused the push (its message is above): change what it checks, "
            "or persist to another branch"
        )
    return "the remote refuses this push for the reason above; retrying would not change it"
