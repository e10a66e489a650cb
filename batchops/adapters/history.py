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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchops.adapters import git as gitcmd
from batchops.adapters import runner
from batchops.core.rollback import (
    ZERO,
    Change,
    Commit,
    Entry,
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


@dataclass
class Base:
    name: str
    ref: str
    sha: str
    differs_from_origin: bool = False


def list_refs(cwd: Path) -> list[Ref]:
    out = gitcmd.run(
        cwd,
        ["for-each-ref", "--format=%(refname)%00%(objectname)", "refs/heads", "refs/remotes", "refs/pull"],
        hint="run the rollback inside a git checkout",
    ).stdout.decode("utf-8", "surrogateescape")
    return [ref for ref in parse_refs(out) if not ref.name.endswith("/HEAD")]


def resolve_base(cwd: Path, requested: str, refs: Sequence[Ref]) -> Base:
    """The base branch: the local branch, else origin's copy."""
    by_name = {ref.name: ref.sha for ref in refs}
    name = requested.strip().removeprefix("refs/heads/")
    if not name:
        current = gitcmd.run(cwd, ["symbolic-ref", "--short", "-q", "HEAD"], check=False).stdout.decode().strip()
        name = current or "main"
    local, tracking = f"refs/heads/{name}", f"refs/remotes/origin/{name}"
    for ref in (local, tracking):
        if ref in by_name:
            differs = ref == local and tracking in by_name and by_name[tracking] != by_name[local]
            return Base(name, ref, by_name[ref], differs)
    raise BatchopsError(
        f"base branch {name!r} not found (neither origin/{name} nor a local branch {name})",
        field="base-branch",
        hint="name an existing branch; with actions/checkout use fetch-depth: 0 so every branch and the full history are there",
    )


def check_not_shallow(cwd: Path) -> None:
    if gitcmd.text(cwd, ["rev-parse", "--is-shallow-repository"]) == "true":
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
    data = gitcmd.run(cwd, [*args, "--stdin", "--"], input="".join(f"{r}\n" for r in revisions).encode()).stdout
    return parse_commits(data)


def start_search(cwd: Path, revisions: Sequence[str], lines: Sequence[str]) -> gitcmd.Background:
    """``grep`` started in the background (it runs while the first-parent line is listed)."""
    args = ["log", "-z", f"--format={COMMIT_FORMAT}", "--fixed-strings", *(f"--grep={line}" for line in lines), "--stdin", "--"]
    return gitcmd.Background(cwd, args, input="".join(f"{r}\n" for r in revisions).encode())


def search_result(search: gitcmd.Background) -> list[Commit]:
    return parse_commits(search.result())


def off_base(cwd: Path, tips: Iterable[str], base_sha: str) -> list[Commit]:
    """Every commit reachable from ``tips`` and not from the base tip, with its message."""
    wanted = sorted(set(tips))
    if not wanted:
        return []
    revisions = "".join(f"{sha}\n" for sha in wanted) + f"^{base_sha}\n"
    data = gitcmd.run(cwd, ["log", "-z", f"--format={COMMIT_FORMAT}", "--stdin", "--"], input=revisions.encode()).stdout
    return parse_commits(data)


def copies_of_base(cwd: Path, base_sha: str, items: Sequence[Commit]) -> set[str]:
    """Of ``items``, the commits that are copies of a commit of the base's history under another id
    (same tree, author time and subject: the base branch was rewritten after they were made)."""
    if not items:
        return set()
    fmt = "--format=%H%x00%T%x00%at%x00%s"

    def keys(args: list[str], stdin: bytes | None = None) -> list[tuple[str, tuple[bytes, ...]]]:
        tokens = gitcmd.run(cwd, ["log", "-z", fmt, *args], input=stdin).stdout.split(b"\x00")
        rows: list[tuple[str, tuple[bytes, ...]]] = []
        for index in range(0, len(tokens) - 3, 4):
            sha = tokens[index].strip().decode("ascii", "replace")
            rows.append((sha, (tokens[index + 1], tokens[index + 2], tokens[index + 3])))
        return rows

    wanted = keys(["--no-walk=unsorted", "--stdin", "--"], "".join(f"{c.sha}\n" for c in items).encode())
    on_base = {key for _, key in keys([base_sha, "--"])}
    return {sha for sha, key in wanted if key in on_base}


def walk_off(cwd: Path, tips: Iterable[str], stop: set[str]) -> list[Commit]:
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
    data = gitcmd.run(
        cwd, ["log", "-z", "--no-walk=unsorted", f"--format={COMMIT_FORMAT}", "--stdin", "--"],
        input="".join(f"{sha}\n" for sha in wanted).encode(),
    ).stdout
    return parse_commits(data)


def diffs(cwd: Path, items: Iterable[Commit]) -> dict[str, dict[str, Change]]:
    """First-parent diff of each commit (the root commit against the empty tree)."""
    lines = "".join(f"{c.sha} {c.parents[0]}\n" if c.parents else f"{c.sha}\n" for c in items)
    if not lines:
        return {}
    data = gitcmd.run(cwd, ["diff-tree", "--stdin", "-r", "--raw", "-z", "--no-renames", "--root"], input=lines.encode()).stdout
    return parse_diff_tree(data)


def tip_blobs(cwd: Path, keys: Sequence[tuple[str, str]], tips: Mapping[str, str]) -> dict[tuple[str, str], str | None]:
    """Blob id of each (ref, path) at the ref's tip (None: absent there)."""
    if not keys:
        return {}
    with gitcmd.ObjectLookup(cwd) as objects:
        found = objects.lookup([f"{tips[ref]}:{path}" for ref, path in keys])
    return dict(zip(keys, found, strict=True))


@dataclass
class Mainline:
    """The first-parent line of the base branch, oldest first, with committer times."""

    shas: list[str]
    times: list[int]

    def start_index(self, since: int) -> int:
        """The last index before the first commit at or after ``since`` (-1: before the root)."""
        for index, moment in enumerate(self.times):
            if moment >= since:
                return index - 1
        return len(self.times) - 1


def start_mainline(cwd: Path, base_sha: str) -> gitcmd.Background:
    """Start listing the first-parent line (it runs while the batch is searched)."""
    return gitcmd.Background(cwd, ["rev-list", "--first-parent", "--timestamp", base_sha, "--"])


def read_mainline(listing: gitcmd.Background) -> Mainline:
    tokens = listing.result().split()
    times = [int(t) for t in tokens[0::2]]
    shas = tokens[1::2]
    times.reverse()
    shas.reverse()
    return Mainline(b" ".join(shas).decode("ascii").split(), times)


_MODES = (b"100644", b"100755", b"120000", b"160000", b"40000")


class _Trees:
    """Tree entries of commits through one ``cat-file --batch``, read by object id from the root
    down (a name may hold any byte but NUL; unchanged sub-trees are read once)."""

    def __init__(self, reader: gitcmd.ObjectReader) -> None:
        self._reader = reader
        self._roots: dict[str, str | None] = {}
        self._trees: dict[str, bytes] = {}
        self._width = 20

    def _tree(self, name: str) -> bytes:
        data = self._trees.get(name)
        if data is None:
            found = self._reader.read(name)
            data = found[2] if found and found[1] == "tree" else b""
            if found:
                self._width = len(found[0]) // 2
            self._trees[name] = data
        return data

    def prefetch(self, commits: Iterable[str], paths: Sequence[str]) -> None:
        """Read, in a few batched rounds, every tree ``entry`` will need for these commits and paths."""
        missing_roots = [c for c in dict.fromkeys(commits) if c not in self._roots]
        for commit, found in zip(missing_roots, self._reader.read_many([f"{c}^{{tree}}" for c in missing_roots]), strict=True):
            self._roots[commit] = found[0] if found else None
            if found and found[1] == "tree":
                self._width = len(found[0]) // 2
                self._trees.setdefault(found[0], found[2])
        folders = sorted({tuple(p.encode("utf-8", "surrogateescape").split(b"/")[:-1]) for p in paths})
        frontier = {root for root in (self._roots.get(c) for c in dict.fromkeys(commits)) if root}
        for depth in range(max((len(f) for f in folders), default=0)):
            wanted: set[str] = set()
            for tree in frontier:
                data = self._trees.get(tree, b"")
                for folder in folders:
                    if len(folder) > depth:
                        child = find_entry(data, folder[depth], self._width)
                        if child is not None and child.mode == "040000":
                            wanted.add(child.blob)
            fetch = sorted(t for t in wanted if t not in self._trees)
            for tree, found in zip(fetch, self._reader.read_many(fetch), strict=True):
                self._trees[tree] = found[2] if found and found[1] == "tree" else b""
            frontier = wanted

    def entry(self, commit: str, path: str) -> Entry | None:
        if commit not in self._roots:
            found = self._reader.read(f"{commit}^{{tree}}")
            self._roots[commit] = found[0] if found else None
        tree = self._roots[commit]
        parts = path.encode("utf-8", "surrogateescape").split(b"/")
        for part in parts[:-1]:
            if tree is None:
                return None
            child = find_entry(self._tree(tree), part, self._width)
            tree = child.blob if child is not None and child.mode == "040000" else None
        if tree is None:
            return None
        entry = find_entry(self._tree(tree), parts[-1], self._width)
        return None if entry is None or entry.mode == "040000" else entry


def find_entry(data: bytes, name: bytes, width: int = 20) -> Entry | None:
    """The entry ``name`` of a raw tree object: a search in C, checked to sit on an entry boundary
    (a mode after the previous entry's id); anything doubtful is settled by a full parse."""
    needle = b" " + name + b"\x00"
    position = data.find(needle)
    if position == -1:
        return None
    if data.find(needle, position + 1) == -1:
        for mode in _MODES:
            begin = position - len(mode)
            if begin >= 0 and data[begin:position] == mode and (begin == 0 or data[begin - width - 1] == 0):
                end = position + len(needle)
                return Entry(mode.decode().rjust(6, "0"), data[end : end + width].hex())
    return _parse_tree(data, width).get(name)


def _parse_tree(data: bytes, width: int) -> dict[bytes, Entry]:
    entries: dict[bytes, Entry] = {}
    position = 0
    while position < len(data):
        space = data.index(b" ", position)
        nul = data.index(b"\x00", space)
        mode = data[position:space].decode("ascii").rjust(6, "0")
        entries[data[space + 1 : nul]] = Entry(mode, data[nul + 1 : nul + 1 + width].hex())
        position = nul + 1 + width
    return entries


def mainline_changes(
    cwd: Path,
    line: Mainline,
    paths: Sequence[str],
    since: int,
    known: Mapping[str, Mapping[str, Change]] | None = None,
    is_target: Callable[[str, Entry | None], bool] | None = None,
) -> list[MainCommit]:
    """First-parent commits (from ``since`` on) that changed ``paths``, newest first, with the
    change of each path against its first parent.

    Per path, the next change is found by bisection over the first-parent line (tree reads in
    one ``cat-file`` process, batched across paths): O(changes x log n) reads instead of a diff
    of every commit. Commits whose diff is ``known`` (the selection's own commits on the line)
    are taken as they are. Once a path has reached a content ``is_target`` accepts and then left
    it, and the tip does not hold such a content either, the search for that path stops: its
    first later change is what a plan reports. A change undone within a stretch that ends as it
    began is not seen (the file is then as it was).
    """
    if not paths or not line.shas:
        return []
    start = max(-1, line.start_index(since))
    tip = len(line.shas) - 1
    changes: dict[int, dict[str, Change]] = {}
    position = {sha: index for index, sha in enumerate(line.shas)} if known else {}
    fixed: dict[str, list[int]] = {}  # path -> indices of commits whose diff is known
    for sha, diff in (known or {}).items():
        index = position.get(sha)
        if index is None:
            continue
        start = min(start, index - 1)
        for path, change in diff.items():
            changes.setdefault(index, {})[path] = change
            fixed.setdefault(path, []).append(index)
    targets = is_target or (lambda path, entry: False)
    with gitcmd.ObjectReader(cwd) as reader:
        trees = _Trees(reader)
        seen: dict[tuple[int, str], Entry | None] = {}

        def at(index: int, path: str) -> Entry | None:
            key = (index, path)
            if key not in seen:
                seen[key] = trees.entry(line.shas[index], path) if index >= 0 else None
            return seen[key]

        def fetch(indices: Iterable[int]) -> None:
            trees.prefetch([line.shas[i] for i in set(indices) if i >= 0], paths)

        if start < 0:  # from the root commit on: what it adds is its change
            start = 0
            fetch([0])
            for path in paths:
                if (root := at(0, path)) is not None:
                    changes.setdefault(0, {})[path] = Change("A", None, root)
        fetch([start, tip])
        landed = {path: False for path in paths}
        tip_is_target = {path: targets(path, at(tip, path)) for path in paths}
        cursor = {path: start for path in paths}  # the search goes on after this index
        for path in paths:
            for index in sorted(fixed.get(path, ())):
                if index <= start and targets(path, changes[index][path].new):
                    landed[path] = True
        active = list(paths)

        def record(path: str, index: int) -> bool:
            """Note the change at ``index``; False when the search for ``path`` is over."""
            change = changes.get(index, {}).get(path)
            if change is None:
                low, high = at(index - 1, path), at(index, path)
                change = Change("A" if low is None else ("D" if high is None else "M"), low, high)
                changes.setdefault(index, {})[path] = change
            cursor[path] = index
            if targets(path, change.new):
                landed[path] = True
                return index < tip
            return index < tip and not (landed[path] and not tip_is_target[path])

        while active:
            # the stretch (lo, hi] to search for each active path: up to its next known change
            windows: list[tuple[str, int, int, int | None]] = []
            for path in active:
                lo = cursor[path]
                following = [i for i in fixed.get(path, ()) if i > lo]
                known_next = min(following) if following else None
                hi = known_next - 1 if known_next is not None else tip
                windows.append((path, lo, hi, known_next))
            fetch([i for _, lo, hi, _ in windows for i in (lo, hi)])
            searches: list[list[Any]] = []
            still: list[str] = []
            for path, lo, hi, known_next in windows:
                if hi > lo and at(hi, path) != at(lo, path):
                    searches.append([path, lo, hi, 1])  # galloping from lo first: changes come soon after
                elif known_next is not None:
                    if record(path, known_next):
                        still.append(path)

            def probe(search: list[Any]) -> int:
                _, lo, hi, step = search
                return min(lo + step, hi - 1) if step else (lo + hi) // 2

            while any(hi - lo > 1 for _, lo, hi, _ in searches):
                fetch([probe(search) for search in searches if search[2] - search[1] > 1])
                for search in searches:
                    path, lo, hi, step = search
                    if hi - lo <= 1:
                        continue
                    point = probe(search)
                    if at(point, path) == at(lo, path):
                        search[1] = point
                        search[3] = step * 2 if step else 0
                    else:
                        search[2], search[3] = point, 0
            for path, _, hi, _ in searches:
                if record(path, hi):
                    still.append(path)
            active = still
    wanted = sorted(changes, reverse=True)
    headers = _headers(cwd, [line.shas[i] for i in wanted])
    found = []
    for i in wanted:
        subject, parents = headers.get(line.shas[i], ("", 1))
        found.append(MainCommit(line.shas[i], line.shas[i - 1] if i > 0 else None, line.times[i], subject, changes[i], parents))
    return found


def first_parent_log(cwd: Path, base_sha: str, paths: Sequence[str]) -> list[MainCommit]:
    """Every first-parent commit of the base that changed ``paths``, newest first, with its changes
    (the whole path-limited log: slower than :func:`mainline_changes`, exact; merges against their
    first parent)."""
    if not paths:
        return []
    args = [
        "log", "--first-parent", "--diff-merges=first-parent", "-z", "--raw", "--no-abbrev", "--no-renames",
        "--format=%x1e%H%x00%P%x00%ct%x00%s%x00", base_sha, "--", *paths,
    ]
    return parse_mainline(gitcmd.run(cwd, args, env=_LITERAL).stdout)


def _headers(cwd: Path, shas: Sequence[str]) -> dict[str, tuple[str, int]]:
    """sha -> (subject, number of parents)."""
    if not shas:
        return {}
    data = gitcmd.run(
        cwd, ["log", "-z", "--no-walk=unsorted", "--format=%H%x00%P%x00%s", "--stdin", "--"],
        input="".join(f"{sha}\n" for sha in shas).encode(),
    ).stdout
    tokens = data.split(b"\x00")
    return {
        tokens[i].strip().decode("ascii", "replace"): (tokens[i + 2].decode("utf-8", "replace").strip()[:300], len(tokens[i + 1].split()))
        for i in range(0, len(tokens) - 2, 3)
    }


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
    out = gitcmd.run(cwd, ["rev-list", "--parents", "--ancestry-path", f"{sha}..{base_sha}", "--"]).stdout.decode()
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
    return gitcmd.run(cwd, ["merge-base", "--is-ancestor", sha, base_sha], check=False).returncode == 0


def resolve_commit(cwd: Path, text: str) -> str | None:
    proc = gitcmd.run(cwd, ["rev-parse", "--verify", "-q", "--end-of-options", f"{text}^{{commit}}"], check=False)
    value = proc.stdout.decode().strip()
    return value if proc.returncode == 0 and value else None


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
        proc = gitcmd.run(
            cwd, ["fetch", "-q", "--no-tags", remote, f"+refs/pull/{number}/head:refs/remotes/origin/pull/{number}/head"],
            check=False,
        )
        if proc.returncode == 0:
            got.append(number)
    return got


# --- writing the rollback branch -----------------------------------------------------------


def _identity_env(cwd: Path) -> dict[str, str]:
    configured = gitcmd.run(cwd, ["config", "--get", "user.email"], check=False).stdout.strip()
    if configured or runner.setting("GIT_COMMITTER_EMAIL"):
        return {}
    name, email = "github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com"
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}


