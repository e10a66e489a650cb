"""Reading (and writing) the git history a rollback needs, through the one git wrapper.

A constant number of ``git`` processes, whatever the length of the history: the batch's
commits by one ``git log --grep`` over the base branch and every other ref, run beside the
listing of the first-parent line (``rev-list``); the files of interest bisected along that
line with tree reads through one ``cat-file --batch``; the PR refs' own commits read as objects
down to the first-parent line. Paths go to git as literal pathspecs (a file name with glob
characters or a newline is only itself).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from batchops.adapters import git as gitcmd
from batchops.adapters import runner
from batchops.adapters.mainline import Mainline as Mainline  # the first-parent line, re-exported
from batchops.adapters.mainline import mainline_changes as mainline_changes
from batchops.adapters.mainline import read_mainline as read_mainline
from batchops.adapters.mainline import start_mainline as start_mainline
from batchops.core.rollback import (
    ZERO,
    Change,
    Commit,
    FilePlan,
    MainCommit,
    Ref,
    parse_commits,
    parse_diff_tree,
    parse_mainline,
    parse_refs,
)
from batchops.errors import BatchopsError

COMMIT_FORMAT = "%x1e%H%x00%P%x00%ct%x00%B"
_LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}


def _git(cwd: Path | str) -> gitcmd.Git:
    """The one git runner (redaction, low-speed limit, no prompts) in ``cwd``."""
    return gitcmd.Git(cwd)


def _run(cwd: Path | str, *args: str, hint: str) -> bytes:
    """``git args`` in ``cwd``; a failure names ``hint`` as the fix."""
    try:
        return _git(cwd).run(*args)
    except gitcmd.GitError as exc:
        exc.hint = hint
        raise


@dataclass
class Base:
    name: str
    ref: str
    sha: str
    differs_from_origin: bool = False


def list_refs(cwd: Path) -> list[Ref]:
    out = _run(
        cwd,
        "for-each-ref",
        "--format=%(refname)%00%(objectname)",
        "refs/heads",
        "refs/remotes",
        "refs/pull",
        hint="run the rollback inside a git checkout",
    ).decode("utf-8", "surrogateescape")
    return [ref for ref in parse_refs(out) if not ref.name.endswith("/HEAD")]


def resolve_base(cwd: Path, requested: str, refs: Sequence[Ref]) -> Base:
    """The base branch: the local branch, else origin's copy."""
    by_name = {ref.name: ref.sha for ref in refs}
    name = requested.strip().removeprefix("refs/heads/")
    if not name:
        current = _git(cwd).run("symbolic-ref", "--short", "-q", "HEAD", check=False).decode().strip()
        name = current or "main"
    local, tracking = f"refs/heads/{name}", f"refs/remotes/origin/{name}"
    for ref in (local, tracking):
        if ref in by_name:
            differs = ref == local and tracking in by_name and by_name[tracking] != by_name[local]
            return Base(name, ref, by_name[ref], differs)
    raise BatchopsError(
        f"base branch {name!r} not found (neither origin/{name} nor a local branch {name})",
        field="base-branch",
        hint="name an existing branch; with actions/checkout use fetch-depth: 0 "
        "so every branch and the full history are there",
    )


def check_not_shallow(cwd: Path) -> None:
    if _git(cwd).text("rev-parse", "--is-shallow-repository") == "true":
        raise BatchopsError(
            "the checkout is shallow: the batch's commits may be missing from the history",
            hint="use actions/checkout with `fetch-depth: 0` (or run `git fetch --unshallow`)",
        )


def grep(cwd: Path, revisions: Sequence[str], lines: Sequence[str], *, first_parent: bool = False) -> list[Commit]:
    """Commits reachable from ``revisions`` whose message contains one of ``lines`` (fixed
    strings; the caller checks the exact line)."""
    args = ["log", "-z", f"--format={COMMIT_FORMAT}", "--fixed-strings", *(f"--grep={line}" for line in lines)]
    if first_parent:
        args.append("--first-parent")
    data = _git(cwd).run(*args, "--stdin", "--", input="".join(f"{r}\n" for r in revisions).encode())
    return parse_commits(data)


def start_search(cwd: Path, revisions: Sequence[str], lines: Sequence[str]) -> gitcmd.Background:
    """``grep`` started in the background (it runs while the first-parent line is listed)."""
    args = [
        "log",
        "-z",
        f"--format={COMMIT_FORMAT}",
        "--fixed-strings",
        *(f"--grep={line}" for line in lines),
        "--stdin",
        "--",
    ]
    return gitcmd.Background(cwd, args, input="".join(f"{r}\n" for r in revisions).encode())


