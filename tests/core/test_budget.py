"""The weekly CI-minutes budget: thresholds, week window, rollover, operations, sampler."""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchops.adapters import schema
from batchops.core import budget, timeutil
from batchops.core import operations as ops
from batchops.core.budget import BudgetConfig, platform_rate, platform_state, view
from batchops.errors import ControlFileError, UsageError
from batchops.render import budget as render_budget

MONDAY = "2026-06-22T00:00:00Z"
THURSDAY = datetime(2026, 6, 25, 12, 0, tzinfo=UTC)


def control(**budget_fields) -> dict:  # type: ignore[no-untyped-def]
    fields = {"macos_minutes_used": 0, "linux_minutes_used": 0, "week_start": MONDAY, "sampling_active": False}
    fields.update(budget_fields)
    return {"enabled": True, "budget": fields}


def add(document: dict, at: str, macos: float = 0, linux: float = 0) -> dict:
    return ops.apply(document, "budget.add_minutes", {"macos": macos, "linux": linux, "at": at})


# --- thresholds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("macos_used", "state", "rate"),
    [
        (0, "ok", 1.0),
        (799, "ok", 1.0),  # 79.9%
        (800, "sampling", 0.99),  # 80%: sampling is on, a little is left out
        (875, "sampling", 0.55),  # halfway through the band
        (949, "sampling", 0.1),  # 94.9%: down at the floor
        (950, "paused", 0.0),  # 95%
        (1200, "paused", 0.0),
    ],
)
def test_macos_thresholds_at_the_boundaries(macos_used: float, state: str, rate: float) -> None:
    current = view(control(macos_minutes_used=macos_used), THURSDAY)
    macos = current.gauges[0]
    assert (macos.platform, macos.state, macos.rate) == ("macos", state, rate)


@pytest.mark.parametrize(
    ("linux_used", "state"),
    [(3995, "ok"), (4000, "sampling"), (4745, "sampling"), (4749.99, "sampling"), (4750, "paused")],
)
def test_linux_thresholds_at_the_boundaries_of_its_own_limit(linux_used: float, state: str) -> None:
    assert view(control(linux_minutes_used=linux_used), THURSDAY).gauges[1].state == state


def test_fractional_minutes_just_below_a_threshold_stay_below() -> None:
    config = BudgetConfig()
    assert platform_state(799.9, 1000, config) == "ok"
    assert platform_state(949.99, 1000, config) == "sampling"


def test_a_paused_platform_does_not_pause_or_sample_the_other() -> None:
    current = view(control(macos_minutes_used=990, linux_minutes_used=100), THURSDAY)
    assert current.paused_platforms == ["macos"]
    assert current.sample_rate == 1.0 and not current.sampling_active
    assert budget.preflight_outputs(current) == {
        "sampling-active": False,
        "sample-rate": "1.0",
        "paused-platforms": ["macos"],
    }


def test_batch_sample_rate_is_the_lowest_rate_of_the_running_platforms() -> None:
    current = view(control(macos_minutes_used=900, linux_minutes_used=4100), THURSDAY)
    macos, linux = current.gauges
    assert macos.rate < linux.rate < 1
    assert current.sample_rate == macos.rate and current.sampling_active


def test_every_platform_paused_gives_rate_zero() -> None:
    current = view(control(macos_minutes_used=1000, linux_minutes_used=5000), THURSDAY)
    assert current.paused_platforms == ["macos", "linux"]
    assert budget.preflight_outputs(current)["sample-rate"] == "0.0"


def test_limits_and_thresholds_come_from_the_control_file() -> None:
    document = control(
        macos_minutes_used=300, macos_minutes_limit=400, sampling_percent=50, pause_percent=90, sample_rate_floor=0.25
    )
    macos = view(document, THURSDAY).gauges[0]
    assert (macos.limit, macos.state) == (400, "sampling")  # 75%
    assert platform_rate(359, 400, BudgetConfig.from_budget(document["budget"])) == 0.25  # 89.75%: the floor
    assert view(
        control(macos_minutes_used=360, macos_minutes_limit=400, pause_percent=90), THURSDAY
    ).paused_platforms == ["macos"]


