"""persist-with-retry: commit the control state and push it without ever losing an update.

The unit that is retried is the *operation*, not the text diff. Every change a
job made to a repository file went through :func:`batchops.core.control.mutate`,
which recorded it in the job's journal. Each attempt:

1. fetches the target branch from ``origin``;
2. takes the remote's copy of every journaled file, re-applies this job's
   operations to it in order (skipping any whose id already appears as a
   ``Batchops-Operation-Id:`` trailer on the remote: they have landed), and
   validates the result against the file's schema;
3. builds a commit on top of the remote head (a temporary index, so the
   working tree is not touched while it retries) and pushes it.

A rejected push (another job landed first) means: publish this job's pending
operations under ``refs/batchops/pending/<branch>/`` (once), back off with full
jitter and go again on the new remote head. Every attempt also fetches the
operations other jobs posted; the job that lands applies them too and deletes
the posts in the same atomic push, so a job that comes back may find its
operations already landed. While several posts wait, only the job whose post
sorts first pushes; the others look again without pushing (up to MAX_YIELDS
rounds), so they do not collide. Because the operations are re-applied rather
than the text rebased, an operator's ``stop`` that landed first stays, and two
jobs counting failures for the same ecosystem both count.

Files given in ``paths`` that have no recorded operations (say, a drift
baseline written as a whole) are carried as they are when the remote has not
changed them since this checkout; if both sides changed one, that is a
conflict and nothing is pushed.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from batchops.adapters import files, journal, runner, schema
from batchops.cli.args import Command, add_control_file, add_input, parse_int, parse_list
from batchops.core import control
from batchops.core import operations as ops
from batchops.errors import BatchopsError, ControlFileError, OperationConflict, UsageError
from batchops.render import markdown

BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
DEFAULT_MESSAGE = "batchops: update control state [skip ci]"
DEFAULT_MAX_ATTEMPTS = 40  # a 32-job matrix needs at most ~N rounds; headroom for network blips
TRAILER = "Batchops-Operation-Id"
HISTORY_DEPTH = 1000  # commits of the remote branch searched for operations that have landed
REMOTE = "origin"
# Posted operations: while it retries, a job publishes its operations under this
# prefix (one ref per job, per branch), so whichever job lands next carries them.
PENDING = "refs/batchops/pending"
SEEN_PENDING = "refs/batchops/seen-pending"
PENDING_MAX_AGE = 6 * 3600  # older posts (a job's longest run) are never carried, only cleaned up
MAX_YIELDS = 3  # rounds a posted job leaves the landing to the job whose post sorts first

# Classification of git's stderr (lowercased substrings).
_AUTH = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "invalid username or password",
    "permission denied",
    "terminal prompts disabled",
)
_AUTH_STATUS = re.compile(r"\b(401|403)\b")
_REJECTED = (
    "non-fast-forward",
    "fetch first",
    "stale info",
    "cannot lock ref",
    "failed to update ref",
    "incorrect old value",
    "updates were rejected",
)
_DECLINED = ("hook declined", "protected branch", "gh006", "gh013", "push declined")
_MISSING_BRANCH = ("couldn't find remote ref",)


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
        return rng.uniform(0.0, min(self.cap, max(self.base, slot) * (2 ** max(0, retry - 1))))


# --- git -------------------------------------------------------------------------------


class GitFailure(Exception):
    def __init__(self, args: list[str], returncode: int, output: str) -> None:
        super().__init__(output)
        self.git_args = args
        self.returncode = returncode
        self.output = output

    @property
    def kind(self) -> str:
        return classify(self.output)


def classify(output: str) -> str:
    """``auth``, ``rejected``, ``declined``, ``missing-branch`` or ``transient`` for git's stderr."""
    text = output.lower()
    if any(marker in text for marker in _DECLINED):
        return "declined"
    if any(marker in text for marker in _REJECTED) or "[rejected]" in text:
        return "rejected"
    if any(marker in text for marker in _AUTH) or _AUTH_STATUS.search(text):
        return "auth"
    if any(marker in text for marker in _MISSING_BRANCH):
        return "missing-branch"
    # unreachable host, refused connection, timeouts, 5xx, a remote path that is
    # briefly gone: worth another attempt
    return "transient"


