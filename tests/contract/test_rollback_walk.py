"""A batch rollback's one history walk: started ahead of the CLI, taken in as git writes it.

``batchops rollback`` starts the walk before the CLI loads (a guess from its command line, checked
against the walk the planner needs) and reads the walk's output while git still writes it. A user
sees neither: the plan is the plan of a walk started and read the plain way, a guess that does
not fit is stopped, and no git process outlives the step. Real repositories, real git processes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchops.adapters import commitgraph, walk_ahead
from batchops.adapters import git as gitcmd
from batchops.adapters.git.errors import GitError
from batchops.steps import rollback
from tests.cli_helpers import run_cli
from tests.contract.test_rollback import BATCH, batch_message, change, seed_remote
from tests.support.gitrepo import git

ODD_MESSAGES = [
    "\x1eopens with the record mark\n",
    "holds \x1e the record mark and a bare \x1e\n",
    "ends with a NUL-free control run \x01\x02\x1f\n",
    "non-UTF-8 bytes follow: \udcff\udcfe\n",
]


def history_with_odd_messages(tmp_path: Path) -> tuple[Path, str]:
    """A clone whose main has a batch, a merge and commits whose messages hold the walk's own marks."""
    _, work = seed_remote(tmp_path)
    for number, message in enumerate(ODD_MESSAGES):
        text = message.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        change(work, {f"recipes/odd{number}.toml": f"n = {number}\n"}, text)
    git(work, "switch", "-q", "-c", "side")
    change(work, {"recipes/side.toml": "side = 1\n"}, batch_message(BATCH))
    git(work, "switch", "-q", "main")
    change(work, {"recipes/main.toml": "main = 1\n"}, "on main meanwhile")
    git(work, "merge", "-q", "--no-ff", "-m", "Merge branch side", "side")
    return work, git(work, "rev-parse", "main")


def walk_output(repo: Path, base: str) -> bytes:
    tips = git(repo, "for-each-ref", "--format=%(objectname)", "refs/heads").split()
    walk = commitgraph.start(repo, [base, *sorted(set(tips) - {base})])
    return walk.result()


def graph_facts(graph: commitgraph.Graph, base: str) -> dict[str, object]:
    line = graph.mainline()
    found = graph.with_text(["batch_id: " + BATCH, "\x1e"])
    return {
        "line": line.shas,
        "times": line.times,
        "found": [(c.sha, c.parents, c.time, c.message) for c in found],
        "commits": [(c.sha, c.parents, c.message) for c in graph.commits(line.shas)],
        "base in it": base in graph,
    }


@pytest.fixture(scope="module")
def odd_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    repo, base = history_with_odd_messages(tmp_path_factory.mktemp("odd"))
    return walk_output(repo, base), base


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_the_walk_read_as_git_writes_it_is_the_walk_read_whole(odd_history: tuple[bytes, str], cuts: list[int]) -> None:
    data, base = odd_history
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    chunks = [data[a:b] for a, b in zip(points, points[1:], strict=False)]
    assert graph_facts(commitgraph.Graph.streamed(iter(chunks), base), base) == graph_facts(
        commitgraph.Graph(data, base), base
    )


def test_the_batch_is_found_whatever_its_neighbours_messages_hold(odd_history: tuple[bytes, str]) -> None:
    data, base = odd_history
    graph = commitgraph.Graph.streamed(iter([data[i : i + 7] for i in range(0, len(data), 7)]), base)
    batch = [c for c in graph.with_text(["batch_id: " + BATCH]) if ("batch_id: " + BATCH) in c.message.splitlines()]
    assert len(batch) == 1 and batch[0].message.startswith("feat(recipes)")
    marked = [c for c in graph.with_text(["\x1e"]) if "\x1e" in c.message]
    assert len(marked) == 2  # the two messages holding the record mark, read whole


def test_a_walk_git_refuses_names_the_command_and_git_s_message(tmp_path: Path) -> None:
    _, work = seed_remote(tmp_path)
    walk = gitcmd.Background(work, walk_ahead.WALK, input=b"0123456789012345678901234567890123456789\n")
    with pytest.raises(GitError) as failure:
        list(walk.stream())
    assert "git log -z" in failure.value.message and str(work) in failure.value.message


