"""The status page's model (pure) and its escaping rules: transitions, spans, the budget's lines, safe links."""

from __future__ import annotations

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
