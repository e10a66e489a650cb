"""The merged-PR listing rollback reads through the API: it stops at PRs older than the batch,
and a PR that names the batch but was merged outside the base branch is reported, not planned."""

from __future__ import annotations

from batchops.adapters import schema
from batchops.steps import rollback
from tests.contract.test_rollback import batch_message
from tests.contract.test_rollback_pulls import (  # noqa: F401 (fixtures)
    BATCH,
    landings,
    open_pr,
    plan,
    remote,
    seed_pull,
    squash,
    standin,
)


def _batch_squashed_through_pr_1(repo, api) -> str:  # type: ignore[no-untyped-def]
    tip = open_pr(repo, 1, [({"recipes/npm/left-pad.toml": "v1\n"}, batch_message(BATCH))])
    merged = squash(repo, 1, with_number=False)
    seed_pull(api, repo, 1, merged, tip)
    return merged


def test_pull_listing_stops_at_pull_requests_older_than_the_batch(remote, standin) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    _, repo = remote
    merged = _batch_squashed_through_pr_1(repo, standin)
    for number in range(2, 252):  # 250 PRs merged months before the batch: the later pages are never needed
        standin.add_pull(
            "tsuku/registry",
            number=number,
            head=f"old-{number}",
            created_at="2026-01-09T00:00:00Z",
            merged_at="2026-01-10T00:00:00Z",
            updated_at="2026-01-10T00:00:00Z",
            merge_commit_sha="3" * 40,
        )
    document = plan(repo, token=standin.token, repository="tsuku/registry")
    assert landings(document) == [(merged, "squash", [1])]
    assert len(standin.requests_to("GET", "/repos/tsuku/registry/pulls")) == 1


def test_pull_request_merged_outside_the_base_branch_is_ignored_with_a_warning(remote, standin) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    _, repo = remote
    _batch_squashed_through_pr_1(repo, standin)
    standin.add_pull(
        "tsuku/registry",
        number=40,
        head=f"batch/{BATCH}",
        body=f"batch_id: {BATCH}\n",
        created_at="2026-05-01T09:00:00Z",
        merged_at="2026-05-01T12:00:00Z",
        merge_commit_sha="2" * 40,
    )
    outcome = rollback.plan_rollback(
        repo, BATCH, token=standin.token, repository="tsuku/registry", generated_at="2026-06-01T00:00:00Z"
    )
    schema.validate(outcome.document, "rollback-plan", file="plan")
    assert {item["path"]: item["action"] for item in outcome.document["files"]} == {
        "recipes/npm/left-pad.toml": "remove"
    }
    assert any("PR #40" in w and "not in the history of the base branch; ignored" in w for w in outcome.warnings), (
        outcome.warnings
    )
