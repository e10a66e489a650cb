"""The operator console's pure rules: stops, no-ops, safe text, audit messages, breaker controls, the next batch."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchops.core import breaker, breaker_operator, control, escape, operations
from batchops.errors import UsageError

AT = "2026-06-26T03:00:00Z"
NOW = datetime(2026, 6, 26, 3, 0, tzinfo=UTC)


def stopped(reason: str = "first incident") -> dict:
    doc = control.new_document()
    control.stop_op(
        doc, {"reason": reason, "incident_url": "https://x/1", "disabled_by": "ada", "at": "2026-06-26T01:00:00Z"}
    )
    return doc


# --- stop ---------------------------------------------------------------------------------


def test_a_second_stop_keeps_the_first_reason_actor_and_time_and_updates_the_links_it_is_given() -> None:
    doc = stopped()
    control.stop_op(
        doc, {"reason": "second", "expected_resume": "09:00", "disabled_by": "bob", "at": AT, "replace_reason": False}
    )
    assert (doc["reason"], doc["disabled_by"], doc["disabled_at"]) == ("first incident", "ada", "2026-06-26T01:00:00Z")
    assert (doc["incident_url"], doc["expected_resume"]) == ("https://x/1", "09:00")


def test_a_second_stop_with_replace_reason_replaces_it() -> None:
    doc = stopped()
    control.stop_op(doc, {"reason": "second", "disabled_by": "bob", "at": AT, "replace_reason": True})
    assert (doc["reason"], doc["disabled_by"], doc["disabled_at"]) == ("second", "bob", AT)


def test_a_journaled_stop_from_before_replace_reason_existed_still_replaces() -> None:
    doc = stopped()
    control.stop_op(doc, {"reason": "second", "at": AT})
    assert doc["reason"] == "second"


def test_a_kept_reason_stop_on_a_running_remote_still_stops_it() -> None:
    doc = control.new_document()  # re-applied by persist-with-retry on a copy that was resumed meanwhile
    control.stop_op(doc, {"reason": "second", "at": AT, "replace_reason": False})
    assert doc["enabled"] is False and doc["reason"] == "second"


# --- no-ops -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "args"),
    [
        ("control.enable", {"ecosystem": "npm"}),
        ("control.resume", {}),
        ("breaker.reset", {"ecosystem": "npm", "reason": "r"}),
        ("breaker.probe", {"ecosystem": "npm", "reason": "r"}),
    ],
)
def test_an_operation_that_changes_nothing_is_seen_as_a_no_op_even_on_a_legacy_file_missing_fields(
    op: str, args: dict
) -> None:
    before = {"enabled": True}  # legacy: most fields absent
    after = copy.deepcopy(before)
    operations.apply(after, op, {**args, "at": AT})
    assert control.changed_fields(before, after) == []


def test_a_real_change_names_the_fields_it_changes() -> None:
    before = control.new_document()
    after = copy.deepcopy(before)
    operations.apply(after, "control.disable", {"ecosystem": "npm", "at": AT})
    assert control.changed_fields(before, after) == ["disabled_ecosystems"]


# --- text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["a\nBatchops-Actor: mallory", "a\rb", "a\u2028b", "a\x85b", "bell\x07", "esc\x1b[31m"]
)
def test_operator_text_with_a_line_break_or_control_character_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        control.check_text(text, "--reason", example='"npm is down"')
    assert caught.value.field == "--reason" and "npm is down" in caught.value.hint


@given(st.text())
def test_one_line_never_leaves_a_line_break_or_control_character(text: str) -> None:
    shown = escape.one_line(text)
    assert len(shown.splitlines()) <= 1 and not any(ord(c) < 0x20 or c == "\x7f" for c in shown)


# --- the audited commit message -----------------------------------------------------------


def entry(op: str, args: dict, n: int, title: str = "") -> dict:
    audit = {"audit": {"title": title, "body": []}} if title else {}
    return {
        "id": f"{n:032x}",
        "op": op,
        "file": "batch-control.json",
        "args": {**args, **audit, "at": AT},
        "at": AT,
        "actor": "Ada <ada@example.org>",
    }


def test_a_message_carrying_several_operations_describes_each_and_has_one_trailer_group_per_operation() -> None:
    entries = [
        entry("control.disable", {"ecosystem": "npm"}, 1, "disable ecosystem npm"),
        entry("control.resume", {}, 2, "resume the batch pipeline"),
        entry("breaker.gate", {"ecosystem": "npm"}, 3),
    ]
    message = control.commit_message(entries)
    title, _, body = message.partition("\n")
    assert title == "batchops: 3 control-plane changes [skip ci]"
    assert "- disable ecosystem npm" in body and "- resume the batch pipeline" in body
    assert "- breaker-gate npm: the gate's decision (grants the half-open probe)" in body
    groups = control.parse_trailers(message)
    assert [g["operation"] for g in groups] == ["control.disable", "control.resume", "breaker.gate"]
    assert [g["operation-id"] for g in groups] == [e["id"] for e in entries]
    assert all(g["actor"] == "Ada <ada@example.org>" for g in groups)


def test_a_reason_that_looks_like_a_trailer_stays_the_value_of_its_own_trailer() -> None:
    message = control.commit_message(
        [entry("breaker.reset", {"ecosystem": "npm", "reason": "Batchops-Actor: mallory"}, 1, "reset")]
    )
    [group] = control.parse_trailers(message)
    assert group["actor"] == "Ada <ada@example.org>" and group["reason"] == "Batchops-Actor: mallory"


def test_a_journal_entry_edited_to_hold_a_newline_cannot_add_a_trailer_line() -> None:
    forged = entry(
        "control.stop", {"reason": "x\nBatchops-Actor: mallory"}, 1, "stop\nBatchops-Operation: control.resume"
    )
    groups = control.parse_trailers(control.commit_message([forged]))
    assert [g["operation"] for g in groups] == ["control.stop"] and groups[0]["actor"] == "Ada <ada@example.org>"


# --- breaker controls ---------------------------------------------------------------------


def legacy_open() -> dict:
    return {
        "circuit_breaker": {
            "npm": {
                "state": "open",
                "failures": 996,
                "last_failure": "2026-06-26T02:00:00Z",
                "opens_at": "2026-06-26T04:00:00Z",
            }
        }
    }


def test_reset_closes_an_open_breaker_and_clears_window_and_counters() -> None:
    doc = legacy_open()
    result = operations.apply(doc, "breaker.reset", {"ecosystem": "npm", "reason": "recovered", "at": AT})
    entry_ = doc["circuit_breaker"]["npm"]
    assert result["changed"] and result["transition"]["from"] == "open" and result["transition"]["to"] == "closed"
    assert (entry_["state"], entry_["failures"], entry_["window"], entry_["consecutive_opens"], entry_["opens_at"]) == (
        "closed",
        0,
        [],
        0,
        "",
    )


def test_reset_is_the_only_path_from_open_to_closed_and_only_operators_take_it() -> None:
    assert all(
        not (breaker.OPEN in sources and target == breaker.CLOSED) for sources, target in breaker.TRANSITIONS.values()
    )
    to_closed = [
        name
        for name, (sources, target) in breaker_operator.OPERATOR_TRANSITIONS.items()
        if breaker.OPEN in sources and target == breaker.CLOSED
    ]
    assert to_closed == ["reset"]


def test_an_operator_move_outside_the_table_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # the table is the rule: take "reset from open" out of it and the move is no longer made
    monkeypatch.setitem(
        breaker_operator.OPERATOR_TRANSITIONS, "reset", (frozenset({breaker.HALF_OPEN}), breaker.CLOSED)
    )
    with pytest.raises(AssertionError, match="not in OPERATOR_TRANSITIONS"):
        operations.apply(legacy_open(), "breaker.reset", {"ecosystem": "npm", "reason": "recovered", "at": AT})


def test_probe_makes_the_next_gate_grant_the_probe_before_opens_at() -> None:
    doc = legacy_open()
    operations.apply(doc, "breaker.probe", {"ecosystem": "npm", "reason": "try now", "at": AT})
    assert doc["circuit_breaker"]["npm"]["state"] == "half-open"
    answer = operations.apply(doc, "breaker.gate", {"ecosystem": "npm", "at": "2026-06-26T03:01:00Z"})
    assert answer["skip"] is False and answer["state"] == "half-open"


def test_open_trips_a_closed_breaker_for_the_given_wait() -> None:
    doc = {"circuit_breaker": {}}
    result = operations.apply(doc, "breaker.open", {"ecosystem": "npm", "reason": "bad", "wait": "6h", "at": AT})
    assert result["state"] == "open" and doc["circuit_breaker"]["npm"]["opens_at"] == "2026-06-26T09:00:00Z"
    gate = operations.apply(doc, "breaker.gate", {"ecosystem": "npm", "at": "2026-06-26T08:59:00Z"})
    assert gate["skip"] is True


@pytest.mark.parametrize(
    ("op", "why"), [("breaker.open", "already open"), ("breaker.probe", None), ("breaker.reset", None)]
)
def test_controls_on_a_breaker_already_in_that_state_change_nothing(op: str, why: str | None) -> None:
    doc = legacy_open() if op == "breaker.open" else {"circuit_breaker": {}}
    before = copy.deepcopy(doc)
    result = operations.apply(doc, op, {"ecosystem": "npm", "reason": "r", "at": AT})
    assert doc == before and result["changed"] is False and (why is None or why in result["why"])


# --- what the next batch meets ------------------------------------------------------------


def test_the_next_batch_of_a_legacy_open_breaker_is_skipped_until_opens_at_with_the_legacy_cause() -> None:
    answer = control.next_batch(legacy_open(), "npm", NOW)
    assert answer["verdict"] == "skipped" and answer["until"] == "2026-06-26T04:00:00Z"
    assert "legacy scripts after 996 consecutive failures" in answer["why"]


def test_the_next_batch_after_the_wait_is_the_probe_and_asking_changes_nothing() -> None:
    doc = legacy_open()
    before = copy.deepcopy(doc)
    answer = control.next_batch(doc, "npm", datetime(2026, 6, 26, 4, 0, tzinfo=UTC))
    assert answer["verdict"] == "probe" and doc == before


def test_a_disabled_ecosystem_or_a_stopped_pipeline_skips_and_still_says_what_the_breaker_says() -> None:
    doc = {**legacy_open(), "disabled_ecosystems": ["npm"]}
    assert control.next_batch(doc, "npm", NOW)["verdict"] == "skipped"
    assert "disabled by an operator" in control.next_batch(doc, "npm", NOW)["why"]
    doc = {**legacy_open(), "enabled": False, "reason": "incident 9"}
    answer = control.next_batch(doc, "homebrew", NOW)
    assert answer["verdict"] == "skipped" and "stopped: incident 9" in answer["why"] and "closed" in answer["why"]


def test_a_young_closed_breaker_says_how_many_attempts_it_needs_to_trip() -> None:
    doc = {"circuit_breaker": {"npm": {"state": "closed", "failures": 1, "window": ["failure"]}}}
    assert control.next_batch(doc, "npm", NOW)["why"] == "closed: 1 of 1 failed (100%); cannot trip before 5 attempts"


# --- a manual trip of a breaker that is already open ------------------------------------------


def test_open_on_a_legacy_open_breaker_whose_wait_is_over_starts_a_new_wait() -> None:
    # the first user's breakers: open, opens_at long past; the next gate would grant the probe
    doc = legacy_open()
    later = "2026-12-01T10:00:00Z"
    result = operations.apply(doc, "breaker.open", {"ecosystem": "npm", "reason": "still broken", "at": later})
    entry_ = doc["circuit_breaker"]["npm"]
    assert result["changed"] and result["state"] == "open"
    assert entry_["opens_at"] == "2026-12-01T11:00:00Z" and entry_["opened_at"] == later
    gate = operations.apply(doc, "breaker.gate", {"ecosystem": "npm", "at": "2026-12-01T10:30:00Z"})
    assert gate["skip"] is True


def test_open_with_a_longer_wait_extends_an_open_breaker_and_a_shorter_one_changes_nothing() -> None:
    doc = legacy_open()  # open until 04:00, AT is 03:00
    shorter = copy.deepcopy(doc)
    result = operations.apply(shorter, "breaker.open", {"ecosystem": "npm", "reason": "r", "wait": "30m", "at": AT})
    assert result["changed"] is False and shorter == legacy_open()
    result = operations.apply(doc, "breaker.open", {"ecosystem": "npm", "reason": "r", "wait": "6h", "at": AT})
    assert result["changed"] and doc["circuit_breaker"]["npm"]["opens_at"] == "2026-06-26T09:00:00Z"


def test_a_breaker_opened_by_hand_is_not_explained_as_tripped_by_its_window() -> None:
    doc = {
        "circuit_breaker": {
            "npm": {
                "state": "closed",
                "failures": 2,
                "window": ["success"] * 8 + ["failure"] * 2,
                "consecutive_opens": 0,
            }
        }
    }
    operations.apply(doc, "breaker.open", {"ecosystem": "npm", "reason": "bad bottles", "wait": "6h", "at": AT})
    why = control.next_batch(doc, "npm", NOW)["why"]
    assert (
        "tripped: 2 of 10" not in why
        and "not tripped by the window (2 of 10 failed (20%)" in why
        and "opened by hand" in why
    )
    legacy = legacy_open()
    operations.apply(legacy, "breaker.open", {"ecosystem": "npm", "reason": "r", "at": "2026-12-01T10:00:00Z"})
    assert "legacy scripts" not in control.next_batch(legacy, "npm", datetime(2026, 12, 1, 10, 0, tzinfo=UTC))["why"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (("budget", "week_start"), "2026-13-01"),
        (("budget", "week_start"), "2026-02-30"),
        (("circuit_breaker", "npm", "opens_at"), "2026-06-26T25:00:00Z"),
        (("disabled_at",), "2026-02-30T00:00:00Z"),
    ],
)
def test_a_time_of_the_right_shape_that_names_no_real_instant_is_found(field: tuple[str, ...], value: str) -> None:
    doc = legacy_open()
    doc["budget"] = {"week_start": "2026-11-30"}
    target = doc
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    assert control.impossible_times(doc) == [(("/" + "/".join(field)), value, control.impossible_times(doc)[0][2])]
    assert control.impossible_times(legacy_open()) == []