def search_result(search: gitcmd.Background) -> list[Commit]:
    return parse_commits(search.result())


def off_base(cwd: Path, tips: Iterable[str], base_sha: str) -> list[Commit]:
    """Every commit reachable from ``tips`` and not from the base tip, with its message."""
    wanted = sorted(set(tips))
    if not wanted:
        return []
    revisions = "".join(f"{sha}\n" for sha in wanted) + f"^{base_sha}\n"
    data = _git(cwd).run("log", "-z", f"--format={COMMIT_FORMAT}", "--stdin", "--", input=revisions.encode())
    return parse_commits(data)


def copies_of_base(cwd: Path, base_sha: str, items: Sequence[Commit]) -> set[str]:
    """Of ``items``, the commits that are copies of a commit of the base's history under another id
    (same tree, author time and subject: the base branch was rewritten after they were made)."""
    if not items:
        return set()
    fmt = "--format=%H%x00%T%x00%at%x00%s"

    def keys(args: list[str], stdin: bytes | None = None) -> list[tuple[str, tuple[bytes, ...]]]:
        tokens = _git(cwd).run("log", "-z", fmt, *args, input=stdin).split(b"\x00")
        rows: list[tuple[str, tuple[bytes, ...]]] = []
        for index in range(0, len(tokens) - 3, 4):
            sha = tokens[index].strip().decode("ascii", "replace")
            rows.append((sha, (tokens[index + 1], tokens[index + 2], tokens[index + 3])))
        return rows

    wanted = keys(["--no-walk=unsorted", "--stdin", "--"], "".join(f"{c.sha}\n" for c in items).encode())
    on_base = {key for _, key in keys([base_sha, "--"])}
    return {sha for sha, key in wanted if key in on_base}


def walk_off(cwd: Path, tips: Iterable[str], stop: AbstractSet[str]) -> list[Commit]:
    """The commits reachable from ``tips`` down to the first-parent line ``stop`` (not included),
    read as objects through one ``cat-file --batch`` (a PR ref: its few commits on top of main)."""
    graph: dict[str, Commit] = {}
    frontier = sorted({t for t in tips if t not in stop})
    with gitcmd.ObjectReader(cwd) as reader:
        while frontier:
            following: set[str] = set()
            for sha, found in zip(frontier, reader.read_many(frontier), strict=True):
                if not found or found[1] != "commit":
                    continue
                head = found[2].split(b"\n\n", 1)[0].split(b"\n")
                parents = [line[7:].decode("ascii") for line in head if line.startswith(b"parent ")]
                moment = next((line.rsplit(b" ", 2)[-2] for line in head if line.startswith(b"committer ")), b"0")
                graph[sha] = Commit(sha, parents, int(moment) if moment.isdigit() else 0)
                following.update(p for p in parents if p not in stop and p not in graph)
            frontier = sorted(following - graph.keys())
    return list(graph.values())


def commits(cwd: Path, shas: Iterable[str]) -> list[Commit]:
    wanted = sorted(set(shas))
    if not wanted:
        return []
    data = _git(cwd).run(
        "log",
        "-z",
        "--no-walk=unsorted",
        f"--format={COMMIT_FORMAT}",
        "--stdin",
        "--",
        input="".join(f"{sha}\n" for sha in wanted).encode(),
    )
    return parse_commits(data)


def diffs(cwd: Path, items: Iterable[Commit]) -> dict[str, dict[str, Change]]:
    """First-parent diff of each commit (the root commit against the empty tree)."""
    lines = "".join(f"{c.sha} {c.parents[0]}\n" if c.parents else f"{c.sha}\n" for c in items)
    if not lines:
        return {}
    data = _git(cwd).run("diff-tree", "--stdin", "-r", "--raw", "-z", "--no-renames", "--root", input=lines.encode())
    return parse_diff_tree(data)


def tip_blobs(cwd: Path, keys: Sequence[tuple[str, str]], tips: Mapping[str, str]) -> dict[tuple[str, str], str | None]:
    """Blob id of each (ref, path) at the ref's tip (None: absent there)."""
    if not keys:
        return {}
    with gitcmd.ObjectLookup(cwd) as objects:
        found = objects.lookup([f"{tips[ref]}:{path}" for ref, path in keys])
    return dict(zip(keys, found, strict=True))


