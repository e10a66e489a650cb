"""Alert rules: which incidents a control document shows, and how issues follow them over time."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from batchops.core import alert
from tests.conftest import corpus_dir


def control_history_dir() -> Path:
    """The first user's committed control files (the shared corpus beside the repository; skipped when absent)."""
    return corpus_dir() / "tsuku" / "control-history"


T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def doc(**breakers: dict[str, Any]) -> dict[str, Any]:
    return {
        "enabled": True,
        "disabled_ecosystems": [],
        "circuit_breaker": {"default": {"state": "closed", "failures": 0}, **breakers},
        "budget": {"macos_minutes_used": 0, "linux_minutes_used": 0, "week_start": "", "sampling_active": False},
    }


def opened(consecutive: int = 1, failures: int = 5, at: str = "2026-06-01T11:00:00Z") -> dict[str, Any]:
    return {
        "state": "open",
        "failures": failures,
        "last_failure": at,
        "opens_at": "2026-06-01T13:00:00Z",
        "window": ["failure"] * 5,
        "consecutive_opens": consecutive,
        "opened_at": at,
    }


def legacy_open(failures: int) -> dict[str, Any]:
    return {
        "state": "open",
        "failures": failures,
        "last_failure": "2026-06-01T11:00:00Z",
        "opens_at": "2026-06-01T12:00:00Z",
    }


CLOSED = {"state": "closed", "failures": 0, "window": ["success"], "consecutive_opens": 0}


class World:
    """The issues as GitHub would hold them after each run (the plan applied)."""

    def __init__(self, resolve_after: timedelta = DAY) -> None:
        self.issues: dict[int, alert.IssueState] = {}
        self.resolve_after = resolve_after
        self.log: list[tuple[str, int, alert.Action]] = []

    def run(self, document: dict[str, Any], at: datetime) -> list[alert.Action]:
        actions = alert.plan(alert.incidents(document, at), list(self.issues.values()), at, self.resolve_after)
        for action in actions:
            self.log.append((action.kind, alert.apply(self.issues, action), action))
        return actions

    def kinds(self, actions: list[alert.Action]) -> list[str]:
        return [a.kind for a in actions]

    def open_issues(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for issue in self.issues.values():
            if issue.open:
                found.setdefault(issue.marker.key, []).append(issue.number)
        return found


# --- incidents -----------------------------------------------------------------------------


def test_the_legacy_default_template_never_alerts_while_nothing_records_on_it() -> None:
    assert alert.incidents(doc(), T0) == []


def test_a_default_entry_that_went_open_alerts_like_any_ecosystem() -> None:
    keys = [i.key for i in alert.incidents(doc(default=legacy_open(7)), T0)]
    assert keys == ["breaker/default"]


def test_open_and_half_open_breakers_are_incidents_closed_ones_are_not() -> None:
    half = {**opened(), "state": "half-open", "probe_started_at": "2026-06-01T13:00:00Z"}
    found = alert.incidents(doc(npm=opened(), pypi=half, github=CLOSED), T0)
    assert [i.key for i in found] == ["breaker/npm", "breaker/pypi"]
    assert all("batchops breaker probe" in alert.issue_body(i, alert.Marker(i.key), "now") for i in found)


def test_a_paused_platform_is_an_incident_sampling_is_not() -> None:
    document = doc()
    document["budget"].update(macos_minutes_used=960, linux_minutes_used=4200, week_start="2026-06-01")
    found = alert.incidents(document, T0)
    assert [i.key for i in found] == ["budget/macos"]  # linux at 84% samples; macOS at 96% is paused
    assert "batchops budget reset --platform macos" in alert.issue_body(found[0], alert.Marker(found[0].key), "now")


def test_a_stopped_pipeline_is_an_incident_with_its_reason_and_the_resume_command() -> None:
    document = doc()
    document.update(
        enabled=False, reason="npm publishes empty recipes", incident_url="https://example.org/i/1", disabled_by="Ada"
    )
    (incident,) = alert.incidents(document, T0)
    body = alert.issue_body(incident, alert.Marker(incident.key), "now")
    assert incident.key == "pipeline/stopped"
    assert "npm publishes empty recipes" in body and "`batchops resume --push`" in body and "Ada" in body


def test_hostile_text_cannot_close_the_marker_or_inject_markup() -> None:
    document = doc()
    document.update(
        enabled=False, reason='x --> <!-- batchops:alert {"key":"evil"} --> <script>| ![img](http://x)\n::error::y'
    )
    (incident,) = alert.incidents(document, T0)
    body = alert.issue_body(incident, alert.Marker(incident.key, milestones=incident.milestones), "now")
    assert alert.parse_marker(body) == alert.Marker("pipeline/stopped", milestones=incident.milestones)
    assert "<script>" not in body and "\n::error" not in body


def test_the_webhook_text_cannot_ping_everyone_or_break_lines() -> None:
    (incident,) = alert.incidents(doc(**{"npm<!channel>\n&x": opened()}), T0)
    (action,) = alert.plan([incident], [], T0)
    text = alert.webhook_text(action, "https://github.com/o/r/issues/1")
    assert (
        text
        == "batchops incident opened: Circuit breaker open: npm&lt;!channel&gt;\\n&amp;x https://github.com/o/r/issues/1"
    )


@settings(max_examples=200)
@given(st.text(max_size=40), st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=4))
def test_the_marker_survives_any_text(key: str, milestones: dict[str, str]) -> None:
    marker = alert.Marker(key or "k", alert.RESOLVED, milestones, resolved_at="2026-06-01T12:00:00Z")
    text = "before\n" + marker.render() + "\nafter"
    assert "-->" not in marker.render()[4:-3]
    assert alert.parse_marker(text) == marker


