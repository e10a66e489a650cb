"""drift-monitor's words: the step summary, the issue title/body/comment, the terminal lines.

Every value that came from outside (recipe names, URLs, reasons, GitHub's answers) goes
through ``md_escape`` in Markdown and ``one_line`` in the log.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from batchops.core.drift import Finding, marker, short_reason
from batchops.core.escape import one_line
from batchops.render import markdown

SUMMARY_ROWS = 200
BODY_LIMIT = 60_000  # GitHub refuses issue bodies above 65,536 characters
_ICONS = {"ok": "✅", "new": "🆕", "pending": "⏳", "drift": "🚨", "unverifiable": "❔", "skipped": "➖"}


def _short(sha: str | None) -> str:
    return sha or "-"


def drift_table(findings: Sequence[Finding]) -> str:
    return markdown.md_table(
        ["recipe", "version", "URL", "expected", "actual", "first seen"],
        [[f.recipe, f.version, f.url, _short(f.expected), _short(f.actual), f.first_seen or "-"] for f in findings],
    )


def _accept(f: Finding) -> str:
    return (
        f"batchops drift accept {f.recipe} {f.version} --url {shlex.quote(f.url)} --sha256 {f.actual} "
        '--reason "<why this re-publication is benign>"'
    )


def issue_title(groups: Mapping[str, Sequence[Finding]]) -> str:
    firsts = [g[0] for g in groups.values()]
    if len(firsts) == 1:
        first = firsts[0]
        return f"Checksum drift: {first.recipe} {first.version} ({(first.actual or '')[:12]})"
    files = sum(len(g) for g in groups.values())
    names = sorted({f.recipe for g in groups.values() for f in g})
    return f"Checksum drift: {files} checksum files of {len(names)} recipes"


def _issue_intro(groups: Mapping[str, Sequence[Finding]], rows: list[Finding]) -> tuple[list[str], str]:
    """The heading and first paragraph of a drift issue, and what not to install."""
    first = rows[0]
    if len(groups) == 1:
        what = [
            f"## Checksum drift: `{first.recipe}` {first.version}",
            "",
            f"The checksum file that upstream serves for **{first.recipe} {first.version}** no longer has the bytes "
            "batchops recorded when it first saw this version. The same version must always have the same bytes: "
            "this is how a compromised or silently re-published release shows.",
        ]
        subject = f"{first.recipe} {first.version}"
    else:
        recipes = sorted({f.recipe for f in rows})
        what = [
            f"## Checksum drift: {len(rows)} checksum files of {len(recipes)} recipes",
            "",
            f"In one run, {len(groups)} drifts were found at once "
            "(more than drift-monitor opens issues for one by one), "
            "so they are listed together here. The same version must always have the same bytes: many at once can "
            "mean a compromised mirror or CDN, a host that re-published everything, or a change in how upstream builds "
            "its checksum files. Each row below is one recipe version whose checksum file changed.",
        ]
        subject = "the recipes below"
    return what, subject


def issue_body(groups: Mapping[str, Sequence[Finding]], *, at: str, run_url: str) -> str:
    """The body of a new drift issue: one fingerprint, or a group of them (mass drift)."""
    rows = [f for g in groups.values() for f in g]
    single = len(groups) == 1
    first = rows[0]
    head = [marker(fp) for fp in groups]
    what, subject = _issue_intro(groups, rows)
    stop = (
        f'batchops stop --reason "checksum drift: {first.recipe} {first.version}" --incident-url <URL of this issue>'
        if single
        else ('batchops stop --reason "checksum drift in many recipes" --incident-url <URL of this issue>')
    )

    def build(with_accepts: bool, shown: int) -> str:
        accept_lines = (
            [_accept(f) for f in rows]
            if with_accepts
            else [
                "batchops drift accept RECIPE VERSION --url URL --sha256 ACTUAL "
                '--reason "<why this re-publication is benign>"'
            ]
        )
        accept = " \\\n  ".join(accept_lines) if single else "\n".join(accept_lines)
        table = drift_table(rows[:shown])
        if shown < len(rows):
            table += f"\n… and {len(rows) - shown} more rows in the run's report file (drift-report.json).\n"
        detected = f"Detected {at}" + (f" by [this run]({run_url})" if run_url else "") + "."
        return "\n".join(
            [
                *head,
                *what,
                "",
                table,
                "### Next steps (runbook)",
                "",
                f"1. **Do not install** {subject} anywhere, "
                "and do not merge batches that ship them, until this is resolved.",
                "2. Compare with upstream: the release notes or announcement, the release's signatures "
                "(GPG/minisign/cosign/provenance) and the checksum file on another mirror. "
                "Ask upstream whether they re-published.",
                "3. If it is a **benign re-publication** (confirmed by upstream), accept the new checksum; "
                "the command records an audit entry in the baseline:",
                "",
                "   ```sh",
                "   " + accept.replace("\n", "\n   "),
                "   ```",
                "",
                "   Commit the baseline (persist-with-retry does it in CI), then close this issue.",
                "4. **Otherwise** treat it as an incident: "
                "stop the pipeline and roll back the batch that shipped the recipe:",
                "",
                "   ```sh",
                f"   {stop}",
                "   ```",
                "",
                "   then run the rollback action (`actions/rollback`) with the `batch-id` of the batch that merged it.",
                "",
                detected + " A later run that finds the same drift comments here instead of opening another issue.",
            ]
        )

    body = build(True, len(rows))
    if len(body) > BODY_LIMIT:
        body = build(False, len(rows))
    shown = len(rows)
    while len(body) > BODY_LIMIT and shown > 1:
        shown = max(1, shown * 2 // 3)
        body = build(False, shown)
    return _capped(body)


def comment_body(findings: Sequence[Finding], *, at: str, run_url: str) -> str:
    """The comment of a later run on an open drift issue; as many rows as GitHub's 65,536 characters allow."""
    where = f" ([run]({run_url}))" if run_url else ""
    head = f"Still drifting at {at}{where}: upstream serves the same changed bytes.\n\n"
    shown = min(len(findings), SUMMARY_ROWS)
    while True:
        more = f"\n… and {len(findings) - shown} more rows in the run's report file.\n" if shown < len(findings) else ""
        body = head + drift_table(findings[:shown]) + more
        if len(body) <= BODY_LIMIT or shown <= 1:
            return _capped(body)
        shown = max(1, shown * 2 // 3)


def _capped(body: str) -> str:
    """Never more than GitHub takes, even for one row of a hostile length (the markers come first)."""
    return body if len(body) <= BODY_LIMIT else body[: BODY_LIMIT - 1] + "…"


# --- the step summary --------------------------------------------------------------------------


def summary(
    findings: Sequence[Finding],
    issues: Sequence[Any],
    counts: Mapping[str, int],
    *,
    drift: bool,
    issues_enabled: bool,
    report_file: str,
    notes: Sequence[str] = (),
) -> str:
    head = "### 🚨 drift-monitor: checksum drift found" if drift else "### drift-monitor: no drift"
    lines = [
        head,
        "",
        markdown.md_table(
            ["recipes", "checksum files", "ok", "new", "pending", "drift", "unverifiable", "skipped"],
            [
                [
                    counts["recipes"],
                    counts["checked"],
                    counts["ok"],
                    counts["new"],
                    counts["pending"],
                    counts["drift"],
                    counts["unverifiable"],
                    counts["skipped"],
                ]
            ],
        ),
    ]
    rows = [f for f in findings if f.status not in ("ok", "skipped")]
    if rows:
        shown = rows[:SUMMARY_ROWS]
        lines.append(
            markdown.md_table(
                ["", "recipe", "version", "URL", "expected", "actual", "first seen", "note"],
                [
                    [
                        _ICONS[f.status] + " " + f.status,
                        f.recipe,
                        f.version or "-",
                        f.url or "-",
                        (f.expected or "-")[:16],
                        (f.actual or "-")[:16],
                        f.first_seen or "-",
                        f.issue_url or short_reason(f.reason),
                    ]
                    for f in shown
                ],
            )
        )
        if len(rows) > len(shown):
            lines.append(f"… and {len(rows) - len(shown)} more rows in the report file.")
    skipped = [f for f in findings if f.status == "skipped"]
    if skipped:
        lines.append(
            f"- ➖ {len(skipped)} recipe(s) skipped: "
            + markdown.md_escape(skipped[0].reason)
            + " (listed in the report file)"
        )
    for issue in issues:
        text = {"created": "opened", "commented": "commented on", "failed": "could not open or update"}[issue.action]
        lines.append(
            f"- {text} the drift issue {markdown.md_escape(issue.url or issue.fingerprint)}"
            + (f": {markdown.md_escape(issue.error)}" if issue.error else "")
        )
    for note in notes:
        lines.append(f"- {markdown.md_escape(note)}")
    if drift and not issues_enabled:
        lines.append("- ⚠️ no github-token: report only, no issue was opened.")
    lines.append(f"\nReport: `{markdown.md_escape(report_file)}`")
    return "\n".join(lines)


# --- the terminal --------------------------------------------------------------------------------


def terminal_lines(findings: Sequence[Finding], *, verbose: bool = False, details: str = "--verbose") -> list[str]:
    """The log: one line per finding that needs a look, with a short reason; skipped recipes and ok
    files as one line each (every one of them, with its whole reason, when ``verbose``; ``details``
    says how to get that). Every line is one line, escaped."""
    lines: list[str] = []
    skipped: list[Finding] = []
    ok = 0
    for finding in findings:
        if finding.status == "ok":
            ok += 1
            if verbose:
                lines.append(one_line(f"{'ok':<12} {finding.recipe} {finding.version} {finding.url}"))
            continue
        if finding.status == "skipped":
            skipped.append(finding)
            continue
        where = f"{finding.recipe} {finding.version}".strip()
        why = finding.reason if verbose else short_reason(finding.reason)
        lines.append(one_line(f"{finding.status:<12} {where} {finding.url} {why}".rstrip()))
    if skipped:
        if verbose:
            lines.extend(one_line(f"{'skipped':<12} {f.recipe} ({f.file}): {f.reason}") for f in skipped)
        else:
            names = ", ".join(f.recipe for f in skipped[:10]) + (
                f", … {len(skipped) - 10} more" if len(skipped) > 10 else ""
            )
            lines.append(
                one_line(
                    f"{'skipped':<12} {len(skipped)} recipe(s) with no checksum step for these platforms: "
                    f"{names} (details: {details})"
                )
            )
    lines.append(f"{ok} checksum file(s) unchanged")
    return lines


def report_lines(report: Mapping[str, Any], *, verbose: bool = False) -> list[str]:
    """The terminal form of a drift report file (``batchops drift report``)."""
    counts = report.get("counts", {})
    findings = [
        Finding(
            str(f.get("recipe", "")),
            str(f.get("file", "")),
            str(f.get("status", "")),
            str(f.get("version", "")),
            url=str(f.get("url", "")),
            reason=str(f.get("reason", "")),
        )
        for f in report.get("findings", [])
        if f.get("status") in _ICONS
    ]
    head = one_line(
        f"drift report {report.get('generated_at', '')}: "
        + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("drift", "unverifiable", "pending", "new", "ok", "skipped"))
        + f" ({counts.get('recipes', 0)} recipes, {counts.get('checked', 0)} checksum files)"
    )
    lines = [head, *terminal_lines(findings, verbose=verbose)]
    for issue in report.get("issues", []):
        lines.append(
            one_line(
                (
                    f"issue {issue.get('action', '')}: "
                    f"{issue.get('url') or issue.get('fingerprint', '')} {issue.get('error', '')}"
                ).rstrip()
            )
        )
    return lines
