"""rollback of batches that reached main through pull requests, as the first user's really do.

Real git: a bare remote whose ``refs/pull/N/head`` hold the PRs' heads (as GitHub keeps
them), squash merges with and without ``(#N)``, one batch id shipped by several PRs, hand
fixes on a PR, an unrelated PR based on a batch branch, merge and rebase merges, the ``pr``
and ``commit`` selectors; then the same through the GitHub stand-in (no PR refs fetched).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchops import cli
from batchops.adapters import schema
from batchops.core import rollback as rollback_rules
from batchops.core.rollback import Selector
from batchops.steps import rollback
from tests.contract.test_rollback import batch_message, change, seed_remote, show
from tests.support.gitrepo import commit_all, git

BATCH = "2026-05-01"
REFSPEC = "+refs/pull/*/head:refs/remotes/origin/pull/*/head"


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    return seed_remote(tmp_path)


def open_pr(repo: Path, number: int, commits: list[tuple[dict[str, str | None], str]], *, start: str = "main") -> str:
    """A PR branch from ``start`` with the given commits, pushed as refs/pull/N/head; returns its tip."""
    git(repo, "checkout", "-q", "-b", f"pr-{number}", start)
    for files, message in commits:
        change(repo, files, message)
    git(repo, "push", "-q", "origin", f"HEAD:refs/pull/{number}/head")
    git(repo, "checkout", "-q", "main")
    return git(repo, "rev-parse", f"pr-{number}")


def squash(
    repo: Path, number: int, subject: str = "feat(recipes): add batch recipes (2 recipes)", *, with_number: bool = True
) -> str:
    """Squash-merge PR ``number`` into main as GitHub does (one new commit, no batch_id line)."""
    git(repo, "merge", "-q", "--squash", f"pr-{number}")
    sha = commit_all(
        repo, (f"{subject} (#{number})" if with_number else subject) + "\n\nBatch generation of 2 packages.\n"
    )
    git(repo, "push", "-q", "origin", "main")
    git(repo, "branch", "-q", "-D", f"pr-{number}")  # GitHub deletes the head branch
    return sha


def fetch_pr_refs(repo: Path) -> None:
    git(repo, "fetch", "-q", "origin", REFSPEC)


def plan(repo: Path, selector: Selector | str = BATCH, **kwargs) -> dict:
    outcome = rollback.plan_rollback(repo, selector, generated_at="2026-06-01T00:00:00Z", **kwargs)
    schema.validate(outcome.document, "rollback-plan", file="plan")
    return outcome.document


def actions(document: dict) -> dict[str, str]:
    return {item["path"]: item["action"] for item in document["files"]}


def landings(document: dict) -> list[tuple[str, str, list[int]]]:
    return [(item["sha"], item["kind"], item["pull_requests"]) for item in document["landings"]]


def run_cli(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> tuple[int, dict[str, str], str]:
    code = cli.main(["rollback", "--working-directory", str(repo), *args])
    captured = capsys.readouterr()
    return code, dict(line.split("=", 1) for line in captured.out.splitlines() if "=" in line), captured.err


def test_squash_merges_with_and_without_the_pr_number_are_traced_through_pr_refs_offline(remote) -> None:
    _, repo = remote
    open_pr(repo, 11, [({"recipes/npm/left-pad.toml": "v1\n", "recipes/a.toml": "a = 2\n"}, batch_message(BATCH))])
    first = squash(repo, 11)
    open_pr(repo, 12, [({"recipes/cargo/ripgrep.toml": "v1\n"}, batch_message(BATCH))])
    second = squash(repo, 12, with_number=False)
    change(repo, {"README.md": "later\n"}, "docs: later work")

    with pytest.raises(rollback.BatchopsError) as info:
        plan(repo)  # the PR refs are not fetched: the batch's commits are nowhere in the checkout
    assert "not found in the history of main" in info.value.message
    assert f"batchops batches --fetch-refs {BATCH}" in info.value.hint  # only the PR refs that carry it

    fetch_pr_refs(repo)
    document = plan(repo)
    assert landings(document) == [(first, "squash", [11]), (second, "squash", [12])]
    assert actions(document) == {
        "recipes/a.toml": "restore",
        "recipes/cargo/ripgrep.toml": "remove",
        "recipes/npm/left-pad.toml": "remove",
    }
    assert document["not_acted_on"] == []


def test_one_batch_id_shipped_by_several_prs_is_rolled_back_whole(remote, capsys) -> None:
    bare, repo = remote
    shipped = {}
    for number, ecosystem in ((21, "npm"), (22, "cargo"), (23, "pypi")):
        open_pr(repo, number, [({f"recipes/{ecosystem}/tool.toml": f"{ecosystem}\n"}, batch_message(BATCH))])
        shipped[number] = squash(repo, number, with_number=number != 22)
    fetch_pr_refs(repo)
    code, outputs, _ = run_cli(capsys, repo, "--batch-id", BATCH)
    assert code == 0 and outputs["files-count"] == "3"
    document = json.loads(Path(outputs["plan-file"]).read_text())
    assert [item["sha"] for item in document["landings"]] == [shipped[21], shipped[22], shipped[23]]
    branch = f"rollback-batch-{BATCH}"
    for ecosystem in ("npm", "cargo", "pypi"):
        assert show(bare, branch, f"recipes/{ecosystem}/tool.toml") is None


def test_a_pr_with_hand_fix_commits_ships_the_fixed_content(remote) -> None:
    _, repo = remote
    open_pr(
        repo,
        31,
        [
            ({"recipes/jq.toml": "version = 1 # generated\n", "recipes/b.toml": "b = 2\n"}, batch_message(BATCH)),
            ({"recipes/jq.toml": "version = 1 # fixed by hand\n"}, "fix(jq): correct the generated recipe"),
        ],
    )
    merged = squash(repo, 31, with_number=False)
    fetch_pr_refs(repo)
    document = plan(repo)
    assert landings(document) == [(merged, "squash", [31])]
    assert actions(document) == {"recipes/b.toml": "restore", "recipes/jq.toml": "remove"}


def test_an_unrelated_pr_based_on_a_batch_branch_is_reported_not_acted_on(remote) -> None:
    _, repo = remote
    open_pr(repo, 41, [({"recipes/new.toml": "n\n"}, batch_message(BATCH))])
    open_pr(repo, 42, [({"docs/guide.md": "guide\n", "recipes/other.toml": "o\n"}, "docs: a guide")], start="pr-41")
    batch = squash(repo, 41)
    git(repo, "merge", "-q", "--squash", "pr-42")
    unrelated = commit_all(repo, "docs: a guide (#42)")
    git(repo, "branch", "-q", "-D", "pr-42")
    fetch_pr_refs(repo)
    document = plan(repo, paths=["recipes/", "docs/"])
    assert landings(document) == [(batch, "squash", [41])]
    assert actions(document) == {"recipes/new.toml": "remove"}  # not other.toml, not the guide
    assert [(item["pull_request"], item["merge_commit"]) for item in document["not_acted_on"]] == [(42, unrelated)]
    assert "shipped none of its files" in document["not_acted_on"][0]["note"]


def test_a_batch_merged_with_a_merge_commit_through_its_pr(remote) -> None:
    _, repo = remote
    open_pr(
        repo, 51, [({"recipes/new.toml": "n\n"}, batch_message(BATCH)), ({"recipes/new.toml": "n2\n"}, "fix by hand")]
    )
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge pull request #51 from tsuku/batch/20260501-101010", "pr-51")
    merge = git(repo, "rev-parse", "HEAD")
    document = plan(repo)
    assert landings(document) == [(merge, "merge", [51])]
    assert actions(document) == {"recipes/new.toml": "remove"}
    assert landings(plan(repo, Selector("pr", "51"))) == [(merge, "merge", [51])]


def test_a_rebase_merge_lands_each_rebased_commit(remote) -> None:
    _, repo = remote
    open_pr(
        repo,
        61,
        [
            ({"recipes/one.toml": "1\n"}, batch_message(BATCH, "part 1")),
            ({"recipes/two.toml": "2\n"}, batch_message(BATCH, "part 2")),
        ],
    )
    change(repo, {"README.md": "main moved\n"}, "docs")
    git(repo, "checkout", "-q", "pr-61")
    git(repo, "rebase", "-q", "main")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "pr-61")
    rebased = git(repo, "rev-list", "--reverse", "HEAD~2..HEAD").split()
    fetch_pr_refs(repo)
    document = plan(repo)
    assert [(sha, kind) for sha, kind, _ in landings(document)] == [(rebased[0], "commit"), (rebased[1], "commit")]
    assert actions(document) == {"recipes/one.toml": "remove", "recipes/two.toml": "remove"}
    by_pr = plan(repo, Selector("pr", "61"))
    assert [item["sha"] for item in by_pr["landings"]] == rebased


def test_a_direct_commit_is_selected_by_commit(remote, capsys) -> None:
    bare, repo = remote
    direct = change(repo, {"recipes/a.toml": "a = 9 (hand edit)\n", "recipes/z.toml": "z\n"}, "chore: a hand edit")
    change(repo, {"README.md": "later\n"}, "docs")
    git(repo, "push", "-q", "origin", "main")
    document = plan(repo, Selector("commit", direct[:9]))
    assert document["selector"] == {"kind": "commit", "value": direct} and document["batch_id"] == ""
    assert actions(document) == {"recipes/a.toml": "restore", "recipes/z.toml": "remove"}
    code, outputs, err = run_cli(capsys, repo, "--commit", direct[:9])
    assert code == 0 and outputs["branch"] == f"rollback-commit-{direct[:12]}"
    assert show(bare, outputs["branch"], "recipes/a.toml") == "a = 1\n"
    assert f"rollback-of: {direct}" in git(bare, "log", "-1", "--format=%B", outputs["branch"])

    git(repo, "checkout", "-q", "-b", "elsewhere")
    stray = change(repo, {"recipes/s.toml": "s\n"}, "not on main")
    git(repo, "checkout", "-q", "main")
    code, _, err = run_cli(capsys, repo, "--commit", stray)
    assert code == 2 and "is not in the history of main" in err


def test_pr_selects_what_that_prs_squash_shipped(remote) -> None:
    _, repo = remote
    open_pr(repo, 71, [({"recipes/x.toml": "x\n"}, "feat: x"), ({"recipes/y.toml": "y\n"}, "feat: y")])
    with_number = squash(repo, 71)
    open_pr(repo, 72, [({"recipes/w.toml": "w\n"}, "feat: w")])
    without = squash(repo, 72, with_number=False)
    assert landings(plan(repo, Selector("pr", "71"))) == [(with_number, "pull-request", [71])]  # offline, by (#71)
    with pytest.raises(rollback.BatchopsError, match="PR #72: no merge of it found"):
        plan(repo, Selector("pr", "72"))
    fetch_pr_refs(repo)
    document = plan(repo, Selector("pr", "72"))  # by the content of its PR ref
    assert [(item["sha"], item["kind"]) for item in document["landings"]] == [(without, "squash")]
    assert actions(document) == {"recipes/w.toml": "remove"}


def test_exactly_one_selector(remote, capsys) -> None:
    _, repo = remote
    code, _, err = run_cli(capsys, repo, "--batch-id", BATCH, "--pr", "3")
    assert code == 2 and "batch-id and pr given together" in err
    code, _, err = run_cli(capsys, repo, "--pr", "three")
    assert code == 2 and "not a pull request number" in err
    code, _, err = run_cli(capsys, repo, "--commit", "xyz;rm")
    assert code == 2 and "not a commit id" in err


def test_a_crafted_file_name_is_planned_and_applied_the_same(remote, capsys) -> None:
    bare, repo = remote
    evil = "recipes/evil\nbatch_id: 2026-05-02-other.toml"
    change(repo, {evil: "x\n", "recipes/fine.toml": "f\n"}, batch_message(BATCH))
    git(repo, "push", "-q", "origin", "main")
    dry = plan(repo)
    assert actions(dry) == {evil: "remove", "recipes/fine.toml": "remove"}
    code, outputs, err = run_cli(capsys, repo, "--batch-id", BATCH)
    assert code == 0 and outputs["files-count"] == "2" and "Traceback" not in err
    message = git(bare, "log", "-1", "--format=%B", outputs["branch"])
    assert not rollback_rules.message_names_batch(message, "2026-05-02-other")
    assert '- remove "recipes/evil\\nbatch_id: 2026-05-02-other.toml"' in message
    assert (
        git(bare, "ls-tree", "-r", "--name-only", outputs["branch"], "recipes/")
        == "recipes/a.toml\nrecipes/b.toml\nrecipes/c.toml"
    )


def test_recipes_depending_on_a_removed_recipe_are_warned_about(remote, capsys) -> None:
    _, repo = remote
    change(repo, {"recipes/gcc-libs.toml": '[metadata]\nname = "gcc-libs"\n'}, batch_message(BATCH))
    change(
        repo,
        {
            "recipes/nodejs.toml": '[metadata]\nname = "nodejs"\nruntime_dependencies = ["gcc-libs"]\n',
            "recipes/rust.toml": '[[steps]]\naction = "run"\ndependencies = ["gcc-libs", "bash"]\n',
            "recipes/jq.toml": '[metadata]\nname = "jq"\n',
        },
        "feat: recipes that need gcc-libs",
    )
    document = plan(repo)
    assert document["dependents"] == [
        {"path": "recipes/nodejs.toml", "recipe": "nodejs", "depends_on": ["gcc-libs"]},
        {"path": "recipes/rust.toml", "recipe": "rust", "depends_on": ["gcc-libs"]},
    ]
    code, _, err = run_cli(capsys, repo, "--batch-id", BATCH, "--dry-run", "true")
    assert code == 0 and "recipes/nodejs.toml (nodejs) depends on gcc-libs, which this rollback removes" in err


# --- through the GitHub stand-in ------------------------------------------------------------------


@pytest.fixture
def standin(github_api, remote, monkeypatch, mocker):  # type: ignore[no-untyped-def]
    bare, _ = remote
    github_api.add_repo("tsuku/registry", git_dir=bare)
    for name, value in github_api.env("tsuku/registry").items():
        monkeypatch.setenv(name, value)
    mocker.patch("batchops.adapters.github.sleep")  # rate-limit waits cost no time
    monkeypatch.setenv("BATCHOPS_GITHUB_WRITE_INTERVAL", "0")
    return github_api


def seed_pull(standin, repo: Path, number: int, merge: str, tip: str, *, head: str = "batch/20260501-101010") -> None:  # type: ignore[no-untyped-def]
    commits = [
        {"sha": sha, "message": git(repo, "log", "-1", "--format=%B", sha)}
        for sha in git(repo, "rev-list", "--reverse", f"main~1..{tip}", "--not", "main").split()
    ]
    standin.add_pull(
        "tsuku/registry",
        number=number,
        head=head,
        head_sha=tip,
        commits=commits,
        body="Batch recipe generation.",
        created_at="2026-05-01T09:00:00Z",
        merged_at="2026-05-01T10:00:00Z",
        merge_commit_sha=merge,
    )


def test_squash_merges_are_traced_through_the_api_when_no_pr_ref_was_fetched(remote, standin) -> None:
    _, repo = remote
    tip = open_pr(repo, 1, [({"recipes/npm/left-pad.toml": "v1\n"}, batch_message(BATCH))])
    merged = squash(repo, 1, with_number=False)
    seed_pull(standin, repo, 1, merged, tip)
    standin.add_pull(
        "tsuku/registry",
        number=2,
        head="feature",
        body="unrelated",
        created_at="2026-05-01T09:00:00Z",
        merged_at="2026-05-01T11:00:00Z",
        merge_commit_sha="1" * 40,
    )
    standin.inject("GET", "/repos/tsuku/registry/pulls", 403)  # a secondary rate limit: retried
    document = plan(repo, token=standin.token, repository="tsuku/registry")
    assert landings(document) == [(merged, "squash", [1])]
    assert document["landings"][0]["pull_request_urls"] == [standin.pulls("tsuku/registry")[0]["html_url"]]
    assert actions(document) == {"recipes/npm/left-pad.toml": "remove"}
    assert git(repo, "rev-parse", "refs/remotes/origin/pull/1/head") == tip  # fetched for the trace


def test_the_api_names_the_pr_of_a_squash_without_a_number(remote, standin) -> None:
    _, repo = remote
    tip5 = open_pr(repo, 5, [({"recipes/r5.toml": "r\n"}, batch_message(BATCH))])
    tip6 = open_pr(
        repo, 6, [({"recipes/r6.toml": "r\n"}, "more")], start="pr-5"
    )  # based on PR 5: carries the batch commit
    seed_pull(standin, repo, 5, squash(repo, 5, with_number=False), tip5)
    seed_pull(standin, repo, 6, squash(repo, 6, with_number=False), tip6)
    fetch_pr_refs(repo)
    offline = plan(repo)
    assert offline["landings"][0]["pull_requests"] == [] and offline["landings"][0]["candidate_pull_requests"] == [5, 6]
    document = plan(repo, token=standin.token, repository="tsuku/registry")
    assert [item["pull_requests"] for item in document["landings"]] == [[5]]
    assert actions(document) == {"recipes/r5.toml": "remove"}


def test_pr_creation_is_retried_and_a_rerun_opens_the_pr_for_the_branch_it_pushed(remote, standin, capsys) -> None:
    bare, repo = remote
    change(repo, {"recipes/new.toml": "n\n"}, batch_message(BATCH))
    git(repo, "push", "-q", "origin", "main")
    standin.inject("POST", "/repos/tsuku/registry/pulls", 403)  # secondary rate limit: retried
    code, outputs, err = run_cli(capsys, repo, "--batch-id", BATCH, "--github-token", standin.token)
    assert code == 0, err
    pull = standin.pulls("tsuku/registry")[-1]
    assert outputs["pr-url"] == pull["html_url"] and pull["head"]["ref"] == f"rollback-batch-{BATCH}"
    assert pull["body"].rstrip().endswith(f"rollback-of: {BATCH}") and "batch_id:" not in pull["body"]

    # a run whose PR creation failed for good left the branch pushed: the re-run opens the PR
    other = repo.parent / "second"
    git(repo.parent, "clone", "-q", str(bare), str(other))
    change(other, {"recipes/more.toml": "m\n"}, batch_message("2026-05-02"))
    git(other, "push", "-q", "origin", "main")
    standin.inject(
        "POST",
        "/repos/tsuku/registry/pulls",
        422,
        times=1,
        body={
            "message": "Validation Failed",
            "errors": [{"resource": "PullRequest", "code": "custom", "message": "injected refusal"}],
            "documentation_url": "https://docs.github.com/rest",
        },
    )
    code, outputs, err = run_cli(capsys, other, "--batch-id", "2026-05-02", "--github-token", standin.token)
    assert code == 1 and "injected refusal" in err and outputs["pr-url"] == ""
    assert git(bare, "rev-parse", "rollback-batch-2026-05-02")
    code, outputs, err = run_cli(capsys, other, "--batch-id", "2026-05-02", "--github-token", standin.token)
    assert code == 0 and "pushed by an earlier run for the same plan" in err
    assert outputs["pr-url"] == standin.pulls("tsuku/registry")[-1]["html_url"]
    # and once the PR exists, another re-run finds it rather than failing on "already exists"
    code, outputs_again, err = run_cli(capsys, other, "--batch-id", "2026-05-02", "--github-token", standin.token)
    assert code == 0 and outputs_again["pr-url"] == outputs["pr-url"] and "Found the open pull request" in err
