"""persist-with-retry: commit the control state and push it without ever losing an update.

The unit that is retried is the *operation*, not the text diff. Every change a
job made to a repository file through batchops was recorded in the job's
journal (:mod:`batchops.adapters.journal`). Each attempt:

1. fetches the target branch from ``origin``;
2. takes the remote's copy of every journaled file and re-applies this job's
   operations to it in order (skipping any whose id already appears as a
   ``Batchops-Operation-Id:`` trailer on the remote: they have landed), then
   validates the result against the file's schema (:func:`batchops.core.persist.rebuild`);
3. builds a commit on top of the remote head (``git fast-import``: the working
   tree is not touched while it retries) and pushes it.

A rejected push (another job landed first) means: publish this job's pending
operations under ``refs/batchops/pending/<branch>/`` (once), back off with full
jitter and go again on the new remote head. Every attempt also fetches the
operations other jobs posted; the job that lands applies them too and deletes
the posts in the same atomic push, so a job that comes back may find its
operations already landed. While several posts wait, only the job whose post
sorts first pushes; the others look again without pushing (up to MAX_YIELDS
rounds). A refusal that will not change (the remote's branch is checked out,
a protected branch, a hook that declined, authentication) fails at once with
the remote's own reason (:func:`batchops.core.persist.classify`).

``paths`` takes files, folders and globs as ``git add`` would: they are added
to a temporary index (``git add -A``, so ``.gitignore``, modes, symbolic links
and deletions are git's own), and each file that differs from HEAD is carried
as it is when the remote has not changed it since this checkout; when both
sides changed it, that is a conflict and nothing is pushed. A path that
matches nothing is reported and skipped; a path that cannot be used (outside
the repository, inside ``.git``, ignored, not a regular file) is an error
naming it, before anything is pushed.

The commit message: ``commit-message`` when given, else the message an operator
command prepared (``commit-message.txt`` beside the journal) when it belongs to
the operations carried, else the default; in every case a line per carried
operation and its trailers are added (:func:`batchops.core.persist.commit_message`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchops.adapters import files, journal, runner, schema
from batchops.adapters import git as gitcmd
from batchops.adapters.git import BOT_EMAIL, BOT_NAME, Git, GitError
from batchops.flags import add_control_file, add_input, parse_int, parse_list
from batchops.core import control, escape
from batchops.core import persist as rules
from batchops.core.persist import DEFAULT_MESSAGE, TRAILER, Backoff, classify
from batchops.errors import BatchopsError, ControlFileError, OperationConflict, UsageError
from batchops.render import markdown
from batchops.steps import Step, StepResult

DEFAULT_MAX_ATTEMPTS = 40  # a 32-job matrix needs at most ~N rounds; headroom for network blips
HISTORY_DEPTH = 1000  # commits of the remote branch searched for operations that have landed
REMOTE = "origin"
# Posted operations: while it retries, a job publishes its operations under this
# prefix (one ref per job, per branch), so whichever job lands next carries them.
PENDING = "refs/batchops/pending"
SEEN_PENDING = "refs/batchops/seen-pending"
PENDING_MAX_AGE = 6 * 3600  # older posts (a job's longest run) are never carried, only cleaned up
MAX_YIELDS = 3  # rounds a posted job leaves the landing to the job whose post sorts first
PREPARED_MESSAGE = "commit-message.txt"  # written by operator commands beside the journal
SCRATCH_REF = "refs/batchops/persist"
_GLOB = re.compile(r"[*?\[]")

Version = tuple[str, str] | None  # (mode, object id) of a file without operations; None: absent

__all__ = [
    "BOT_EMAIL", "BOT_NAME", "DEFAULT_MESSAGE", "STEP", "TRAILER", "Backoff", "Git", "GitError",
    "Options", "Outcome", "classify", "message_with_trailers", "persist",
]


# --- what is carried -------------------------------------------------------------------


@dataclass
class Tracked:
    """One journaled repository file (or the control file): rebuilt from its operations."""

    path: str  # relative to the repository root, posix
    local: Path  # in the working tree
    operations: list[dict[str, Any]] = field(default_factory=list)
    schema_name: str | None = None

    @property
    def journaled(self) -> bool:
        return bool(self.operations)


@dataclass
class Carried:
    """A file this job changed without operations (``paths``, or the control file edited by hand)."""

    path: str
    local: Version  # as `git add` stages it
    base: Version  # in this checkout's HEAD


@dataclass
class Outcome:
    pushed: bool
    attempts: int
    commit_sha: str
    files: list[str]
    applied: list[dict[str, Any]]
    remote_head: str = ""
    message: str = ""
    notes: list[str] = field(default_factory=list)  # warnings for the person reading the log


def _schema_for(path: str, entries: list[dict[str, Any]], control_path: str) -> str | None:
    for entry in reversed(entries):
        if entry.get("schema"):
            return str(entry["schema"])
    if path == control_path:
        return "batch-control"
    return schema.BY_FILENAME.get(Path(path).name)


def _repo_path(root: Path, name: str | Path) -> str | None:
    """``name`` (relative to the working directory) relative to the repository root, lexically; None: outside."""
    absolute = Path(os.path.normpath(Path.cwd().resolve() / name))
    try:
        relative = absolute.relative_to(root)
    except ValueError:
        try:
            relative = absolute.resolve().relative_to(root)
        except (ValueError, OSError):
            return None
    return relative.as_posix() if str(relative) != "." else ""


def collect(root: Path, control_file: str) -> tuple[list[Tracked], list[dict[str, Any]], str]:
    """The journaled files and the control file, the entries outside this repository, the control path."""
    control_path = _repo_path(root, control_file)
    if not control_path:
        raise UsageError(
            f"{control_file} is outside the git repository at {root}",
            field="control-file",
            hint="point control-file at the checked-out copy of the control file, e.g. registry/batch-control.json",
        )
    tracked: dict[str, Tracked] = {}
    skipped: list[dict[str, Any]] = []
    for entry in journal.read():
        path = _repo_path(root, entry["file"])
        if not path:
            skipped.append(entry)
            continue
        item = tracked.setdefault(path, Tracked(path, root / path))
        item.operations.append(entry)
    tracked.setdefault(control_path, Tracked(control_path, root / control_path))
    for item in tracked.values():
        item.schema_name = _schema_for(item.path, item.operations, control_path)
    return list(tracked.values()), skipped, control_path


def _pathspec(root: Path, name: str) -> str:
    """A ``paths`` entry as a pathspec from the repository root; a path it cannot use is a UsageError naming it."""
    where = repr(name)  # the field (paths) is named once, by the error
    relative = _repo_path(root, name)
    if relative is None:
        raise UsageError(f"{where} is outside the git repository at {root}", field="paths", hint="list files, folders or globs of the checked-out repository, e.g. data/failures/")
    parts = relative.split("/")
    if ".git" in parts:
        raise UsageError(f"{where} is inside the repository's .git folder", field="paths", hint="list files of the working tree, e.g. data/metrics/")
    if not _GLOB.search(relative):
        local = root / relative
        if local.is_symlink() or local.exists():
            if not (local.is_symlink() or local.is_file() or local.is_dir()):
                raise UsageError(f"{where} is not a regular file, folder or symbolic link", field="paths", hint="list the files to commit, e.g. data/failures/")
        if local.is_dir() and (local / ".git").exists() and relative:
            raise UsageError(f"{where} is another git repository (a submodule or nested checkout)", field="paths", hint="commit it in its own repository")
    return ":(top)" + relative  # ":(top)" alone is the whole tree


def stage(git: Git, root: Path, names: list[str], skip: set[str], quiet: frozenset[str] = frozenset()) -> tuple[list[Carried], list[str]]:
    """``git add -A`` of ``names`` into a temporary index: the files that differ from HEAD, and notes
    (a name that matches no file; not for the ``quiet`` names). A name git refuses is a UsageError naming it."""
    specs = {_pathspec(root, name): name for name in names}
    if not specs:
        return [], []
    head = git.text("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
    changes, unmatched, refused = git.staged_changes(head, list(specs))
    for spec, exc in refused:
        name = specs[spec]
        if "ignored by one of your .gitignore files" in exc.output:
            raise UsageError(
                f"{name!r} cannot be committed: it is ignored by .gitignore, so git add skips it",
                field="paths",
                hint=f"remove it from paths, or the .gitignore line that ignores it (`git check-ignore -v {name}` names that line)",
            )
        raise UsageError(
            f"{name!r} cannot be committed: {escape.short_line(_git_words(exc.output))}",
            field="paths",
            hint="list files, folders or globs git can add (not ignored by .gitignore, readable), e.g. data/failures/",
        )
    for path, _, staged in changes:
        if staged is not None and staged[0] == "120000" and path not in skip:
            _refuse_escaping_link(root, path)
    notes = [f"paths: {specs[spec]!r} matches no file; nothing to commit for it" for spec in unmatched if specs[spec] not in quiet]
    return [Carried(path, staged, base) for path, base, staged in changes if path not in skip], notes


def _git_words(output: str) -> str:
    """git's message without its ``hint:`` lines, its lines joined (a list of paths stays with its heading)."""
    lines = [line.strip() for line in output.splitlines() if line.strip() and not line.strip().lower().startswith("hint:")]
    return " ".join(lines[:4]) or "(no message)"


