"""The bisection that finds a file's first change after a batch asks the commit messages first.

A commit that changed a recipe usually names it ("chore: bump recipes/x.toml"): the bisection
probes those commits before galloping, two tree reads where it would take dozens. A message is
only a hint: a later commit that names the file but was not its first change, or one that names
it and changes nothing, must not change what the plan reports. Real repositories; the reads are
counted on the real ``cat-file``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from batchops.adapters import commitgraph
from batchops.adapters import git as gitcmd
from batchops.steps import rollback
from tests.contract.test_rollback import BATCH, batch_message, change, seed_remote

FILLER = 40  # commits on main between the batch and the change (a bisection of ~6 probes each way)


def later_change_of(document: dict, path: str) -> list[str]:
    entry = next(item for item in document["files"] if item["path"] == path)
    return [commit["subject"] for commit in entry["later_commits"]]


def fill(work: Path, count: int, start: int) -> None:
    for number in range(start, start + count):
        change(work, {"recipes/other.toml": f"n = {number}\n"}, f"chore: routine edit {number}")


def history(tmp_path: Path, story: str) -> Path:
    """main: seed, the batch (adds recipes/pkg-alpha.toml), then the story of later commits."""
    _, work = seed_remote(tmp_path)
    change(work, {"recipes/pkg-alpha.toml": "v = 1\n"}, batch_message(BATCH))
    fill(work, FILLER, 0)
    if story == "named":
        change(work, {"recipes/pkg-alpha.toml": "v = 2\n"}, "chore: bump recipes/pkg-alpha.toml")
    elif story == "unnamed before named":
        change(work, {"recipes/pkg-alpha.toml": "v = 2\n"}, "chore: routine tidy")
        fill(work, 9, 100)
        change(work, {"recipes/pkg-alpha.toml": "v = 3\n"}, "fix: pkg-alpha v3")
    elif story == "named without a change":
        change(work, {"README.md": "see pkg-alpha\n"}, "docs: mention pkg-alpha")
        fill(work, 9, 100)
        change(work, {"recipes/pkg-alpha.toml": "v = 2\n"}, "chore: routine tidy")
    fill(work, FILLER, 200)
    return work


EXPECTED = {
    "named": "chore: bump recipes/pkg-alpha.toml",
    "unnamed before named": "chore: routine tidy",
    "named without a change": "chore: routine tidy",
}


class Reads:
    """How many objects the plan's ``cat-file`` processes were asked for."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        asked = gitcmd.ObjectReader.ask

        def counted(reader: gitcmd.ObjectReader, names: list[str]) -> None:
            self.count += len(names)
            asked(reader, names)

        monkeypatch.setattr(gitcmd.ObjectReader, "ask", counted)


def plan(work: Path) -> dict:
    return rollback.plan_rollback(work, BATCH, generated_at="2026-06-01T00:00:00Z", dry_run=True).document


@pytest.mark.parametrize("story", sorted(EXPECTED))
def test_the_first_change_after_the_batch_is_reported_whatever_the_messages_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, story: str
) -> None:
    work = history(tmp_path, story)
    reads = Reads(monkeypatch)
    hinted = plan(work)
    with_hints = reads.count
    assert later_change_of(hinted, "recipes/pkg-alpha.toml") == [EXPECTED[story]]
    assert hinted["files"][0]["action"] == "conflict"

    monkeypatch.setattr(commitgraph.Graph, "mentioning", lambda graph, text: [])  # no message helps
    reads.count = 0
    assert plan(work) == hinted
    if story == "named":
        assert with_hints < reads.count  # the named commit was probed first: fewer trees read