class Git:
    """The git CLI in one repository, with secrets redacted from everything it reports."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.env = {
            "GIT_HTTP_LOW_SPEED_LIMIT": "1000",  # bytes/s ...
            "GIT_HTTP_LOW_SPEED_TIME": "60",  # ... for this long: the transfer is stalled, retry
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GCM_INTERACTIVE": "never",
            **(env or {}),
        }
        self.secrets: list[str] = []

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def run(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None, check: bool = True) -> bytes:
        full_env = {**self.env, **(env or {})}
        # No subprocess timeout (its polling would go through time.sleep); a stalled
        # transfer is cut by git itself (GIT_HTTP_LOW_SPEED_*, set in __init__).
        proc = subprocess.run(["git", *args], cwd=self.root, input=input, capture_output=True, env=full_env, check=False)
        if check and proc.returncode != 0:
            output = (proc.stderr + b"\n" + proc.stdout).decode("utf-8", "replace")
            raise GitFailure(list(args), proc.returncode, self.redact(output.strip()))
        return proc.stdout

    def text(self, *args: str, **kwargs: Any) -> str:
        return self.run(*args, **kwargs).decode("utf-8", "replace").strip()

    def ok(self, *args: str) -> bool:
        try:
            self.run(*args)
        except GitFailure:
            return False
        return True


def _identity_env(git: Git) -> dict[str, str]:
    """The bot identity when the job has none configured (checkout does not set one)."""
    name = os.environ.get("GIT_COMMITTER_NAME") or git.text("config", "user.name", check=False)
    email = os.environ.get("GIT_COMMITTER_EMAIL") or os.environ.get("EMAIL") or git.text("config", "user.email", check=False)
    if name and email:
        return {}
    return {
        "GIT_AUTHOR_NAME": BOT_NAME,
        "GIT_AUTHOR_EMAIL": BOT_EMAIL,
        "GIT_COMMITTER_NAME": BOT_NAME,
        "GIT_COMMITTER_EMAIL": BOT_EMAIL,
    }


def _remote_secrets(url: str) -> tuple[list[str], str]:
    """Credentials embedded in the remote URL, and the URL with them removed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [], "(remote URL)"
    if "@" not in parts.netloc or not parts.scheme.startswith("http"):
        return [], url
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    found = [s for s in (password, user if len(user) >= 20 else "") if s]
    return found, urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


# --- what is carried -------------------------------------------------------------------


@dataclass
class Tracked:
    """One repository file this persist carries."""

    path: str  # relative to the repository root, posix
    local: Path  # in the working tree
    operations: list[dict[str, Any]] = field(default_factory=list)
    schema_name: str | None = None

    @property
    def journaled(self) -> bool:
        return bool(self.operations)


@dataclass
class Outcome:
    pushed: bool
    attempts: int
    commit_sha: str
    files: list[str]
    applied: list[dict[str, Any]]
    remote_head: str = ""


def _schema_for(path: str, entries: list[dict[str, Any]], control_path: str) -> str | None:
    for entry in reversed(entries):
        if entry.get("schema"):
            return str(entry["schema"])
    if path == control_path:
        return "batch-control"
    return schema.BY_FILENAME.get(Path(path).name)


def _repo_path(root: Path, name: str | Path) -> str | None:
    absolute = Path(name) if Path(name).is_absolute() else Path.cwd() / name
    try:
        return absolute.resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def collect(root: Path, control_file: str, extra_paths: list[str]) -> tuple[list[Tracked], list[dict[str, Any]]]:
    """The files to carry (journaled ones, the control file, ``paths``) and skipped entries."""
    control_path = _repo_path(root, control_file)
    if control_path is None:
        raise UsageError(
            f"{control_file} is outside the git repository at {root}",
            field="control-file",
            hint="point control-file at the checked-out copy of the control file",
        )
    tracked: dict[str, Tracked] = {}
    skipped: list[dict[str, Any]] = []
    for entry in journal.read():
        path = _repo_path(root, entry["file"])
        if path is None:
            skipped.append(entry)
            continue
        item = tracked.setdefault(path, Tracked(path, root / path))
        item.operations.append(entry)
    for name in [control_file, *extra_paths]:
        path = _repo_path(root, name)
        if path is None:
            raise UsageError(f"{name} is outside the git repository at {root}", field="paths", hint="list files of the checked-out repository")
        tracked.setdefault(path, Tracked(path, root / path))
    for item in tracked.values():
        item.schema_name = _schema_for(item.path, item.operations, control_path)
    return list(tracked.values()), skipped


# --- one attempt --------------------------------------------------------------------------


