"""The pure planning core of rollback: exact batch lines, history parsing, per-file decisions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchops.errors import UsageError
from batchops.steps import rollback
from batchops.steps.rollback import Change, Entry, FileChange, Landing

TOKEN = st.from_regex(r"\A[A-Za-z0-9._][A-Za-z0-9._-]{0,12}\Z")
DAY = st.dates().filter(lambda d: d.year >= 1000).map(lambda d: d.isoformat())
BATCH_IDS = st.one_of(DAY, st.builds(lambda d, t: f"{d}-{t}", DAY, TOKEN))
TEXT_LINES = st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30), max_size=5)


@given(BATCH_IDS)
def test_every_documented_batch_id_is_accepted(batch_id: str) -> None:
    assert rollback.validate_batch_id(batch_id) == batch_id


@given(BATCH_IDS, BATCH_IDS, TEXT_LINES, TEXT_LINES)
def test_a_message_names_only_the_batch_on_its_exact_line(a: str, b: str, before: list[str], after: list[str]) -> None:
    # keep the noise free of batch lines of its own
    noise = [line for line in before + after if "batch_id:" not in line]
    message = "\n".join([*noise[: len(before)], f"batch_id: {a}", *noise[len(before) :]])
    assert rollback.message_names_batch(message, a)
    assert rollback.message_names_batch(message.encode(), a)
    if b != a:
        assert not rollback.message_names_batch(message, b)


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ("x\n\nbatch_id: 2026-05-01-npm\n", True),
        ("x\n\n  batch_id: 2026-05-01-npm  \r\n", True),
        ("x\n\nbatch_id: 2026-05-01-npm2\n", False),
        ("x\n\nbatch_id: 2026-05-01-np\n", False),
        ("x batch_id: 2026-05-01-npm\n", False),
        ("x\n\nbatch_id:2026-05-01-npm\n", False),
        ("x\n\nrollback-of: 2026-05-01-npm\n", False),
    ],
)
def test_exact_line_matching(message: str, named: bool) -> None:
    assert rollback.message_names_batch(message, "2026-05-01-npm") is named


@pytest.mark.parametrize(
    ("ref", "named"),
    [
        ("batch/2026-05-01-npm", True),
        ("batch-2026-05-01-npm", True),
        ("auto/batch-2026-05-01-npm", True),
        ("2026-05-01-npm", True),
        ("batch/2026-05-01-npm2", False),
        ("rollback-batch-2026-05-01-npm", False),
        ("batch/2026-05-01-npm/fix", False),
    ],
)
def test_head_branch_naming(ref: str, named: bool) -> None:
    assert rollback.head_names_batch(ref, "2026-05-01-npm") is named


def test_paths_are_normalized_and_escapes_refused() -> None:
    assert rollback.normalize_paths(["./recipes/", "recipes", "docs/x.md"]) == ["recipes", "docs/x.md"]
    assert rollback.normalize_paths(["."]) == [""]
    assert rollback.under("recipes/a.toml", ["recipes"]) and not rollback.under("recipes2/a.toml", ["recipes"])
    for bad in ("../etc", "/etc", "recipes/../../x"):
        with pytest.raises(UsageError):
            rollback.normalize_paths([bad])


def _sha(n: int) -> str:
    return f"{n:040x}"


def test_history_parsing_survives_separator_characters_in_messages() -> None:
    data = (
        f"\x1e{_sha(3)}\x00{_sha(2)}\x00third\n\nbatch_id: 2026-05-01\n"
        f"\x1e{_sha(2)}\x00{_sha(1)}\x00weird \x1e message\nbatch_id: 2026-05-01\n"
        f"\x1e{_sha(1)}\x00\x00root\n"
    ).encode()
    history = rollback.parse_history(data, _sha(3), "2026-05-01")
    assert history.batch_commits == [_sha(3), _sha(2)]
    assert history.mainline() == [_sha(1), _sha(2), _sha(3)]
    assert history.subject(_sha(2)) == "weird \x1e message"


def test_merged_side_commit_lands_at_the_earliest_merge_on_the_main_line() -> None:
    # 1 - 2 - 4 - 6   (main, first parents)
    #      \   /   /
    #       3 ---- 5    (batch branch, 3 carries the id; 5 merged again later)
    parents = {
        _sha(1): "", _sha(2): _sha(1), _sha(3): _sha(2), _sha(4): f"{_sha(2)} {_sha(3)}",
        _sha(5): _sha(3), _sha(6): f"{_sha(4)} {_sha(5)}",
    }
    history = rollback.History(_sha(6), parents, [_sha(3)], [])
    landings, warnings = rollback.locate_landings(history)
    assert [(landing.sha, landing.kind, landing.batch_commits) for landing in landings] == [(_sha(4), "merge", [_sha(3)])]
    assert not warnings


def _entry(blob: int) -> Entry:
    return Entry("100644", f"{blob:040x}")


def test_decisions_per_file() -> None:
    landing = Landing(_sha(10), 5, "commit", [_sha(10)], whole=True)
    diffs = {
        _sha(10): {
            "recipes/added.toml": Change("A", None, _entry(1)),
            "recipes/modified.toml": Change("M", _entry(2), _entry(3)),
            "recipes/deleted.toml": Change("D", _entry(4), None),
            "recipes/changed-later.toml": Change("M", _entry(5), _entry(6)),
            "recipes/rolled-back.toml": Change("M", _entry(7), _entry(8)),
            "README.md": Change("M", _entry(9), _entry(10)),
        }
    }
    files, outside = rollback.batch_changes([landing], diffs, ["recipes"])
    assert outside == ["README.md"]
    current = {
        "recipes/added.toml": _entry(1),
        "recipes/modified.toml": _entry(3),
        "recipes/changed-later.toml": _entry(11),
        "recipes/rolled-back.toml": _entry(7),
    }
    later = {"recipes/changed-later.toml": [{"sha": _sha(11), "subject": "hand fix"}]}
    parent_of = {_sha(10): _sha(9)}
    plans = {p.path: p for p in rollback.decide(files, current, later, parent_of)}
    assert {path: p.action for path, p in plans.items()} == {
        "recipes/added.toml": "remove",
        "recipes/modified.toml": "restore",
        "recipes/deleted.toml": "restore",
        "recipes/changed-later.toml": "conflict",
        "recipes/rolled-back.toml": "none",
    }
    assert plans["recipes/modified.toml"].target == _entry(2) and plans["recipes/modified.toml"].restore_from == _sha(9)
    assert plans["recipes/changed-later.toml"].later_commits == later["recipes/changed-later.toml"]
    forced = {p.path: p for p in rollback.decide(files, current, later, parent_of, force=True)}
    assert forced["recipes/changed-later.toml"].action == "restore" and forced["recipes/changed-later.toml"].forced


def test_interleaved_change_between_landings_is_detected() -> None:
    first = Landing(_sha(1), 1, "commit", [_sha(1)], whole=True)
    second = Landing(_sha(3), 3, "commit", [_sha(3)], whole=True)
    diffs = {
        _sha(1): {"recipes/a.toml": Change("M", _entry(1), _entry(2))},
        _sha(3): {"recipes/a.toml": Change("M", _entry(20), _entry(3))},  # someone made it 20 in between
    }
    files, _ = rollback.batch_changes([first, second], diffs, ["recipes"])
    assert files["recipes/a.toml"].interleaved
    assert rollback.needs_history_check(files["recipes/a.toml"], _entry(3))
    assert isinstance(files["recipes/a.toml"], FileChange)


def test_commit_message_never_carries_a_batch_line() -> None:
    plan = rollback.FilePlan("recipes/batch_id: 2026-05-01.toml", "remove", [_sha(1)], None, None)
    document = {"batch_id": "2026-05-01"}
    message = rollback.commit_message(document, [plan])
    assert not rollback.message_names_batch(message, "2026-05-01")
    assert message.rstrip().endswith("rollback-of: 2026-05-01")
