"""The end of ``batchops demo``: where its reports are and what to do next, naming only paths that exist."""

from __future__ import annotations

from pathlib import Path

MIGRATION_GUIDE = "docs/migration.md"
GUIDE_URL = "https://github.com/batchops/batchops/blob/main/docs/migration.md"


def next_steps(
    repo: Path, summary: Path, day: str, *, kept: bool, report: Path | None = None, discarded: bool = False
) -> list[str]:
    """The demo's ending. ``day``: the demo's clock (its history is dated then, not today), for ``--now``."""
    lines = [f"Every step's Markdown report: {summary}"]
    if report is not None:
        lines.append(f"Kept in {report}, a folder of its own: remove it when done.")
    lines += ["", "What next:"]
    if kept:
        lines += [
            f"  cd {repo}   # the demo's registry clone, kept (its remote: {repo.parent / 'registry.git'})",
            f"  batchops status --now {day}   # on the demo's clock: what the next batch of each ecosystem meets",
            f"  batchops batches --since 7d --now {day}   # the batches the demo shipped; then `batchops log`",
        ]
        if discarded:
            lines.append("  (the second drift run's checksum-baseline.json change was discarded: the clone is clean)")
    else:
        lines += [
            "  batchops demo --keep   # the workspace was removed; --keep keeps it and names its registry clone,",
            f"                         # where `batchops status --now {day}` shows what each next batch meets",
        ]
    lines.append(f"  read {MIGRATION_GUIDE} to port your pipeline ({GUIDE_URL})")
    return lines
