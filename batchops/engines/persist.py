"""persist: commit the control state and push it without ever losing an update.

The unit that is retried is the *operation*, not the text diff. Every change a job made to a
repository file through batchops was recorded in the job's journal
(:mod:`batchops.adapters.journal`). Each attempt:

1. fetches the target branch from ``origin``;
2. takes the remote's copy of every journaled file and re-applies this job's operations to it
   in order (skipping any whose id already appears as a ``Batchops-Operation-Id:`` trailer on
   the remote: they have landed), then validates the result against the file's schema
   (:func:`batchops.engines.carried.rebuild`);
3. builds a commit on top of the remote head (``git fast-import``: the working tree is not
   touched while it retries) and pushes it.

A rejected push (:class:`~batchops.adapters.git.PushRejected`: another job landed first) means:
publish this job's pending operations under ``refs/batchops/pending/<branch>/`` (once), back off
with full jitter and go again on the new remote head. Every attempt also fetches the operations
other jobs posted; the job that lands applies them too and deletes the posts in the same atomic
push, so a job that comes back may find its operations already landed. While several posts wait,
only the job whose post sorts first pushes; the others look again without pushing (up to
:data:`MAX_YIELDS` rounds). A refusal that will not change (the remote's branch is checked out,
a protected branch, a hook that declined, authentication) fails at once with the remote's own
reason: the git adapter says which kind of failure it was, as a type.

The loop (:func:`persist`) is a short loop over one :class:`State`; each attempt ends in an
:class:`Outcome`; the waits come from a :class:`batchops.core.retry.Policy` and go through the
injected :class:`Clock`. The commit message is a value (:class:`batchops.core.persist.Message`).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from batchops.adapters import journal, runner
from batchops.adapters.git import (
    AuthenticationFailed,
    BranchMissing,
    Git,
    PushDeclined,
    PushRejected,
    RemoteError,
    RemoteUnreachable,
    RepositoryMissing,
    url_secrets,
)
from batchops.adapters.git import errors as git_said
from batchops.adapters.git import run as run_git
from batchops.core import control, escape, retry
from batchops.core import persist as rules
from batchops.core.persist import Backoff, Message
from batchops.engines import carried
from batchops.engines.carried import (
    PENDING,
    REMOTE,
    SCRATCH_REF,
    SEEN_PENDING,
    Carried,
    Group,
    Tracked,
    Version,
)
from batchops.errors import BatchopsError, UsageError

DEFAULT_MAX_ATTEMPTS = 40  # a 32-job matrix needs at most ~N rounds; headroom for network blips
MAX_YIELDS = 3  # rounds a posted job leaves the landing to the job whose post sorts first
Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class Clock:
    """Everything persist reads of time, injected: waits, attempt durations, commit and post times."""

    sleep: Callable[[float], None]
    monotonic: Callable[[], float]
    time: Callable[[], float]


def system_clock() -> Clock:
    import time  # looked up when the options are made, so a test's patched clock is the one used

    return Clock(time.sleep, time.monotonic, time.time)


@dataclass
class Options:
    """What to land and how: the control file, the commit message (a value), the branch, further ``paths``,
    how many attempts and how to wait between them (:meth:`policy`), and the clock to wait with."""

    control_file: str = control.DEFAULT_FILE
    message: Message = field(default_factory=Message)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    branch: str = ""
    paths: list[str] = field(default_factory=list)
    backoff: Backoff = field(default_factory=Backoff)
    rng: random.Random = field(default_factory=random.Random)
    clock: Clock = field(default_factory=system_clock)
    mask: Callable[[str], None] = _quiet  # secrets (a token in the remote's URL) hidden from the log

    def policy(self) -> retry.Policy[None]:
        return retry.Policy(stop=retry.stop_after_attempt(self.max_attempts), wait=self.backoff.wait(self.rng))


@dataclass
class Persisted:
    """What persist did: pushed or not, in how many attempts, which commit, files and operations."""

    pushed: bool
    attempts: int
    commit_sha: str
    files: list[str]
    applied: list[dict[str, Any]]
    remote_head: str = ""
    message: str = ""
    notes: list[str] = field(default_factory=list)  # warnings for the person reading the log


class Outcome(Enum):
    """How one attempt ended."""

    PUSHED = "pushed"  # this attempt's commit landed
    UP_TO_DATE = "up to date"  # the remote already has this state
    LANDED_EARLIER = "landed earlier"  # an earlier push went through though git reported a failure
    CARRIED = "carried"  # another job landed this job's posted operations
    REJECTED = "rejected"  # a race: another push landed first; go again on the new head
    YIELDED = "yielded"  # another posted job lands the waiting operations, this one's included
    FAILED = "failed"  # a fetch or push failed in a way another attempt may not

    @property
    def final(self) -> bool:
        return self in (Outcome.PUSHED, Outcome.UP_TO_DATE, Outcome.LANDED_EARLIER, Outcome.CARRIED)


@dataclass
class State(retry.Attempt):
    """Everything the loop knows between attempts (tenacity's RetryCallState, for persist)."""

    push_slot: float = 0.0  # how long the last push took (fetch to rejected push)
    reason: str = ""  # why the last attempt did not land, for the log
    landed: dict[str, str] | None = None  # operation id -> commit; None: read again (a push's fate unknown)
    previous_head: str = ""
    attempted: set[str] = field(default_factory=set)  # commits this job tried to push
    posted_ref: str = ""  # set once this job has published its operations for others to carry
    tried_post: bool = False
    yields: int = 0
    unreachable: int = 0  # failures in a row because the remote's host could not be reached
    result: Persisted | None = None

    @property
    def slot(self) -> float:
        """The backoff's unit: the last push's duration; none once this job's operations are posted,
        since any job that lands carries them (come back soon rather than wait out the herd's long slots)."""
        return 0.0 if self.posted_ref else self.push_slot


@dataclass
class Job:
    """What does not change between attempts."""

    options: Options
    git: Git
    root: Path
    url: str  # the remote's URL without credentials, for messages
    branch: str
    tracked: list[Tracked]  # journaled files
    extra: list[Carried]  # files without operations (paths, a hand-edited control file)
    head: str  # this checkout's HEAD
    bases: dict[str, bytes | None]
    modes: dict[str, str]
    ident: str
    notes: list[str]

    @property
    def tracking(self) -> str:
        return f"refs/remotes/{REMOTE}/{self.branch}"


def backoff_from_env() -> Backoff:
    """``BATCHOPS_PERSIST_BACKOFF=base,cap`` (seconds) tunes the backoff; default 0.1,8."""
    raw = runner.setting("BATCHOPS_PERSIST_BACKOFF").strip()
    if not raw:
        return Backoff()
    try:
        base, cap = (float(part) for part in raw.split(","))
    except ValueError:
        raise UsageError(
            f"{raw!r} is not BASE,CAP in seconds", field="BATCHOPS_PERSIST_BACKOFF", hint="e.g. 0.1,8"
        ) from None
    if not (0 < base <= cap):
        raise UsageError(f"{raw!r}: need 0 < base <= cap", field="BATCHOPS_PERSIST_BACKOFF", hint="e.g. 0.1,8")
    return Backoff(base, cap)


def persist(options: Options, *, log: Log = _quiet) -> Persisted:
    """Land this job's journaled operations (and ``paths``) on the branch; see the module docstring."""
    job = prepare(options, log)
    policy, clock, state = options.policy(), options.clock, State()
    started = clock.monotonic()
    while True:
        state.number += 1
        outcome = attempt(job, state, log)
        if outcome.final and state.result is not None:
            return state.result
        state.elapsed = clock.monotonic() - started
        if policy.stop(state):
            raise _gave_up(job, state)
        delay = policy.wait(state)
        log(f"attempt {state.number + 1}/{options.max_attempts} in {delay:.2f}s ({state.reason})")
        clock.sleep(delay)


def prepare(options: Options, log: Log) -> Job:
    """The repository, its remote and branch, and what this job carries: checked before anything is pushed."""
    root = _repository_root(options.control_file)
    git = Git(root)
    url = git.remote_url(REMOTE)
    if not url:
        raise UsageError(
            f"the repository at {root} has no remote named {REMOTE}",
            hint="check out the repository with actions/checkout (it sets origin), or `git remote add origin URL`",
        )
    for secret in git.secrets:
        options.mask(secret)
    git.use_bot_identity()
    branch = options.branch.strip() or _current_branch(git)
    if not git.valid_branch_name(branch):
        raise UsageError(f"{branch!r} is not a valid branch name", field="branch", hint="use a name such as main")
    tracked, skipped, control_path = carried.collect(root, options.control_file)
    for entry in skipped:
        log(f"not carried (outside {root}): {entry['op']} on {escape.short_line(str(entry['file']))}")
    journaled = {item.path for item in tracked if item.journaled}
    # the control file without operations (edited by hand) is carried like a `paths` entry
    names = [*options.paths] + ([options.control_file] if control_path not in journaled else [])
    quiet = frozenset() if options.control_file in options.paths else frozenset({options.control_file})
    extra, notes = carried.stage(git, root, names, journaled, quiet)
    for note in notes:
        log(note)
    tracked = [item for item in tracked if item.journaled]
    head = git.rev_parse("HEAD")
    bases = {item.path: (git.cat_file(head, item.path) if head else None) for item in tracked}
    modes = {path: mode for path, (mode, _) in git.tree_entries(head, [item.path for item in tracked]).items()}
    return Job(
        options, git, root, url_secrets(url)[1], branch, tracked, extra, head, bases, modes, git.committer(), notes
    )


def attempt(job: Job, state: State, log: Log) -> Outcome:
    """One fetch, rebuild and push; ``state.result`` is set when it ends the loop."""
    git, branch, clock = job.git, job.branch, job.options.clock
    begun = clock.monotonic()
    remote_prefix, seen_prefix = f"{PENDING}/{branch}/", f"{SEEN_PENDING}/{branch}/"
    try:  # the branch, and the operations other jobs posted while they retried
        git.fetch(REMOTE, f"+refs/heads/{branch}:{job.tracking}", f"+{remote_prefix}*:{seen_prefix}*", prune=True)
    except RemoteError as exc:
        return _failed(job, state, exc, "fetch")
    state.unreachable = 0  # the remote answered
    remote_head, remote_files = git.blobs(job.tracking, [item.path for item in job.tracked])
    landed = _landed(job, state, remote_head)
    others, cleanup = (
        carried.carriable(git, branch, state.posted_ref, landed, job.tracked, now=clock.time())
        if job.tracked
        else ({}, [])
    )
    carried_groups: list[Group] = []
    contents, changed = _rebuild_all(job, remote_head, remote_files, landed, others, carried_groups)
    mine = [entry for item in job.tracked for entry in item.operations]
    pending = [entry for entry in mine if entry["id"] not in landed]
    message_for = pending + [entry for _, entries in carried_groups for entry in entries]
    message = job.options.message.text(message_for)
    if not changed:
        return _nothing_to_push(job, state, log, remote_head, contents, mine, message_for)
    if state.posted_ref and pending and state.yields < MAX_YIELDS:
        # several posted jobs: the one whose post sorts first lands for all of them;
        # the others only look again (a fetch, no push), so they do not collide
        if (
            min([state.posted_ref, *(posted.ref for groups in others.values() for posted, _ in groups)])
            != state.posted_ref
        ):
            state.yields += 1
            state.reason = "another posted job lands the waiting operations, this one's included"
            return Outcome.YIELDED
    commit = git.fast_commit(
        remote_head, changed, message, job.ident, modes=job.modes, ref=SCRATCH_REF, when=git.commit_time(clock.time())
    )
    state.attempted.add(commit)
    deletions = [f":{posted.ref}" for posted, _ in carried_groups] + [f":{ref}" for ref in cleanup]
    deletions += [f":{state.posted_ref}"] if state.posted_ref else []
    try:
        git.push(REMOTE, f"{commit}:refs/heads/{branch}", *deletions, atomic=bool(deletions))
    except RemoteError as exc:
        state.push_slot = clock.monotonic() - begun
        return _failed(job, state, exc, "push", pending)
    also = f" (and {len(carried_groups)} other job(s)' operations)" if carried_groups else ""
    files_changed = escape.short_line(", ".join(sorted(changed)))
    log(f"pushed {commit[:12]} to {escape.short_line(branch)} (attempt {state.number}){also}: {files_changed}")
    _finish(job, contents, commit, mine, log)
    _consume(job, message_for)
    state.result = Persisted(True, state.number, commit, sorted(changed), pending, remote_head, message, job.notes)
    return Outcome.PUSHED


def _landed(job: Job, state: State, remote_head: str) -> dict[str, str]:
    if state.landed is None:  # once, and again after a push whose fate is unknown
        state.landed = carried.landed_ids(job.git, remote_head) if job.tracked else {}
    elif job.tracked and state.previous_head and remote_head != state.previous_head:
        state.landed.update(carried.landed_ids(job.git, remote_head, since=state.previous_head))
    state.previous_head = remote_head
    return state.landed


def _rebuild_all(
    job: Job,
    remote_head: str,
    remote_files: dict[str, bytes | None],
    landed: dict[str, str],
    others: dict[str, list[Group]],
    carried_groups: list[Group],
) -> tuple[dict[str, bytes | None], dict[str, bytes | Version]]:
    """Each journaled file rebuilt on the remote's, each other file decided three ways: what to commit."""
    contents: dict[str, bytes | None] = {}
    changed: dict[str, bytes | Version] = {}
    for item in job.tracked:
        remote = remote_files[item.path]
        contents[item.path] = carried.rebuild(
            item, remote, job.bases[item.path], landed, remote_head[:12], others.get(item.path), carried_groups
        )
        if contents[item.path] != remote:
            changed[item.path] = contents[item.path]
    versions = job.git.tree_entries(remote_head, [extra.path for extra in job.extra])
    for extra in job.extra:
        chosen = rules.three_way(extra.path, extra.local, extra.base, versions.get(extra.path))
        if chosen != versions.get(extra.path):
            changed[extra.path] = chosen
    return contents, changed


def _nothing_to_push(
    job: Job,
    state: State,
    log: Log,
    remote_head: str,
    contents: dict[str, bytes | None],
    mine: list[dict[str, Any]],
    message_for: list[dict[str, Any]],
) -> Outcome:
    """The remote has this state: an earlier push of this job, another job carrying it, or nothing to do."""
    landed = state.landed or {}
    landed_by_us = next((c for c in state.attempted if job.git.is_ancestor(c, remote_head)), "")
    carrier = next((landed[e["id"]] for e in mine if e["id"] in landed), "") if state.posted_ref else ""
    _finish(job, contents, remote_head, mine, log)
    _consume(job, message_for)
    if state.posted_ref:
        try:
            job.git.push(REMOTE, f":{state.posted_ref}")
        except RemoteError:
            pass  # usually gone already: the job that carried the operations deleted it
    if landed_by_us:
        state.result = Persisted(True, state.number, landed_by_us, [], mine, remote_head, notes=job.notes)
        return Outcome.LANDED_EARLIER
    if carrier:
        log(
            f"this job's operations landed on {escape.short_line(job.branch)} in {carrier[:12]}, carried by another job"
        )
        state.result = Persisted(True, state.number, carrier, [], mine, remote_head, notes=job.notes)
        return Outcome.CARRIED
    log("nothing to commit: the remote already has this state")
    state.result = Persisted(False, state.number, "", [], mine, remote_head, notes=job.notes)
    return Outcome.UP_TO_DATE


def _failed(job: Job, state: State, exc: RemoteError, verb: str, pending: Sequence[dict[str, Any]] = ()) -> Outcome:
    """A fetch or push failed: fail now when no retry changes it, else note why and go again."""
    _raise_if_fatal(exc, verb, job.branch, job.url)
    if isinstance(exc, PushRejected):
        state.reason = "push rejected: the remote moved on; re-applying this job's operations on its new head"
        if not state.tried_post and pending:
            _post(job, state, list(pending))
        return Outcome.REJECTED
    state.unreachable = state.unreachable + 1 if isinstance(exc, RemoteUnreachable) else 0
    where = "fetch from" if verb == "fetch" else "push to"
    if rules.gives_up(exc.kind, state.unreachable):
        raise BatchopsError(
            f"git {where} {escape.short_line(job.url)} failed {state.unreachable} times in a row: the host cannot be "
            f"reached ({git_said.git_reason(exc.output)})",
            hint="check the remote's address (`git remote get-url origin`) and the runner's network or proxy "
            "(`git ls-remote origin` shows the same error), then re-run the job; nothing was lost: this job's "
            "operations are still in its journal",
        )
    state.reason = f"{where} {job.url} failed: {git_said.git_reason(exc.output)}"
    state.push_slot = max(state.push_slot, 1.0) if state.unreachable else state.push_slot
    if verb == "push":
        state.landed = None  # it may have landed all the same
    return Outcome.FAILED


def _post(job: Job, state: State, pending: list[dict[str, Any]]) -> None:
    """Publish this job's operations (once): whichever job lands next carries them."""
    state.tried_post = True
    ref = f"{PENDING}/{job.branch}/{os.urandom(8).hex()}"
    by_path = {entry["id"]: item.path for item in job.tracked for entry in item.operations}
    posted = [{**entry, "file": by_path[entry["id"]]} for entry in pending]
    if carried.post(job.git, ref, posted, job.ident, now=job.options.clock.time()):
        state.posted_ref = ref


def _raise_if_fatal(exc: RemoteError, verb: str, branch: str, url: str) -> None:
    if isinstance(exc, AuthenticationFailed):
        raise BatchopsError(
            f"git {verb} to {escape.short_line(url)} was refused: authentication failed "
            f"({git_said.first_line(exc.output)})",
            hint="let the job push: add `permissions: contents: write` to the workflow and keep "
            "`persist-credentials: true` on actions/checkout (or check out with a token that may push)",
        )
    if isinstance(exc, PushDeclined):
        raise BatchopsError(
            f"git {verb} to {escape.short_line(branch)} was declined by the remote: {git_said.reason(exc.output)}",
            field="branch",
            hint=git_said.refusal_hint(exc.output)
            + "; nothing was lost: this job's operations are still in its journal",
        )
    if isinstance(exc, RepositoryMissing):
        raise BatchopsError(
            f"git {verb} failed: there is no git repository at {escape.short_line(url)} "
            f"({git_said.git_reason(exc.output)})",
            hint="check the remote's address (`git remote get-url origin`; "
            "fix it with `git remote set-url origin URL`) "
            "and that the repository exists and this job's token may read it; nothing was lost: this job's "
            "operations are still in its journal",
        )
    if isinstance(exc, BranchMissing):
        raise UsageError(
            f"the branch {branch!r} does not exist on {escape.short_line(url)}",
            field="branch",
            hint="set the input branch to an existing branch (e.g. main)",
        )


def _gave_up(job: Job, state: State) -> BatchopsError:
    return BatchopsError(
        f"gave up after {job.options.max_attempts} attempts to push to {escape.short_line(job.branch)}; "
        f"last: {state.reason}",
        field="max-attempts",
        hint="nothing was lost: this job's operations are still in its journal. Raise max-attempts for a larger "
        "matrix, or check that the remote is reachable",
    )


def _consume(job: Job, carried_ops: list[dict[str, Any]]) -> None:
    """The prepared message has been used: removed once no operation it names is still pending."""
    message = job.options.message
    if message.prepared and message.uses_prepared(carried_ops):
        journal.consume_message(rules.prepared_names(message.prepared))


def _repository_root(control_file: str) -> Path:
    folder = Path(control_file).parent if str(Path(control_file).parent) else Path(".")
    folder = folder if folder.is_dir() else Path(".")
    proc = run_git(folder, ["rev-parse", "--show-toplevel"], check=False)
    if proc.returncode != 0:
        raise UsageError(
            f"{control_file} is not inside a git repository",
            field="control-file",
            hint="check out the repository first (actions/checkout) and point control-file at the file in it",
        )
    return Path(proc.stdout.decode("utf-8", "surrogateescape").strip()).resolve()


def _current_branch(git: Git) -> str:
    name = git.current_branch() or runner.current_branch_hint()
    if name:
        return name
    raise UsageError(
        "HEAD is detached, so there is no current branch to push to",
        field="branch",
        hint="set the input branch (e.g. branch: main)",
    )


def _finish(
    job: Job, contents: dict[str, bytes | None], commit: str, carried_ops: list[dict[str, Any]], log: Log
) -> None:
    """Drop the carried operations from the journal and bring the checkout up to the pushed state."""
    journal.remove({entry["id"] for entry in carried_ops})
    carried.sync_checkout(job.git, job.head, job.branch, job.tracked, job.extra, contents, commit, log)