def test_sampling_threshold_at_or_above_pause_means_no_sampling_band() -> None:
    config = BudgetConfig(sampling_percent=95, pause_percent=95)
    assert [platform_state(u, 1000, config) for u in (940, 949, 950)] == ["ok", "ok", "paused"]


@given(st.floats(min_value=0, max_value=2000), st.floats(min_value=0, max_value=2000))
def test_the_sample_rate_never_rises_as_usage_grows(a: float, b: float) -> None:
    config = BudgetConfig()
    low, high = sorted((a, b))
    assert platform_rate(low, 1000, config) >= platform_rate(high, 1000, config)
    assert 0 <= platform_rate(high, 1000, config) <= 1


# --- the week window -------------------------------------------------------------------


def test_empty_week_start_means_monday_midnight_utc_of_the_current_week() -> None:
    document = control(week_start="", macos_minutes_used=10)
    assert view(document, THURSDAY).week_start == datetime(2026, 6, 22, tzinfo=UTC)
    assert view(document, datetime(2026, 6, 28, 23, 59, 59, tzinfo=UTC)).week_start == datetime(2026, 6, 22, tzinfo=UTC)
    assert view(document, datetime(2026, 6, 29, tzinfo=UTC)).week_start == datetime(2026, 6, 29, tzinfo=UTC)
    assert view(document, THURSDAY).gauges[0].used == 10  # legacy usage counts for this week


def test_first_minutes_on_a_legacy_file_pin_the_week_to_its_monday() -> None:
    document = control(week_start="")
    add(document, "2026-06-28T23:59:59Z", macos=5)
    assert document["budget"]["week_start"] == MONDAY
    assert document["budget"]["macos_minutes_used"] == 5
    assert "history" not in document["budget"]


def test_the_week_does_not_roll_over_one_second_before_monday_midnight() -> None:
    document = control(macos_minutes_used=700)
    result = add(document, "2026-06-28T23:59:59Z", macos=1)
    assert not result["rolled_over"]
    assert document["budget"]["macos_minutes_used"] == 701


def test_the_week_rolls_over_exactly_at_monday_midnight_utc_and_keeps_the_totals_in_whole_minutes() -> None:
    document = control(macos_minutes_used=940, linux_minutes_used=1234.5, sampling_active=True)
    result = add(document, "2026-06-29T00:00:00Z", macos=2, linux=3)
    assert result["rolled_over"]
    assert document["budget"] == {
        "macos_minutes_used": 2,
        "linux_minutes_used": 3,
        "week_start": "2026-06-29T00:00:00Z",
        "sampling_active": False,
        # a fraction a legacy file holds is kept, rounded up: the first user's generator decodes an int
        "history": [{"week_start": MONDAY, "macos_minutes_used": 940, "linux_minutes_used": 1235}],
    }
    schema.validate(document, "batch-control", file="batch-control.json")


def test_rollover_after_idle_weeks_lands_in_the_current_week_on_its_anchor() -> None:
    document = control(macos_minutes_used=50, week_start="2026-06-03T06:00:00Z")  # a Wednesday anchor
    add(document, "2026-06-26T12:00:00Z")
    assert document["budget"]["week_start"] == "2026-06-24T06:00:00Z"
    assert document["budget"]["history"] == [
        {"week_start": "2026-06-03T06:00:00Z", "macos_minutes_used": 50, "linux_minutes_used": 0}
    ]


def test_history_keeps_only_the_last_weeks() -> None:
    document = control(history_weeks=2)
    start = datetime(2026, 6, 22, tzinfo=UTC)
    for week in range(5):
        add(document, timeutil.iso(start + timedelta(weeks=week, days=1)), macos=week + 1)
    assert [h["macos_minutes_used"] for h in document["budget"]["history"]] == [3, 4]
    assert document["budget"]["macos_minutes_used"] == 5