def build_commit(cwd: Path, base_sha: str, plans: Sequence[FilePlan], message: str) -> str:
    """One commit on top of the base tip, built in a temporary index (work tree and index untouched)."""
    with tempfile.TemporaryDirectory(prefix="batchops-rollback-", dir=runner.temp_dir()) as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **_identity_env(cwd)}
        gitcmd.run(cwd, ["read-tree", base_sha], env=env)
        info = b"".join(
            (f"{p.target.mode} {p.target.blob}\t" if p.target else f"0 {ZERO}\t").encode()
            + p.path.encode("utf-8", "surrogateescape")
            + b"\x00"
            for p in plans
            if p.changes_tree
        )
        gitcmd.run(cwd, ["update-index", "-z", "--index-info"], input=info, env=env)
        tree = gitcmd.text(cwd, ["write-tree"], env=env)
        return gitcmd.text(cwd, ["commit-tree", tree, "-p", base_sha, "-F", "-"], input=message.encode(), env=env)


def tree_of(cwd: Path, sha: str) -> str:
    return gitcmd.text(cwd, ["rev-parse", f"{sha}^{{tree}}"])


def commit_info(cwd: Path, sha: str) -> tuple[str, list[str], str]:
    """(tree, parents, message) of a commit."""
    tree = tree_of(cwd, sha)
    found = commits(cwd, [sha])
    return tree, (found[0].parents if found else []), (found[0].message if found else "")


