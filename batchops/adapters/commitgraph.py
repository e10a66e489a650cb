"""The commit graph a batch rollback reads, from one ``git log`` walk.

One ``git log -z`` over the base branch and every other ref gives, for each commit, its id,
parents, committer time and message. From that one walk (the same walk as the legacy
``git log --all --grep``) come the batch's commits (an exact ``batch_id:`` line), the first-parent
line of the base branch, the commits a ref carries off that line, and the merge that brought a
side commit in: no second walk, no process per question.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path

from batchops.adapters import git as gitcmd
from batchops.adapters import runner, walk_ahead
from batchops.adapters.mainline import Mainline
from batchops.core.rollback import Commit, MainCommit


class Graph:
    """Every commit reachable from the revisions given: id, parents, time, message (read on demand)."""

    def __init__(self, data: bytes, base_sha: str) -> None:
        self.base_sha = base_sha
        self._line: Mainline | None = None
        self._names: list[str] = []
        self._parents: list[bytes] = []
        self._times: list[bytes] = []
        self._bodies: list[bytes] = []
        self._index: dict[str, int] = {}
        self._data = b""
        self._line_shas: list[str] = []  # the first-parent line followed so far, newest first
        self._line_times: list[int] = []
        self._line_ages: dict[str, int] = {}  # sha -> how many commits of the line follow it
        self._wanted = base_sha  # the next commit of the line, not read yet ("" at its root)
        if data:
            self._records(data, last=True)
            self._finish(data)

    @classmethod
    def streamed(cls, chunks: Iterable[bytes], base_sha: str) -> Graph:
        """The graph of a walk read as it is written: each run of whole records is taken in while git
        still walks (the output splits at a NUL followed by a record's b"\x1e"); anything doubtful
        is read again from the whole output."""
        graph = cls(b"", base_sha)
        parts: list[bytes] = []
        pending, whole = b"", True
        for chunk in chunks:
            parts.append(chunk)
            if not whole:
                continue
            pending += chunk
            cut = pending.rfind(b"\x00\x1e")
            if cut > 0:
                whole = graph._records(pending[: cut + 1], last=False)
                pending = pending[cut + 1 :]
                graph._follow()
        data = b"".join(parts)
        if not (whole and graph._records(pending, last=True)):
            graph = cls(data, base_sha)  # read whole, at once
        else:
            graph._finish(data)
        return graph

    def _records(self, part: bytes, *, last: bool) -> bool:
        """Take in whole records (``last``: the end of the output); False when ``part`` does not
        split into records as it should."""
        tokens = part.split(b"\x00")
        count = len(tokens) // 4
        if not last and len(tokens) != 4 * count + 1:
            return False
        heads = tokens[0 : 4 * count : 4]  # each b"\x1e" + the commit id (-z: records end with a NUL)
        names = b"".join(heads).decode("ascii", "replace").split("\x1e")[1:]
        if len(names) != count:
            return False
        start = len(self._names)
        self._names += names
        self._parents += tokens[1 : 4 * count : 4]
        self._times += tokens[2 : 4 * count : 4]
        self._bodies += tokens[3 : 4 * count : 4]
        self._index.update(zip(names, range(start, start + count), strict=True))
        return True

    def _finish(self, data: bytes) -> None:
        # a record starts at its b"\x1e"; when no message holds one, a match is placed by the last one before it
        self._data = data if data.count(b"\x1e") == len(self._names) else b""

    def __contains__(self, sha: str) -> bool:
        return sha in self._index

    def parents(self, sha: str) -> list[str]:
        return self._parents[self._index[sha]].decode("ascii").split()

    def commit(self, sha: str) -> Commit:
        i = self._index[sha]
        message = self._bodies[i].decode("utf-8", "surrogateescape")
        return Commit(sha, self._parents[i].decode("ascii").split(), int(self._times[i] or b"0"), message)

    def commits(self, shas: Iterable[str]) -> list[Commit]:
        return [self.commit(sha) for sha in shas if sha in self._index]

    def with_text(self, texts: Sequence[str]) -> list[Commit]:
        """Commits whose message contains one of ``texts`` (the caller checks the exact line), newest first."""
        hits: set[int] = set()
        for text in texts:
            needle = text.encode("utf-8")
            if not self._data or not needle:
                hits.update(i for i, body in enumerate(self._bodies) if needle in body)
                continue
            data, at = self._data, self._data.find(needle)
            while at != -1:  # a search in C through the whole output, then the record of each match
                start = data.rfind(b"\x1e", 0, at)
                i = self._index.get(data[start + 1 : data.find(b"\x00", start)].decode("ascii", "replace"), -1)
                if i >= 0 and needle in self._bodies[i]:
                    hits.add(i)
                at = data.find(needle, at + 1)
        return [self.commit(self._names[i]) for i in sorted(hits)]

    def _follow(self) -> None:
        """Follow the base branch's first parents as far as the records taken in so far go (the walk
        gives the line in order, newest first, so most of it is followed while git still walks)."""
        index, parents, names, times = self._index, self._parents, self._names, self._times
        shas, moments, wanted, ages = self._line_shas, self._line_times, self._wanted, self._line_ages
        i = index.get(wanted) if wanted else None
        while i is not None:
            ages[names[i]] = len(shas)
            shas.append(names[i])
            moments.append(int(times[i] or b"0"))
            first = parents[i][:40]
            wanted = first.decode("ascii") if first else ""
            i = index.get(wanted) if wanted else None
        self._wanted = wanted

    def mentioning(self, text: str) -> list[str]:
        """The commits whose message holds ``text`` (a search in C through the walk's output)."""
        return [commit.sha for commit in self.with_text([text])]

    def mainline(self) -> Mainline:
        """The first-parent line of the base branch, oldest first."""
        if self._line is None:
            self._follow()
            self._line = Mainline(self._line_shas[::-1], self._line_times[::-1], self._line_ages)
        return self._line

    def headers(self, shas: Sequence[str]) -> dict[str, tuple[str, int]]:
        """sha -> (subject, number of parents), as :func:`batchops.adapters.mainline.mainline_changes` wants."""
        found = {}
        for sha in shas:
            if sha in self._index:
                commit = self.commit(sha)
                found[sha] = (commit.subject, max(1, len(commit.parents)))
        return found

    def walk_off(self, tips: Iterable[str], stop: AbstractSet[str]) -> list[Commit]:
        """The commits reachable from ``tips`` down to ``stop`` (the first-parent line, not included)."""
        seen: dict[str, Commit] = {}
        stack = [tip for tip in tips if tip not in stop]
        while stack:
            sha = stack.pop()
            if sha in seen or sha not in self._index:
                continue
            i = self._index[sha]
            parents = self._parents[i].decode("ascii").split()
            seen[sha] = Commit(sha, parents, int(self._times[i] or b"0"))
            stack.extend(p for p in parents if p not in stop and p not in seen)
        return list(seen.values())

    def merged_at(self, sha: str, merges: Sequence[MainCommit]) -> str | None:
        """The first of ``merges`` (first-parent merges, oldest first) that brings ``sha`` in: ``sha`` is
        reachable from one of its other parents without passing through the first-parent line."""
        line = self.mainline()
        on_line = line.members()
        for merge in merges:
            if merge.sha not in self._index:
                continue
            stack = self.parents(merge.sha)[1:]
            seen: set[str] = set()
            while stack:
                current = stack.pop()
                if current == sha:
                    return merge.sha
                if current in seen or current in on_line or current not in self._index:
                    continue
                seen.add(current)
                stack.extend(self.parents(current))
        return None


def start(cwd: Path | str, revisions: Sequence[str]) -> gitcmd.Background:
    """Start the one walk (it runs while other git commands run)."""
    stdin = "".join(f"{revision}\n" for revision in revisions).encode()
    ahead = walk_ahead.take(cwd, walk_ahead.WALK, stdin, walk_ahead.git_environment(runner.process_environment()))
    if ahead is not None:  # started before the CLI loaded, and exactly this walk
        return gitcmd.Background.adopt(ahead.proc, ahead.out, ahead.err, cwd, walk_ahead.WALK)
    return gitcmd.Background(cwd, walk_ahead.WALK, input=stdin)


def read(walk: gitcmd.Background, base_sha: str) -> Graph:
    """The graph of a walk, taken in while git still writes it."""
    return Graph.streamed(walk.stream(), base_sha)