def test_preflight_view_reports_a_due_rollover_without_changing_the_document() -> None:
    document = control(macos_minutes_used=990)
    before = copy.deepcopy(document)
    current = view(document, datetime(2026, 6, 30, tzinfo=UTC))
    assert document == before
    assert current.rollover_due == {"week_start": MONDAY, "macos_minutes_used": 990, "linux_minutes_used": 0}
    assert current.paused_platforms == [] and current.sample_rate == 1.0
    assert "is over" in render_budget.gauge_markdown(current)


def test_days_left_counts_to_the_end_of_the_week() -> None:
    assert view(control(), THURSDAY).days_left == 3.5
    assert "3.5 days left" in render_budget.gauge_markdown(view(control(), THURSDAY))


def test_an_impossible_week_start_is_a_control_file_error_naming_the_field() -> None:
    with pytest.raises(ControlFileError) as caught:
        view(control(week_start="2026-13-45T00:00:00Z"), THURSDAY)
    assert caught.value.field == "budget.week_start" and "use 2026-11-30 or 2026-11-30T00:00:00Z" in caught.value.hint


# --- operations: concurrent jobs add up exactly once ----------------------------------------


def test_concurrent_jobs_add_up_in_whole_billed_minutes_when_one_is_reapplied_on_the_others_file() -> None:
    base = control(macos_minutes_used=100, linux_minutes_used=200)
    job_a, job_b = copy.deepcopy(base), copy.deepcopy(base)
    add(job_a, "2026-06-25T10:00:00Z", macos=12.5, linux=30)
    add(job_b, "2026-06-25T10:01:00Z", macos=7.25, linux=1)
    add(job_b, "2026-06-25T10:00:00Z", macos=12.5, linux=30)  # persist re-applies A on B's push
    # each job's minutes rounded up, as GitHub bills them: 100 + 13 + 8
    assert (job_b["budget"]["macos_minutes_used"], job_b["budget"]["linux_minutes_used"]) == (121, 231)


def test_minutes_from_before_another_jobs_rollover_go_to_the_week_they_were_spent_in() -> None:
    base = control(macos_minutes_used=100)
    landed = copy.deepcopy(base)
    add(landed, "2026-06-29T00:10:00Z", macos=5)  # job B rolled the week over and pushed first
    add(landed, "2026-06-28T23:50:00Z", macos=10)  # job A's operation re-applied on B's file
    assert landed["budget"]["macos_minutes_used"] == 5
    assert landed["budget"]["history"][-1]["macos_minutes_used"] == 110


minutes = st.integers(min_value=0, max_value=50_000).map(lambda cents: cents / 100)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(minutes, minutes), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_any_order_of_jobs_gives_the_same_totals(jobs: list[tuple[float, float]], rnd) -> None:  # type: ignore[no-untyped-def]
    def total(order: list[tuple[float, float]]) -> tuple:
        document = control()
        for macos, linux in order:
            add(document, "2026-06-25T10:00:00Z", macos=macos, linux=linux)
        return document["budget"]["macos_minutes_used"], document["budget"]["linux_minutes_used"]

    shuffled = list(jobs)
    rnd.shuffle(shuffled)
    expected = (sum(math.ceil(m) for m, _ in jobs), sum(math.ceil(linux) for _, linux in jobs))  # each job billed whole
    assert total(jobs) == total(shuffled)
    assert total(jobs) == expected
    assert all(type(value) is int for value in total(jobs))


def test_sampling_from_usage_leaves_the_operators_flag_alone() -> None:
    document = control(macos_minutes_used=790)
    assert add(document, "2026-06-25T10:00:00Z", macos=10)["sample_rate"] == 0.99
    assert document["budget"]["sampling_active"] is False  # the flag is the operator's, not a copy of the usage
    assert view(document, THURSDAY).sampling_active is True and view(document, THURSDAY).forced is False


@pytest.mark.parametrize("bad", [-1, "12", True, float("nan")])
def test_negative_or_non_numeric_minutes_are_refused(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError):
        add(control(), "2026-06-25T10:00:00Z", macos=bad)


