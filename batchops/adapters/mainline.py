"""The first-parent line of the base branch and the bisection along it: which commits changed which files.

Tree reads go through one ``git cat-file --batch`` (:class:`~batchops.adapters.git.ObjectReader`), by
object id from the root down; a name may hold any byte but NUL, and unchanged sub-trees are read once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchops.adapters import git as gitcmd
from batchops.core.rollback import Change, Entry, MainCommit


@dataclass
class Mainline:
    """The first-parent line of the base branch, oldest first, with committer times."""

    shas: list[str]
    times: list[int]
    ages: dict[str, int] | None = field(default=None, repr=False, compare=False)  # sha -> commits after it

    def position(self, sha: str) -> int | None:
        """The index of ``sha`` on the line (None: not on it)."""
        age = self._ages().get(sha)
        return None if age is None else len(self.shas) - 1 - age

    def members(self) -> AbstractSet[str]:
        """The line's commits, as a set."""
        return self._ages().keys()

    def _ages(self) -> dict[str, int]:
        if self.ages is None:
            last = len(self.shas) - 1
            self.ages = {sha: last - index for index, sha in enumerate(self.shas)}
        return self.ages

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


MAX_HINTS = 2  # commits naming a file, per search: each costs at most two probes
_MODES = (b"100644", b"100755", b"120000", b"160000", b"40000")


class _Trees:
    """Tree entries of commits through one ``cat-file --batch``: each folder of interest read by its
    path (``<commit>:<folder>``, one round per probe whatever the depth), or, for a folder name a
    line cannot carry, by object id from the root down (a name may hold any byte but NUL; unchanged
    sub-trees are read once)."""

    def __init__(self, reader: gitcmd.ObjectReader) -> None:
        self._reader = reader
        self._roots: dict[str, str | None] = {}
        self._trees: dict[str, bytes] = {}
        self._folders: dict[tuple[str, tuple[bytes, ...]], str | None] = {}  # (commit, folder) -> tree id
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

    def prefetch(self, wanted: Iterable[tuple[str, str]]) -> None:
        """Read, in one batched round, the folder of each path at its commit (``(commit, path)`` pairs)."""
        keys: list[tuple[str, tuple[bytes, ...]]] = []
        asked: set[tuple[str, tuple[bytes, ...]]] = set()
        names: list[str] = []
        for commit, path in wanted:
            folder = tuple(path.encode("utf-8", "surrogateescape").split(b"/")[:-1])
            text = _folder_name(folder)
            if text is not None and (commit, folder) not in self._folders and (commit, folder) not in asked:
                asked.add((commit, folder))
                keys.append((commit, folder))
                names.append(f"{commit}:{text}" if text else f"{commit}^{{tree}}")
        for key, found in zip(keys, self._reader.read_many(names), strict=True):
            if found and found[1] == "tree":
                self._width = len(found[0]) // 2
                self._trees.setdefault(found[0], found[2])
                self._folders[key] = found[0]
            else:
                self._folders[key] = None

    def entry(self, commit: str, path: str) -> Entry | None:
        parts = path.encode("utf-8", "surrogateescape").split(b"/")
        folder = tuple(parts[:-1])
        if (commit, folder) in self._folders:
            tree = self._folders[commit, folder]
        else:
            tree = self._walk(commit, folder)
        if tree is None:
            return None
        entry = find_entry(self._tree(tree), parts[-1], self._width)
        return None if entry is None or entry.mode == "040000" else entry

    def _walk(self, commit: str, folder: tuple[bytes, ...]) -> str | None:
        """The tree id of ``folder`` at ``commit``, read from the root down by object id."""
        if commit not in self._roots:
            found = self._reader.read(f"{commit}^{{tree}}")
            self._roots[commit] = found[0] if found else None
        tree = self._roots[commit]
        for part in folder:
            if tree is None:
                return None
            child = find_entry(self._tree(tree), part, self._width)
            tree = child.blob if child is not None and child.mode == "040000" else None
        return tree


def _folder_name(folder: tuple[bytes, ...]) -> str | None:
    """The folder as ``cat-file`` reads it after ``<commit>:`` (a line, text), or None when it cannot be."""
    joined = b"/".join(folder)
    if b"\n" in joined or b"\r" in joined:
        return None
    try:
        return joined.decode("utf-8")
    except UnicodeDecodeError:
        return None


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