def first_parent_log(cwd: Path, base_sha: str, paths: Sequence[str]) -> list[MainCommit]:
    """Every first-parent commit of the base that changed ``paths``, newest first, with its changes
    (the whole path-limited log: slower than :func:`mainline_changes`, exact; merges against their
    first parent)."""
    if not paths:
        return []
    args = [
        "log",
        "--first-parent",
        "--diff-merges=first-parent",
        "-z",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        "--format=%x1e%H%x00%P%x00%ct%x00%s%x00",
        base_sha,
        "--",
        *paths,
    ]
    return parse_mainline(_git(cwd).run(*args, env=_LITERAL))


def merged_at(cwd: Path, sha: str, merges: Sequence[MainCommit]) -> str | None:
    """The first of ``merges`` (first-parent merges, oldest first) that brings ``sha`` in."""
    for merge in merges:
        if merge.first_parent and is_ancestor(cwd, sha, merge.sha) and not is_ancestor(cwd, sha, merge.first_parent):
            return merge.sha
    return None


def landing_of(cwd: Path, sha: str, base_sha: str) -> tuple[str | None, bool]:
    """(the oldest first-parent commit of the base branch that contains ``sha``, whether ``sha``
    is itself on the first-parent line). One ``rev-list --ancestry-path``: the commits between
    ``sha`` and the base tip, walked back from the tip along first parents."""
    if sha == base_sha:
        return sha, True
    out = _git(cwd).run("rev-list", "--parents", "--ancestry-path", f"{sha}..{base_sha}", "--").decode()
    first: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            first[parts[0]] = parts[1]
        elif parts:
            first[parts[0]] = ""
    if base_sha not in first:
        return None, False
    current = base_sha
    while first.get(current) in first:
        current = first[current]
    if first.get(current) == sha:
        return sha, True
    return current, False


def is_ancestor(cwd: Path, sha: str, base_sha: str) -> bool:
    return _git(cwd).ok("merge-base", "--is-ancestor", sha, base_sha)


def resolve_commit(cwd: Path, text: str) -> str | None:
    try:
        value = _git(cwd).text("rev-parse", "--verify", "-q", "--end-of-options", f"{text}^{{commit}}")
    except gitcmd.GitError:
        return None
    return value or None


def merges_named(cwd: Path, base_sha: str, numbers: Iterable[int]) -> list[MainCommit]:
    """First-parent commits whose subject names one of the PRs: ``(#N)`` or ``Merge pull request #N from``."""
    wanted = sorted(set(numbers))
    if not wanted:
        return []
    lines = [f"(#{n})" for n in wanted] + [f"Merge pull request #{n} from" for n in wanted]
    found = grep(cwd, [base_sha], lines, first_parent=True)
    return [MainCommit(c.sha, c.first_parent, c.time, c.subject, {}) for c in found]


def start_grep(cwd: Path, sha: str, words: Sequence[str], prefixes: Sequence[str]) -> gitcmd.Background | None:
    """Start ``git grep -l`` for files at ``sha`` under ``prefixes`` containing one of ``words``."""
    if not words:
        return None
    args = ["-c", "grep.fallbackToNoIndex=false", "grep", "-l", "-z", "-F", "--full-name"]
    for word in words:
        args += ["-e", word]
    return gitcmd.Background(cwd, [*args, sha, "--", *[f":(literal){p}" for p in prefixes if p]], ok=(0, 1))


def grep_paths(search: gitcmd.Background | None) -> list[str]:
    if search is None:
        return []
    out = search.result()
    return [item.decode("utf-8", "surrogateescape").split(":", 1)[1] for item in out.split(b"\x00") if b":" in item]


def read_texts(cwd: Path, sha: str, paths: Sequence[str]) -> dict[str, bytes]:
    """path -> content of files at ``sha`` (one ``cat-file --batch``)."""
    if not paths:
        return {}
    with gitcmd.ObjectReader(cwd) as reader:
        found = reader.read_many([f"{sha}:{path}" for path in paths])
    return {path: item[2] for path, item in zip(paths, found, strict=True) if item and item[1] == "blob"}


def fetch_pull_refs(cwd: Path, remote: str, numbers: Iterable[int]) -> list[int]:
    """Fetch ``refs/pull/N/head`` of the given PRs into ``refs/remotes/origin/pull/N/head``; the numbers fetched."""
    got = []
    for number in sorted(set(numbers)):
        if _git(cwd).ok(
            "fetch", "-q", "--no-tags", remote, f"+refs/pull/{number}/head:refs/remotes/origin/pull/{number}/head"
        ):
            got.append(number)
    return got