def test_reset_moves_the_weeks_usage_to_history_and_keeps_the_window() -> None:
    document = control(macos_minutes_used=960, linux_minutes_used=40)
    ops.apply(document, "budget.reset", {"platforms": ["macos"], "at": "2026-06-25T09:30:00Z"})
    assert document["budget"]["macos_minutes_used"] == 0 and document["budget"]["linux_minutes_used"] == 40
    assert document["budget"]["week_start"] == MONDAY
    assert document["budget"]["history"] == [
        {"week_start": MONDAY, "reset_at": "2026-06-25T09:30:00Z", "macos_minutes_used": 960}
    ]
    schema.validate(document, "batch-control", file="batch-control.json")


# --- the runbook's forms: a date week_start, the operator's sampling flag ------------------


def test_a_date_week_start_starts_the_week_at_midnight_utc_that_day_for_seven_days() -> None:
    document = control(week_start="2026-12-01", macos_minutes_used=450)  # a Tuesday, as the runbook's reset writes it
    assert view(document, datetime(2026, 12, 1, 0, 0, tzinfo=UTC)).week_start == datetime(2026, 12, 1, tzinfo=UTC)
    last_second = view(document, datetime(2026, 12, 7, 23, 59, 59, tzinfo=UTC))
    assert last_second.rollover_due is None and last_second.gauges[0].used == 450
    assert view(document, datetime(2026, 12, 8, tzinfo=UTC)).rollover_due == {
        "week_start": "2026-12-01",
        "macos_minutes_used": 450,
        "linux_minutes_used": 0,
    }


def test_batchops_writes_a_date_week_start_back_as_a_date_rollover_and_history_too() -> None:
    document = control(week_start="2026-12-01", macos_minutes_used=450)
    add(document, "2026-12-03T10:00:00Z", macos=5)
    assert document["budget"]["week_start"] == "2026-12-01" and document["budget"]["macos_minutes_used"] == 455
    add(document, "2026-12-16T10:00:00Z", linux=1)  # two weeks later: lands on the same weekday anchor
    assert document["budget"]["week_start"] == "2026-12-15"
    assert document["budget"]["history"] == [
        {"week_start": "2026-12-01", "macos_minutes_used": 455, "linux_minutes_used": 0}
    ]
    ops.apply(document, "budget.reset", {"platforms": ["linux"], "at": "2026-12-16T11:00:00Z"})
    assert document["budget"]["history"][-1]["week_start"] == "2026-12-15"
    schema.validate(document, "batch-control", file="batch-control.json")


def test_a_timestamp_week_start_stays_a_timestamp() -> None:
    document = control(week_start="2026-06-22T00:00:00Z")
    add(document, "2026-06-30T10:00:00Z", macos=1)
    assert document["budget"]["week_start"] == "2026-06-29T00:00:00Z"


def test_sampling_forced_by_hand_samples_at_half_while_usage_alone_would_run_everything() -> None:
    current = view(control(sampling_active=True, macos_minutes_used=100), THURSDAY)
    assert current.forced and current.usage_rate == 1.0
    assert budget.preflight_outputs(current) == {"sampling-active": True, "sample-rate": "0.5", "paused-platforms": []}


def test_forced_sampling_keeps_a_lower_usage_rate_and_a_paused_platform_paused() -> None:
    lower = view(control(sampling_active=True, macos_minutes_used=940), THURSDAY)  # usage alone: 0.16
    assert lower.sample_rate == lower.usage_rate < budget.FORCED_SAMPLE_RATE
    paused = view(control(sampling_active=True, macos_minutes_used=990), THURSDAY)
    assert paused.paused_platforms == ["macos"] and paused.sample_rate == 0.5  # Linux runs, forced to 0.5


def test_the_forced_flag_survives_minutes_and_resets_and_ends_with_the_week() -> None:
    document = control(sampling_active=True, macos_minutes_used=100)
    add(document, "2026-06-25T10:00:00Z", macos=5)
    ops.apply(document, "budget.reset", {"platforms": ["macos"], "at": "2026-06-25T11:00:00Z"})
    assert document["budget"]["sampling_active"] is True and view(document, THURSDAY).sample_rate == 0.5
    assert view(document, datetime(2026, 6, 29, tzinfo=UTC)).sample_rate == 1.0  # next week: not forced
    add(document, "2026-06-29T01:00:00Z", linux=1)
    assert document["budget"]["sampling_active"] is False


