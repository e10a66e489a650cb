"""The drift rules (batchops.core.drift): classification, fingerprints, markers, issue reconciliation;
and their words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchops.core import drift, recipes
from batchops.core.drift import Check, Finding, Resolved, Unresolved
from batchops.render import drift as render

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
URL = "https://example.test/tool/1.0.0/SHA256SUMS"
A, B = "a" * 64, "b" * 64


@dataclass(frozen=True)
class Got:
    sha256: str | None = None
    error: str = ""


def _recipe(url: str = URL) -> recipes.Recipe:
    return recipes.parse_recipe(
        f'[metadata]\nname = "tool"\n[[steps]]\naction = "download"\nchecksum_url = "{url}"\n', file="tool.toml"
    )


def _check(published: str = "") -> Check:
    recipe = _recipe()
    target = recipes.checksum_targets(recipe, "1.0.0", "v1.0.0", [recipes.Platform("linux", "amd64")])[0]
    return Check(recipe, Resolved("1.0.0", "v1.0.0", "pinned", published), target)


def _baseline(sha: str = A, first_seen: str = "2026-01-01T00:00:00Z") -> dict:
    return {
        "version": 1,
        "recipes": {"tool": {"1.0.0": {URL: {"sha256": sha, "first_seen": first_seen, "last_verified": first_seen}}}},
    }


def _classify(got: Got, baseline: dict, *, grace: timedelta = timedelta(hours=24), published: str = "") -> Finding:
    (finding,), _ = drift.classify([_check(published)], {URL: got}, baseline, now=NOW, grace=grace)
    return finding


def test_first_sight_is_new_and_recorded() -> None:
    findings, entries = drift.classify([_check()], {URL: Got(A)}, drift.empty_baseline(), now=NOW, grace=timedelta(0))
    assert findings[0].status == "new"
    assert entries == [{"recipe": "tool", "version": "1.0.0", "url": URL, "sha256": A, "kind": "new"}]


def test_same_bytes_are_ok() -> None:
    assert _classify(Got(A), _baseline()).status == "ok"


def test_other_bytes_for_an_old_release_are_drift_with_a_fingerprint() -> None:
    finding = _classify(Got(B), _baseline())
    assert finding.status == "drift"
    assert finding.fingerprint == drift.fingerprint("tool", "1.0.0", B)
    assert (finding.expected, finding.actual) == (A, B)


def test_other_bytes_for_a_young_release_are_pending() -> None:
    assert _classify(Got(B), _baseline(), published="2026-03-02T06:00:00Z").status == "pending"


@pytest.mark.parametrize(
    "got", [Got(None, "truncated: 10 of the 20 bytes announced arrived"), Got(None, "timed out"), Got(None, ""), None]
)
def test_a_failed_or_cut_download_is_unverifiable_never_drift_never_ok(got: Got | None) -> None:
    results = {URL: got} if got is not None else {}
    (finding,), entries = drift.classify([_check()], results, _baseline(), now=NOW, grace=timedelta(0))
    assert finding.status == "unverifiable"
    assert entries == []


def test_a_recipe_without_a_version_or_checksum_step_needs_no_fetch() -> None:
    tool = _recipe()
    bare = recipes.parse_recipe('[metadata]\nname = "bare"\n', file="bare.toml")
    checks, early = drift.plan([tool, bare], {"tool": Unresolved("no release")}, [recipes.Platform("linux", "amd64")])
    assert checks == []
    assert {(f.recipe, f.status) for f in early} == {("tool", "unverifiable"), ("bare", "skipped")}
    assert "no release" in next(f.reason for f in early if f.recipe == "tool")


@pytest.mark.parametrize("url", ["https://e.test/a b", "https://e.test/a`b", "https://e.test/<b>", 'https://e.test/"x'])
def test_a_checksum_url_that_could_break_the_issue_text_is_not_fetched(url: str) -> None:
    recipe = recipes.parse_recipe(f"[[steps]]\naction = 'download'\nchecksum_url = '{url}'\n", file="odd.toml")
    checks, early = drift.plan([recipe], {"odd": Resolved("1", "1", "pinned")}, [recipes.Platform("linux", "amd64")])
    assert checks == []
    assert early[0].status == "unverifiable" and "not fetched" in early[0].reason


def test_markers_round_trip_and_ignore_lookalikes() -> None:
    fp = drift.fingerprint("tool", "1.0.0", B)
    body = drift.marker(fp) + "\n<!-- batchops-drift: XYZ -->\n<!-- batchops-drift: " + "f" * 23 + " -->"
    assert drift.markers(body) == [fp]
    assert drift.markers(None) == []


fps = st.lists(st.text("0123456789abcdef", min_size=24, max_size=24), max_size=60, unique=True)


@given(fps, st.data(), st.integers(min_value=0, max_value=20), st.integers(min_value=1, max_value=30))
def test_every_fingerprint_is_commented_or_created_exactly_once(
    fingerprints: list[str], data: st.DataObject, threshold: int, size: int
) -> None:
    known = (
        data.draw(st.dictionaries(st.sampled_from(fingerprints), st.integers(1, 5), max_size=len(fingerprints)))
        if fingerprints
        else {}
    )
    plan = drift.plan_issues(fingerprints, known, threshold=threshold, group_size=size)
    commented = [fp for group in plan.comment.values() for fp in group]
    created = [fp for group in plan.create for fp in group]
    assert sorted(commented + created) == sorted(fingerprints)
    assert set(commented) == set(known)
    new = len(fingerprints) - len(known)
    if new > threshold:
        assert plan.grouped and all(len(g) <= size for g in plan.create)
        assert len(plan.create) == -(-new // size)
    else:
        assert all(len(g) == 1 for g in plan.create)
    assert len(plan.comment) <= 5  # one comment per open issue, whatever its number of fingerprints


def test_a_mass_drift_of_100_new_fingerprints_makes_one_grouped_issue() -> None:
    plan = drift.plan_issues([f"{n:024x}" for n in range(100)], {})
    assert plan.grouped and [len(g) for g in plan.create] == [100]


# --- words ---------------------------------------------------------------------------------------


def _drift(n: int, url_len: int = 60) -> Finding:
    url = "https://example.test/" + "u" * url_len + f"/{n}"
    return Finding(
        f"tool{n}",
        f"tool{n}.toml",
        "drift",
        "1.0.0",
        url=url,
        expected=A,
        actual=f"{n:064x}",
        first_seen="2026-01-01T00:00:00Z",
        fingerprint=f"{n:024x}",
    )


def test_a_grouped_issue_body_carries_every_marker_and_stays_under_githubs_limit() -> None:
    groups = {f.fingerprint: [f] for f in (_drift(n, url_len=900) for n in range(100))}
    body = render.issue_body(groups, at="2026-03-02T12:00:00Z", run_url="")
    assert len(body) <= render.BODY_LIMIT
    assert set(drift.markers(body)) == set(groups)
    assert render.issue_title(groups) == "Checksum drift: 100 checksum files of 100 recipes"


def test_a_single_issue_names_the_recipe_and_gives_the_accept_command() -> None:
    finding = _drift(1)
    body = render.issue_body(
        {finding.fingerprint: [finding]}, at="2026-03-02T12:00:00Z", run_url="https://github.com/o/r/actions/runs/1"
    )
    assert body.startswith(drift.marker(finding.fingerprint))
    assert f"batchops drift accept tool1 1.0.0 --url {finding.url} --sha256 {finding.actual}" in body
    assert "[this run](https://github.com/o/r/actions/runs/1)" in body


def test_terminal_lines_are_one_line_each_and_skipped_recipes_one_line_unless_verbose() -> None:
    findings = [
        Finding("evil", "evil.toml", "unverifiable", reason="HTTP 500\n::error::PWN"),
        *(
            Finding(f"s{n}", f"s{n}.toml", "skipped", reason="no step with a checksum_url for linux/amd64")
            for n in range(12)
        ),
        Finding("fine", "fine.toml", "ok", "1", url=URL),
    ]
    quiet = render.terminal_lines(findings)
    loud = render.terminal_lines(findings, verbose=True)
    assert all("\n" not in line for line in quiet + loud)
    assert not any(line.startswith("::") for line in quiet + loud)
    assert sum("skipped" in line for line in quiet) == 1 and "12 recipe(s)" in quiet[1]
    assert sum(line.startswith("skipped") for line in loud) == 12
    assert any(line.startswith("ok") for line in loud) and not any(line.startswith("ok ") for line in quiet)


@pytest.mark.parametrize(
    ("reason", "short"),
    [
        (
            "version unresolvable: release lookup for o/r: GitHub API unreachable: ConnectionError "
            "(HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: /repos/o/r/releases/latest "
            '(Caused by NewConnectionError("<urllib3.connection.HTTPConnection object at 0x7f>: '
            'Failed to establish a new connection: [Errno 111] Connection refused"))',
            "version unresolvable: release lookup for o/r: GitHub API unreachable: connection refused",
        ),
        ("network error: gaierror ([Errno -2] Name or service not known)", "network error: host name not found (DNS)"),
        (
            "release lookup for o/r: GitHub API unreachable: ReadTimeout "
            "(HTTPSConnectionPool(host='api.github.com', port=443): Read timed out. (read timeout=15))",
            "release lookup for o/r: GitHub API unreachable: timed out",
        ),
        ("timed out: not complete within 30s", "timed out: not complete within 30s"),
        ("HTTP 404 from upstream", "HTTP 404 from upstream"),
        (
            "truncated: 10 of the 20 bytes announced arrived before the connection closed",
            "truncated: 10 of the 20 bytes announced arrived before the connection closed",
        ),
    ],
)
def test_a_reason_is_shown_in_a_few_words_never_as_python_exception_text(reason: str, short: str) -> None:
    assert drift.short_reason(reason) == short


@given(st.text())
def test_a_short_reason_is_one_short_line_whatever_the_reason(reason: str) -> None:
    short = drift.short_reason(reason)
    assert len(short) <= drift.SHORT_REASON and "\n" not in short


def test_the_terminal_shows_the_short_reason_and_verbose_the_whole_one() -> None:
    long = "release lookup for o/r: GitHub API unreachable: ConnectionError (" + "x" * 300 + " Connection refused)"
    findings = [Finding("tool", "tool.toml", "unverifiable", reason=long)]
    assert render.terminal_lines(findings)[0].endswith("GitHub API unreachable: connection refused")
    assert long in render.terminal_lines(findings, verbose=True)[0]
