"""The breaker state machine, scenario by scenario (pure: no files, no clock)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from batchops.core import breaker, timeutil
from batchops.core.breaker import (
    CLOSED,
    FAILURE,
    HALF_OPEN,
    OPEN,
    SUCCESS,
    Breaker,
    BreakerConfig,
    Window,
)
from batchops.core.operations import apply
from batchops.errors import ControlFileError, UsageError
from batchops.render import breaker as render_breaker

T0 = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)
CONFIG = BreakerConfig()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def record(b: Breaker, *outcomes: str, minutes: float = 0, config: BreakerConfig = CONFIG):
    return breaker.record(b, list(outcomes), at(minutes), config)


def tripped_breaker() -> Breaker:
    b, result = record(Breaker(), *[FAILURE] * 5)
    assert result.tripped
    return b


# --- the window ---------------------------------------------------------------------


def test_window_keeps_only_the_last_attempts_oldest_first() -> None:
    window = Window(3)
    for outcome in (FAILURE, FAILURE, SUCCESS, SUCCESS):
        window.add(outcome)
    assert window.outcomes == [FAILURE, SUCCESS, SUCCESS]
    assert (window.attempts, window.failures) == (3, 1)
    assert window.failure_rate == pytest.approx(1 / 3)


def test_window_loaded_from_a_longer_list_keeps_the_newest() -> None:
    assert Window(2, [FAILURE, SUCCESS, FAILURE]).outcomes == [SUCCESS, FAILURE]


def test_empty_window_has_no_failure_rate_and_never_trips() -> None:
    window = Window(10)
    assert window.failure_rate == 0.0 and not window.should_trip(CONFIG)


def test_window_rejects_an_unknown_outcome() -> None:
    with pytest.raises(UsageError):
        Window(3).add("maybe")


# --- closed -------------------------------------------------------------------------


def test_closed_breaker_lets_the_batch_run_and_changes_nothing() -> None:
    b = Breaker()
    after, decision = breaker.gate(b, T0, CONFIG)
    assert (decision.skip, decision.state, decision.transition) == (False, CLOSED, None)
    assert after == b


def test_four_failures_do_not_trip_below_the_minimum_attempts() -> None:
    b, result = record(Breaker(), *[FAILURE] * 4)
    assert b.state == CLOSED and not result.tripped
    assert b.failures == 4


def test_trips_at_a_failure_rate_of_half_once_five_attempts_are_recorded() -> None:
    b, result = record(Breaker(), SUCCESS, FAILURE, SUCCESS, FAILURE, SUCCESS)
    assert b.state == CLOSED  # 2 of 5 = 40%
    b, result = record(b, FAILURE, minutes=1)  # 3 of 6 = 50%
    assert b.state == OPEN and result.tripped
    assert [t.name for t in result.transitions] == ["trip"]
    assert b.opens_at == timeutil.iso(at(1) + timedelta(minutes=60))
    assert b.consecutive_opens == 1 and b.opened_at == timeutil.iso(at(1))


def test_a_healthy_window_does_not_trip_however_long() -> None:
    b = Breaker()
    for i in range(50):
        b, _ = record(b, SUCCESS, SUCCESS, FAILURE, minutes=i)  # 33% failures
    assert b.state == CLOSED and b.window.attempts == 10


def test_old_failures_slide_out_of_the_window() -> None:
    b, _ = record(Breaker(), FAILURE, FAILURE, *[SUCCESS] * 8)
    # with the two old failures still counted this would be 6 of 14 -> 6 of 10 in a window
    b, result = record(b, FAILURE, FAILURE, FAILURE, FAILURE, minutes=2)
    assert b.state == CLOSED and b.window.failure_rate == pytest.approx(0.4)


def test_failures_counts_consecutive_failures_since_the_last_success() -> None:
    b, _ = record(Breaker(), FAILURE, FAILURE, SUCCESS, FAILURE)
    assert b.failures == 1 and b.last_failure == timeutil.iso(T0)


# --- open ---------------------------------------------------------------------------


def test_open_breaker_skips_until_opens_at() -> None:
    b = tripped_breaker()
    after, decision = breaker.gate(b, at(59), CONFIG)
    assert (decision.skip, decision.state, decision.opens_at) == (True, OPEN, b.opens_at)
    assert decision.outputs() == {"skip": True, "state": OPEN, "opens-at": b.opens_at}
    assert after == b


def test_success_while_open_does_not_close_and_says_so() -> None:
    b = tripped_breaker()
    after, result = record(b, SUCCESS, minutes=10)
    assert after.state == OPEN and not result.transitions
    assert "success-while-open" in result.notes
    assert after.failures == 0  # legacy meaning: consecutive failures since the last success
    assert after.opens_at == b.opens_at  # the wait is not shortened


def test_failure_while_open_is_counted_without_extending_the_wait() -> None:
    b = tripped_breaker()
    after, result = record(b, FAILURE, minutes=10)
    assert after.state == OPEN and after.opens_at == b.opens_at and after.failures == 6
    assert not result.tripped


def test_open_with_no_opens_at_probes_at_once() -> None:
    # The legacy script skipped forever here; batchops treats the wait as over.
    b = Breaker(state=OPEN, failures=7)
    _, decision = breaker.gate(b, T0, CONFIG)
    assert (decision.skip, decision.state) == (False, HALF_OPEN)


# --- half-open ----------------------------------------------------------------------


def test_gate_after_the_wait_grants_exactly_one_probe() -> None:
    b = tripped_breaker()
    b, first = breaker.gate(b, at(60), CONFIG)
    assert (first.skip, first.state, first.transition.name) == (False, HALF_OPEN, "grant-probe")
    assert b.probe_started_at == timeutil.iso(at(60))
    b, second = breaker.gate(b, at(61), CONFIG)
    assert (second.skip, second.state, second.transition) == (True, HALF_OPEN, None)


def test_lost_probe_is_granted_again_after_the_probe_timeout() -> None:
    b = tripped_breaker()
    b, _ = breaker.gate(b, at(60), CONFIG)
    b, still_out = breaker.gate(b, at(60 + 359), CONFIG)
    assert still_out.skip
    b, again = breaker.gate(b, at(60 + 360), CONFIG)
    assert (again.skip, again.transition.name) == (False, "regrant-probe")


def test_successful_probe_closes_and_clears_the_window() -> None:
    b = tripped_breaker()
    b, _ = breaker.gate(b, at(60), CONFIG)
    b, result = record(b, SUCCESS, minutes=70)
    assert (result.previous_state, result.state) == (HALF_OPEN, CLOSED)
    assert [t.name for t in result.transitions] == ["close"]
    assert b.window.outcomes == [] and result.failure_rate == 0 and b.failures == 0
    assert b.consecutive_opens == 0 and b.probe_started_at == ""
    assert not result.tripped


def test_failed_probe_reopens_with_doubled_wait() -> None:
    b = tripped_breaker()
    b, _ = breaker.gate(b, at(60), CONFIG)
    b, result = record(b, FAILURE, minutes=70)
    assert result.state == OPEN and result.tripped
    assert [t.name for t in result.transitions] == ["reopen"]
    assert b.opens_at == timeutil.iso(at(70) + timedelta(hours=2))
    assert b.consecutive_opens == 2


def test_wait_doubles_on_each_reopen_up_to_24_hours() -> None:
    b = tripped_breaker()
    now = at(0)
    waits = []
    for _ in range(8):
        now = timeutil.parse_iso(b.opens_at)
        b, _ = breaker.gate(b, now, CONFIG)
        b, _ = breaker.record(b, [FAILURE], now, CONFIG)
        waits.append(timeutil.parse_iso(b.opens_at) - now)
    assert [w / timedelta(hours=1) for w in waits] == [2, 4, 8, 16, 24, 24, 24, 24]


def test_close_resets_the_backoff() -> None:
    b = tripped_breaker()
    b, _ = breaker.gate(b, at(60), CONFIG)
    b, _ = record(b, FAILURE, minutes=61)  # re-open: 2h
    b, _ = breaker.gate(b, at(61 + 120), CONFIG)
    b, _ = record(b, SUCCESS, minutes=190)  # closed
    b, result = record(b, *[FAILURE] * 5, minutes=200)
    assert result.tripped and b.opens_at == timeutil.iso(at(200) + timedelta(hours=1))


def test_a_probe_batch_is_judged_by_its_own_failure_rate() -> None:
    b = tripped_breaker()
    b, _ = breaker.gate(b, at(60), CONFIG)
    reopened, result = record(b, SUCCESS, FAILURE, FAILURE, minutes=70)
    assert reopened.state == OPEN and "2 of 3 failed" in result.transitions[0].detail
    closed, _ = record(b, SUCCESS, SUCCESS, FAILURE, minutes=70)
    assert closed.state == CLOSED


def test_no_outcomes_change_nothing() -> None:
    b = tripped_breaker()
    after, result = record(b, minutes=5)
    assert after == b and not result.transitions and result.state == OPEN


def test_there_is_no_transition_from_open_to_closed() -> None:
    assert all(not (OPEN in sources and target == CLOSED) for sources, target in breaker.TRANSITIONS.values())


# --- config -------------------------------------------------------------------------


def test_defaults_are_the_documented_ones() -> None:
    assert CONFIG.as_json() == {
        "window_size": 10,
        "failure_rate_threshold": 0.5,
        "minimum_attempts": 5,
        "wait": "1h",
        "max_wait": "1d",
        "probe_timeout": "6h",
    }


def test_control_file_config_then_per_ecosystem_overrides() -> None:
    document = {
        "enabled": True,
        "breaker_config": {
            "wait": "30m",
            "window_size": 20,
            "ecosystems": {"homebrew": {"minimum_attempts": 8, "max_wait": "6h"}},
        },
    }
    npm = breaker.config_for(document, "npm")
    brew = breaker.config_for(document, "homebrew")
    assert (npm.wait, npm.window_size, npm.minimum_attempts, npm.max_wait) == (
        timedelta(minutes=30),
        20,
        5,
        timedelta(hours=24),
    )
    assert (brew.wait, brew.window_size, brew.minimum_attempts, brew.max_wait) == (
        timedelta(minutes=30),
        20,
        8,
        timedelta(hours=6),
    )


def test_minimum_attempts_above_the_window_is_a_control_file_error() -> None:
    document = {"enabled": True, "breaker_config": {"ecosystems": {"npm": {"minimum_attempts": 11}}}}
    with pytest.raises(ControlFileError) as err:
        breaker.config_for(document, "npm")
    assert "could never trip" in err.value.message and "npm" in err.value.field


def test_override_changes_when_the_breaker_trips() -> None:
    config = BreakerConfig(minimum_attempts=3, failure_rate_threshold=0.6)
    b, result = breaker.record(Breaker(), [FAILURE, SUCCESS, FAILURE], T0, config)
    assert result.tripped  # 2 of 3 = 67% >= 60%


# --- the entry in the control file --------------------------------------------------


def test_legacy_entry_is_read_and_written_back_with_its_fields_and_unknown_keys() -> None:
    entry = {
        "state": "open",
        "failures": 957,
        "last_failure": "2026-06-26T20:51:01Z",
        "opens_at": "2026-06-26T21:51:01Z",
        "x_note": "keep",
    }
    b = Breaker.from_entry(entry)
    assert (b.state, b.failures, b.consecutive_opens, b.window.outcomes) == (OPEN, 957, 1, [])
    written = b.write(copy.deepcopy(entry))
    assert list(written)[:4] == ["state", "failures", "last_failure", "opens_at"]
    assert written["x_note"] == "keep" and written["opens_at"] == entry["opens_at"]


def test_first_failed_probe_of_a_legacy_open_entry_waits_two_hours() -> None:
    b = Breaker.from_entry({"state": "open", "failures": 5, "opens_at": "2026-06-26T12:00:00Z"})
    b, _ = breaker.gate(b, T0, CONFIG)
    b, _ = breaker.record(b, [FAILURE], T0, CONFIG)
    assert b.opens_at == timeutil.iso(T0 + timedelta(hours=2))


# --- operations (what persist-with-retry re-applies) --------------------------------


def legacy_document() -> dict:
    return {
        "enabled": True,
        "circuit_breaker": {
            "homebrew": {
                "state": "open",
                "failures": 5,
                "last_failure": "2026-06-26T10:00:00Z",
                "opens_at": "2026-06-26T11:00:00Z",
            },
            "default": {"state": "closed", "failures": 0},
        },
    }


def test_gate_operation_moves_open_to_half_open_and_records_the_probe_time() -> None:
    document = legacy_document()
    result = apply(document, "breaker.gate", {"ecosystem": "homebrew", "at": "2026-06-26T12:00:00Z"})
    assert (result["skip"], result["state"], result["transition"]["name"]) == (False, HALF_OPEN, "grant-probe")
    entry = document["circuit_breaker"]["homebrew"]
    assert entry["state"] == HALF_OPEN and entry["probe_started_at"] == "2026-06-26T12:00:00Z"


def test_gate_reapplied_where_another_job_took_the_probe_returns_skip_and_changes_nothing() -> None:
    remote = legacy_document()
    apply(remote, "breaker.gate", {"ecosystem": "homebrew", "at": "2026-06-26T12:00:00Z"})  # the other job
    before = copy.deepcopy(remote)
    result = apply(remote, "breaker.gate", {"ecosystem": "homebrew", "at": "2026-06-26T12:01:00Z"})  # ours, re-applied
    assert (result["skip"], result["state"], result["transition"]) == (True, HALF_OPEN, None)
    assert remote == before


def test_record_reapplied_adds_on_top_of_another_jobs_outcomes() -> None:
    remote = {"enabled": True, "circuit_breaker": {}}
    apply(
        remote,
        "breaker.record",
        {"ecosystem": "npm", "outcomes": [FAILURE, FAILURE, FAILURE], "at": "2026-06-26T12:00:00Z"},
    )
    result = apply(
        remote, "breaker.record", {"ecosystem": "npm", "outcomes": [FAILURE, SUCCESS], "at": "2026-06-26T12:01:00Z"}
    )
    entry = remote["circuit_breaker"]["npm"]
    assert entry["window"] == [FAILURE] * 4 + [SUCCESS]
    assert result["tripped"] is True and entry["state"] == OPEN  # 4 of 5 failed


def test_operations_never_touch_the_default_template_entry() -> None:
    document = legacy_document()
    apply(document, "breaker.record", {"ecosystem": "npm", "outcomes": [FAILURE] * 5, "at": "2026-06-26T12:00:00Z"})
    apply(document, "breaker.gate", {"ecosystem": "homebrew", "at": "2026-06-26T12:00:00Z"})
    assert document["circuit_breaker"]["default"] == {"state": "closed", "failures": 0}
    assert "default" not in breaker.ecosystems(document)  # the untouched template entry stays out of tables


def test_default_is_an_ecosystem_like_any_other_when_a_workflow_names_it() -> None:
    document = legacy_document()
    decision = apply(document, "breaker.gate", {"ecosystem": "default", "at": "2026-06-26T12:00:00Z"})
    assert decision["skip"] is False and document["circuit_breaker"]["default"] == {"state": "closed", "failures": 0}
    result = apply(
        document, "breaker.record", {"ecosystem": "default", "outcomes": [FAILURE] * 5, "at": "2026-06-26T12:00:00Z"}
    )
    assert result["tripped"] is True and document["circuit_breaker"]["default"]["state"] == OPEN
    assert "default" in breaker.ecosystems(document)
    assert [row[0] for row in render_breaker.table_rows(document, T0) if row[0] == "default"] == ["default"]


def test_record_operation_is_deterministic() -> None:
    args = {"ecosystem": "npm", "outcomes": [FAILURE] * 6, "at": "2026-06-26T12:00:00Z"}
    first, second = {"enabled": True}, {"enabled": True}
    assert apply(first, "breaker.record", args) == apply(second, "breaker.record", args)
    assert first == second


# --- reports ------------------------------------------------------------------------


def test_table_has_a_row_per_ecosystem_but_not_the_template() -> None:
    document = legacy_document()
    apply(
        document,
        "breaker.record",
        {"ecosystem": "npm", "outcomes": [FAILURE, SUCCESS, SUCCESS, SUCCESS, SUCCESS], "at": "2026-06-26T12:00:00Z"},
    )
    rows = {row[0]: row for row in render_breaker.table_rows(document, T0)}
    assert set(rows) == {"homebrew", "npm"}
    assert rows["npm"][2] == "██░░░░░░░░ 20%" and rows["npm"][3] == "5/10"
    assert "2026-06-26T11:00:00Z" in rows["homebrew"][5]


def test_mermaid_line_names_the_transition() -> None:
    b = tripped_breaker()
    b, decision = breaker.gate(b, at(60), CONFIG)
    text = render_breaker.mermaid([decision.transition])
    assert text.startswith("```mermaid\nstateDiagram-v2\n")
    assert 'state "half-open" as half_open' in text
    assert "open --> half_open: grant-probe" in text
    assert render_breaker.mermaid([]) == ""


# --- legacy and batchops writers side by side ---------------------------------------


def batchops_entry(*outcomes: str) -> dict:
    """What batchops writes after recording ``outcomes`` (in one batch each) on a new breaker."""
    document: dict = {"enabled": True}
    for i, outcome in enumerate(outcomes):
        apply(document, "breaker.record", {"ecosystem": "homebrew", "outcomes": [outcome], "at": timeutil.iso(at(i))})
    return document["circuit_breaker"]["homebrew"]


def test_legacy_success_over_a_window_of_failures_does_not_trip_on_the_stale_history() -> None:
    entry = batchops_entry(*[FAILURE] * 7)  # tripped at 5, two more failures while open
    assert entry["state"] == OPEN
    entry.update(state="closed", failures=0)  # update_breaker.sh homebrew success
    document = {"enabled": True, "circuit_breaker": {"homebrew": entry}}
    result = apply(
        document, "breaker.record", {"ecosystem": "homebrew", "outcomes": [FAILURE], "at": timeutil.iso(at(60))}
    )
    assert result["tripped"] is False and result["state"] == CLOSED and result["attempts"] == 1
    assert result["reconciled"] and "legacy success" in result["reconciled"][0]
    assert document["circuit_breaker"]["homebrew"]["window"] == [FAILURE]
    assert document["circuit_breaker"]["homebrew"]["consecutive_opens"] == 0


def test_legacy_failures_after_batchops_enter_the_window() -> None:
    entry = batchops_entry(SUCCESS, SUCCESS, FAILURE)
    entry.update(failures=3, last_failure="2026-06-26T13:00:00Z")  # two update_breaker.sh failures
    b = Breaker.from_entry(entry)
    assert b.window.outcomes == [SUCCESS, SUCCESS, FAILURE, FAILURE, FAILURE] and b.failures == 3
    # with the legacy failures counted, the next failure trips it: 4 of 6 failed
    after, result = breaker.record(b, [FAILURE], at(90), CONFIG)
    assert result.tripped and after.window.failures == 4


def test_a_legacy_trip_is_open_with_a_first_wait() -> None:
    entry = batchops_entry(SUCCESS, FAILURE)
    entry.update(state="open", failures=5, last_failure="2026-06-26T13:00:00Z", opens_at="2026-06-26T14:00:00Z")
    b = Breaker.from_entry(entry)
    assert b.state == OPEN and b.consecutive_opens == 1 and b.opened_at == "2026-06-26T13:00:00Z"
    assert b.window.outcomes == [SUCCESS, FAILURE, FAILURE, FAILURE, FAILURE, FAILURE]
    assert breaker.gate(b, at(0), CONFIG)[1].skip  # before the legacy opens_at (14:00), batches are skipped


def test_an_entry_only_legacy_scripts_wrote_is_not_reconciled() -> None:
    entry = {"state": "closed", "failures": 3, "last_failure": "2026-06-26T10:00:00Z"}
    assert breaker.legacy_wrote_after(Breaker.from_entry(entry), entry) == []
    assert breaker.mixed_writer_warnings({"circuit_breaker": {"npm": entry}}) == []


def test_mixed_writer_warnings_name_the_entry_and_the_sign() -> None:
    entry = batchops_entry(*[FAILURE] * 7)
    entry.update(state="closed", failures=0)
    warnings = breaker.mixed_writer_warnings(
        {"enabled": True, "circuit_breaker": {"homebrew": entry, "npm": batchops_entry(FAILURE)}}
    )
    assert len(warnings) == 2 and all(w.startswith("/circuit_breaker/homebrew: ") for w in warnings)
    assert "failures is 0 but the window ends with 7 failure(s)" in warnings[0]
    assert "state is closed but consecutive_opens is 1" in warnings[1]