def remote_pull_heads(cwd: Path, remote: str) -> dict[int, str]:
    """PR number -> head commit of every ``refs/pull/N/head`` on the remote (``git ls-remote``)."""
    out = _run(
        cwd, "ls-remote", remote, "refs/pull/*/head", hint=f"check that the remote {remote!r} exists and is reachable"
    ).decode("utf-8", "replace")
    heads: dict[int, str] = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        parts = name.split("/")
        if len(parts) == 4 and parts[2].isdigit() and len(sha) in (40, 64):
            heads[int(parts[2])] = sha
    return heads


def fetch_objects(cwd: Path, remote: str, refs: Sequence[str]) -> None:
    """Fetch the objects of ``refs`` from the remote without writing any ref (nor FETCH_HEAD)."""
    if refs:
        _run(
            cwd,
            "fetch",
            "-q",
            "--no-tags",
            "--no-write-fetch-head",
            remote,
            *refs,
            hint=f"check that the remote {remote!r} exists and is reachable",
        )


# --- writing the rollback branch -----------------------------------------------------------


def build_commit(cwd: Path, base_sha: str, plans: Sequence[FilePlan], message: str) -> str:
    """One commit on top of the base tip, built in a temporary index (work tree and index untouched)."""
    folder = runner.temp_dir()
    folder.mkdir(parents=True, exist_ok=True)  # a RUNNER_TEMP that does not exist yet is created
    with tempfile.TemporaryDirectory(prefix="batchops-rollback-", dir=folder) as tmp:
        git = _git(cwd)
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **gitcmd.identity_env(cwd)}
        git.run("read-tree", base_sha, env=env)
        info = b"".join(
            (f"{p.target.mode} {p.target.blob}\t" if p.target else f"0 {ZERO}\t").encode()
            + p.path.encode("utf-8", "surrogateescape")
            + b"\x00"
            for p in plans
            if p.changes_tree
        )
        git.run("update-index", "-z", "--index-info", input=info, env=env)
        tree = git.text("write-tree", env=env)
        return git.text("commit-tree", tree, "-p", base_sha, "-F", "-", input=message.encode(), env=env)


def tree_of(cwd: Path, sha: str) -> str:
    return _git(cwd).text("rev-parse", f"{sha}^{{tree}}")


def commit_info(cwd: Path, sha: str) -> tuple[str, list[str], str]:
    """(tree, parents, message) of a commit."""
    tree = tree_of(cwd, sha)
    found = commits(cwd, [sha])
    return tree, (found[0].parents if found else []), (found[0].message if found else "")


def set_branch(cwd: Path, branch: str, commit: str, *, expected: str = "") -> None:
    _run(
        cwd,
        "update-ref",
        "-m",
        "batchops rollback",
        f"refs/heads/{branch}",
        commit,
        expected,
        hint=f"the branch {branch} changed meanwhile; delete it (git branch -D {branch}) to start over",
    )


def delete_branch(cwd: Path, branch: str, commit: str) -> None:
    _git(cwd).run("update-ref", "-d", f"refs/heads/{branch}", commit, check=False)


def remote_branch(cwd: Path, remote: str, branch: str) -> str:
    """The commit the remote's branch points at, or ''."""
    out = _run(
        cwd,
        "ls-remote",
        "--heads",
        remote,
        f"refs/heads/{branch}",
        hint=f"check that the remote {remote!r} exists and is reachable",
    ).decode()
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name == f"refs/heads/{branch}":
            return sha
    return ""


def fetch_commit(cwd: Path, remote: str, branch: str) -> bool:
    return _git(cwd).ok("fetch", "-q", "--no-tags", remote, f"refs/heads/{branch}")


def push_branch(cwd: Path, remote: str, branch: str, commit: str, *, expected: str = "") -> None:
    lease = f"--force-with-lease=refs/heads/{branch}:{expected}"
    try:
        _git(cwd).run("push", "--porcelain", lease, remote, f"{commit}:refs/heads/{branch}")
    except gitcmd.GitError as exc:
        detail = (exc.stderr or exc.output).strip().splitlines()
        raise BatchopsError(
            f"could not push {branch} to {remote}: {detail[-1] if detail else 'exit ' + str(exc.returncode)}",
            hint="give the job `permissions: contents: write` and check out with persist-credentials (the default), "
            "or delete a leftover remote branch of an earlier rollback",
        ) from None


def remote_repository(cwd: Path, remote: str) -> str:
    """owner/name from the remote's URL when it is a GitHub URL, else ''."""
    import re

    url = _git(cwd).run("remote", "get-url", remote, check=False).decode().strip()
    match = re.search(r"[/:]([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$", url)
    server = runner.server_url()
    if match and ("github" in url or (server and server in url)):
        return f"{match[1]}/{match[2]}"
    return ""