def test_budget_sample_operation_forces_and_clears_and_says_the_rate() -> None:
    document = control()
    result = ops.apply(document, "budget.sample", {"on": True, "at": "2026-06-25T10:00:00Z"})
    assert result == {"before": False, "on": True, "sample_rate": 0.5, "week_start": MONDAY}
    assert document["budget"]["sampling_active"] is True
    result = ops.apply(document, "budget.sample", {"on": False, "at": "2026-06-25T11:00:00Z"})
    assert result["before"] is True and result["sample_rate"] == 1.0 and document["budget"]["sampling_active"] is False
    with pytest.raises(UsageError):
        ops.apply(document, "budget.sample", {"on": "yes", "at": "2026-06-25T11:00:00Z"})


def test_forcing_sampling_after_the_week_ended_forces_the_new_week() -> None:
    document = control(macos_minutes_used=500)
    ops.apply(document, "budget.sample", {"on": True, "at": "2026-06-30T10:00:00Z"})
    assert document["budget"]["week_start"] == "2026-06-29T00:00:00Z" and document["budget"]["macos_minutes_used"] == 0
    assert view(document, datetime(2026, 6, 30, 11, tzinfo=UTC)).forced


def test_status_shows_forced_sampling_as_forced() -> None:
    text = render_budget.gauge_markdown(view(control(sampling_active=True), THURSDAY))
    assert "sampling (forced)" in text and "**forced** by an operator" in text and "budget sample --off" in text
    assert "forced" not in render_budget.gauge_markdown(view(control(macos_minutes_used=900), THURSDAY))
    assert budget.status_json(view(control(sampling_active=True), THURSDAY))["sampling_forced"] is True


# --- legacy files ------------------------------------------------------------------------


# --- the sampler ---------------------------------------------------------------------------

names_strategy = st.lists(
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20), max_size=40, unique=True
)
rates = st.floats(min_value=0, max_value=1)


@given(names_strategy, rates, st.text(min_size=1, max_size=30))
def test_sampler_is_a_deterministic_ordered_subset(names: list[str], rate: float, seed: str) -> None:
    chosen = budget.sample(names, rate, seed)
    assert chosen == budget.sample(list(names), rate, seed)
    assert set(chosen) <= set(names)
    assert chosen == [n for n in names if n in set(chosen)]


@given(names_strategy, st.text(min_size=1, max_size=30))
def test_rate_zero_keeps_nothing_and_rate_one_keeps_everything(names: list[str], seed: str) -> None:
    assert budget.sample(names, 0.0, seed) == []
    assert budget.sample(names, 1.0, seed) == names


@given(names_strategy, rates, rates, st.text(min_size=1, max_size=30))
def test_a_higher_rate_keeps_a_superset(names: list[str], a: float, b: float, seed: str) -> None:
    low, high = sorted((a, b))
    assert set(budget.sample(names, low, seed)) <= set(budget.sample(names, high, seed))


@settings(max_examples=20, deadline=None)
@given(st.floats(min_value=0.05, max_value=0.95), st.text(min_size=1, max_size=20))
def test_sampler_keeps_roughly_the_rate(rate: float, seed: str) -> None:
    names = [f"recipe-{i}" for i in range(4000)]
    kept = len(budget.sample(names, rate, seed)) / len(names)
    assert abs(kept - rate) < 0.05  # 7 standard deviations at n=4000


def test_different_batches_sample_different_names_and_duplicates_count_once() -> None:
    names = [f"recipe-{i}" for i in range(200)]
    assert budget.sample(names, 0.5, "2026-06-25-a") != budget.sample(names, 0.5, "2026-06-25-b")
    assert budget.sample(["jq", "jq", "fd"], 1.0, "s") == ["jq", "fd"]
