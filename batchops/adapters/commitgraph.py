"""The commit graph a batch rollback reads, from one ``git log`` walk.

One ``git log -z`` over the base branch and every other ref gives, for each commit, its id,
parents, committer time and message. From that one walk (the same walk as the legacy
``git log --all --grep``) come the batch's commits (an exact ``batch_id:`` line), the first-parent
line of the base branch, the commits a ref carries off that line, and the merge that brought a
side commit in: no second walk, no process per question.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from batchops.adapters import git as gitcmd
from batchops.adapters.mainline import Mainline
from batchops.core.rollback import Commit, MainCommit

FORMAT = "%x1e%H%x00%P%x00%ct%x00%B"


class Graph:
    """Every commit reachable from the revisions given: id, parents, time, message (read on demand)."""

    def __init__(self, data: bytes, base_sha: str) -> None:
        tokens = data.split(b"\x00")
        count = len(tokens) // 4
        heads = tokens[0 : 4 * count : 4]  # each b"\x1e" + the commit id (-z: records end with a NUL)
        self._parents, self._times, self._bodies = (tokens[k : 4 * count : 4] for k in (1, 2, 3))
        self._names = b"".join(heads).decode("ascii").split("\x1e")[1:]
        self._index = dict(zip(self._names, range(len(self._names)), strict=True))
        # a record starts at its b"\x1e"; when no message holds one, a match is placed by the last one before it
        self._data = data if data.count(b"\x1e") == len(self._names) else b""
        self.base_sha = base_sha
        self._line: Mainline | None = None

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

    def mainline(self) -> Mainline:
        """The first-parent line of the base branch, oldest first."""
        if self._line is None:
            index, parents = self._index, self._parents
            order: list[int] = []
            i = index.get(self.base_sha)
            while i is not None:
                order.append(i)
                first = parents[i][:40]
                i = index.get(first.decode("ascii")) if first else None
            order.reverse()
            names, times = self._names, self._times
            self._line = Mainline([names[i] for i in order], list(map(int, [times[i] or b"0" for i in order])))
        return self._line

    def headers(self, shas: Sequence[str]) -> dict[str, tuple[str, int]]:
        """sha -> (subject, number of parents), as :func:`batchops.adapters.mainline.mainline_changes` wants."""
        found = {}
        for sha in shas:
            if sha in self._index:
                commit = self.commit(sha)
                found[sha] = (commit.subject, max(1, len(commit.parents)))
        return found

    def walk_off(self, tips: Iterable[str], stop: set[str]) -> list[Commit]:
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
        on_line = set(line.shas)
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
    return gitcmd.Background(cwd, ["log", "-z", f"--format={FORMAT}", "--stdin", "--"], input=stdin)


def read(walk: gitcmd.Background, base_sha: str) -> Graph:
    return Graph(walk.result(), base_sha)
