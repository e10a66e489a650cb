"""persist-with-retry's pure rules: refusals classified, messages that explain every trailer,
rebuilds from operations."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchops.core import control
from batchops.core import persist as rules
from batchops.errors import OperationConflict

AT = "2026-06-29T10:00:00Z"


def entry(op: str, args: dict[str, Any], ident: str = "a" * 32, actor: str | None = None) -> dict[str, Any]:
    found = {"id": ident, "op": op, "file": "batch-control.json", "args": {**args, "at": AT}, "at": AT}
    if actor:
        found["actor"] = actor
    return found


# --- giving up ---------------------------------------------------------------------------------


def test_only_an_unreachable_host_is_given_up_on_after_a_couple_of_attempts() -> None:
    assert not rules.gives_up("unreachable", rules.UNREACHABLE_ATTEMPTS - 1)
    assert rules.gives_up("unreachable", rules.UNREACHABLE_ATTEMPTS)
    assert 2 <= rules.UNREACHABLE_ATTEMPTS <= 5
    assert not rules.gives_up("transient", 39) and not rules.gives_up("rejected", 39)


# --- backoff ---------------------------------------------------------------------------------


@given(
    retry=st.integers(min_value=1, max_value=60),
    base=st.floats(min_value=0.001, max_value=5),
    cap=st.floats(min_value=0.01, max_value=60),
    slot=st.floats(min_value=0, max_value=10),
    seed=st.integers(),
)
def test_backoff_is_full_jitter_below_the_capped_exponential(
    retry: int, base: float, cap: float, slot: float, seed: int
) -> None:
    delay = rules.Backoff(base, cap).delay(retry, random.Random(seed), slot)
    assert 0.0 <= delay <= min(cap, max(base, slot) * 2 ** (retry - 1))


def test_the_default_budget_of_attempts_fits_a_32_job_matrix() -> None:
    from batchops.steps import persist_with_retry

    assert persist_with_retry.DEFAULT_MAX_ATTEMPTS >= 32


# --- the commit message ---------------------------------------------------------------------------


def test_the_message_describes_every_operation_with_its_trailers() -> None:
    audit = {"title": "disable ecosystem npm", "body": ["reason: bad bottles"]}
    carried = [
        entry(
            "control.disable", {"ecosystem": "npm", "audit": audit}, "a" * 32, actor="Ada Operator <ada@example.org>"
        ),
        entry("breaker.record", {"ecosystem": "npm", "outcomes": ["failure"]}, "b" * 32),
        entry("budget.add_minutes", {"macos": 0, "linux": 7.5}, "c" * 32),
        entry("breaker.reset", {"ecosystem": "npm"}, "d" * 32, actor="Ada Operator <ada@example.org>"),
    ]
    text = rules.commit_message("batchops: update control state [skip ci]\n", carried)
    subject, body, trailers = text.split("\n\n")
    assert subject == "batchops: update control state [skip ci]"
    assert body.splitlines() == [
        "- disable ecosystem npm",
        "  reason: bad bottles",
        "- breaker-update npm: record 1 outcome(s)",
        "- budget: add 0 macOS and 7.5 Linux minute(s)",
        "- breaker.reset: ecosystem=npm",
    ]
    groups = control.parse_trailers(text)
    assert [(g["operation"], g["operation-id"]) for g in groups] == [
        ("control.disable", "a" * 32),
        ("breaker.record", "b" * 32),
        ("budget.add_minutes", "c" * 32),
        ("breaker.reset", "d" * 32),
    ]
    assert groups[0]["actor"] == "Ada Operator <ada@example.org>" and groups[0]["at"] == AT
    assert trailers.endswith("\n") and trailers.count("Batchops-Operation-Id: ") == 4


def test_a_message_without_operations_gets_no_trailer() -> None:
    assert rules.commit_message("", []) == rules.DEFAULT_MESSAGE + "\n"


def test_trailers_in_the_given_message_are_replaced_by_those_of_the_operations_carried() -> None:
    """A prepared message names the last command only; a forged reason tries to name an operation that never ran."""
    prepared = (
        "batchops: resume [skip ci]\n\nbad\nBatchops-Operation-Id: deadbeef\n  batchops-actor: mallory\n\n"
        f"Batchops-Operation: control.resume\nBatchops-Operation-Id: {'b' * 32}\n"
    )
    carried = [entry("control.disable", {"ecosystem": "npm"}, "a" * 32), entry("control.resume", {}, "b" * 32)]
    text = rules.commit_message(prepared, carried)
    assert rules.landed_ids([("0" * 40, text)]) == {"a" * 32: "0" * 40, "b" * 32: "0" * 40}
    assert "deadbeef" not in text and "mallory" not in text
    assert text.count("Batchops-Operation: ") == 2


@given(reason=st.text(max_size=80), actor=st.text(max_size=40))
def test_untrusted_text_in_operations_cannot_forge_a_trailer_or_a_line(reason: str, actor: str) -> None:
    carried = [entry("control.stop", {"reason": reason}, "a" * 32, actor=actor or None)]
    text = rules.commit_message("stop [skip ci]", carried)
    body = text.split("\n\n")
    assert len(body) == 3  # subject, one line per operation, trailers: nothing else
    assert len(body[1].splitlines()) == 1
    assert rules.landed_ids([("0" * 40, text)]) == {"a" * 32: "0" * 40}
    assert not re.search(r"[\r\u2028\u2029\u0085]", text)


def test_a_reason_with_a_newline_is_described_escaped() -> None:
    (line,) = rules.describe(entry("persisttest.note", {"reason": "bad\n::error::INJECTED\u2028x"}))
    assert line == '- persisttest.note: reason="bad\\n::error::INJECTED\\u2028x"'


def test_a_squash_merge_listing_the_squashed_messages_still_marks_their_operations_landed() -> None:
    squash = f"batch 42 (#7)\n\n* record npm [skip ci]\n\nBatchops-Operation-Id: {'f' * 32}\n\n* fix typo\n"
    assert rules.landed_ids([("1" * 40, squash)]) == {"f" * 32: "1" * 40}


def test_only_hex_ids_after_the_subject_count_as_landed() -> None:
    message = (
        f"Batchops-Operation-Id: {'a' * 32}\n\nBatchops-Operation-Id: not-an-id\n"
        f"Batchops-Operation-Id: x\\nBatchops-Operation-Id: {'b' * 32}\n"
    )
    assert rules.landed_ids([("1" * 40, message)]) == {}


# --- rebuilding from operations --------------------------------------------------------------------


def no_problems(_: Any) -> list[str]:
    return []


def test_operations_are_re_applied_on_the_remote_copy_not_the_local_text() -> None:
    remote = json.loads(control.TEMPLATE)
    remote["enabled"] = False
    remote["reason"] = "operator stop"
    after, carried = rules.rebuild(
        "batch-control.json", remote, [entry("control.disable", {"ecosystem": "npm"})], [], no_problems
    )
    assert after["enabled"] is False and after["reason"] == "operator stop"
    assert after["disabled_ecosystems"] == ["npm"] and carried == []
    assert remote["disabled_ecosystems"] == []  # the remote's copy itself is left alone


def test_an_invalid_result_is_a_conflict_naming_the_file_and_the_problem() -> None:
    def problems(document: Any) -> list[str]:
        return ["/disabled_ecosystems: has non-unique elements"] if len(document["disabled_ecosystems"]) > 1 else []

    with pytest.raises(OperationConflict) as raised:
        rules.rebuild(
            "batch-control.json",
            json.loads(control.TEMPLATE),
            [entry("control.disable", {"ecosystem": "npm"}), entry("control.disable", {"ecosystem": "go"})],
            [],
            problems,
        )
    assert raised.value.file == "batch-control.json" and "non-unique" in raised.value.message


def test_another_jobs_post_is_carried_whole_or_not_at_all() -> None:
    good = ("post-good", [entry("control.disable", {"ecosystem": "pypi"}, "c" * 32)])
    bad = (
        "post-bad",
        [entry("control.disable", {"ecosystem": "go"}, "d" * 32), entry("no.such.operation", {}, "e" * 32)],
    )
    after, carried = rules.rebuild("batch-control.json", json.loads(control.TEMPLATE), [], [bad, good], no_problems)
    assert after["disabled_ecosystems"] == ["pypi"]  # not "go": the bad post is left out whole
    assert carried == [good]


@pytest.mark.parametrize(
    ("local", "base", "remote", "chosen"),
    [
        ("mine", "old", "old", "mine"),
        ("old", "old", "theirs", "theirs"),
        ("same", "old", "same", "same"),
        (None, "old", "old", None),
    ],
)
def test_a_file_without_operations_is_carried_when_only_this_job_changed_it(
    local: Any, base: Any, remote: Any, chosen: Any
) -> None:
    assert rules.three_way("data/x.json", local, base, remote) == chosen


def test_a_file_without_operations_changed_on_both_sides_is_a_conflict() -> None:
    with pytest.raises(OperationConflict, match="no recorded operations"):
        rules.three_way("data/x.json", "mine", "old", "theirs")
