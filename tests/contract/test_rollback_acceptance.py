"""rollback as an operator meets it during an incident, on histories shaped like the first user's.

Real git, PR refs fetched as ``actions/checkout`` plus the documented refspec gives them. These
cases come from the first user's real history: broken batch recipes removed by hand a few days
after they shipped, retries of one batch opened as several PRs with the same recipes, and
squash commits that also carry the batch's bookkeeping files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from batchops.core.rollback import Selector
from batchops.steps import rollback
from tests.contract.test_rollback import change
from tests.contract.test_rollback_pulls import (
    BATCH,
    actions,
    fetch_pr_refs,
    landings,
    open_pr,
    plan,
    remote,  # noqa: F401 - the fixture
    run_cli,
    squash,
    standin,  # noqa: F401 - the fixture
)
from tests.support.gitrepo import commit_all, git


def test_a_shipped_recipe_removed_by_hand_later_is_listed_as_already_gone(remote) -> None:  # noqa: F811
    _, repo = remote
    open_pr(
        repo,
        41,
        [
            (
                {"recipes/g/global.toml": "global\n", "recipes/l/lxc.toml": "lxc\n"},
                "feat(recipes): add batch recipes\n\nbatch_id: " + BATCH + "\n",
            )
        ],
    )
    shipped = squash(repo, 41, with_number=False)
    change(repo, {"recipes/g/global.toml": None}, "fix(recipes): remove broken recipes (#2153)")
    fetch_pr_refs(repo)

    document = plan(repo)

    assert landings(document) == [(shipped, "squash", [41])]
    assert document["landings"][0]["files"] == ["recipes/g/global.toml", "recipes/l/lxc.toml"]
    assert actions(document) == {"recipes/g/global.toml": "none", "recipes/l/lxc.toml": "remove"}
    gone = next(item for item in document["files"] if item["path"] == "recipes/g/global.toml")
    assert "already as before" in gone["note"]


def test_a_batch_whose_every_recipe_was_removed_by_hand_is_found_not_called_unmerged(remote, capsys) -> None:  # noqa: F811
    _, repo = remote
    open_pr(
        repo,
        42,
        [({"recipes/j/jsonlint.toml": "jsonlint\n"}, "feat(recipes): add batch recipes\n\nbatch_id: " + BATCH + "\n")],
    )
    shipped = squash(repo, 42, with_number=False)
    change(repo, {"recipes/j/jsonlint.toml": None}, "fix(recipes): remove broken recipes")
    fetch_pr_refs(repo)

    document = plan(repo)
    assert landings(document) == [(shipped, "squash", [42])]
    assert actions(document) == {"recipes/j/jsonlint.toml": "none"}

    code, outputs, err = run_cli(capsys, repo, "--batch-id", BATCH, "--dry-run", "true")
    assert code == 0 and outputs["files-count"] == "0"
    assert "never reached" not in err and "Nothing to roll back" in err


def test_a_recipe_modified_by_the_batch_and_set_back_by_hand_is_listed_as_already_restored(remote) -> None:  # noqa: F811
    _, repo = remote
    open_pr(
        repo,
        43,
        [
            (
                {"recipes/a.toml": "a = 2 # batch\n", "recipes/n.toml": "n\n"},
                "feat(recipes): add batch recipes\n\nbatch_id: " + BATCH + "\n",
            )
        ],
    )
    shipped = squash(repo, 43)
    change(repo, {"recipes/a.toml": "a = 1\n"}, "revert the batch's edit of a by hand")
    fetch_pr_refs(repo)

    document = plan(repo)

    assert landings(document) == [(shipped, "squash", [43])]
    assert actions(document) == {"recipes/a.toml": "none", "recipes/n.toml": "remove"}


def push_retries(repo: Path, recipes: dict[str, str], attempts: dict[int, int]) -> None:
    """Retries of BATCH, one PR (number -> attempt) each: the same recipes, the queue file regenerated."""
    for number, attempt in attempts.items():
        git(repo, "checkout", "-q", "-b", f"pr-{number}", "main")
        change(
            repo,
            {**recipes, "data/priority-queue.json": f'{{"attempt": {attempt}}}\n'},
            "feat(recipes): add batch recipes\n\nbatch_id: " + BATCH + "\n",
        )
        git(repo, "push", "-q", "origin", f"HEAD:refs/pull/{number}/head")
        git(repo, "checkout", "-q", "main")


def test_retries_of_one_batch_with_the_same_recipes_name_the_pr_whose_content_shipped(remote) -> None:  # noqa: F811
    _, repo = remote
    recipes = {"recipes/a/azcopy.toml": "azcopy\n", "recipes/l/lua.toml": "lua\n"}
    push_retries(repo, recipes, {59: 1, 60: 2, 61: 3})  # each retry regenerates the queue file, same recipes
    git(repo, "merge", "-q", "--squash", "pr-60")
    shipped = commit_all(repo, "feat(recipes): add batch homebrew recipes (2 recipes)\n")
    fetch_pr_refs(repo)

    document = plan(repo)

    [landing] = document["landings"]
    assert landing["sha"] == shipped and landing["pull_requests"] == [60] and landing["candidate_pull_requests"] == []
    assert actions(document) == {"recipes/a/azcopy.toml": "remove", "recipes/l/lua.toml": "remove"}
    assert sorted(item["pull_request"] for item in document["not_acted_on"]) == [59, 61]
    assert all(
        "(as PR #60)" in item["note"] and "not merged itself" in item["note"] for item in document["not_acted_on"]
    )


def test_retries_that_are_alike_in_every_file_stay_candidates(remote) -> None:  # noqa: F811
    _, repo = remote
    for number in (62, 63):
        open_pr(
            repo,
            number,
            [({"recipes/a/azcopy.toml": "azcopy\n"}, "feat(recipes): add batch recipes\n\nbatch_id: " + BATCH + "\n")],
        )
    git(repo, "merge", "-q", "--squash", "pr-63")
    commit_all(repo, "feat(recipes): add batch recipes (1 recipes)\n")
    fetch_pr_refs(repo)

    [landing] = plan(repo)["landings"]

    assert landing["pull_requests"] == [] and landing["candidate_pull_requests"] == [62, 63]


def test_an_id_that_truly_never_landed_is_refused_with_where_it_is(remote, capsys) -> None:  # noqa: F811
    _, repo = remote
    open_pr(repo, 44, [({"recipes/new.toml": "n\n"}, "feat(recipes): add batch recipes\n\nbatch_id: " + BATCH + "\n")])
    change(repo, {"README.md": "later\n"}, "docs: later work")
    fetch_pr_refs(repo)

    with pytest.raises(rollback.BatchopsError) as info:
        plan(repo)

    assert "never reached main" in info.value.message and "origin/pull/44/head" in info.value.message


def test_a_rerun_in_a_fresh_checkout_after_pr_creation_failed_opens_the_pr(remote, standin, capsys) -> None:  # noqa: F811
    bare, repo = remote
    open_pr(repo, 45, [({"recipes/new.toml": "n\n"}, "feat(recipes): add batch recipes\n\nbatch_id: " + BATCH + "\n")])
    squash(repo, 45, with_number=False)
    fetch_pr_refs(repo)
    standin.inject(
        "POST",
        "/repos/tsuku/registry/pulls",
        422,
        body={
            "message": "Validation Failed",
            "documentation_url": "https://docs.github.com/rest",
            "errors": [
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": "No commits between main and rollback-batch-" + BATCH,
                }
            ],
        },
    )

    code, outputs, err = run_cli(capsys, repo, "--batch-id", BATCH, "--github-token", standin.token)
    assert code == 1 and "No commits between main and rollback-batch-" + BATCH in err and outputs["pr-url"] == ""
    branch = f"rollback-batch-{BATCH}"
    message = git(bare, "log", "-1", "--format=%B", branch)
    assert f"rollback-of: {BATCH}" in message and "batch_id:" not in message

    rerun = repo.parent / "rerun"  # the re-run job checks out afresh, as actions/checkout with fetch-depth 0 does
    git(repo.parent, "clone", "-q", str(bare), str(rerun))
    fetch_pr_refs(rerun)
    code, outputs, err = run_cli(capsys, rerun, "--batch-id", BATCH, "--github-token", standin.token)
    assert code == 0, err
    assert "pushed by an earlier run for the same plan" in err
    assert outputs["pr-url"] == standin.pulls("tsuku/registry")[-1]["html_url"] and outputs["branch"] == branch


def test_pr_after_main_was_rewritten_rolls_back_only_the_prs_own_commits(remote) -> None:  # noqa: F811
    bare, repo = remote
    change(repo, {"recipes/b.toml": "b = 2\n"}, "feat: b two (#7)")
    git(repo, "push", "-q", "origin", "main")
    open_pr(repo, 46, [({"recipes/new.toml": "n\n"}, "feat(recipes): add batch recipes\n\nbatch_id: " + BATCH + "\n")])
    # main is rewritten (signatures stripped, a file purged...): same trees and authors, new commit ids;
    # GitHub keeps refs/pull/46/head on the old commits
    rewritten = ""
    for sha in git(repo, "rev-list", "--reverse", "main").split():
        message = git(repo, "log", "-1", "--format=%B", sha) + "\n"
        env = {
            "GIT_AUTHOR_DATE": git(repo, "log", "-1", "--format=%aI", sha),
            "GIT_COMMITTER_DATE": git(repo, "log", "-1", "--format=%cI", sha),
            "GIT_COMMITTER_NAME": "History Rewriter",
        }
        args = [
            "commit-tree",
            git(repo, "rev-parse", f"{sha}^{{tree}}"),
            *(["-p", rewritten] if rewritten else []),
            "-m",
            message,
        ]
        rewritten = git(repo, *args, env=env)
    git(repo, "reset", "-q", "--hard", rewritten)
    git(repo, "push", "-q", "-f", "origin", "main")
    git(repo, "checkout", "pr-46", "--", "recipes/new.toml")  # the squash: the PR's change on the new main
    shipped = commit_all(repo, "feat(recipes): add batch recipes (1 recipes)\n")
    git(repo, "push", "-q", "origin", "main")
    fetch_pr_refs(repo)

    for document in (plan(repo, Selector("pr", "46")), plan(repo)):
        assert [item["sha"] for item in document["landings"]] == [shipped]
        assert actions(document) == {"recipes/new.toml": "remove"}  # not b.toml, shipped by an older commit of main


def test_pr_of_a_retry_that_was_not_merged_is_refused_though_its_recipes_shipped_through_another(remote) -> None:  # noqa: F811
    _, repo = remote
    recipes = {"recipes/a/azcopy.toml": "azcopy\n"}
    push_retries(repo, recipes, {59: 1, 60: 2})
    git(repo, "merge", "-q", "--squash", "pr-60")
    shipped = commit_all(repo, "feat(recipes): add batch homebrew recipes (1 recipes)\n")
    fetch_pr_refs(repo)

    assert [(item["sha"], item["pull_requests"]) for item in plan(repo, Selector("pr", "60"))["landings"]] == [
        (shipped, [60])
    ]
    with pytest.raises(rollback.BatchopsError) as info:
        plan(repo, Selector("pr", "59"))
    assert info.value.message.startswith(
        "PR #59: no merge of it found on main: its ref origin/pull/59/head is in the checkout"
    )