def _refuse_escaping_link(root: Path, path: str) -> None:
    """A symbolic link whose target is outside the repository is refused: git would commit the link
    (not what it points to), but every later checkout that reads the folder follows it to that
    machine's file, and a link out of committed data is a mistake. Links inside the repository are kept."""
    try:
        target = os.readlink(root / path)
    except OSError:
        return  # gone meanwhile: git add has recorded what it saw
    resolved = os.path.normpath(os.path.join(root, os.path.dirname(path), target))
    if resolved == str(root) or resolved.startswith(str(root) + os.sep):
        return
    raise UsageError(
        f"{path!r} is a symbolic link to {target!r}, outside the repository; it is not committed",
        field="paths",
        hint=f"delete the link (rm {path}) or put the file itself there; a link to a file inside the repository is committed as a link",
    )


# --- one attempt --------------------------------------------------------------------------


def _blob(git: Git, commit: str, path: str) -> bytes | None:
    try:
        return git.run("cat-file", "blob", f"{commit}:{path}")
    except GitError:
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
    return rules.landed_ids(git.text("log", "--format=%x1e%H%n%B", *revisions, "--", check=False))


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
    except GitError:
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
            data = schema.parse_json_text(body.decode("utf-8"), ref)
            entries = list(data["operations"])
            if any(schema.problems(entry, "operation", file=ref) for entry in entries):
                continue  # not ours to judge: never carried, left alone
            found.append(Posted(ref.replace(seen_prefix, remote_prefix, 1), float(data["posted_at"]), entries))
        except (ValueError, KeyError, TypeError, RecursionError, BatchopsError):
            continue
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
        names = {entry.get("file") for entry in waiting}
        if len(names) == 1 and (path := names.pop()) in paths:
            by_path.setdefault(str(path), []).append((posted, waiting))
    return by_path, cleanup


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