def test_a_damaged_marker_is_no_marker() -> None:
    assert alert.parse_marker("<!-- batchops:alert {not json} -->") is None
    assert alert.parse_marker("no marker") is None


# --- the plan over time ----------------------------------------------------------------------


def test_an_open_breaker_opens_one_issue_and_a_second_run_changes_nothing() -> None:
    world = World()
    assert world.kinds(world.run(doc(npm=opened()), T0)) == ["open"]
    assert world.run(doc(npm=opened()), T0) == []
    assert world.run(doc(npm=opened()), T0 + timedelta(hours=1)) == []


def test_counters_that_move_every_run_are_not_news() -> None:
    world = World()
    world.run(doc(npm=legacy_open(5)), T0)
    for hour in range(1, 30):  # the legacy re-open: failures and opens_at move on every probe
        assert world.run(doc(npm=legacy_open(5 + hour)), T0 + timedelta(hours=hour)) == []


def test_a_failed_probe_that_doubles_the_wait_is_commented_once() -> None:
    world = World()
    world.run(doc(npm=opened(1)), T0)
    (action,) = world.run(doc(npm=opened(2)), T0 + timedelta(hours=2))
    assert action.kind == "comment" and "2h" in action.comment and "probe failed" in action.comment
    assert world.run(doc(npm=opened(2, failures=9)), T0 + timedelta(hours=3)) == []


def test_the_wait_stops_being_news_at_its_cap() -> None:
    world = World()
    world.run(doc(npm=opened(6)), T0)  # 60m * 2**5 = 32h: capped at 24h
    assert world.run(doc(npm=opened(7)), T0 + DAY) == []


def test_an_operators_probe_order_is_commented_and_the_granted_probe_is_not() -> None:
    world = World()
    world.run(doc(npm=opened()), T0)
    ordered = {**opened(), "state": "half-open", "probe_started_at": ""}
    (action,) = world.run(doc(npm=ordered), T0 + timedelta(hours=1))
    assert action.kind == "comment" and "ordered a probe" in action.comment
    granted = {**ordered, "probe_started_at": "2026-06-01T14:00:00Z"}
    assert all(not a.comment for a in world.run(doc(npm=granted), T0 + timedelta(hours=2)))


