"""A pipeline gone quiet: the rules of ``stale-after`` (pure, the time given)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batchops.core import alert, stale
from batchops.errors import UsageError

NOW = datetime(2026, 6, 29, tzinfo=UTC)
DAY = timedelta(days=1)


def keys(document: dict, activity: stale.Activity, after: timedelta | None = timedelta(hours=48)) -> list[str]:
    return [i.key for i in alert.incidents(document, NOW, activity=activity, stale_after=after)]


def test_no_run_within_stale_after_is_one_incident_and_no_shipment_another() -> None:
    both = ["pipeline/quiet", "pipeline/not-shipping"]
    assert keys({"enabled": True}, stale.Activity(NOW - 3 * DAY, NOW - 50 * DAY)) == both
    assert keys({"enabled": True}, stale.Activity(NOW - DAY, NOW - 50 * DAY)) == ["pipeline/not-shipping"]
    assert keys({"enabled": True}, stale.Activity(NOW - DAY, NOW - DAY)) == []


def test_exactly_stale_after_ago_is_not_yet_quiet() -> None:
    assert keys({}, stale.Activity(NOW - timedelta(hours=48), NOW - timedelta(hours=48))) == []


def test_a_stopped_pipeline_is_its_own_incident_and_never_quiet() -> None:
    assert keys({"enabled": False}, stale.Activity(NOW - 30 * DAY, NOW - 30 * DAY)) == ["pipeline/stopped"]


def test_an_unknown_time_raises_nothing() -> None:
    assert keys({}, stale.Activity(None, None)) == []


def test_stale_after_empty_off_or_zero_turns_the_check_off_and_a_bad_value_names_the_field() -> None:
    assert [stale.parse_stale_after(v) for v in ("", " ", "off", "0")] == [None] * 4
    assert stale.parse_stale_after("48h") == timedelta(hours=48)
    with pytest.raises(UsageError) as caught:
        stale.parse_stale_after("two days")
    assert "stale-after" in str(caught.value.render())


def test_the_quiet_issue_keeps_one_title_and_says_since_when() -> None:
    (incident,) = alert.incidents({}, NOW, activity=stale.Activity(NOW - 3 * DAY, None), stale_after=2 * DAY)
    assert incident.title == "Batch pipeline quiet: no batch has run since 2026-06-26T00:00:00Z"
    marker = alert.Marker(incident.key, milestones=incident.milestones)
    body = alert.issue_body(incident, marker, "2026-06-29T00:00:00Z")
    assert "batchops status" in body and "3d" in body


def test_the_replay_timeline_answers_as_of_each_time() -> None:
    timeline = stale.Timeline([(NOW - 5 * DAY, "a"), (NOW - DAY, "b")], [(NOW - 4 * DAY, "landing")])
    assert timeline.at(NOW - 6 * DAY) == stale.Activity()
    assert timeline.at(NOW) == stale.Activity(NOW - DAY, NOW - 4 * DAY, "b", "landing")