def _problems(item: Tracked) -> rules.Problems:
    def check(document: Any) -> list[str]:
        if not item.schema_name:
            return []
        return [f"{p.pointer or '/'}: {p.message}" for p in schema.problems(document, item.schema_name, file=item.path)]

    return check


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
    if not item.journaled:  # the control file without operations: as it is, when only this job changed it
        return rules.three_way(item.path, _read_local(item.local), base, remote)
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
    document = _parse_remote(item, remote, f"{item.path} (remote {where})")
    after, applied = rules.rebuild(item.path, document, pending, others or [], _problems(item))
    if carried is not None:
        carried.extend(applied)
    if after == document:
        return remote
    return control.dumps(after).encode("utf-8")


# --- the loop ---------------------------------------------------------------------------


@dataclass
class Options:
    control_file: str = control.DEFAULT_FILE
    commit_message: str = ""  # empty: the prepared commit-message.txt when it belongs, else DEFAULT_MESSAGE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    branch: str = ""
    paths: list[str] = field(default_factory=list)
    backoff: Backoff = field(default_factory=Backoff)
    rng: random.Random = field(default_factory=random.Random)


def _repository_root(control_file: str) -> Path:
    folder = Path(control_file).parent if str(Path(control_file).parent) else Path(".")
    folder = folder if folder.is_dir() else Path(".")
    proc = gitcmd.run(folder, ["rev-parse", "--show-toplevel"], check=False)
    if proc.returncode != 0:
        raise UsageError(
            f"{control_file} is not inside a git repository",
            field="control-file",
            hint="check out the repository first (actions/checkout) and point control-file at the file in it",
        )
    return Path(proc.stdout.decode("utf-8", "surrogateescape").strip()).resolve()


