"""Alert: the step summary and the replay report (Markdown and plain terminal lines)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from batchops.core import alert, timeutil
from batchops.core.escape import one_line
from batchops.render.markdown import md_escape, md_table

VERBS = {
    "open": "open",
    "reopen": "reopen",
    "comment": "comment",
    "update": "update",
    "close": "close",
    "duplicate": "close duplicate",
}


def step_summary(
    title: str, found: Sequence[alert.Incident], done: Sequence[tuple[str, str, str]], notes: Sequence[str]
) -> str:
    """``done``: (what, issue, result) rows, e.g. ("open: Circuit breaker open: npm", "#12", "done")."""
    lines = [f"### {title}", ""]
    if found:
        lines.append(
            md_table(["incident", "now"], [[i.key, "; ".join(f"{k}: {v}" for k, v in i.facts[:3])] for i in found])
        )
    else:
        lines.append("No incident: every breaker closed, no platform paused, the pipeline running.\n")
    if done:
        lines.append(md_table(["action", "issue", "result"], done))
    else:
        lines.append("Issues already up to date: nothing to open, comment on or close.\n")
    for note in notes:
        lines.append(f"- {md_escape(note)}")
    return "\n".join(lines) + "\n"


def replay_lines(steps: Sequence[alert.ReplayStep], issues: dict[int, alert.IssueState]) -> list[str]:
    """The replay as terminal lines: one per action, then the totals and the issues at the end."""
    lines: list[str] = []
    counts: Counter[str] = Counter()
    for step in steps:
        for number, action in step.actions:
            counts[action.kind] += 1
            if action.kind in ("comment", "update"):
                counts["commented" if action.comment else "quiet"] += 1
            source = one_line(step.source)
            lines.append(
                f"{timeutil.iso(step.at)}  #{number:<4} {VERBS.get(action.kind, action.kind):<15} "
                f"{one_line(action.summary)}  [{source}]"
            )
    runs = len(steps)
    if not lines:
        lines.append("no incident in this history: alert would have opened nothing")
    lines.append("")
    opened = counts["open"]
    lines.append(
        f"{runs} alert run(s): {opened} issue(s) opened, {counts['reopen']} reopened, "
        f"{counts['commented']} comment(s), {counts['quiet']} status update(s) without a comment, "
        f"{counts['close']} closed"
    )
    by_key: dict[str, list[alert.IssueState]] = {}
    for issue in sorted(issues.values(), key=lambda i: i.number):
        by_key.setdefault(issue.marker.key, []).append(issue)
    for key, group in by_key.items():
        states = ", ".join(f"#{i.number} {'open' if i.open else 'closed'}" for i in group)
        lines.append(f"  {one_line(key)}: {states}")
    return lines