# --- the walk started ahead ----------------------------------------------------------------------


def planner_input(repo: Path) -> bytes:
    refs = dict(line.split(" ") for line in git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines())
    base = refs["refs/heads/main"]
    return walk_ahead.walk_input(
        base, [sha for ref, sha in refs.items() if walk_ahead.searched(ref, "refs/heads/main", "main")]
    )


def test_the_walk_started_ahead_is_handed_over_only_when_it_is_the_planner_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, _ = history_with_odd_messages(tmp_path)
    git(work, "branch", "rollback-batch-2026-05-01-npm", "main~2")  # a rollback branch: never walked
    monkeypatch.chdir(work)
    walk_ahead.start(["--batch-id", BATCH, "--base-branch", "main"], os.environ)
    taken = walk_ahead.take(work, walk_ahead.WALK, planner_input(work), walk_ahead.git_environment(os.environ))
    assert taken is not None
    adopted = gitcmd.Background.adopt(taken.proc, taken.out, taken.err, work, walk_ahead.WALK)
    assert adopted.result() == gitcmd.Background(work, walk_ahead.WALK, input=planner_input(work)).result()

    walk_ahead.start([f"--batch-id={BATCH}"], os.environ)  # the base branch: the checked-out one
    guess = walk_ahead._pending[-1]
    assert walk_ahead.take(work, walk_ahead.WALK, b"something else\n", walk_ahead.git_environment(os.environ)) is None
    assert guess.proc.poll() is not None and guess.out.closed  # a wrong guess is stopped at once


@pytest.mark.parametrize(
    "args",
    [
        ["--pr", "12"],
        [f"--batch-id={BATCH}", "--commit=abc"],
        [],  # no batch id: nothing to walk for
        ["--batch-id", BATCH, "--base-branch", "no-such-branch"],
    ],
)
def test_no_walk_is_started_for_a_plan_that_does_not_need_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    _, work = seed_remote(tmp_path)
    monkeypatch.chdir(work)
    walk_ahead.start(args, os.environ)
    assert walk_ahead._pending == []


@pytest.mark.parametrize(
    "how",
    ["inputs", "flags", "abbreviated flag", "other directory"],
)
def test_a_plan_is_the_same_with_its_walk_started_ahead_or_not(tmp_path: Path, how: str) -> None:
    """The guess fits (inputs, flags) or does not (argparse's abbreviation, a working directory
    given from elsewhere): the plan is the same, and no git process outlives the step."""
    work, _ = history_with_odd_messages(tmp_path)
    plan_file = tmp_path / "plan.json"
    env = {"BATCHOPS_NOW": "2026-06-01T00:00:00Z"}
    args = ["--dry-run", "--plan-file", str(plan_file)]
    cwd = work
    if how == "inputs":
        env.update(INPUT_BATCH_ID=BATCH, INPUT_BASE_BRANCH="main")
    elif how == "flags":
        args += ["--batch-id", BATCH, "--base-branch", "main"]
    elif how == "abbreviated flag":
        args += ["--batch-id", BATCH, "--base", "main"]
    else:
        args += ["--batch-id", BATCH, "--working-directory", str(work)]
        cwd = tmp_path
    run = run_cli(["rollback", *args], cwd, env=env)  # python -m batchops: the entry that starts the walk
    assert run.returncode == 0, run.log
    ahead = json.loads(plan_file.read_text())
    plain = rollback.plan_rollback(work, BATCH, base_branch="main", generated_at=ahead["generated_at"], dry_run=True)
    assert ahead == plain.document  # planned in this process: no walk started ahead
    assert {f["path"] for f in ahead["files"]} == {"recipes/side.toml"}
    assert processes_in(work) == []


def processes_in(folder: Path) -> list[str]:
    """The processes whose working directory is ``folder`` (a git the step left running would be one)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd") == str(folder):
                found.append((entry / "cmdline").read_bytes().replace(b"\x00", b" ").decode("utf-8", "replace"))
        except OSError:
            continue
    return found
