"""The rollback plan as Markdown: the step summary, the PR body."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from batchops.core.rollback import ROLLBACK_KEY, Selector
from batchops.render import markdown

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
    return text + f": {len(item['files'])} file(s)"


def render_markdown(document: Mapping[str, Any], *, heading: str = "###") -> str:
    c = document["counts"]
    lines = [
        f"{heading} batchops rollback: {markdown.md_escape(label(document))}" + (" (dry run)" if document["dry_run"] else ""),
        "",
        f"Base {markdown.md_escape(document['base_branch'])} at `{document['base_sha'][:12]}`, paths "
        + ", ".join(markdown.md_escape(p) for p in document["paths"])
        + f": **{c['remove']}** to remove, **{c['restore']}** to restore, **{c['conflict']}** conflict(s), "
        f"{c['none']} already as before.",
        "",
    ]
    if document["landings"]:
        lines += ["Shipped by: " + "; ".join(_landing(item) for item in document["landings"]) + ".", ""]
    if document["files"]:
        lines.append(plan_table(document))
    for item in document.get("not_acted_on", []):
        lines += [f"- ℹ️ {markdown.md_escape(item['note'])}"]
    if document.get("not_acted_on"):
        lines.append("")
    if document.get("dependents"):
        lines.append(f"⚠️ {len(document['dependents'])} recipe(s) outside the rollback depend on a recipe it removes (they would break):")
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