def _current_branch(git: Git) -> str:
    name = git.text("symbolic-ref", "--short", "-q", "HEAD", check=False)
    if name:
        return name
    hint = runner.current_branch_hint()
    if hint:
        return hint
    raise UsageError(
        "HEAD is detached, so there is no current branch to push to",
        field="branch",
        hint="set the input branch (e.g. branch: main)",
    )


def message_with_trailers(message: str, applied: list[dict[str, Any]]) -> str:
    """``message`` with a line per operation and its trailers (see :func:`batchops.core.persist.commit_message`)."""
    return rules.commit_message(message, applied)


def prepared_message_path() -> Path:
    return journal.path().parent / PREPARED_MESSAGE


def _message(options: Options, carried: list[dict[str, Any]]) -> tuple[str, Path | None]:
    """The commit message for ``carried``, and the prepared file it came from (removed once it has landed).

    ``commit-message`` given: that text, a line per carried operation and their trailers.
    Not given (or given as the prepared file's own text): when an operator command prepared
    ``commit-message.txt`` for operations this persist carries, that message, written afresh
    for exactly what is carried; else the default subject with the lines and trailers.
    """
    prepared = prepared_message_path()
    try:
        text = prepared.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    explicit = options.commit_message.strip()
    names = set(rules.prepared_names(text))
    belongs = bool(text.strip()) and (not names or bool(names & {entry["id"] for entry in carried}))
    if explicit and rules.strip_trailers(explicit) != rules.strip_trailers(text):
        return rules.commit_message(explicit, carried), None
    if belongs and carried:
        return rules.prepared_message(carried), prepared
    return rules.commit_message(explicit or DEFAULT_MESSAGE, carried), (prepared if belongs else None)