def _known_changes(
    line: Mainline, known: Mapping[str, Mapping[str, Change]], start: int
) -> tuple[dict[int, dict[str, Change]], dict[str, list[int]], int]:
    """(index -> path -> change, path -> indices whose diff is known, the start moved before them)."""
    changes: dict[int, dict[str, Change]] = {}
    fixed: dict[str, list[int]] = {}
    for sha, diff in known.items():
        index = line.position(sha)
        if index is None:
            continue
        start = min(start, index - 1)
        for path, change in diff.items():
            changes.setdefault(index, {})[path] = change
            fixed.setdefault(path, []).append(index)
    return changes, fixed, start


class _Bisection:
    """The search of :func:`mainline_changes`: per path, from one known change to the next."""

    def __init__(
        self,
        reader: gitcmd.ObjectReader,
        line: Mainline,
        paths: Sequence[str],
        changes: dict[int, dict[str, Change]],
        fixed: dict[str, list[int]],
        is_target: Callable[[str, Entry | None], bool],
        mentions: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        self.trees = _Trees(reader)
        self.mentions = mentions
        self.named: dict[str, list[int]] = {}
        self.line, self.paths, self.changes, self.fixed, self.targets = line, paths, changes, fixed, is_target
        self.tip = len(line.shas) - 1
        self.seen: dict[tuple[int, str], Entry | None] = {}
        self.landed = {path: False for path in paths}
        self.tip_is_target: dict[str, bool] = {}
        self.cursor: dict[str, int] = {}

    def at(self, index: int, path: str) -> Entry | None:
        key = (index, path)
        if key not in self.seen:
            self.seen[key] = self.trees.entry(self.line.shas[index], path) if index >= 0 else None
        return self.seen[key]

    def fetch(self, wanted: Iterable[tuple[int, str]]) -> None:
        """Read, in one round, each path's folder at its index (``(index, path)`` pairs)."""
        self.trees.prefetch((self.line.shas[i], path) for i, path in dict.fromkeys(wanted) if i >= 0)

    def run(self, start: int) -> None:
        if start < 0:  # from the root commit on: what it adds is its change
            start = 0
            self.fetch((0, path) for path in self.paths)
            for path in self.paths:
                if (root := self.at(0, path)) is not None:
                    self.changes.setdefault(0, {})[path] = Change("A", None, root)
        self.fetch((i, path) for path in self.paths for i in (start, self.tip))
        self.tip_is_target = {path: self.targets(path, self.at(self.tip, path)) for path in self.paths}
        self.cursor = {path: start for path in self.paths}  # the search goes on after this index
        for path in self.paths:
            for index in sorted(self.fixed.get(path, ())):
                if index <= start and self.targets(path, self.changes[index][path].new):
                    self.landed[path] = True
        active = list(self.paths)
        while active:
            active = self.round(active)

    def record(self, path: str, index: int) -> bool:
        """Note the change at ``index``; False when the search for ``path`` is over."""
        change = self.changes.get(index, {}).get(path)
        if change is None:
            low, high = self.at(index - 1, path), self.at(index, path)
            change = Change("A" if low is None else ("D" if high is None else "M"), low, high)
            self.changes.setdefault(index, {})[path] = change
        self.cursor[path] = index
        if self.targets(path, change.new):
            self.landed[path] = True
            return index < self.tip
        return index < self.tip and not (self.landed[path] and not self.tip_is_target[path])

    def round(self, active: Sequence[str]) -> list[str]:
        """Each active path's next change: the paths whose search goes on."""
        windows: list[tuple[str, int, int, int | None]] = []  # the stretch (lo, hi] up to its next known change
        for path in active:
            lo = self.cursor[path]
            following = [i for i in self.fixed.get(path, ()) if i > lo]
            known_next = min(following) if following else None
            windows.append((path, lo, known_next - 1 if known_next is not None else self.tip, known_next))
        self.fetch((i, path) for path, lo, hi, _ in windows for i in (lo, hi))
        searches: list[list[Any]] = []
        still: list[str] = []
        for path, lo, hi, known_next in windows:
            if hi > lo and self.at(hi, path) != self.at(lo, path):
                # the commits whose message names the file first, then galloping from lo: changes come soon after
                searches.append([path, lo, hi, 1, [lo + 1], False])  # the next commit first
            elif known_next is not None and self.record(path, known_next):
                still.append(path)
        self.narrow(searches)
        for path, _, hi, *_ in searches:
            if self.record(path, hi):
                still.append(path)
        return still

    def hints(self, path: str, lo: int, hi: int) -> list[int]:
        """Probe points from the messages: around the first commits in (lo, hi] that name the file
        (``MAX_HINTS`` at most). A hint is only a probe: the search stays exact whatever it says."""
        if self.mentions is None:
            return []
        if path not in self.named:  # the line's commits that name the file, looked up once
            stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            found = map(self.line.position, set(self.mentions(stem if len(stem) >= 4 else path)))
            self.named[path] = sorted(index for index in found if index is not None)
        named = [index for index in self.named[path] if lo < index <= hi][:MAX_HINTS]
        return [point for index in named for point in (index - 1, index)]

    def narrow(self, searches: list[list[Any]]) -> None:
        """Probe the hints, gallop, then bisect, every search down to one commit (probes of all paths
        read together). Each probe keeps the search exact: the file is as at ``lo`` up to ``lo`` and
        differs at ``hi``."""

        def probe(search: list[Any]) -> int:
            path, lo, hi, step, hints, named = search
            while hints and not lo < hints[0] < hi:
                hints.pop(0)
            if not hints and not named:  # the next commit did not change it: the messages are asked
                search[5] = True
                hints += [point for point in self.hints(path, lo, hi) if lo < point < hi]
            if hints:
                return int(hints[0])
            return int(min(lo + step, hi - 1) if step else (lo + hi) // 2)

        while any(search[2] - search[1] > 1 for search in searches):
            self.fetch((probe(search), search[0]) for search in searches if search[2] - search[1] > 1)
            for search in searches:
                path, lo, hi, step, hints, _ = search
                if hi - lo <= 1:
                    continue
                point = probe(search)
                hinted = bool(hints) and hints[0] == point
                if hinted:
                    hints.pop(0)
                if self.at(point, path) == self.at(lo, path):
                    search[1] = point
                    search[3] = step if hinted else (step * 2 if step else 0)
                else:
                    search[2], search[3] = point, 0


def mainline_changes(
    cwd: Path,
    line: Mainline,
    paths: Sequence[str],
    since: int,
    known: Mapping[str, Mapping[str, Change]] | None = None,
    is_target: Callable[[str, Entry | None], bool] | None = None,
    headers: Callable[[Sequence[str]], dict[str, tuple[str, int]]] | None = None,
    mentions: Callable[[str], Iterable[str]] | None = None,
    reader: gitcmd.ObjectReader | None = None,
) -> list[MainCommit]:
    """First-parent commits (from ``since`` on) that changed ``paths``, newest first, with the
    change of each path against its first parent.

    Per path, the next change is found by bisection over the first-parent line (tree reads in
    one ``cat-file`` process, batched across paths): O(changes x log n) reads instead of a diff
    of every commit. Commits whose diff is ``known`` (the selection's own commits on the line)
    are taken as they are. Once a path has reached a content ``is_target`` accepts and then left
    it, and the tip does not hold such a content either, the search for that path stops: its
    first later change is what a plan reports. A change undone within a stretch that ends as it
    began is not seen (the file is then as it was). ``headers`` gives the subjects and parent
    counts of commits when they are known already (else one ``git log`` reads them).
    ``reader``: a ``cat-file`` the caller started and closes. ``mentions(text)`` gives the
    commits whose message holds ``text``: the first ones after a stretch's start that name a file
    (its name, or its path when the name is short) are probed first, two reads where a bisection
    takes dozens when the commit that changed the file says so.
    """
    if not paths or not line.shas:
        return []
    changes, fixed, start = _known_changes(line, known or {}, max(-1, line.start_index(since)))
    targets = is_target or (lambda path, entry: False)
    if reader is not None:  # started by the caller (while the history was walked), closed by it
        _Bisection(reader, line, paths, changes, fixed, targets, mentions).run(start)
    else:
        with gitcmd.ObjectReader(cwd) as own:
            _Bisection(own, line, paths, changes, fixed, targets, mentions).run(start)
    wanted = sorted(changes, reverse=True)
    found_headers = (headers or (lambda shas: _headers(cwd, shas)))([line.shas[i] for i in wanted])
    found = []
    for i in wanted:
        subject, parents = found_headers.get(line.shas[i], ("", 1))
        first = line.shas[i - 1] if i > 0 else None
        found.append(MainCommit(line.shas[i], first, line.times[i], subject, changes[i], parents))
    return found


def _headers(cwd: Path, shas: Sequence[str]) -> dict[str, tuple[str, int]]:
    """sha -> (subject, number of parents)."""
    if not shas:
        return {}
    data = gitcmd.Git(cwd).run(
        "log",
        "-z",
        "--no-walk=unsorted",
        "--format=%H%x00%P%x00%s",
        "--stdin",
        "--",
        input="".join(f"{sha}\n" for sha in shas).encode(),
    )
    tokens = data.split(b"\x00")
    return {
        tokens[i].strip().decode("ascii", "replace"): (
            tokens[i + 2].decode("utf-8", "replace").strip()[:300],
            len(tokens[i + 1].split()),
        )
        for i in range(0, len(tokens) - 2, 3)
    }
