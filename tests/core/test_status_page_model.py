"""The status page's model (pure) and its escaping rules: transitions, spans, the budget's lines, safe links."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from batchops.core import stale
from batchops.core import status_page as model
from batchops.render.feed import feed_xml
from batchops.render.html import link, safe_url

T0 = datetime(2026, 6, 1, tzinfo=UTC)
H = timedelta(hours=1)


def version(hours: int, states: dict[str, str], author: str = "github-actions[bot]", **extra: object) -> model.Snapshot:
    document = {"circuit_breaker": {k: {"state": v} for k, v in states.items()}, **extra}
    return model.Snapshot(T0 + hours * H, f"{hours:040x}", f"run {hours}", author, document)


def test_trips_probes_reopens_and_recoveries_are_named_and_an_operators_reset_is_marked() -> None:
    history = [
        version(0, {"npm": "closed"}),
        version(1, {"npm": "open"}),
        version(2, {"npm": "half-open"}),
        version(3, {"npm": "open"}),
        version(4, {"npm": "half-open"}),
        version(5, {"npm": "closed"}),
        version(6, {"npm": "open"}),
        version(7, {"npm": "closed"}, author="Operator"),
    ]
    rows, events = model.breaker_rows(history, T0 + 8 * H, days=1)
    assert [e.kind for e in events] == ["trip", "probe", "re-open", "probe", "recovered", "trip", "reset"]
    assert [e.operator for e in events] == [False] * 6 + [True]
    (row,) = rows
    assert [state for _, _, state in row.spans] == [
        "closed",
        "open",
        "half-open",
        "open",
        "half-open",
        "closed",
        "open",
        "closed",
    ]
    assert row.spans[0][0] == T0 and row.spans[-1][1] == T0 + 8 * H and row.now == "closed"


def test_the_window_starts_with_the_state_the_breaker_had_then() -> None:
    history = [version(0, {"npm": "open"}), version(100, {"npm": "closed"})]
    rows, events = model.breaker_rows(history, T0 + 120 * H, days=1)
    (row,) = rows
    assert row.spans == [(T0 + 96 * H, T0 + 100 * H, "open"), (T0 + 100 * H, T0 + 120 * H, "closed")]
    assert [e.kind for e in events] == ["reset"]


def test_operator_actions_in_the_control_file_are_events() -> None:
    history = [version(0, {}, enabled=True), version(1, {}, enabled=False, disabled_ecosystems=["npm"])]
    _, events = model.breaker_rows(history, T0 + 2 * H, days=1)
    assert sorted((e.subject, e.kind) for e in events) == [("npm", "disabled"), ("pipeline", "stopped")]


def test_the_budget_samples_from_80_and_pauses_from_95_percent_of_the_limit() -> None:
    def budget(hours: int, used: float) -> model.Snapshot:
        doc = {"budget": {"macos_minutes_used": used, "linux_minutes_used": 0, "week_start": "2026-06-01"}}
        return model.Snapshot(T0 + hours * H, "0" * 40, "run", "bot", doc)

    history = [budget(1, 500), budget(2, 850), budget(3, 960), budget(4, 990)]
    rows, week = model.budget_rows(history, T0 + 5 * H, history[-1].document)
    macos = next(r for r in rows if r.platform == "macos")
    assert week == T0
    assert macos.sampling == [(T0 + 2 * H, T0 + 5 * H)] and macos.paused == [(T0 + 3 * H, T0 + 5 * H)]
    assert macos.state == "paused"


@pytest.mark.parametrize(
    ("subject", "ids", "command"),
    [
        ("feat(recipes): add batch recipes (1 recipes) (#2382)", (), "batchops rollback --pr 2382"),
        ("feat(recipes): npm batch", ("2026-06-01-npm",), "batchops rollback --batch-id 2026-06-01-npm"),
        ("add batch recipes", (), "batchops rollback --commit 0123456789ab"),
    ],
)
def test_each_landing_says_how_to_roll_it_back(subject: str, ids: tuple[str, ...], command: str) -> None:
    assert model.Landing(T0, "0123456789abcdef" * 2 + "01234567", subject, ids).rollback_command == command


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        " javascript:x",
        "data:text/html,x",
        "//evil.example/x",
        "https://ok.example/a b",
        "https://ok.example/\nx",
        "vbscript:x",
        "http:/x",
        "",
    ],
)
def test_only_absolute_http_links_are_links(url: str) -> None:
    assert safe_url(url) == ""
    assert "<a " not in link(url)


def test_a_good_link_keeps_its_url_escaped_in_the_attribute() -> None:
    assert link('https://example.org/?a=1&b="2"', "x") == (
        '<a href="https://example.org/?a=1&amp;b=&quot;2&quot;" rel="noopener noreferrer nofollow">x</a>'
    )


def test_the_feed_stays_well_formed_xml_whatever_the_text() -> None:
    history = [version(0, {"npm": "closed"}), version(1, {"npm": "open"}, author="\x01<x>&\"'")]
    rows, events = model.breaker_rows(history, T0 + 2 * H, days=1)
    page = model.Page(T0 + 2 * H, 1, model.PipelineState("running"), [], rows, events, [], T0, stale.Activity())
    feed = ET.fromstring(feed_xml(page, "javascript:alert(1)"))
    (entry,) = feed.findall("{http://www.w3.org/2005/Atom}entry")
    assert "<x>&\"'" in (entry.findtext("{http://www.w3.org/2005/Atom}summary") or "")
    assert feed.find("{http://www.w3.org/2005/Atom}link") is None  # not an http(s) page URL: no link


def audited(hours: int, states: dict[str, str], *operations: str, author: str = "Ada Operator") -> model.Snapshot:
    base = version(hours, states, author=author)
    groups = tuple({"operation": op, "operation-id": f"{n:016x}"} for n, op in enumerate(operations))
    return model.Snapshot(base.at, base.sha, base.subject, base.author, base.document, groups)


def test_the_last_batch_run_is_a_batch_jobs_commit_never_an_operators_or_the_files_import() -> None:
    imported = version(0, {"npm": "open"}, author="Ada Operator")
    stop = audited(2, {"npm": "open"}, "control.stop")
    assert model.last_batch_run([imported, stop]) is None
    legacy_job = version(1, {"npm": "half-open"})  # no trailers, breaker state changed: the legacy scripts' run
    assert model.last_batch_run([imported, legacy_job, stop]) == legacy_job
    job = audited(3, {"npm": "closed"}, "breaker.gate", "breaker.record", author="github-actions[bot]")
    reset = audited(4, {"npm": "closed"}, "breaker.reset")
    assert model.last_batch_run([imported, legacy_job, stop, job, reset]) == job
    assert model.activity_of([imported, stop], []).last_run is None


def test_an_operators_reason_rides_on_its_event_even_when_no_state_changed() -> None:
    before = version(0, {"pypi": "open", "npm": "closed"})
    opened = audited(1, {"pypi": "open", "npm": "closed"}, "breaker.open")
    opened = model.Snapshot(
        opened.at,
        opened.sha,
        opened.subject,
        opened.author,
        opened.document,
        ({"operation": "breaker.open", "ecosystem": "pypi", "reason": "pypi generator broken, see #9"},),
    )
    (event,) = model.events_between(before, opened)
    assert (event.subject, event.kind, event.reason, event.operator) == (
        "pypi",
        "breaker.open",
        "pypi generator broken, see #9",
        True,
    )


def page_with(**changes: object) -> model.Page:
    page = model.Page(T0 + 2 * H, 1, model.PipelineState("running"), [], [], [], [], T0, stale.Activity(T0 + H))
    for name, value in changes.items():
        setattr(page, name, value)
    return page


def test_drift_needs_a_person_the_banner_and_the_tiles_say_so() -> None:
    from batchops.render.html import page_html

    quiet = page_html(page_with())
    assert "nothing needs a person" in quiet and 'data-tone="ok"' in quiet
    drift = [{"recipe": "jq", "status": "drift", "version": "1.8.0"}]
    text = page_html(page_with(drift=drift, drift_checked="2026-06-22T22:00:00Z"))
    assert "nothing needs a person" not in text and 'data-tone="bad"' in text
    banner = text[text.index('id="pipeline-state"') : text.index('id="summary"')]
    assert "checksum drift: 1 finding(s) (jq)" in banner
    assert '<div class=k>Needs a person</div><div class="v bad">1</div>' in text
    assert "Checksum drift: jq 1.8.0" in text


@pytest.mark.parametrize(("state", "tone"), [("open", "bad"), ("half-open", "warn"), ("closed", "ok")])
def test_the_banners_colour_is_the_worst_breaker_state(state: str, tone: str) -> None:
    from batchops.render.html import page_html

    row = model.BreakerRow("npm", [(T0, T0 + 2 * H, state)], now=state)
    assert f'data-tone="{tone}"' in page_html(page_with(breakers=[row]))


def test_a_disabled_ecosystem_is_in_the_banner() -> None:
    from batchops.render.html import page_html

    text = page_html(page_with(disabled=["rubygems"]))
    banner = text[text.index('id="pipeline-state"') : text.index('id="summary"')]
    assert "ecosystems disabled: rubygems" in banner and 'data-tone="warn"' in banner


def test_the_budget_charts_last_day_label_is_anchored_inside_the_chart() -> None:
    from batchops.render.html_charts import budget_chart

    row = model.BudgetRow("linux", 1000.0, [(T0, 0.5)])
    svg = budget_chart(row, T0, T0 + timedelta(days=7), "Linux", ident="b")
    labels = re.findall(r'<text class="axis" x="([\d.]+)" y="[\d.]+" text-anchor="(\w+)">(\d\d-\d\d)</text>', svg)
    assert labels[0][1:] == ("start", "06-01") and labels[-1][1:] == ("end", "06-08")
    assert all(anchor == "middle" for _, anchor, _ in labels[1:-1])


def test_a_history_of_a_few_hours_fills_the_timeline_with_hour_ticks() -> None:
    from batchops.render.html_charts import breaker_timeline

    now = T0 + 7 * 24 * H
    rows = [model.BreakerRow("npm", [(now - 3 * H, now - H, "closed"), (now - H, now, "open")], now="open")]
    svg = breaker_timeline(rows, now - timedelta(days=7), now)
    spans = re.findall(r'<rect class="st-(\w+)" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    assert [state for state, _, _ in spans] == ["closed", "open"]
    assert sum(float(width) for _, _, width in spans) > 500  # most of the lane, not a sliver at the right edge
    assert re.search(r">\d\d:00</text>", svg)


def test_a_legacy_open_breaker_is_open_since_at_least_its_first_open_version_or_last_failure() -> None:
    def legacy(hours: int, state: str, last_failure: str) -> model.Snapshot:
        base = version(hours, {})
        entry = {"state": state, "failures": 9, "last_failure": last_failure}
        return model.Snapshot(base.at, base.sha, base.subject, base.author, {"circuit_breaker": {"npm": entry}})

    late = "2026-06-09T00:00:00Z"
    history = [
        legacy(0, "closed", ""),
        legacy(10, "open", late),
        legacy(20, "half-open", late),
        legacy(30, "open", late),
    ]
    now = T0 + 40 * H
    rows, _ = model.breaker_rows(history, now, days=1)
    model.breaker_now(rows, history[-1].document, now)
    (row,) = rows
    assert (row.since, row.since_at_least) == ("2026-06-01T10:00:00Z", True)  # open (or probing) since hour 10
    rows, _ = model.breaker_rows(history[-1:], now, days=1)
    model.breaker_now(rows, history[-1].document, now)
    assert (rows[0].since, rows[0].since_at_least) == ("2026-06-02T06:00:00Z", True)  # only one version: itself


def test_a_drift_report_written_after_the_pages_time_says_so() -> None:
    from batchops.render.html import page_html

    drift = [{"recipe": "jq", "status": "drift", "version": "1.8.0"}]
    later = page_html(page_with(drift=drift, drift_checked="2026-06-23T22:00:00Z"))
    assert "report of 2026-06-23T22:00:00Z, later than this page&#x27;s time" in later
    before = page_html(page_with(drift=drift, drift_checked="2026-06-01T01:00:00Z"))
    assert "report of 2026-06-01T01:00:00Z</p>" in before


def test_a_history_of_a_few_minutes_fills_the_timeline_with_minute_ticks() -> None:
    from batchops.render.html_charts import breaker_timeline

    now = T0 + 30 * 24 * H
    minute = timedelta(minutes=1)
    rows = [model.BreakerRow("pypi", [(now - 3 * minute, now - minute, "open"), (now - minute, now, "half-open")])]
    svg = breaker_timeline(rows, now - timedelta(days=30), now)
    widths = [float(w) for w in re.findall(r'<rect class="st-[\w-]+" x="[\d.]+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert sum(widths) > 100  # not two slivers at the right edge
    assert len(re.findall(r">\d\d:\d\d</text>", svg)) >= 3