def _blob(git: Git, commit: str, path: str) -> bytes | None:
    try:
        return git.run("cat-file", "blob", f"{commit}:{path}")
    except GitFailure:
        return None


def _read_local(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def landed_ids(git: Git, commit: str, since: str = "") -> dict[str, str]:
    """Operation id -> commit, from the trailers of the last HISTORY_DEPTH commits of ``commit``
    (only the commits after ``since`` when given)."""
    revisions = [f"{since}..{commit}"] if since else [f"-n{HISTORY_DEPTH}", commit]
    log = git.text("log", "--format=%x1e%H%n%B", *revisions, "--", check=False)
    found: dict[str, str] = {}
    for record in log.split("\x1e"):
        sha, _, body = record.strip().partition("\n")
        for op_id in re.findall(rf"^{TRAILER}:\s*(\S+)\s*$", body, flags=re.MULTILINE):
            found.setdefault(op_id, sha.strip())
    return found


# --- posted operations (carried by whichever job lands next) --------------------------------


@dataclass
class Posted:
    """Another job's operations, published while it retries."""

    ref: str  # on the remote
    posted_at: float
    operations: list[dict[str, Any]]


def _post(git: Git, ref: str, entries: list[dict[str, Any]], ident: str) -> bool:
    """Publish this job's operations under ``ref`` (best effort: False when the remote refuses)."""
    body = json.dumps({"posted_at": time.time(), "operations": entries}, separators=(",", ":")).encode("utf-8")
    message = b"batchops: operations waiting to land [skip ci]"
    stream = (
        f"commit {SCRATCH_REF}-post\nmark :1\ncommitter {ident} {int(time.time())} +0000\n".encode()
        + f"data {len(message)}\n".encode() + message + b"\n"
        + f"M 100644 inline operations.json\ndata {len(body)}\n".encode() + body + b"\n\nget-mark :1\ndone\n"
    )
    try:
        commit = git.run("fast-import", "--quiet", "--force", "--done", input=stream).decode().split()[0]
        git.run("push", "--porcelain", "--no-verify", REMOTE, f"{commit}:{ref}")
    except GitFailure:
        return False
    return True


def _posted(git: Git, seen_prefix: str, remote_prefix: str, own: str) -> list[Posted]:
    """Operations other jobs posted for this branch (as fetched), oldest first."""
    listing = git.text("for-each-ref", "--format=%(refname)", seen_prefix, check=False).split()
    listing = [ref for ref in listing if ref.replace(seen_prefix, remote_prefix, 1) != own]
    if not listing:
        return []
    out = git.run("cat-file", "--batch", input="".join(f"{ref}:operations.json\n" for ref in listing).encode())
    found: list[Posted] = []
    position = 0
    for ref in listing:
        end = out.index(b"\n", position)
        header = out[position:end].split()
        position = end + 1
        if len(header) < 3 or header[-1] == b"missing":
            continue
        size = int(header[2])
        body = out[position : position + size]
        position += size + 1
        try:
            data = json.loads(body)
            found.append(Posted(ref.replace(seen_prefix, remote_prefix, 1), float(data["posted_at"]), list(data["operations"])))
        except (ValueError, KeyError, TypeError):
            continue  # not ours to judge: never carried, left alone
    return sorted(found, key=lambda item: (item.posted_at, item.ref))


def _carriable(
    git: Git, seen_prefix: str, remote_prefix: str, own: str, landed: dict[str, str], journaled: list[Tracked]
) -> tuple[dict[str, list[tuple[Posted, list[dict[str, Any]]]]], list[str]]:
    """Other jobs' posted operations this job can carry, by file; and posts to delete (landed or stale)."""
    paths = {item.path for item in journaled}
    by_path: dict[str, list[tuple[Posted, list[dict[str, Any]]]]] = {}
    cleanup: list[str] = []
    now = time.time()
    for posted in _posted(git, seen_prefix, remote_prefix, own):
        waiting = [entry for entry in posted.operations if entry.get("id") not in landed]
        if not waiting or now - posted.posted_at > PENDING_MAX_AGE:
            cleanup.append(posted.ref)
            continue
        files = {entry.get("file") for entry in waiting}
        if len(files) == 1 and (path := files.pop()) in paths:
            by_path.setdefault(str(path), []).append((posted, waiting))
    return by_path, cleanup


def _apply_groups(item: Tracked, document: Any, groups: list[tuple[Posted, list[dict[str, Any]]]], check: bool) -> tuple[Any, list[tuple[Posted, list[dict[str, Any]]]]]:
    applied = []
    for posted, entries in groups:
        trial = copy.deepcopy(document)
        try:
            for entry in entries:
                ops.apply(trial, entry["op"], copy.deepcopy(entry["args"]))
        except BatchopsError:
            continue
        if check and item.schema_name and schema.problems(trial, item.schema_name, file=item.path):
            continue
        document = trial
        applied.append((posted, entries))
    return document, applied


def _carry(item: Tracked, document: Any, groups: list[tuple[Posted, list[dict[str, Any]]]], carried: list[tuple[Posted, list[dict[str, Any]]]]) -> Any:
    """Apply each other job's posted operations whole, or leave them out whole.

    One schema check for the lot; only when that fails is each job's set checked
    on its own (so one bad post never blocks the others).
    """
    combined, applied = _apply_groups(item, document, groups, check=False)
    if item.schema_name and schema.problems(combined, item.schema_name, file=item.path):
        combined, applied = _apply_groups(item, document, groups, check=True)
    carried.extend(applied)
    return combined


def _parse_remote(item: Tracked, text: bytes, label: str) -> Any:
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        raise ControlFileError("is not UTF-8 text", file=label, hint="restore the file on the branch; nothing was pushed") from None
    try:
        document = schema.parse_json_text(decoded, label)
        if item.schema_name:
            schema.validate(document, item.schema_name, file=label, text=decoded)
    except BatchopsError as exc:
        raise ControlFileError(
            f"the remote's copy is corrupt: {exc.message}",
            file=label,
            line=exc.line,
            hint=f"fix it on the branch (`batchops validate {item.path}` shows every problem), then re-run the job; "
            "nothing was pushed and this job's operations are kept in its journal",
        ) from None
    return document


def rebuild(
    item: Tracked,
    remote: bytes | None,
    base: bytes | None,
    landed: set[str] | dict[str, str],
    where: str,
    others: list[tuple[Posted, list[dict[str, Any]]]] | None = None,
    carried: list[tuple[Posted, list[dict[str, Any]]]] | None = None,
) -> bytes | None:
    """The file's content to commit on top of the remote head (None: absent).

    ``others``: operations other jobs posted for this file; each job's set is
    applied whole after this job's own, or left out whole when it does not apply
    (its own job then reports why). What was applied is appended to ``carried``.
    """
    label = f"{item.path} (remote {where})"
    if item.journaled:
        pending = [entry for entry in item.operations if entry["id"] not in landed]
        if remote is None:
            if base is not None:
                raise OperationConflict(
                    f"{item.path} was deleted on the remote; this job's operations on it cannot be re-applied",
                    file=item.path,
                    hint="restore the file on the branch or drop the operations (delete the job's journal), then re-run",
                )
            return _read_local(item.local)  # a file this job created
        if not pending:
            return remote
        document = _parse_remote(item, remote, label)
        before = copy.deepcopy(document)
        for entry in pending:
            try:
                ops.apply(document, entry["op"], copy.deepcopy(entry["args"]))
            except OperationConflict as exc:
                raise OperationConflict(
                    f"cannot re-apply {entry['op']} (operation {entry['id']}, recorded {entry['at']}) on the remote's "
                    f"{item.path}: {exc.message}",
                    file=item.path,
                    field=exc.field,
                    hint=exc.hint or "another job or an operator changed the same state; re-run this job on the new state",
                ) from None
        if others:
            document = _carry(item, document, others, carried if carried is not None else [])
        if item.schema_name:
            problems = schema.problems(document, item.schema_name, file=item.path)
            if problems:
                first = problems[0]
                raise OperationConflict(
                    f"re-applying this job's {len(pending)} operation(s) on the remote's copy gives an invalid file: "
                    f"{first.pointer or '/'}: {first.message}",
                    file=item.path,
                    hint="another job or an operator changed the same state in a way these operations cannot follow; "
                    "re-run this job on the new state (nothing was pushed)",
                )
        if document == before:
            return remote
        return control.dumps(document).encode("utf-8")
    local = _read_local(item.local)
    if local == base or local == remote:
        return remote
    if remote == base:
        return local
    raise OperationConflict(
        f"{item.path} was changed by this job and, differently, on the remote, and it has no recorded operations to re-apply",
        file=item.path,
        hint="change the file through a batchops command (so its operations are journaled), "
        "or persist it from a single job",
    )


# --- the loop ---------------------------------------------------------------------------


@dataclass
class Options:
    control_file: str = control.DEFAULT_FILE
    commit_message: str = DEFAULT_MESSAGE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    branch: str = ""
    paths: list[str] = field(default_factory=list)
    backoff: Backoff = field(default_factory=Backoff)
    rng: random.Random = field(default_factory=random.Random)


def _repository_root(control_file: str) -> Path:
    folder = Path(control_file).parent if str(Path(control_file).parent) else Path(".")
    folder = folder if folder.is_dir() else Path(".")
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise UsageError(
            f"{control_file} is not inside a git repository",
            field="control-file",
            hint="check out the repository first (actions/checkout) and point control-file at the file in it",
        )
    return Path(proc.stdout.strip()).resolve()


def _current_branch(git: Git) -> str:
    name = git.text("symbolic-ref", "--short", "-q", "HEAD", check=False)
    if name:
        return name
    if os.environ.get("GITHUB_HEAD_REF"):
        return os.environ["GITHUB_HEAD_REF"]
    if os.environ.get("GITHUB_REF", "").startswith("refs/heads/") and os.environ.get("GITHUB_REF_NAME"):
        return os.environ["GITHUB_REF_NAME"]
    raise UsageError(
        "HEAD is detached, so there is no current branch to push to",
        field="branch",
        hint="set the input branch (e.g. branch: main)",
    )


def message_with_trailers(message: str, applied: list[dict[str, Any]]) -> str:
    text = message.strip() or DEFAULT_MESSAGE
    ids = [entry["id"] for entry in applied if f"{TRAILER}: {entry['id']}" not in text]
    if ids:
        text += "\n\n" + "\n".join(f"{TRAILER}: {i}" for i in ids)
    return text + "\n"


def persist(options: Options, *, log: Callable[[str], None] = runner.log) -> Outcome:
    root = _repository_root(options.control_file)
    git = Git(root)
    url = git.text("remote", "get-url", REMOTE, check=False)
    if not url:
        raise UsageError(
            f"the repository at {root} has no remote named {REMOTE}",
            hint="check out the repository with actions/checkout (it sets origin), or `git remote add origin URL`",
        )
    secrets, shown_url = _remote_secrets(url)
    for secret in secrets:
        runner.mask(secret)
    git.secrets = secrets
    git.env.update(_identity_env(git))
    branch = options.branch.strip() or _current_branch(git)
    if not git.ok("check-ref-format", f"refs/heads/{branch}"):
        raise UsageError(f"{branch!r} is not a valid branch name", field="branch", hint="use a name such as main")
    tracked, skipped = collect(root, options.control_file, options.paths)
    for entry in skipped:
        log(f"not carried (outside {root}): {entry['op']} on {entry['file']}")
    head = git.text("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
    bases = {item.path: (_blob(git, head, item.path) if head else None) for item in tracked}
    tracking = f"refs/remotes/{REMOTE}/{branch}"
    modes = _modes(git, head, [item.path for item in tracked])
    ident = _ident(git)
    attempted: set[str] = set()
    last_failure = ""
    landed: dict[str, str] | None = None
    slot = 0.0
    remote_prefix, seen_prefix = f"{PENDING}/{branch}/", f"{SEEN_PENDING}/{branch}/"
    posted_ref = ""  # set once this job has published its operations for others to carry
    tried_post = False
    yields = 0
    previous_head = ""
    for attempt in range(1, options.max_attempts + 1):
        if attempt > 1:
            # once this job's operations are posted, any job that lands carries them:
            # come back soon rather than waiting out the herd's long slots
            delay = options.backoff.delay(attempt - 1, options.rng, 0.0 if posted_ref else slot)
            log(f"attempt {attempt}/{options.max_attempts} in {delay:.2f}s ({last_failure})")
            time.sleep(delay)
        started = time.monotonic()
        # the branch, and the operations other jobs posted while they retried
        refspecs = [f"+refs/heads/{branch}:{tracking}", f"+{remote_prefix}*:{seen_prefix}*"]
        try:
            git.run(*_FETCH, "--prune", REMOTE, *refspecs)
        except GitFailure as exc:
            _raise_if_fatal(exc, "fetch", branch, shown_url)
            last_failure = f"fetch from {shown_url} failed: {_first_line(exc.output)}"
            continue
        remote_head, remote_files = _snapshot(git, tracking, [item.path for item in tracked])
        journaled = [item for item in tracked if item.journaled]
        if landed is None:  # once, and again after a push whose fate is unknown
            landed = landed_ids(git, remote_head) if journaled else {}
        elif journaled and previous_head and remote_head != previous_head:
            landed.update(landed_ids(git, remote_head, since=previous_head))
        previous_head = remote_head
        others, cleanup = _carriable(git, seen_prefix, remote_prefix, posted_ref, landed, journaled) if journaled else ({}, [])
        carried_groups: list[tuple[Posted, list[dict[str, Any]]]] = []
        contents: dict[str, bytes | None] = {}
        changed: dict[str, bytes | None] = {}
        for item in tracked:
            remote = remote_files[item.path]
            contents[item.path] = rebuild(
                item, remote, bases[item.path], landed, remote_head[:12], others.get(item.path), carried_groups
            )
            if contents[item.path] != remote:
                changed[item.path] = contents[item.path]
        mine = [entry for item in journaled for entry in item.operations]
        pending = [entry for entry in mine if entry["id"] not in landed]
        if not changed:
            landed_by_us = _landed_commit(git, remote_head, attempted)
            carrier = next((landed[e["id"]] for e in mine if e["id"] in landed), "") if posted_ref else ""
            _finish(git, tracked, contents, remote_head, head, branch, mine, log)
            if posted_ref:
                git.ok("push", "--porcelain", "--no-verify", REMOTE, f":{posted_ref}")  # usually gone already
            if landed_by_us:  # an earlier push went through though git reported a failure
                return Outcome(True, attempt, landed_by_us, sorted(changed), mine, remote_head)
            if carrier:
                log(f"this job's operations landed on {branch} in {carrier[:12]}, carried by another job")
                return Outcome(True, attempt, carrier, [], mine, remote_head)
            log("nothing to commit: the remote already has this state")
            return Outcome(False, attempt, "", [], mine, remote_head)
        if posted_ref and pending and yields < MAX_YIELDS:
            # several posted jobs: the one whose post sorts first lands for all of them;
            # the others only look again (a fetch, no push), so they do not collide
            first = min([posted_ref, *(posted.ref for groups in others.values() for posted, _ in groups)])
            if first != posted_ref:
                yields += 1
                last_failure = "another posted job lands the waiting operations, this one's included"
                continue
        extra = [entry for _, entries in carried_groups for entry in entries]
        message = message_with_trailers(options.commit_message, pending + extra)
        commit = _commit(git, remote_head, changed, message, modes, ident)
        attempted.add(commit)
        deletions = [f":{posted.ref}" for posted, _ in carried_groups] + [f":{ref}" for ref in cleanup]
        if posted_ref:
            deletions.append(f":{posted_ref}")
        atomic = ["--atomic"] if deletions else []
        try:
            git.run("push", "--porcelain", "--no-verify", *atomic, REMOTE, f"{commit}:refs/heads/{branch}", *deletions)
        except GitFailure as exc:
            _raise_if_fatal(exc, "push", branch, shown_url)
            slot = time.monotonic() - started
            if exc.kind == "rejected":
                last_failure = "push rejected: the remote moved on; re-applying this job's operations on its new head"
                if not tried_post and pending:
                    # publish this job's operations: whichever job lands next carries them
                    tried_post = True
                    ref = f"{remote_prefix}{os.urandom(8).hex()}"
                    by_path = {entry["id"]: item.path for item in journaled for entry in item.operations}
                    posted = [{**entry, "file": by_path[entry["id"]]} for entry in pending]
                    if _post(git, ref, posted, ident):
                        posted_ref = ref
            else:
                last_failure = f"push to {shown_url} failed: {_first_line(exc.output)}"
                landed = None  # it may have landed all the same
            continue
        also = f" (and {len(carried_groups)} other job(s)' operations)" if carried_groups else ""
        log(f"pushed {commit[:12]} to {branch} (attempt {attempt}){also}: {', '.join(sorted(changed))}")
        _finish(git, tracked, contents, commit, head, branch, mine, log)
        return Outcome(True, attempt, commit, sorted(changed), pending, remote_head)
    raise BatchopsError(
        f"gave up after {options.max_attempts} attempts to push to {branch}; last: {last_failure}",
        field="max-attempts",
        hint="nothing was lost: this job's operations are still in its journal. Raise max-attempts for a larger matrix, "
        "or check that the remote is reachable",
    )


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith(("fatal:", "error:", "!")):
            return line
    return lines[0] if lines else "(no message)"


def _raise_if_fatal(exc: GitFailure, what: str, branch: str, url: str) -> None:
    kind = exc.kind
    if kind == "auth":
        raise BatchopsError(
            f"git {what} to {url} was refused: authentication failed ({_first_line(exc.output)})",
            hint="let the job push: add `permissions: contents: write` to the workflow and keep "
            "`persist-credentials: true` on actions/checkout (or check out with a token that may push)",
        )
    if kind == "declined":
        raise BatchopsError(
            f"git {what} to {branch} was declined by the remote ({_first_line(exc.output)})",
            field="branch",
            hint="the branch is protected: allow github-actions[bot] to push to it, or persist to another branch",
        )
    if kind == "missing-branch":
        raise UsageError(
            f"the branch {branch!r} does not exist on {url}",
            field="branch",
            hint="set the input branch to an existing branch (e.g. main)",
        )


_FETCH = (
    "-c", "gc.auto=0", "-c", "maintenance.auto=false", "fetch", "--quiet", "--no-tags",
    "--no-recurse-submodules", "--no-show-forced-updates",
)


def _modes(git: Git, commit: str, paths: list[str]) -> dict[str, str]:
    """File modes (100644, 100755) of ``paths`` in ``commit``; kept when they are rewritten."""
    modes: dict[str, str] = {}
    if not commit or not paths:
        return modes
    listing = git.run("ls-tree", "-z", commit, "--", *paths, check=False)
    for record in listing.split(b"\0"):
        if record:
            meta, _, name = record.partition(b"\t")
            modes[name.decode("utf-8")] = meta.split(b" ")[0].decode()
    return modes


SCRATCH_REF = "refs/batchops/persist"


def _quote(path: str) -> str:
    """A path as fast-import reads it (C-style quoted)."""
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _commit(git: Git, parent: str, changed: dict[str, bytes | None], message: str, modes: dict[str, str], ident: str) -> str:
    """A commit on top of ``parent`` with ``changed`` files, written by one git fast-import."""
    body = message.encode("utf-8")
    stream = [
        f"commit {SCRATCH_REF}\nmark :1\ncommitter {ident} {int(time.time())} +0000\n".encode(),
        f"data {len(body)}\n".encode() + body + b"\n",
        f"from {parent}\n".encode(),
    ]
    for path, content in changed.items():
        if content is None:
            stream.append(f"D {_quote(path)}\n".encode())
        else:
            stream.append(f"M {modes.get(path, '100644')} inline {_quote(path)}\ndata {len(content)}\n".encode() + content + b"\n")
    stream.append(b"\nget-mark :1\ndone\n")
    out = git.run("fast-import", "--quiet", "--force", "--done", input=b"".join(stream))
    return out.decode("ascii", "replace").split()[0]


def _snapshot(git: Git, ref: str, paths: list[str]) -> tuple[str, dict[str, bytes | None]]:
    """The commit ``ref`` names and the content of ``paths`` in it, from one git cat-file."""
    queries = [f"{ref}^{{commit}}"] + [f"{ref}:{path}" for path in paths]
    out = git.run("cat-file", "--batch", input=("\n".join(queries) + "\n").encode("utf-8"))
    results: list[bytes | None] = []
    head = ""
    position = 0
    for index, _ in enumerate(queries):
        end = out.index(b"\n", position)
        header = out[position:end].decode("utf-8", "replace").split()
        position = end + 1
        if len(header) < 3 or header[-1] == "missing" or not header[-1].isdigit():
            results.append(None)
            continue
        size = int(header[2])
        content = out[position : position + size]
        position += size + 1
        if index == 0:
            head = header[0]
        results.append(content if header[1] == "blob" else None)
    return head, dict(zip(paths, results[1:], strict=True))


def _ident(git: Git) -> str:
    """``Name <email>`` of the committer this job uses."""
    raw = git.text("var", "GIT_COMMITTER_IDENT")
    return raw.rsplit(" ", 2)[0]


def _landed_commit(git: Git, remote_head: str, attempted: set[str]) -> str:
    if not attempted:
        return ""
    for commit in attempted:
        if git.ok("merge-base", "--is-ancestor", commit, remote_head):
            return commit
    return ""


def _finish(
    git: Git,
    tracked: list[Tracked],
    contents: dict[str, bytes | None],
    commit: str,
    head: str,
    branch: str,
    carried: list[dict[str, Any]],
    log: Callable[[str], None],
) -> None:
    """Bring the checkout up to the pushed state and drop the carried operations from the journal."""
    journal.remove({entry["id"] for entry in carried})
    current = git.text("symbolic-ref", "--short", "-q", "HEAD", check=False)
    moved = False
    if head and (current == branch or not current) and head != commit and git.ok("merge-base", "--is-ancestor", head, commit):
        # fast-forward the checkout: put the carried files back to HEAD's version, then move
        for item in tracked:
            if git.ok("cat-file", "-e", f"{head}:{item.path}"):
                git.run("checkout", "-q", head, "--", item.path, check=False)
            elif item.local.exists() and contents.get(item.path) is not None:
                item.local.unlink()
        moved = git.ok("reset", "-q", "--keep", commit)
        if not moved:
            log(f"the checkout could not be moved to {commit[:12]} (local changes in the way); run `git pull` before committing")
    elif head and current == branch and head != commit and not git.ok("merge-base", "--is-ancestor", head, commit):
        log(f"your branch {branch} has commits that are not on {REMOTE}; they were not pushed by persist-with-retry")
    if not moved:
        for item in tracked:
            content = contents.get(item.path)
            if content is not None and _read_local(item.local) != content:
                item.local.parent.mkdir(parents=True, exist_ok=True)
                files.write_atomic(item.local, content.decode("utf-8", "surrogateescape"))


# --- the command ------------------------------------------------------------------------


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "commit-message", "commit message (trailers with the operation ids are appended)", default=DEFAULT_MESSAGE)
    add_input(parser, "max-attempts", "how many times to fetch, re-apply and push before giving up", default=str(DEFAULT_MAX_ATTEMPTS))
    add_input(parser, "branch", "branch to push to (default: the current branch)", default="")
    add_input(parser, "paths", "further files to commit (newline or comma separated), e.g. a drift baseline", default="")
    add_control_file(parser)


def backoff_from_env() -> Backoff:
    """``BATCHOPS_PERSIST_BACKOFF=base,cap`` (seconds) tunes the backoff; default 0.1,8."""
    raw = os.environ.get("BATCHOPS_PERSIST_BACKOFF", "").strip()
    if not raw:
        return Backoff()
    try:
        base, cap = (float(part) for part in raw.split(","))
    except ValueError:
        raise UsageError(f"{raw!r} is not BASE,CAP in seconds", field="BATCHOPS_PERSIST_BACKOFF", hint="e.g. 0.1,8") from None
    if not (0 < base <= cap):
        raise UsageError(f"{raw!r}: need 0 < base <= cap", field="BATCHOPS_PERSIST_BACKOFF", hint="e.g. 0.1,8")
    return Backoff(base, cap)


def _run(args: argparse.Namespace) -> int:
    options = Options(
        backoff=backoff_from_env(),
        control_file=args.control_file,
        commit_message=args.commit_message or DEFAULT_MESSAGE,
        max_attempts=parse_int(args.max_attempts, field="max-attempts", minimum=1),
        branch=args.branch or "",
        paths=parse_list(args.paths, field="paths"),
    )
    with runner.group("persist-with-retry"):
        outcome = persist(options)
    runner.set_outputs({"pushed": outcome.pushed, "attempts": outcome.attempts, "commit-sha": outcome.commit_sha})
    runner.summary(_summary(outcome, options))
    return 0


def _summary(outcome: Outcome, options: Options) -> str:
    if outcome.pushed:
        head = f"### ✅ persist-with-retry: pushed `{outcome.commit_sha[:12]}` after {outcome.attempts} attempt(s)\n\n"
    else:
        head = "### persist-with-retry: nothing to commit (the remote already has this state)\n\n"
    rows = [[entry["file"], entry["op"], entry["id"], entry["at"]] for entry in outcome.applied]
    if not rows:
        return head + f"Files: {', '.join(outcome.files) or '(none changed)'}\n"
    return head + markdown.md_table(["file", "operation", "id", "recorded at"], rows)


PERSIST = Command("commit and push the control state; on a rejected push re-apply this job's operations and retry", _configure, _run)

__all__ = ["PERSIST", "Backoff", "Options", "Outcome", "classify", "json", "persist"]