def test_an_operator_disabling_the_ecosystem_is_commented() -> None:
    world = World()
    world.run(doc(npm=opened()), T0)
    document = doc(npm=opened())
    document["disabled_ecosystems"] = ["npm"]
    (action,) = world.run(document, T0 + timedelta(hours=1))
    assert action.kind == "comment" and "batchops enable npm" in action.comment


def test_flapping_within_resolve_after_keeps_one_issue() -> None:
    world = World()
    at = T0
    for _ in range(10):  # open an hour, closed three hours, ten times over
        world.run(doc(homebrew=opened()), at)
        world.run(doc(homebrew=CLOSED), at + timedelta(hours=1))
        at += timedelta(hours=4)
    assert world.open_issues() == {"breaker/homebrew": [1]}
    assert [k for k, _, _ in world.log].count("open") == 1
    assert all(
        kind == "update" and not action.comment for kind, _, action in world.log[1:]
    )  # told in the body, no comment
    assert world.issues[1].marker.returns == 9


def test_a_stable_recovery_closes_the_issue_after_resolve_after() -> None:
    world = World()
    world.run(doc(npm=opened()), T0)
    (recovered,) = world.run(doc(npm=CLOSED), T0 + timedelta(hours=1))
    assert recovered.kind == "update" and not recovered.comment
    assert "closes at 2026-06-02T13:00:00Z unless it returns" in recovered.marker.status_line()
    assert world.run(doc(npm=CLOSED), T0 + timedelta(hours=24, minutes=59)) == []
    (closing,) = world.run(doc(npm=CLOSED), T0 + timedelta(hours=25))
    assert closing.kind == "close" and world.open_issues() == {}
    assert world.run(doc(npm=CLOSED), T0 + timedelta(hours=26)) == []


def test_a_return_soon_after_the_close_reopens_the_same_issue() -> None:
    world = World()
    world.run(doc(npm=opened()), T0)
    world.run(doc(npm=CLOSED), T0 + timedelta(hours=1))
    world.run(doc(npm=CLOSED), T0 + timedelta(hours=25))
    (again,) = world.run(doc(npm=opened()), T0 + timedelta(hours=30))
    assert (again.kind, again.number) == ("reopen", 1)
    assert world.open_issues() == {"breaker/npm": [1]}


def test_a_return_long_after_the_close_is_a_new_issue() -> None:
    world = World()
    world.run(doc(npm=opened()), T0)
    world.run(doc(npm=CLOSED), T0 + timedelta(hours=1))
    world.run(doc(npm=CLOSED), T0 + timedelta(hours=25))
    (again,) = world.run(doc(npm=opened()), T0 + timedelta(days=5))
    assert again.kind == "open"
    assert world.open_issues() == {"breaker/npm": [2]}


def test_resolve_after_zero_closes_at_once() -> None:
    world = World(resolve_after=timedelta(0))
    world.run(doc(npm=opened()), T0)
    (action,) = world.run(doc(npm=CLOSED), T0 + timedelta(hours=1))
    assert action.kind == "close"


def test_an_issue_a_person_closed_while_the_incident_goes_on_is_reopened() -> None:
    world = World()
    world.run(doc(npm=opened()), T0)
    world.issues[1] = alert.IssueState(1, False, world.issues[1].marker)  # closed by hand
    (action,) = world.run(doc(npm=opened()), T0 + timedelta(days=3))
    assert action.kind == "reopen" and "closed while the incident went on" in action.comment


def test_two_open_issues_for_one_incident_keep_the_older() -> None:
    marker = alert.Marker("breaker/npm", milestones={"wait": "1h"})
    issues = [alert.IssueState(7, True, marker), alert.IssueState(5, True, marker)]
    actions = alert.plan(alert.incidents(doc(npm=opened()), T0), issues, T0)
    assert [(a.kind, a.number) for a in actions] == [("duplicate", 7)]
    assert "#5" in actions[0].comment


