"""Markdown for the weekly CI-minutes budget: the gauge table and previous weeks."""

from __future__ import annotations

from batchops.core.budget import (
    FORCED_SAMPLE_RATE,
    LABELS,
    PLATFORMS,
    BudgetView,
    format_minutes,
    format_rate,
)
from batchops.render.markdown import bar, md_table

_STATE_LABEL = {"ok": "🟢 full validation", "sampling": "🟡 sampling", "paused": "🔴 paused"}


def gauge_markdown(view_: BudgetView, *, heading: str = "####", with_history: bool = False) -> str:
    """Per-platform gauge table (bar + percentage + days left), optionally previous weeks."""
    end = view_.week_end
    days = view_.days_left
    text = (
        f"{heading} Budget: week {view_.week_start:%Y-%m-%d} to {end:%Y-%m-%d} "
        f"({days:.1f} day{'s' if days != 1 else ''} left)\n\n"
    )
    rows = []
    for gauge in view_.gauges:
        state = _STATE_LABEL[gauge.state]
        rate = "-" if gauge.state == "ok" else format_rate(gauge.rate)
        if view_.forced and gauge.state != "paused":
            state = "🟠 sampling (forced)"
            rate = format_rate(min(gauge.rate, FORCED_SAMPLE_RATE))
        rows.append(
            [
                LABELS[gauge.platform],
                f"{bar(gauge.fraction)} {gauge.percent}",
                f"{format_minutes(gauge.used)} / {format_minutes(gauge.limit)}",
                state,
                rate,
            ]
        )
    text += md_table(["platform", "usage", "minutes used / limit", "state", "sample rate"], rows)
    config = view_.config
    text += (
        f"\nsample-rate **{format_rate(view_.sample_rate)}**, sampling from "
        f"{config.sampling_percent:g}%, pause from {config.pause_percent:g}% of a platform's limit.\n"
    )
    if view_.forced:
        text += (
            f"\nSampling is **forced** by an operator (`budget.sampling_active: true`): rate at most "
            f"{format_rate(FORCED_SAMPLE_RATE)} (usage alone gives {format_rate(view_.usage_rate)}) until "
            "`batchops budget sample --off` or the end of the week.\n"
        )
    if view_.rollover_due:
        due = view_.rollover_due
        text += (
            f"\nThe week of {due['week_start'][:10]} is over "
            f"(macOS {format_minutes(due['macos_minutes_used'])}, "
            f"Linux {format_minutes(due['linux_minutes_used'])} minutes): "
            "usage counts from 0; the next breaker-update or `batchops budget` command records the rollover.\n"
        )
    if with_history and view_.history:
        rows = []
        for entry in reversed(view_.history):
            week = str(entry.get("week_start", ""))[:10]
            if entry.get("reset_at"):
                week += f" (reset {str(entry['reset_at'])[:16].replace('T', ' ')})"
            rows.append(
                [week]
                + [
                    format_minutes(entry[f"{p}_minutes_used"]) if f"{p}_minutes_used" in entry else "-"
                    for p in PLATFORMS
                ]
            )
        text += "\nPrevious weeks:\n\n" + md_table(["week", "macOS minutes", "Linux minutes"], rows)
    return text


def forced_note(view_: BudgetView) -> str:
    """One plain-text line when an operator forces sampling (for terminal forms), else ""."""
    if not view_.forced:
        return ""
    return (
        "sampling FORCED by an operator (budget.sampling_active: true): "
        f"rate at most {format_rate(FORCED_SAMPLE_RATE)}, "
        f"usage alone gives {format_rate(view_.usage_rate)}; until `batchops budget sample --off` or the week ends\n"
    )
