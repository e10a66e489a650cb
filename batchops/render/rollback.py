"""The rollback plan for people: plain text at a terminal, Markdown in the step summary and the PR body."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from batchops.core.rollback import ROLLBACK_KEY, Selector, quote_path
from batchops.render import markdown, terminal

_ICON = {"remove": "🗑️ remove", "restore": "↩️ restore", "conflict": "⚠️ conflict", "none": "✔️ none"}


def _short(shas: Sequence[str]) -> str:
    return ", ".join(sha[:10] for sha in shas)


def label(document: Mapping[str, Any]) -> str:
    selector = document["selector"]
    return Selector(selector["kind"], selector["value"]).label


def plan_table(document: Mapping[str, Any], *, limit: int = 500) -> str:
    rows = []
    for item in document["files"][:limit]:
        later = ", ".join(f"{c['sha'][:10]} {c['subject']}".strip() for c in item["later_commits"][:3])
        if len(item["later_commits"]) > 3:
            later += f" (+{len(item['later_commits']) - 3} more)"
        action = _ICON[item["action"]] + (" (forced)" if item["forced"] else "")
        rows.append([action, item["path"], _short(item["commits"]), later or "-", item["note"]])
    table = markdown.md_table(["action", "file", "landed in", "changed after by", "note"], rows)
    if len(document["files"]) > limit:
        table += f"\n… and {len(document['files']) - limit} more file(s); see the plan file.\n"
    return table


def _landing(item: Mapping[str, Any]) -> str:
    text = f"{item['kind']} `{item['sha'][:10]}`"
    if item["pull_requests"]:
        text += " (PR " + ", ".join(f"#{n}" for n in item["pull_requests"]) + ")"
    elif item.get("candidate_pull_requests"):
        text += " (one of PR " + ", ".join(f"#{n}" for n in item["candidate_pull_requests"]) + ")"
    when = f" on {item['date'][:10]}" if item.get("date") else ""
    return text + f"{when}: {len(item['files'])} file(s)"


def render_markdown(document: Mapping[str, Any], *, heading: str = "###") -> str:
    c = document["counts"]
    lines = [
        f"{heading} batchops rollback: {markdown.md_escape(label(document))}"
        + (" (dry run)" if document["dry_run"] else ""),
        "",
        f"Base {markdown.md_escape(document['base_branch'])} at `{document['base_sha'][:12]}`, paths "
        + ", ".join(markdown.md_escape(p) for p in document["paths"])
        + f": **{c['remove']}** to remove, **{c['restore']}** to restore, **{c['conflict']}** conflict(s), "
        f"{c['none']} already as before.",
        "",
    ]
    if document["landings"]:
        lines += ["Shipped by: " + "; ".join(_landing(item) for item in document["landings"]) + ".", ""]
    github = document.get("github")
    if github and not github["available"]:
        lines += [
            f"⚠️ GitHub was unavailable ({markdown.md_escape(github['error'])}): planned by content from the history "
            "alone; landings not confirmed by the API: "
            + (", ".join(f"`{sha[:10]}`" for sha in github["unconfirmed_landings"]) or "none"),
            "",
        ]
    if document["files"]:
        lines.append(plan_table(document))
    for item in document.get("not_acted_on", []):
        lines += [f"- ℹ️ {markdown.md_escape(item['note'])}"]
    if document.get("not_acted_on"):
        lines.append("")
    if document.get("dependents"):
        lines.append(
            f"⚠️ {len(document['dependents'])} recipe(s) outside the rollback depend on a recipe it removes "
            "(they would break):"
        )
        lines.append("")
        for item in document["dependents"][:50]:
            lines.append(
                f"- {markdown.md_escape(item['path'])} ({markdown.md_escape(item['recipe'])}) depends on "
                + ", ".join(markdown.md_escape(n) for n in item["depends_on"])
            )
        lines.append("")
    if document["outside_paths"]:
        lines.append(
            f"Not rolled back (outside the paths): {len(document['outside_paths'])} file(s): "
            + ", ".join(markdown.md_escape(p) for p in document["outside_paths"][:20])
            + (" …" if len(document["outside_paths"]) > 20 else "")
        )
        lines.append("")
    if document["rolled_back_by"]:
        lines += ["Earlier rollback commit(s) on the base branch: " + _short(document["rolled_back_by"]), ""]
    return "\n".join(lines).rstrip() + "\n"


def pr_body(document: Mapping[str, Any]) -> str:
    return (
        render_markdown(document, heading="##")
        + "\nCreated by `batchops rollback`. Conflicts were left untouched; review them by hand.\n\n"
        + f"{ROLLBACK_KEY}: {document['selector']['value']}\n"
    )


def dependent_warning(item: Mapping[str, Any]) -> str:
    return (
        f"{item['path']} ({item['recipe']}) depends on {', '.join(item['depends_on'])}, which this rollback removes: "
        "it would break; roll it back too (add it to the paths) or keep the dependency"
    )


# --- plain text, for a person at a terminal --------------------------------------------------------

_WORD = {"remove": "remove", "restore": "restore", "conflict": "conflict", "none": "already as before"}
_FLAG = {"batch-id": "--batch-id", "pr": "--pr", "commit": "--commit"}


def _pulls(item: Mapping[str, Any]) -> str:
    if item["pull_requests"]:
        return ", ".join(f"#{n}" for n in item["pull_requests"])
    if item.get("candidate_pull_requests"):
        return "one of " + ", ".join(f"#{n}" for n in item["candidate_pull_requests"])
    return "-"


def totals(document: Mapping[str, Any]) -> str:
    c = document["counts"]
    return (
        f"{c['remove']} to remove, {c['restore']} to restore, {c['conflict']} conflict(s) left untouched, "
        f"{c['none']} already as before {_what(document)}"
    )


def _what(document: Mapping[str, Any]) -> str:
    return {"batch-id": "the batch", "pr": "the PR", "commit": "the commit"}[document["selector"]["kind"]]


def nothing_to_do(document: Mapping[str, Any]) -> str:
    """Why a plan changes no file, in one sentence."""
    files, what = document["files"], _what(document)
    if files and all(item["action"] == "none" for item in files):
        return f"Nothing to roll back: every file {what} changed is already as it was before it."
    if not files:
        return f"Nothing to roll back: {what} changed no file under {', '.join(document['paths'])}."
    return (
        f"Nothing rolled back: every file {what} changed is either already as before it or changed since "
        "by another commit (a conflict; force restores those anyway)."
    )


def _command(document: Mapping[str, Any], *extra: str) -> str:
    selector = document["selector"]
    words = [
        "batchops",
        "rollback",
        _FLAG[selector["kind"]],
        selector["value"],
        "--base-branch",
        document["base_branch"],
    ]
    if document["paths"] != ["recipes"]:
        words += ["--paths", ",".join(document["paths"])]
    return shlex.join([*words, *extra])


def next_steps(document: Mapping[str, Any], plan_file: Path | str, dry_run: bool) -> list[str]:
    """The commands a person runs next (never one that sets a flag to false)."""
    counts = document["counts"]
    lines = [f"Plan file (JSON, for machines): {plan_file}"]
    changes = counts["remove"] + counts["restore"]
    if dry_run and changes:
        lines.append(f"Next: push the rollback branch and open its PR with: {_command(document)}")
    elif not changes and counts["conflict"]:
        lines.append(
            f"Next: review the conflicts, or restore them anyway with: {_command(document, '--force', 'true')}"
        )
    if dry_run and changes and counts["conflict"]:
        lines.append(f"   or, to overwrite the conflicts too: {_command(document, '--force', 'true')}")
    result = document["result"]
    if result.get("pr_url"):
        lines.append(f"Next: review and merge {result['pr_url']}")
    return lines


def render_text(
    document: Mapping[str, Any], *, next_steps: Sequence[str] = (), columns: int | None = None
) -> list[str]:
    """The plan as plain lines for a terminal: landings (PRs, dates), each file's action and why, totals."""
    lines = [
        f"batchops rollback: {label(document)}" + (" (dry run: nothing changed)" if document["dry_run"] else ""),
        f"Base {document['base_branch']} at {document['base_sha'][:12]}, paths {', '.join(document['paths'])}",
        "",
        f"Landings on {document['base_branch']} ({len(document['landings'])}):",
    ]
    rows = [
        [
            (item.get("date") or "")[:16].replace("T", " "),
            _pulls(item),
            item["sha"][:10],
            item["kind"],
            len(item["files"]),
            item["subject"],
        ]
        for item in document["landings"]
    ]
    table = terminal.table(
        ["date (UTC)", "PR", "commit", "kind", "files", "subject"], rows, columns=columns, indent="  ", wrap=[5]
    )
    lines += table.rstrip("\n").split("\n")
    lines += ["", f"Files ({len(document['files'])}):"]
    file_rows = []
    for item in document["files"]:
        why = item["note"]
        if item["later_commits"]:
            why += "; changed after by " + ", ".join(c["sha"][:10] for c in item["later_commits"][:3])
        file_rows.append(
            [_WORD[item["action"]] + (" (forced)" if item["forced"] else ""), quote_path(item["path"]), why]
        )
    if file_rows:
        table = terminal.table(["action", "file", "why"], file_rows, columns=columns, indent="  ", wrap=[2, 1])
        lines += table.rstrip("\n").split("\n")
    lines += ["", "Totals: " + totals(document) + "."]
    github = document.get("github")
    if github and not github["available"]:
        lines.append(
            f"GitHub was unavailable ({github['error']}): planned by content from the history alone; "
            f"not confirmed by the API: {', '.join(sha[:10] for sha in github['unconfirmed_landings']) or 'none'}"
        )
    for item in document.get("not_acted_on", []):
        lines.append(f"Not acted on: {item['note']}")
    if document["outside_paths"]:
        lines.append(f"Outside the paths (not rolled back): {len(document['outside_paths'])} file(s)")
    return lines + ([""] + list(next_steps) if next_steps else [])