def set_branch(cwd: Path, branch: str, commit: str, *, expected: str = "") -> None:
    gitcmd.run(
        cwd,
        ["update-ref", "-m", "batchops rollback", f"refs/heads/{branch}", commit, expected],
        hint=f"the branch {branch} changed meanwhile; delete it (git branch -D {branch}) to start over",
    )


def delete_branch(cwd: Path, branch: str, commit: str) -> None:
    gitcmd.run(cwd, ["update-ref", "-d", f"refs/heads/{branch}", commit], check=False)


def remote_branch(cwd: Path, remote: str, branch: str) -> str:
    """The commit the remote's branch points at, or ''."""
    out = gitcmd.run(
        cwd, ["ls-remote", "--heads", remote, f"refs/heads/{branch}"],
        hint=f"check that the remote {remote!r} exists and is reachable",
    ).stdout.decode()
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name == f"refs/heads/{branch}":
            return sha
    return ""


def fetch_commit(cwd: Path, remote: str, branch: str) -> bool:
    return gitcmd.run(cwd, ["fetch", "-q", "--no-tags", remote, f"refs/heads/{branch}"], check=False).returncode == 0


def push_branch(cwd: Path, remote: str, branch: str, commit: str, *, expected: str = "") -> None:
    proc = gitcmd.run(
        cwd, ["push", "--porcelain", f"--force-with-lease=refs/heads/{branch}:{expected}", remote, f"{commit}:refs/heads/{branch}"],
        check=False,
    )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
        raise BatchopsError(
            f"could not push {branch} to {remote}: {detail[-1] if detail else 'exit ' + str(proc.returncode)}",
            hint="give the job `permissions: contents: write` and check out with persist-credentials (the default), "
            "or delete a leftover remote branch of an earlier rollback",
        )


def remote_repository(cwd: Path, remote: str) -> str:
    """owner/name from the remote's URL when it is a GitHub URL, else ''."""
    import re

    url = gitcmd.run(cwd, ["remote", "get-url", remote], check=False).stdout.decode().strip()
    match = re.search(r"[/:]([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$", url)
    server = runner.server_url()
    if match and ("github" in url or (server and server in url)):
        return f"{match[1]}/{match[2]}"
    return ""
