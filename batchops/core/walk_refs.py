"""Which refs a batch rollback's history walk reads: the base branch and every other ref, but not
rollback branches nor GitHub's test merges (pure; standard library only, so that the walk can be
started before the CLI loads, see :mod:`batchops.adapters.walk_ahead`)."""

from __future__ import annotations

import re
from collections.abc import Iterable

BRANCH_PREFIX = "rollback-"  # the branches rollbacks push: never a carrier of what they undo

_MERGE_REF = re.compile(r"^refs/(?:remotes/[^/]+/)?pull/[0-9]{1,9}/merge$")


def is_test_merge_ref(name: str) -> bool:
    """GitHub's ``refs/pull/N/merge``: a merge it made to test the PR, never shipped."""
    return bool(_MERGE_REF.match(name))


def searched(name: str, base_ref: str, base_name: str) -> bool:
    """Whether the ref ``name`` (full) is one the walk reads beside the base branch ``base_ref``."""
    short = name.removeprefix("refs/remotes/").removeprefix("refs/heads/")
    return (
        name not in (base_ref, f"refs/remotes/origin/{base_name}")
        and not short.startswith(BRANCH_PREFIX)
        and "/" + BRANCH_PREFIX not in name
        and not is_test_merge_ref(name)
    )


def walk_input(base_sha: str, tips: Iterable[str]) -> bytes:
    """What the walk reads on its standard input: the base branch's tip, then the other tips, sorted."""
    return "".join(f"{revision}\n" for revision in [base_sha, *sorted(set(tips))]).encode()