def persist(options: Options, *, log: Callable[[str], None] = runner.log) -> Outcome:
    root = _repository_root(options.control_file)
    git = Git(root)
    url = git.text("remote", "get-url", REMOTE, check=False)
    if not url:
        raise UsageError(
            f"the repository at {root} has no remote named {REMOTE}",
            hint="check out the repository with actions/checkout (it sets origin), or `git remote add origin URL`",
        )
    secrets, shown_url = gitcmd.url_secrets(url)
    for secret in secrets:
        runner.mask(secret)
    git.secrets = secrets
    git.env.update(gitcmd.identity_env(root))
    branch = options.branch.strip() or _current_branch(git)
    if not git.ok("check-ref-format", f"refs/heads/{branch}"):
        raise UsageError(f"{branch!r} is not a valid branch name", field="branch", hint="use a name such as main")
    tracked, skipped, control_path = collect(root, options.control_file)
    for entry in skipped:
        log(f"not carried (outside {root}): {entry['op']} on {escape.short_line(str(entry['file']))}")
    journaled_paths = {item.path for item in tracked if item.journaled}
    # the control file without operations (edited by hand) is carried like a `paths` entry
    names = [*options.paths] + ([options.control_file] if control_path not in journaled_paths else [])
    quiet = frozenset() if options.control_file in options.paths else frozenset({options.control_file})
    carried_files, notes = stage(git, root, names, journaled_paths, quiet)
    for note in notes:
        log(note)
    tracked = [item for item in tracked if item.journaled]
    head = git.text("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
    bases = {item.path: (_blob(git, head, item.path) if head else None) for item in tracked}
    tracking = f"refs/remotes/{REMOTE}/{branch}"
    modes = _modes(git, head, [item.path for item in tracked])
    ident = git.committer()
    attempted: set[str] = set()
    last_failure = ""
    landed: dict[str, str] | None = None
    slot = 0.0
    remote_prefix, seen_prefix = f"{PENDING}/{branch}/", f"{SEEN_PENDING}/{branch}/"
    posted_ref = ""  # set once this job has published its operations for others to carry
    tried_post = False
    yields = 0
    previous_head = ""
    unreachable = 0  # failures in a row because the remote's host could not be reached
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
        except GitError as exc:
            _raise_if_fatal(exc, "fetch", branch, shown_url)
            unreachable = unreachable + 1 if classify(exc.output) == "unreachable" else 0
            _raise_if_unreachable(exc, "fetch from", unreachable, shown_url)
            last_failure = f"fetch from {shown_url} failed: {rules.git_reason(exc.output)}"
            slot = max(slot, 1.0) if unreachable else slot
            continue
        unreachable = 0  # the remote answered
        remote_head, remote_files = git.blobs(tracking, [item.path for item in tracked])
        remote_versions = _versions(git, remote_head, [item.path for item in carried_files])
        if landed is None:  # once, and again after a push whose fate is unknown
            landed = landed_ids(git, remote_head) if tracked else {}
        elif tracked and previous_head and remote_head != previous_head:
            landed.update(landed_ids(git, remote_head, since=previous_head))
        previous_head = remote_head
        others, cleanup = _carriable(git, seen_prefix, remote_prefix, posted_ref, landed, tracked) if tracked else ({}, [])
        carried_groups: list[tuple[Posted, list[dict[str, Any]]]] = []
        contents: dict[str, bytes | None] = {}
        changed: dict[str, bytes | Version] = {}
        for item in tracked:
            remote = remote_files[item.path]
            contents[item.path] = rebuild(item, remote, bases[item.path], landed, remote_head[:12], others.get(item.path), carried_groups)
            if contents[item.path] != remote:
                changed[item.path] = contents[item.path]
        for extra in carried_files:
            chosen = rules.three_way(extra.path, extra.local, extra.base, remote_versions.get(extra.path))
            if chosen != remote_versions.get(extra.path):
                changed[extra.path] = chosen
        mine = [entry for item in tracked for entry in item.operations]
        pending = [entry for entry in mine if entry["id"] not in landed]
        extra_ops = [entry for _, entries in carried_groups for entry in entries]
        message, prepared = _message(options, pending + extra_ops)
        if not changed:
            landed_by_us = _landed_commit(git, remote_head, attempted)
            carrier = next((landed[e["id"]] for e in mine if e["id"] in landed), "") if posted_ref else ""
            _finish(git, tracked, carried_files, contents, remote_head, head, branch, mine, log)
            _consume(prepared)
            if posted_ref:
                git.ok("push", "--porcelain", "--no-verify", REMOTE, f":{posted_ref}")  # usually gone already
            if landed_by_us:  # an earlier push went through though git reported a failure
                return Outcome(True, attempt, landed_by_us, sorted(changed), mine, remote_head, notes=notes)
            if carrier:
                log(f"this job's operations landed on {escape.short_line(branch)} in {carrier[:12]}, carried by another job")
                return Outcome(True, attempt, carrier, [], mine, remote_head, notes=notes)
            log("nothing to commit: the remote already has this state")
            return Outcome(False, attempt, "", [], mine, remote_head, notes=notes)
        if posted_ref and pending and yields < MAX_YIELDS:
            # several posted jobs: the one whose post sorts first lands for all of them;
            # the others only look again (a fetch, no push), so they do not collide
            first = min([posted_ref, *(posted.ref for groups in others.values() for posted, _ in groups)])
            if first != posted_ref:
                yields += 1
                last_failure = "another posted job lands the waiting operations, this one's included"
                continue
        commit = _commit(git, remote_head, changed, message, modes, ident)
        attempted.add(commit)
        deletions = [f":{posted.ref}" for posted, _ in carried_groups] + [f":{ref}" for ref in cleanup]
        if posted_ref:
            deletions.append(f":{posted_ref}")
        atomic = ["--atomic"] if deletions else []
        try:
            git.run("push", "--porcelain", "--no-verify", *atomic, REMOTE, f"{commit}:refs/heads/{branch}", *deletions)
        except GitError as exc:
            _raise_if_fatal(exc, "push", branch, shown_url)
            slot = time.monotonic() - started
            if classify(exc.output) == "rejected":
                last_failure = "push rejected: the remote moved on; re-applying this job's operations on its new head"
                if not tried_post and pending:
                    # publish this job's operations: whichever job lands next carries them
                    tried_post = True
                    ref = f"{remote_prefix}{os.urandom(8).hex()}"
                    by_path = {entry["id"]: item.path for item in tracked for entry in item.operations}
                    posted = [{**entry, "file": by_path[entry["id"]]} for entry in pending]
                    if _post(git, ref, posted, ident):
                        posted_ref = ref
            else:
                unreachable = unreachable + 1 if classify(exc.output) == "unreachable" else 0
                _raise_if_unreachable(exc, "push to", unreachable, shown_url)
                last_failure = f"push to {shown_url} failed: {rules.git_reason(exc.output)}"
                slot = max(slot, 1.0) if unreachable else slot
                landed = None  # it may have landed all the same
            continue
        also = f" (and {len(carried_groups)} other job(s)' operations)" if carried_groups else ""
        log(f"pushed {commit[:12]} to {escape.short_line(branch)} (attempt {attempt}){also}: {escape.short_line(', '.join(sorted(changed)))}")
        _finish(git, tracked, carried_files, contents, commit, head, branch, mine, log)
        _consume(prepared)
        return Outcome(True, attempt, commit, sorted(changed), pending, remote_head, message, notes)
    raise BatchopsError(
        f"gave up after {options.max_attempts} attempts to push to {escape.short_line(branch)}; last: {last_failure}",
        field="max-attempts",
        hint="nothing was lost: this job's operations are still in its journal. Raise max-attempts for a larger matrix, "
        "or check that the remote is reachable",
    )


def _consume(prepared: Path | None) -> None:
    """The prepared message has been used: once no operation it names is still pending, it is removed,
    so it can never describe a later, unrelated commit."""
    if prepared is None:
        return
    try:
        names = set(rules.prepared_names(prepared.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return
    if names & {entry.get("id") for entry in journal.read()}:
        return
    try:
        prepared.unlink()
    except OSError:
        pass


def _raise_if_fatal(exc: GitError, what: str, branch: str, url: str) -> None:
    kind = classify(exc.output)
    if kind == "auth":
        raise BatchopsError(
            f"git {what} to {escape.short_line(url)} was refused: authentication failed ({rules.first_line(exc.output)})",
            hint="let the job push: add `permissions: contents: write` to the workflow and keep "
            "`persist-credentials: true` on actions/checkout (or check out with a token that may push)",
        )
    if kind == "declined":
        raise BatchopsError(
            f"git {what} to {escape.short_line(branch)} was declined by the remote: {rules.reason(exc.output)}",
            field="branch",
            hint=rules.refusal_hint(exc.output) + "; nothing was lost: this job's operations are still in its journal",
        )
    if kind == "missing-remote":
        raise BatchopsError(
            f"git {what} failed: there is no git repository at {escape.short_line(url)} ({rules.git_reason(exc.output)})",
            hint="check the remote's address (`git remote get-url origin`; fix it with `git remote set-url origin URL`) "
            "and that the repository exists and this job's token may read it; nothing was lost: this job's "
            "operations are still in its journal",
        )
    if kind == "missing-branch":
        raise UsageError(
            f"the branch {branch!r} does not exist on {escape.short_line(url)}",
            field="branch",
            hint="set the input branch to an existing branch (e.g. main)",
        )


def _raise_if_unreachable(exc: GitError, what: str, consecutive: int, url: str) -> None:
    if rules.gives_up(classify(exc.output), consecutive):
        raise BatchopsError(
            f"git {what} {escape.short_line(url)} failed {consecutive} times in a row: the host cannot be reached "
            f"({rules.git_reason(exc.output)})",
            hint="check the remote's address (`git remote get-url origin`) and the runner's network or proxy "
            "(`git ls-remote origin` shows the same error), then re-run the job; nothing was lost: this job's "
            "operations are still in its journal",
        )


_FETCH = (
    "-c", "gc.auto=0", "-c", "maintenance.auto=false", "fetch", "--quiet", "--no-tags",
    "--no-recurse-submodules", "--no-show-forced-updates",
)


def _modes(git: Git, commit: str, paths: list[str]) -> dict[str, str]:
    """File modes (100644, 100755) of ``paths`` in ``commit``; kept when they are rewritten."""
    return {path: mode for path, (mode, _) in git.tree_entries(commit, paths).items()}


def _versions(git: Git, commit: str, paths: list[str]) -> dict[str, Version]:
    found = git.tree_entries(commit, paths)
    return {path: found.get(path) for path in paths}


def _commit(git: Git, parent: str, changed: dict[str, bytes | Version], message: str, modes: dict[str, str], ident: str) -> str:
    """A commit on top of ``parent`` with ``changed`` files, written by one git fast-import."""
    return git.fast_commit(parent, changed, message, ident, modes=modes, ref=SCRATCH_REF, when=_commit_time())


def _commit_time() -> int:
    """Seconds since the epoch for the commit: ``$GIT_COMMITTER_DATE`` (ISO 8601 or ``@SECONDS``) as git honours it, else now."""
    fixed = runner.setting("GIT_COMMITTER_DATE").strip()
    if fixed.startswith("@") and fixed[1:].isdigit():
        return int(fixed[1:])
    if fixed:
        from batchops.core import timeutil

        try:
            return int(timeutil.parse_iso(fixed, field="GIT_COMMITTER_DATE").timestamp())
        except BatchopsError:
            pass
    return int(time.time())


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
    carried_files: list[Carried],
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
    moved = reverted = False
    if head and (current == branch or not current) and head != commit and git.ok("merge-base", "--is-ancestor", head, commit):
        # fast-forward the checkout: put the carried files back to HEAD's version, then move
        in_head = [item.path for item in tracked if item.path in bases_in(git, head, [item.path])]
        in_head += [extra.path for extra in carried_files if extra.base is not None]
        if in_head:
            spec = b"".join(path.encode("utf-8", "surrogateescape") + b"\0" for path in in_head)
            git.run("checkout", "-q", head, "--pathspec-from-file=-", "--pathspec-file-nul", input=spec, check=False)
        for item in tracked:
            if item.path not in in_head and item.local.exists() and contents.get(item.path) is not None:
                item.local.unlink()
        for extra in carried_files:
            local = git.root / extra.path
            if extra.base is None and (local.exists() or local.is_symlink()):
                local.unlink()
        reverted = True
        moved = git.ok("reset", "-q", "--keep", commit)
        if not moved:
            log(f"the checkout could not be moved to {commit[:12]} (local changes in the way); run `git pull` before committing")
    elif head and current == branch and head != commit and not git.ok("merge-base", "--is-ancestor", head, commit):
        log(f"your branch {escape.short_line(branch)} has commits that are not on {REMOTE}; they were not pushed by persist-with-retry")
    if not moved:
        for item in tracked:
            content = contents.get(item.path)
            if content is not None and _read_local(item.local) != content:
                files.write_atomic(item.local, content)
        if reverted:
            # the carried files as pushed (they may have been put back to HEAD's version above)
            present = bases_in(git, commit, [extra.path for extra in carried_files])
            if present:
                spec = b"".join(path.encode("utf-8", "surrogateescape") + b"\0" for path in sorted(present))
                git.run("checkout", "-q", commit, "--pathspec-from-file=-", "--pathspec-file-nul", input=spec, check=False)


def bases_in(git: Git, commit: str, paths: list[str]) -> set[str]:
    return set(git.tree_entries(commit, paths))


# --- the step ------------------------------------------------------------------------------


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(
        parser,
        "commit-message",
        "commit message; empty: the message an operator command prepared (commit-message.txt beside the journal), "
        f"else {DEFAULT_MESSAGE!r}; a line and trailers per carried operation are added",
        default="",
    )
    add_input(parser, "max-attempts", "how many times to fetch, re-apply and push before giving up", default=str(DEFAULT_MAX_ATTEMPTS))
    add_input(parser, "branch", "branch to push to (default: the current branch)", default="")
    add_input(parser, "paths", "further files, folders or globs to commit, as git add takes them (newline or comma separated)", default="")
    add_control_file(parser)


def backoff_from_env() -> Backoff:
    """``BATCHOPS_PERSIST_BACKOFF=base,cap`` (seconds) tunes the backoff; default 0.1,8."""
    raw = runner.setting("BATCHOPS_PERSIST_BACKOFF").strip()
    if not raw:
        return Backoff()
    try:
        base, cap = (float(part) for part in raw.split(","))
    except ValueError:
        raise UsageError(f"{raw!r} is not BASE,CAP in seconds", field="BATCHOPS_PERSIST_BACKOFF", hint="e.g. 0.1,8") from None
    if not (0 < base <= cap):
        raise UsageError(f"{raw!r}: need 0 < base <= cap", field="BATCHOPS_PERSIST_BACKOFF", hint="e.g. 0.1,8")
    return Backoff(base, cap)


def run(args: argparse.Namespace) -> StepResult:
    options = Options(
        backoff=backoff_from_env(),
        control_file=args.control_file,
        commit_message=args.commit_message or "",
        max_attempts=parse_int(args.max_attempts, field="max-attempts", minimum=1),
        branch=args.branch or "",
        paths=parse_list(args.paths, field="paths"),
    )
    result = StepResult()
    try:
        outcome = persist(options, log=result.say)
    except BatchopsError as exc:
        exc.log = list(result.log)  # the attempts so far, written before the error
        raise
    result.log = [line for line in result.log if line not in outcome.notes]  # said once, as a warning
    for note in outcome.notes:
        result.warning(note, title="batchops persist-with-retry")
    result.outputs = {"pushed": outcome.pushed, "attempts": outcome.attempts, "commit-sha": outcome.commit_sha}
    result.section(_summary(outcome))
    return result


def _summary(outcome: Outcome) -> str:
    if outcome.pushed:
        head = f"### ✅ persist-with-retry: pushed `{outcome.commit_sha[:12]}` after {outcome.attempts} attempt(s)\n\n"
    else:
        head = "### persist-with-retry: nothing to commit (the remote already has this state)\n\n"
    rows = [[entry["file"], entry["op"], " ".join(rules.describe(entry)).removeprefix("- "), entry["id"]] for entry in outcome.applied]
    listed = markdown.md_escape(f"Files: {', '.join(outcome.files) or '(none changed)'}") + "\n"
    if not rows:
        return head + listed
    return head + markdown.md_table(["file", "operation", "what", "id"], rows) + "\n" + listed


STEP = Step(
    name="persist-with-retry",
    help="commit and push the control state (and paths: files, folders, globs); on a rejected push re-apply this job's operations and retry",
    configure=_configure,
    run=run,
)
PERSIST = STEP  # the name the CLI table used before steps returned results