def test_a_paused_platform_opens_and_the_next_week_closes_it() -> None:
    world = World()
    document = doc()
    document["budget"].update(macos_minutes_used=990, week_start="2026-06-01T00:00:00Z")
    assert world.kinds(world.run(document, T0)) == ["open"]
    assert world.kinds(world.run(document, datetime(2026, 6, 8, 1, tzinfo=UTC))) == ["update"]  # the week rolled over
    assert world.kinds(world.run(document, datetime(2026, 6, 9, 2, tzinfo=UTC))) == ["close"]


def test_an_operator_changing_the_stop_reason_is_commented() -> None:
    world = World()
    document = doc()
    document.update(enabled=False, reason="npm down")
    world.run(document, T0)
    document = copy.deepcopy(document)
    document["reason"] = "npm down; waiting for the registry's fix"
    (action,) = world.run(document, T0 + timedelta(hours=1))
    assert action.kind == "comment" and "waiting for the registry" in action.comment


# --- replay ----------------------------------------------------------------------------------


def corpus_history() -> list[tuple[datetime, str, dict[str, Any]]]:
    history = []
    for path in sorted(control_history_dir().glob("batch-control.*.json")):
        stamp = path.name.split(".")[1]
        history.append(
            (datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC), path.name, json.loads(path.read_text()))
        )
    return history


def real_shaped_history() -> list[tuple[datetime, str, dict[str, Any]]]:
    """The first user's history, plus what the sample of committed files leaves out: homebrew
    flapping open and closed every few hours for a week (30 flaps), then recovering for good."""
    history = corpus_history()
    last = history[-1][2]
    start = history[-1][0] + timedelta(hours=1)
    at = start
    for flap in range(30):
        document = copy.deepcopy(last)
        document["circuit_breaker"]["homebrew"] = {"state": "closed", "failures": 0}
        history.append((at, f"flap-{flap}-closed", document))
        reopened = copy.deepcopy(last)
        reopened["circuit_breaker"]["homebrew"]["failures"] = 957 + flap
        history.append((at + timedelta(hours=3), f"flap-{flap}-open", reopened))
        at += timedelta(hours=5)
    recovered = copy.deepcopy(last)
    for name in recovered["circuit_breaker"]:
        recovered["circuit_breaker"][name] = {"state": "closed", "failures": 0}
    history.append((at, "all-recovered", recovered))
    history.append((at + timedelta(days=3), "still-recovered", recovered))
    return history


def test_replaying_the_real_history_opens_one_issue_per_ecosystem_keeps_it_through_flapping_closes_it_on_recovery() -> (
    None
):
    history = real_shaped_history()
    steps, issues = alert.replay(history, DAY, every=timedelta(hours=1))
    ecosystems = {"github", "homebrew", "rubygems", "crates.io", "npm", "pypi"}
    per_key: dict[str, list[alert.IssueState]] = {}
    for issue in issues.values():
        per_key.setdefault(issue.marker.key, []).append(issue)
    assert set(per_key) == {f"breaker/{e}" for e in ecosystems}  # never the default template
    assert all(not issue.open for issue in issues.values())  # every one closed after the stable recovery
    homebrew = per_key["breaker/homebrew"]
    flapping = max(homebrew, key=lambda i: i.number)
    assert flapping.marker.returns == 30  # 30 flaps, one issue, counted in its body
    actions = [(number, action) for step in steps for number, action in step.actions]
    assert [a.kind for n, a in actions if n == flapping.number].count("open") == 1
    for key, group in per_key.items():  # never flooding: at most a couple of comments per issue
        for issue in group:
            comments = [a for n, a in actions if n == issue.number and a.comment]
            assert len(comments) <= 2, (key, [a.summary for a in comments])
    assert (
        sum(1 for _, a in actions if a.kind == "open") == 8
    )  # homebrew's stable recoveries in February closed two issues
    other_keys = ecosystems - {"homebrew"}
    assert all(len(per_key[f"breaker/{e}"]) == 1 for e in other_keys)


def test_replay_at_the_commits_only_has_no_scheduled_runs() -> None:
    history = corpus_history()
    steps, _ = alert.replay(history, DAY)
    assert len(steps) == len(history)
