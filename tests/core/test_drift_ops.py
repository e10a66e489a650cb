"""The baseline operations: pure, re-applicable on another job's baseline, never losing a checksum."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from batchops.adapters import schema
from batchops.core import drift
from batchops.core.operations import apply

URL = "https://example.test/tool/1.0.0/SHA256SUMS"
A, B, C = "a" * 64, "b" * 64, "c" * 64
T0, T1, T2 = "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"


def _base(sha: str = A, at: str = T0) -> dict:
    return {"version": 1, "recipes": {"tool": {"1.0.0": {URL: {"sha256": sha, "first_seen": at, "last_verified": at}}}}}


def _item(kind: str, sha: str, **extra: str) -> dict:
    return {"recipe": "tool", "version": "1.0.0", "url": URL, "sha256": sha, "kind": kind, **extra}


def test_record_new_on_an_empty_baseline_creates_the_entry() -> None:
    doc = drift.empty_baseline()
    apply(doc, "drift.record", {"at": T0, "entries": [_item("new", A)]})
    assert doc == _base()
    schema.validate(doc, "drift-baseline", file="baseline")


def test_record_never_overwrites_a_different_checksum_recorded_by_another_job() -> None:
    doc = _base(B)  # another job recorded B first
    result = apply(doc, "drift.record", {"at": T1, "entries": [_item("new", A)]})
    assert doc == _base(B)
    assert result == {"applied": 0, "skipped": 1}


def test_verified_moves_last_verified_forward_only() -> None:
    doc = _base(A, T1)
    apply(doc, "drift.record", {"at": T0, "entries": [_item("verified", A)]})  # an older job re-applied late
    assert doc["recipes"]["tool"]["1.0.0"][URL]["last_verified"] == T1
    apply(doc, "drift.record", {"at": T2, "entries": [_item("verified", A)]})
    assert doc["recipes"]["tool"]["1.0.0"][URL]["last_verified"] == T2


def test_grace_update_applies_only_over_the_checksum_it_replaces() -> None:
    doc = _base(A)
    apply(doc, "drift.record", {"at": T1, "entries": [_item("grace", B, previous=A)]})
    entry = doc["recipes"]["tool"]["1.0.0"][URL]
    assert entry["sha256"] == B
    assert entry["audit"] == [{"action": "grace-update", "at": T1, "from": A, "to": B}]
    other = _base(C)  # the remote moved on to C meanwhile: do not clobber it
    apply(other, "drift.record", {"at": T1, "entries": [_item("grace", B, previous=A)]})
    assert other == _base(C)


def test_accept_keeps_an_audit_trail_of_every_change() -> None:
    doc = _base(A)
    apply(
        doc,
        "drift.accept",
        {"recipe": "tool", "version": "1.0.0", "url": URL, "sha256": B, "reason": "rebuilt", "actor": "op", "at": T1},
    )
    apply(
        doc,
        "drift.accept",
        {"recipe": "tool", "version": "1.0.0", "url": URL, "sha256": C, "reason": "again", "actor": "op", "at": T2},
    )
    entry = doc["recipes"]["tool"]["1.0.0"][URL]
    assert entry["sha256"] == C
    assert [(a["from"], a["to"], a["reason"]) for a in entry["audit"]] == [(A, B, "rebuilt"), (B, C, "again")]
    schema.validate(doc, "drift-baseline", file="baseline")


def test_accept_of_an_unrecorded_url_records_it_with_from_null() -> None:
    doc = drift.empty_baseline()
    apply(doc, "drift.accept", {"recipe": "tool", "version": "1.0.0", "url": URL, "sha256": B, "reason": "r", "at": T1})
    assert doc["recipes"]["tool"]["1.0.0"][URL]["audit"][0]["from"] is None
    schema.validate(doc, "drift-baseline", file="baseline")


shas = st.sampled_from([A, B, C])
items = st.lists(
    st.builds(
        lambda kind, sha, prev, url: {
            "recipe": "tool",
            "version": "1.0.0",
            "url": url,
            "sha256": sha,
            "kind": kind,
            "previous": prev,
        },
        st.sampled_from(["new", "verified", "grace"]),
        shas,
        shas,
        st.sampled_from([URL, URL + "2"]),
    ),
    max_size=6,
)
times = st.integers(min_value=0, max_value=100).map(
    lambda h: (datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")
)


@given(base_entries=items, entries=items, at=times)
def test_record_is_idempotent_valid_and_only_changes_checksums_through_grace(
    base_entries: list, entries: list, at: str
) -> None:
    doc = drift.empty_baseline()
    apply(doc, "drift.record", {"at": "2026-03-01T00:00:00Z", "entries": base_entries})
    before = copy.deepcopy(doc)
    apply(doc, "drift.record", {"at": at, "entries": entries})
    once = copy.deepcopy(doc)
    apply(doc, "drift.record", {"at": at, "entries": entries})
    assert doc == once or any(e["kind"] == "grace" for e in entries)  # a grace chain A->B, B->C may advance again
    schema.validate(doc, "drift-baseline", file="baseline")
    for url, entry in before["recipes"].get("tool", {}).get("1.0.0", {}).items():
        after = once["recipes"]["tool"]["1.0.0"][url]
        assert after["first_seen"] == entry["first_seen"]  # first sight is never rewritten
        if after["sha256"] != entry["sha256"]:
            assert after["audit"][-1]["action"] == "grace-update"
