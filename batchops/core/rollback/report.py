"""What a rollback reports: PRs not acted on, dependents of removed recipes, the plan document, the commit message."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from batchops.core.rollback.files import FilePlan, counts
from batchops.core.rollback.ids import BATCH_KEY, ROLLBACK_KEY, Selector, batch_line, quote_path
from batchops.core.rollback.landings import Landing, Selection, interesting_paths
from batchops.errors import BatchopsError

# how to give a token, at a terminal and in a workflow alike (the core cannot tell which it runs in)
GIVE_TOKEN = "a GitHub token (--github-token TOKEN; in a workflow, the github-token input)"


def carrier_prs(selection: Selection) -> list[int]:
    """Numbers of the PR refs that carry commits of the selection."""
    numbers = set()
    for ref, carried in selection.carriers.items():
        number = selection.refs[ref].pr if ref in selection.refs else None
        if carried and number is not None:
            numbers.add(number)
    return sorted(numbers)


def unshipped_carriers(
    selection: Selection, landings: Sequence[Landing], merges: Mapping[int, str]
) -> list[dict[str, Any]]:
    """PR refs carrying the selection's commits whose merge shipped none of its files (reported only)."""
    credited = {n for landing in landings for n in (*landing.pull_requests, *landing.candidates)}
    landing_ids = {landing.sha for landing in landings}
    alike = {n: landing for landing in reversed(landings) for n in landing.alike}
    reported = []
    for number in carrier_prs(selection):
        if number in credited:
            continue
        merge = merges.get(number, "")
        if merge and merge in landing_ids:
            continue
        if number in alike and not merge:
            landing = alike[number]
            shipped_as = ", ".join(f"#{n}" for n in (landing.pull_requests or landing.candidates))
            note = (
                f"PR #{number} carries commits of {selection.selector.label} with part of the content that "
                f"{landing.sha[:12]} shipped{' (as PR ' + shipped_as + ')' if shipped_as else ''}, but not all of it: "
                "another attempt, not merged itself; not acted on"
            )
        elif merge:
            note = (
                f"PR #{number} carries commits of {selection.selector.label}, but its merge {merge[:12]} "
                "shipped none of its files; not acted on"
            )
        else:
            note = (
                f"PR #{number} carries commits of {selection.selector.label}; no commit of the base branch "
                "shipped their content (not merged, or merged without them); not acted on"
            )
        reported.append({"pull_request": number, "merge_commit": merge, "note": note})
    return reported


def recipe_name(path: str, document: Mapping[str, Any] | None = None) -> str:
    meta = document.get("metadata") if isinstance(document, Mapping) else None
    if isinstance(meta, Mapping) and isinstance(meta.get("name"), str) and meta["name"].strip():
        return meta["name"].strip()
    stem = path.rsplit("/", 1)[-1]
    return stem[:-5] if stem.endswith(".toml") else stem


def recipe_dependencies(text: str) -> set[str] | None:
    """Names a recipe depends on (``dependencies`` / ``runtime_dependencies``, top level,
    ``[metadata]`` or any step), or None when it is not TOML."""
    import tomllib  # only when a removed recipe may have dependents

    try:
        document = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return None
    names: set[str] = set()

    def collect(table: Any) -> None:
        if not isinstance(table, Mapping):
            return
        for key in ("dependencies", "runtime_dependencies"):
            value = table.get(key)
            if isinstance(value, list):
                names.update(v.strip() for v in value if isinstance(v, str) and v.strip())

    collect(document)
    collect(document.get("metadata"))
    steps = document.get("steps")
    if isinstance(steps, list):
        for step in steps:
            collect(step)
    return names


def parse_recipe(path: str, text: str) -> tuple[str, set[str]]:
    import tomllib

    try:
        document = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return recipe_name(path), set()
    return recipe_name(path, document), recipe_dependencies(text) or set()


def dependents(removed: Mapping[str, str], recipes: Mapping[str, str], leaving: Iterable[str]) -> list[dict[str, Any]]:
    """Recipes outside the rollback that depend on a recipe it removes.

    ``removed``: path -> recipe name of every recipe the plan removes; ``recipes``:
    path -> text of recipes at the base tip that may depend on them; ``leaving``: paths the
    plan removes (they do not count as dependents)."""
    gone = set(leaving)
    by_name: dict[str, list[str]] = {}
    for path, name in removed.items():
        by_name.setdefault(name, []).append(path)
    found = []
    for path in sorted(recipes):
        if path in gone:
            continue
        name, needs = parse_recipe(path, recipes[path])
        broken = sorted(needs & set(by_name))
        if broken:
            found.append({"path": path, "recipe": name, "depends_on": broken})
    return found


