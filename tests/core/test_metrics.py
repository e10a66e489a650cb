"""The metrics rules: payload, idempotency key, what an answer means, the replay plan, legacy record shapes."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchops.adapters import schema
from batchops.core import metrics
from batchops.core.metrics import RetryPolicy
from batchops.errors import BatchopsError
from tests.support.metrics import results_doc

# --- the payload ----------------------------------------------------------------------


def test_payload_counts_entries_and_rates_only_attempted_recipes() -> None:
    payload = metrics.build_payload(results_doc())
    assert payload["total_recipes"] == 4  # entries: cmake twice (two platforms), helm, ollama
    assert (payload["passed"], payload["failed"], payload["skipped"]) == (2, 1, 1)
    assert payload["success_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert payload["macos_minutes"] == 12.5 and payload["linux_minutes"] == 30
    assert payload["results"][1] == {
        "recipe_name": "cmake",
        "ecosystem": "homebrew",
        "result": "failed",
        "platform": "darwin-arm64",
        "error_category": "checksum",
        "error_message": "sha256 mismatch",
    }
    schema.validate(payload, "batch-metrics", file="payload")


def test_every_result_carries_the_ecosystem_the_contract_requires() -> None:
    payload = metrics.build_payload(results_doc(ecosystem="crates.io"))
    assert {item["ecosystem"] for item in payload["results"]} == {"crates.io"}
    del payload["results"][0]["ecosystem"]
    with pytest.raises(BatchopsError, match="ecosystem"):
        schema.validate(payload, "batch-metrics", file="payload")


def test_sampling_fields_of_the_results_file_are_sent() -> None:
    payload = metrics.build_payload(results_doc(sampled=True, sample_rate=0.25))
    assert (payload["sampled"], payload["sample_rate"]) == (True, 0.25)
    assert "sampled" not in metrics.build_payload(results_doc())
    schema.validate(payload, "batch-metrics", file="payload")


def test_run_where_nothing_was_attempted_has_rate_zero_and_no_minutes() -> None:
    doc = results_doc(results=[{"recipe_name": "a", "result": "skipped"}])
    del doc["macos_minutes"], doc["linux_minutes"]
    payload = metrics.build_payload(doc)
    assert payload["success_rate"] == 0.0
    assert payload["macos_minutes"] == 0 and payload["linux_minutes"] == 0


def test_idempotency_key_is_the_run_identity_not_the_counts() -> None:
    a = metrics.build_payload(results_doc())
    same_run_other_format = metrics.build_payload(results_doc(started_at="2026-02-06T17:00:00+00:00", results=[]))
    other_run = metrics.build_payload(results_doc(completed_at="2026-02-06T18:00:00Z"))
    assert metrics.idempotency_key(a) == metrics.idempotency_key(same_run_other_format)
    assert metrics.idempotency_key(a) != metrics.idempotency_key(other_run)
    assert len(metrics.idempotency_key(a)) == 64


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["passed", "failed", "skipped"])), max_size=30
    )
)
def test_counts_always_add_up_to_total_recipes_and_rate_stays_a_fraction(entries: list[tuple[str, str]]) -> None:
    payload = metrics.build_payload(results_doc(results=[{"recipe_name": n, "result": r} for n, r in entries]))
    assert payload["passed"] + payload["failed"] + payload["skipped"] == payload["total_recipes"] == len(entries)
    assert 0.0 <= payload["success_rate"] <= 1.0
    schema.validate(payload, "batch-metrics", file="payload")


def test_spool_name_cannot_leave_the_spool_folder() -> None:
    name = metrics.spool_name({"batch_id": "../../etc/x", "ecosystem": "a/b"}, "f" * 64)
    assert "/" not in name and name.endswith("-ffffffffffff.json")


# --- what an answer means -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, "delivered"), (201, "delivered"),
        (None, "retry"), (500, "retry"), (503, "retry"), (408, "retry"), (425, "retry"), (429, "retry"),
        (400, "rejected"), (401, "rejected"), (403, "rejected"), (404, "rejected"), (409, "rejected"),
        (413, "rejected"), (422, "rejected"), (301, "redirect"), (307, "redirect"),
    ],
)  # fmt: skip
def test_every_4xx_but_408_425_429_is_a_dead_letter(status: int | None, kind: str) -> None:
    assert metrics.answer_kind(status) == kind
    assert metrics.is_dead_letter(status) == (kind == "rejected")


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (401, "`token` input"),
        (403, "`token` input"),
        (400, "contract"),
        (422, "contract"),
        (404, "endpoint URL"),
        (503, "retried"),
        (None, "retried"),
    ],
)
def test_the_hint_points_where_the_status_says(status: int | None, says: str) -> None:
    assert says in metrics.hint(status)


def test_backoff_doubles_with_jitter_and_retry_after_is_capped() -> None:
    policy = RetryPolicy()
    rng = random.Random(7)
    for attempt, (low, high) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 8), (8, 16), (8, 16)], start=1):
        assert low <= policy.backoff(attempt, rng) <= high
    assert policy.wait(1, rng, 3600) == policy.retry_after_cap
    assert policy.wait(1, rng, 7) == 7


def test_a_request_never_gets_more_time_than_is_left() -> None:
    policy = RetryPolicy(max_time=5, request_timeout=2)
    assert policy.request_deadline(0) == 2
    assert policy.request_deadline(4.5) == 0.5
    assert policy.request_deadline(9) == 0.1


# --- the replay plan ------------------------------------------------------------------


def test_the_token_goes_only_to_the_endpoint_given() -> None:
    entries = [("a", "https://evil.example", False), ("b", "", False), ("c", "https://ours.example", True)]
    given = metrics.replay_plan(entries, endpoint="https://ours.example", token_given=True, retry_rejected=False)
    assert [(i.action, i.endpoint, i.with_token) for i in given] == [
        ("send", "https://ours.example", True),
        ("send", "https://ours.example", True),
        ("hold", "", False),
    ]
    named = metrics.replay_plan(entries, endpoint="", token_given=False, retry_rejected=True)
    assert [(i.action, i.endpoint, i.with_token) for i in named] == [
        ("send", "https://evil.example", False),
        ("store", "", False),
        ("send", "https://ours.example", False),
    ]


def test_dead_letters_are_held_unless_asked() -> None:
    entries = [("a", "", True)]
    assert metrics.replay_plan(entries, endpoint="", token_given=False, retry_rejected=False)[0].action == "hold"
    assert metrics.replay_plan(entries, endpoint="", token_given=False, retry_rejected=True)[0].action == "store"


# --- legacy batch-runs records --------------------------------------------------------

OLD = {
    "batch_id": "2026-02-03-homebrew",
    "ecosystem": "homebrew",
    "total": 3,
    "platforms": {"linux-x86_64": {"tested": 10, "passed": 9, "failed": 1}},
    "timestamp": "2026-02-03T04:58:07Z",
    "duration_seconds": 6,
}
NEW = {
    "batch_id": "2026-03-01",
    "ecosystems": {"npm": 1, "pypi": 2},
    "total": 0,
    "platforms": {},
    "timestamp": "2026-03-01T02:09:27Z",
    "duration_seconds": 8,
}


def _strict(text: str, name: str) -> object:
    return schema.parse_json_text(text, name)


def _problems(document: object) -> list[tuple[str, str, str]]:
    return [(p.pointer, p.message, p.hint) for p in schema.problems(document, "batch-runs-record", file="x")]


@pytest.mark.parametrize(
    "layout",
    [
        lambda records: "\n".join(json.dumps(r) for r in records) + "\n",
        lambda records: "\n".join(json.dumps(r, indent=2) for r in records) + "\n",
        lambda records: "".join(json.dumps(r) for r in records),
        lambda records: json.dumps(records[0], indent=2) + "\n" + json.dumps(records[1]) + "\n\n",
    ],
    ids=["jsonl", "pretty", "back-to-back", "mixed"],
)
def test_every_layout_yields_every_record(layout) -> None:  # type: ignore[no-untyped-def]
    found = metrics.read_records(layout([OLD, NEW]), "f", _strict, _problems)
    assert [r.error for r in found] == ["", ""]
    assert [r.payload["ecosystem"] for r in found if r.payload] == ["homebrew", "mixed"]


def test_old_record_maps_platform_sums() -> None:
    payload = metrics.legacy_payload(OLD)
    assert (payload["passed"], payload["failed"], payload["skipped"], payload["total_recipes"]) == (9, 1, 0, 3)
    assert (payload["started_at"], payload["completed_at"]) == ("2026-02-03T04:58:01Z", "2026-02-03T04:58:07Z")


@pytest.mark.parametrize(
    ("counts", "stored"), [({"homebrew": 10}, "homebrew"), ({"npm": 1, "pypi": 2}, "mixed"), ({}, "mixed")]
)
def test_an_ecosystems_map_of_one_is_that_ecosystem_and_of_several_is_mixed(
    counts: dict[str, int], stored: str
) -> None:
    assert metrics.record_ecosystem({**NEW, "ecosystems": counts}) == (stored, counts)


def test_a_bad_record_is_reported_with_its_line_and_the_rest_is_read() -> None:
    text = (
        json.dumps(OLD, indent=2)
        + "\n"
        + '{"batch_id": "2026-02-03-homebrew", "ecosystem": "homebrew", "platforms": {}, "timestamp": NaN}\n'
        + "garbage\n"
        + json.dumps(NEW)
        + "\n"
    )
    found = metrics.read_records(text, "f", _strict, _problems)
    lines = json.dumps(OLD, indent=2).count("\n") + 2
    assert [(r.line, bool(r.payload)) for r in found] == [
        (1, True),
        (lines, False),
        (lines + 1, False),
        (lines + 2, True),
    ]
    assert "NaN" in found[1].error and "not a JSON object" in found[2].error


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet='{}[]",:\\ \nab1', max_size=80))
def test_any_text_is_split_without_losing_a_character_or_crashing(text: str) -> None:
    chunks = list(metrics.split_records(text))
    assert "".join(c.text for c in chunks).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    ).replace("\ufeff", "")
