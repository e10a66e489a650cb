"""Rollback planning: what one batch (or one PR, or one commit) shipped, and what each file becomes.

Pure: the git history comes in as parsed values (see :mod:`batchops.adapters.history`);
nothing here reads git, the network, the clock or the environment.

How a batch is traced (the first user's batches reach the base branch as squash merges
that carry neither the ``batch_id:`` line nor, often, a ``(#N)``):

* **sources**: the batch's own commits, found by the exact line ``batch_id: ID`` (a fixed
  string on a line of its own, never a prefix or a regex) on the base branch and on the
  other refs of the checkout (PR refs ``refs/remotes/origin/pull/*/head``,
  ``refs/pull/*/head``, branches). Each sets some files to some content.
* **carriers**: the tips of refs that carry a source commit (a PR's head with hand fixes
  on top); the content a batch file has at such a tip counts as the batch's content too.
* a **landing** of the batch for a file is a first-parent commit of the base branch that
  sets the file to one of those contents (not earlier than the commit the content comes
  from), or a merge on the first-parent line whose merged side holds a source commit
  touching the file. ``(#N)`` in a landing's subject, a carrier PR ref, or the GitHub API
  name the pull request; a carrier PR whose merge shipped none of the batch's files is
  reported, never acted on.

Per file, the content before the batch is the one in the first parent of its first
landing, the batch's content the one its last landing left. Compared with the base tip:
``remove`` (the batch added it), ``restore`` (modified or deleted it), ``conflict``
(changed since by a commit not of the batch: left untouched unless ``force``) or ``none``
(already as before the batch).

The rules live by concept: :mod:`.ids` (selectors, names, paths), :mod:`.gitlog` (git's output
parsed), :mod:`.landings` (the selection and where it landed), :mod:`.files` (per-file actions),
:mod:`.report` (the plan document, messages).
"""

from __future__ import annotations

from batchops.core.rollback.files import (
    FileChange,
    FilePlan,
    changed_since,
    counts,
    decide,
    file_changes,
)
from batchops.core.rollback.gitlog import (
    Change,
    Commit,
    Entry,
    MainCommit,
    Ref,
    parse_commits,
    parse_diff_tree,
    parse_mainline,
    parse_raw,
    parse_refs,
    pr_of_ref,
)
from batchops.core.rollback.ids import (
    BATCH_ID_PATTERN,
    BATCH_KEY,
    DEFAULT_PATHS,
    ROLLBACK_KEY,
    SHA,
    ZERO,
    Selector,
    batch_line,
    branch_name,
    choose_selector,
    has_line,
    message_names_batch,
    normalize_paths,
    pr_number_in_subject,
    quote_path,
    under,
    validate_batch_id,
    validate_commit,
    validate_pr,
)
from batchops.core.rollback.landings import (
    Landing,
    Selection,
    Target,
    find_landings,
    interesting_paths,
    targets,
)
from batchops.core.rollback.report import (
    carrier_prs,
    commit_message,
    dependents,
    landing_date,
    not_found_message,
    parse_recipe,
    plan_document,
    recipe_dependencies,
    recipe_name,
    unshipped_carriers,
)
from batchops.core.walk_refs import BRANCH_PREFIX, is_test_merge_ref

__all__ = [
    "BATCH_ID_PATTERN",
    "BATCH_KEY",
    "BRANCH_PREFIX",
    "Change",
    "Commit",
    "DEFAULT_PATHS",
    "Entry",
    "FileChange",
    "FilePlan",
    "Landing",
    "MainCommit",
    "ROLLBACK_KEY",
    "Ref",
    "SHA",
    "Selection",
    "Selector",
    "Target",
    "ZERO",
    "batch_line",
    "branch_name",
    "carrier_prs",
    "changed_since",
    "choose_selector",
    "commit_message",
    "counts",
    "decide",
    "dependents",
    "landing_date",
    "file_changes",
    "find_landings",
    "has_line",
    "interesting_paths",
    "is_test_merge_ref",
    "message_names_batch",
    "normalize_paths",
    "not_found_message",
    "parse_commits",
    "parse_diff_tree",
    "parse_mainline",
    "parse_raw",
    "parse_recipe",
    "parse_refs",
    "plan_document",
    "pr_number_in_subject",
    "pr_of_ref",
    "quote_path",
    "recipe_dependencies",
    "recipe_name",
    "targets",
    "under",
    "unshipped_carriers",
    "validate_batch_id",
    "validate_commit",
    "validate_pr",
]