def landing_date(moment: int) -> str:
    """A committer time as ISO 8601 in UTC (``2026-02-03T10:41:07Z``)."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_document(
    *,
    selection: Selection,
    base_branch: str,
    base_sha: str,
    paths: Sequence[str],
    landings: Sequence[Landing],
    plans: Sequence[FilePlan],
    outside: Sequence[str],
    reported: Sequence[Mapping[str, Any]],
    dependents_found: Sequence[Mapping[str, Any]],
    dry_run: bool,
    force: bool,
    generated_at: str,
) -> dict[str, Any]:
    """The plan as JSON (schemas/rollback-plan.schema.json)."""
    selector = selection.selector
    return {
        "version": 1,
        "batch_id": selector.value if selector.kind == "batch-id" else "",
        "selector": {"kind": selector.kind, "value": selector.value},
        "base_branch": base_branch,
        "base_sha": base_sha,
        "paths": [p or "." for p in paths],
        "dry_run": dry_run,
        "force": force,
        "generated_at": generated_at,
        "landings": [
            {
                "sha": landing.sha,
                "kind": landing.kind,
                "subject": landing.subject,
                "files": list(landing.files),
                "batch_commits": list(landing.batch_commits),
                "pull_requests": list(landing.pull_requests),
                "candidate_pull_requests": list(landing.candidates),
                "pull_request_urls": list(landing.pull_request_urls),
                **({"date": landing_date(landing.time)} if landing.time else {}),
            }
            for landing in landings
        ],
        "files": [
            {
                "path": plan.path,
                "action": plan.action,
                "forced": plan.forced,
                "commits": list(plan.commits),
                "restore_from": plan.restore_from,
                "later_commits": list(plan.later_commits),
                "note": plan.note,
            }
            for plan in plans
        ],
        "counts": counts(plans),
        "outside_paths": list(outside),
        "not_acted_on": [dict(item) for item in reported],
        "dependents": [dict(item) for item in dependents_found],
        "rolled_back_by": list(selection.rollbacks),
        "result": {"branch": "", "commit": "", "pr_url": ""},
    }


def commit_message(document: Mapping[str, Any], plans: Sequence[FilePlan]) -> str:
    """The rollback commit's message: one line per file (paths quoted), ``rollback-of:`` last."""
    selector = document["selector"]
    label = Selector(selector["kind"], selector["value"]).label
    changed = [p for p in plans if p.changes_tree]
    lines = [f"Roll back {label}", "", f"Removes or restores {len(changed)} file(s) that {label} shipped:", ""]
    lines += [f"- {plan.action} {quote_path(plan.path)}" + (" (forced)" if plan.forced else "") for plan in changed]
    conflicts = [p for p in plans if p.action == "conflict"]
    if conflicts:
        lines += ["", "Left untouched (changed after it shipped):", ""]
        lines += [f"- {quote_path(p.path)}" for p in conflicts]
    lines += ["", f"{ROLLBACK_KEY}: {selector['value']}", ""]
    text = "\n".join(lines)
    if any(line.strip().startswith(BATCH_KEY + ":") for line in text.splitlines()):  # cannot happen: paths are quoted
        raise BatchopsError(
            "the rollback commit message would carry a batch_id line", hint="report this with the plan file"
        )
    return text


def not_found_message(
    selection: Selection, base_branch: str, *, token: bool, elsewhere: Sequence[str]
) -> tuple[str, str]:
    """The truth when nothing landed: (message, hint)."""
    selector = selection.selector
    if selector.kind == "batch-id":
        line = batch_line(selector.value)
        if not selection.sources:
            message = (
                f"batch {selector.value} not found in the history of {base_branch}: no commit there nor on "
                f"{selection.refs_searched} other ref(s) (PR refs and branches) has the line `{line}`"
            )
            if token:
                message += ", and no merged pull request's commits carry it"
            hint = (
                "check the batch id and the base-branch; if the batch came through pull requests, fetch only the "
                f"PR refs that carry it first: batchops batches --fetch-refs {selector.value}"
            )
            if not token:
                hint += f" (or pass {GIVE_TOKEN} so merged PRs are looked up)"
            return message, hint
        where = ", ".join(elsewhere[:8]) + (" …" if len(elsewhere) > 8 else "")
        files = len(interesting_paths(selection))
        message = (
            f"batch {selector.value} never reached {base_branch}: its {len(selection.sources)} commit(s) are only on "
            f"{where or 'refs outside the base branch'}, and no first-parent commit of {base_branch} sets any of its "
            f"{files} file(s) to the content the batch gave them (an unmerged batch shipped nothing)"
        )
        return message, "check the base-branch; nothing needs rolling back if the batch was never merged"
    if selector.kind == "pr":
        message = f"PR #{selector.value}: no merge of it found on {base_branch}"
        if elsewhere:
            message += (
                f": its ref {', '.join(elsewhere[:4])} is in the checkout, and no first-parent commit of {base_branch} "
                "ships its change as a whole (it was not merged, or another PR shipped part of the same content)"
            )
            return (
                message,
                f"check the number; pass {GIVE_TOKEN} so the API tells whether and where it was merged",
            )
        fetch = f"git fetch origin '+refs/pull/{selector.value}/head:refs/remotes/origin/pull/{selector.value}/head'"
        hint = f"fetch the PR's ref ({fetch}) or pass {GIVE_TOKEN} so the merge commit can be looked up"
        return message, hint
    return f"commit {selector.value} shipped nothing under the paths on {base_branch}", "check the commit and the paths"
