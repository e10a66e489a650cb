"""The pure planning core of rollback: exact batch lines, history parsing, per-file decisions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchops.adapters.pulls import head_names_batch
from batchops.core import rollback
from batchops.core.rollback import Change, Commit, Entry, MainCommit, Ref, Selection, Selector
from batchops.errors import UsageError

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
    assert head_names_batch(ref, "2026-05-01-npm") is named


def test_paths_are_normalized_and_escapes_refused() -> None:
    assert rollback.normalize_paths(["./recipes/", "recipes", "docs/x.md"]) == ["recipes", "docs/x.md"]
    assert rollback.normalize_paths(["."]) == [""]
    assert rollback.under("recipes/a.toml", ["recipes"]) and not rollback.under("recipes2/a.toml", ["recipes"])
    for bad in ("../etc", "/etc", "recipes/../../x"):
        with pytest.raises(UsageError):
            rollback.normalize_paths([bad])


def _sha(n: int) -> str:
    return f"{n:040x}"


def test_log_parsing_survives_separator_characters_in_messages_and_paths() -> None:
    data = (
        f"\x1e{_sha(3)}\x00{_sha(2)}\x00100\x00third\n\nbatch_id: 2026-05-01\n\x00"
        f"\n\x1e{_sha(2)}\x00{_sha(1)}\x0090\x00weird \x1e{_sha(9)}\n message\nbatch_id: 2026-05-01\n\x00"
        f"\n\x1e{_sha(1)}\x00\x0080\x00root\n\x00"
    ).encode()
    commits = rollback.parse_commits(data)
    assert [(c.sha, c.parents, c.time) for c in commits] == [
        (_sha(3), [_sha(2)], 100),
        (_sha(2), [_sha(1)], 90),
        (_sha(1), [], 80),
    ]
    assert [c for c in commits if rollback.message_names_batch(c.message, "2026-05-01")] == commits[:2]
    evil = f"recipes/x\x1e{_sha(7)}"  # a path that looks like the start of a record
    raw = (
        f"\x1e{_sha(5)}\x00{_sha(4)}\x00100\x00squash (#3)\x00\x00\n"
        f":000000 100644 {'0' * 40} {_sha(11)} A\x00{evil}\x00"
        f":100644 100644 {_sha(12)} {_sha(13)} M\x00recipes/a.toml\x00"
    ).encode()
    [main] = rollback.parse_mainline(raw)
    assert main.sha == _sha(5) and main.first_parent == _sha(4) and main.subject == "squash (#3)"
    assert main.changes == {evil: Change("A", None, _entry(11)), "recipes/a.toml": Change("M", _entry(12), _entry(13))}


def _entry(blob: int) -> Entry:
    return Entry("100644", f"{blob:040x}")


def _main(sha: int, parent: int, time: int, changes: dict[str, Change], subject: str = "") -> MainCommit:
    return MainCommit(_sha(sha), _sha(parent), time, subject or f"commit {sha}", changes)


def _batch(sha: int, time: int, changes: dict[str, Change]) -> tuple[Commit, dict[str, Change]]:
    return Commit(_sha(sha), [_sha(sha - 1)], time, "x\n\nbatch_id: 2026-05-01\n"), changes


def _selection(
    *batch: tuple[Commit, dict[str, Change]],
    carriers: dict[str, list[str]] | None = None,
    tips: dict[tuple[str, str], str | None] | None = None,
) -> Selection:
    selection = Selection(Selector("batch-id", "2026-05-01"))
    selection.sources = [commit for commit, _ in batch]
    selection.diffs = {commit.sha: diff for commit, diff in batch}
    for ref in carriers or {}:
        selection.refs[ref] = Ref(ref, _sha(99), rollback.pr_of_ref(ref))
    selection.carriers = carriers or {}
    selection.tips = tips or {}
    return selection


def test_a_squash_that_sets_a_file_to_the_batchs_content_is_a_landing() -> None:
    source = _batch(
        50, 100, {"recipes/new.toml": Change("A", None, _entry(1)), "recipes/a.toml": Change("M", _entry(2), _entry(3))}
    )
    mainline = [  # newest first
        _main(8, 7, 300, {"recipes/a.toml": Change("M", _entry(3), _entry(4))}, "hand fix"),
        _main(
            7,
            6,
            200,
            {"recipes/new.toml": Change("A", None, _entry(1)), "recipes/a.toml": Change("M", _entry(2), _entry(3))},
            "feat: add batch recipes (2 recipes)",
        ),
        _main(
            6,
            5,
            50,
            {"recipes/a.toml": Change("M", _entry(20), _entry(3))},
            "older, same content: before the batch existed",
        ),
    ]
    landings = rollback.find_landings(_selection(source), mainline)
    assert [(item.sha, item.kind, item.files, item.batch_commits) for item in landings] == [
        (_sha(7), "squash", ["recipes/a.toml", "recipes/new.toml"], [_sha(50)])
    ]
    files, outside = rollback.file_changes(landings, mainline, ["recipes"])
    plans = {p.path: p for p in rollback.decide(files)}
    assert {path: p.action for path, p in plans.items()} == {"recipes/a.toml": "conflict", "recipes/new.toml": "remove"}
    assert plans["recipes/a.toml"].later_commits == [{"sha": _sha(8), "subject": "hand fix"}]
    assert plans["recipes/a.toml"].restore_from == _sha(6) and plans["recipes/a.toml"].target == _entry(2)


def test_a_deletion_alone_proves_nothing_but_counts_beside_content() -> None:
    source = _batch(
        50, 100, {"recipes/old.toml": Change("D", _entry(1), None), "recipes/new.toml": Change("A", None, _entry(2))}
    )
    lonely = [_main(7, 6, 200, {"recipes/old.toml": Change("D", _entry(1), None)})]
    assert rollback.find_landings(_selection(source), lonely) == []
    both = [
        _main(
            7,
            6,
            200,
            {"recipes/old.toml": Change("D", _entry(1), None), "recipes/new.toml": Change("A", None, _entry(2))},
        )
    ]
    assert rollback.find_landings(_selection(source), both)[0].files == ["recipes/new.toml", "recipes/old.toml"]


def test_the_tip_of_a_pr_ref_carrying_the_batch_counts_and_names_the_pr() -> None:
    source = _batch(50, 100, {"recipes/jq.toml": Change("A", None, _entry(1))})
    ref = "refs/remotes/origin/pull/31/head"
    selection = _selection(source, carriers={ref: [_sha(50)]}, tips={(ref, "recipes/jq.toml"): _entry(2).blob})
    mainline = [
        _main(
            7, 6, 200, {"recipes/jq.toml": Change("A", None, _entry(2))}, "feat(recipes): add batch recipes (1 recipes)"
        )
    ]
    [landing] = rollback.find_landings(selection, mainline)
    assert landing.files == ["recipes/jq.toml"] and landing.pull_requests == [31]


def test_a_carrier_pr_whose_merge_shipped_nothing_is_reported() -> None:
    source = _batch(50, 100, {"recipes/new.toml": Change("A", None, _entry(1))})
    carriers = {"refs/pull/41/head": [_sha(50)], "refs/pull/42/head": [_sha(50)]}
    tips = {
        ("refs/pull/41/head", "recipes/new.toml"): _entry(1).blob,
        ("refs/pull/42/head", "recipes/new.toml"): _entry(1).blob,
    }
    selection = _selection(source, carriers=carriers, tips=tips)
    mainline = [_main(7, 6, 200, {"recipes/new.toml": Change("A", None, _entry(1))}, "feat: batch (#41)")]
    landings = rollback.find_landings(selection, mainline)
    assert landings[0].pull_requests == [41]
    reported = rollback.unshipped_carriers(selection, landings, {42: _sha(8)})
    assert [(item["pull_request"], item["merge_commit"]) for item in reported] == [(42, _sha(8))]


def test_of_several_retries_the_pr_whose_content_is_in_every_shipped_file_is_named() -> None:
    first = _batch(
        50,
        100,
        {"recipes/lua.toml": Change("A", None, _entry(1)), "data/queue.json": Change("M", _entry(5), _entry(6))},
    )
    second = _batch(
        60,
        110,
        {"recipes/lua.toml": Change("A", None, _entry(1)), "data/queue.json": Change("M", _entry(5), _entry(7))},
    )
    carriers = {"refs/pull/59/head": [_sha(50)], "refs/pull/60/head": [_sha(60)]}
    tips = {
        ("refs/pull/59/head", "recipes/lua.toml"): _entry(1).blob,
        ("refs/pull/59/head", "data/queue.json"): _entry(6).blob,
        ("refs/pull/60/head", "recipes/lua.toml"): _entry(1).blob,
        ("refs/pull/60/head", "data/queue.json"): _entry(7).blob,
    }
    selection = _selection(first, second, carriers=carriers, tips=tips)
    mainline = [
        _main(
            7,
            6,
            200,
            {"recipes/lua.toml": Change("A", None, _entry(1)), "data/queue.json": Change("M", _entry(5), _entry(7))},
        )
    ]
    [landing] = rollback.find_landings(selection, mainline)
    assert landing.pull_requests == [60] and landing.candidates == [] and landing.alike == [59]
    [reported] = rollback.unshipped_carriers(selection, [landing], {})
    assert (
        reported["pull_request"] == 59 and "(as PR #60)" in reported["note"] and "not merged itself" in reported["note"]
    )

    alike = [_main(7, 6, 200, {"recipes/lua.toml": Change("A", None, _entry(1))})]  # only the recipe: either PR
    [landing] = rollback.find_landings(selection, alike)
    assert landing.pull_requests == [] and landing.candidates == [59, 60]


def test_merged_side_commit_lands_at_its_merge_for_the_files_it_touched() -> None:
    source = _batch(50, 100, {"recipes/new.toml": Change("A", None, _entry(1))})
    selection = _selection(source)
    selection.in_base = {_sha(50)}
    selection.side_landings = {_sha(50): _sha(7)}
    mainline = [
        _main(7, 6, 200, {"recipes/new.toml": Change("A", None, _entry(5))}, "Merge pull request #12 from tsuku/batch")
    ]
    [landing] = rollback.find_landings(selection, mainline)
    assert (landing.kind, landing.batch_commits, landing.pull_requests) == ("merge", [_sha(50)], [12])


def test_decisions_per_file() -> None:
    changes = {
        "recipes/added.toml": Change("A", None, _entry(1)),
        "recipes/modified.toml": Change("M", _entry(2), _entry(3)),
        "recipes/deleted.toml": Change("D", _entry(4), None),
        "recipes/changed-later.toml": Change("M", _entry(5), _entry(6)),
        "recipes/rolled-back.toml": Change("M", _entry(7), _entry(8)),
        "README.md": Change("M", _entry(9), _entry(10)),
    }
    selection = Selection(Selector("commit", _sha(10)), direct={_sha(10): "commit"})
    mainline = [
        _main(12, 11, 30, {"recipes/rolled-back.toml": Change("M", _entry(8), _entry(7))}, "roll back by hand"),
        _main(11, 10, 20, {"recipes/changed-later.toml": Change("M", _entry(6), _entry(11))}, "hand fix"),
        _main(10, 9, 10, changes),
    ]
    landings = rollback.find_landings(selection, mainline)
    files, outside = rollback.file_changes(landings, mainline, ["recipes"])
    assert outside == ["README.md"]
    plans = {p.path: p for p in rollback.decide(files)}
    assert {path: p.action for path, p in plans.items()} == {
        "recipes/added.toml": "remove",
        "recipes/modified.toml": "restore",
        "recipes/deleted.toml": "restore",
        "recipes/changed-later.toml": "conflict",
        "recipes/rolled-back.toml": "none",
    }
    assert plans["recipes/modified.toml"].target == _entry(2) and plans["recipes/modified.toml"].restore_from == _sha(9)
    assert plans["recipes/changed-later.toml"].later_commits == [{"sha": _sha(11), "subject": "hand fix"}]
    forced = {p.path: p for p in rollback.decide(files, force=True)}
    assert forced["recipes/changed-later.toml"].action == "restore" and forced["recipes/changed-later.toml"].forced


def test_interleaved_change_between_landings_is_detected() -> None:
    first = _batch(50, 1, {"recipes/a.toml": Change("M", _entry(1), _entry(2))})
    second = _batch(60, 1, {"recipes/a.toml": Change("M", _entry(20), _entry(3))})
    mainline = [
        _main(3, 2, 30, {"recipes/a.toml": Change("M", _entry(20), _entry(3))}),
        _main(2, 1, 20, {"recipes/a.toml": Change("M", _entry(2), _entry(20))}, "someone made it 20 in between"),
        _main(1, 0, 10, {"recipes/a.toml": Change("M", _entry(1), _entry(2))}),
    ]
    landings = rollback.find_landings(_selection(first, second), mainline)
    files, _ = rollback.file_changes(landings, mainline, ["recipes"])
    assert files["recipes/a.toml"].interleaved and rollback.changed_since(files["recipes/a.toml"])
    assert rollback.decide(files)[0].action == "conflict"


@pytest.mark.parametrize(
    "path",
    [
        "recipes/batch_id: 2026-05-01.toml",
        "recipes/evil\nbatch_id: 2026-05-02-other.toml",
        "recipes/evil\rbatch_id: 2026-05-01",
        "recipes/x\u2028batch_id: 2026-05-01",
    ],
)
def test_commit_message_never_carries_a_batch_line(path: str) -> None:
    plan = rollback.FilePlan(path, "remove", [_sha(1)], None, None)
    document = {"selector": {"kind": "batch-id", "value": "2026-05-01"}}
    message = rollback.commit_message(document, [plan])
    for other in ("2026-05-01", "2026-05-02-other"):
        assert not rollback.message_names_batch(message, other)
    assert message.rstrip().endswith("rollback-of: 2026-05-01")
    assert len(message.splitlines()) == 7


@given(st.text(max_size=40))
def test_a_quoted_path_is_one_line(path: str) -> None:
    quoted = rollback.quote_path(path)
    assert len(quoted.splitlines()) <= 1 and "\n" not in quoted.replace("\\n", "")


def test_the_batch_id_rule_is_the_schemas() -> None:
    import json
    from pathlib import Path

    defs = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "defs.schema.json").read_text())
    assert defs["$defs"]["batch-id"]["pattern"].strip("^$").replace("\\Z", "") == rollback.BATCH_ID_PATTERN.pattern


def test_dependents_are_recipes_outside_the_rollback_that_need_a_removed_one() -> None:
    recipes = {
        "recipes/nodejs.toml": '[metadata]\nname = "nodejs"\nruntime_dependencies = ["gcc-libs"]\n',
        "recipes/rust.toml": '[[steps]]\naction = "run"\ndependencies = ["bash"]\n',
        "recipes/also-gone.toml": 'dependencies = ["gcc-libs"]\n',
        "recipes/broken.toml": "not = [toml\n",
    }
    found = rollback.dependents(
        {"recipes/gcc-libs.toml": "gcc-libs", "recipes/also-gone.toml": "also-gone"},
        recipes,
        ["recipes/gcc-libs.toml", "recipes/also-gone.toml"],
    )
    assert found == [{"path": "recipes/nodejs.toml", "recipe": "nodejs", "depends_on": ["gcc-libs"]}]


@pytest.mark.parametrize(
    ("args", "kind"), [(("2026-05-01", "", ""), "batch-id"), (("", "#12", ""), "pr"), (("", "", "ABCDEF1"), "commit")]
)
def test_one_selector_is_chosen(args: tuple[str, str, str], kind: str) -> None:
    assert rollback.choose_selector(*args).kind == kind
    with pytest.raises(UsageError):
        rollback.choose_selector("2026-05-01", "12", "")


FILES = ["recipes/f0.toml", "recipes/f1.toml", "recipes/f2.toml"]
BLOBS = st.sampled_from([None, 1, 2, 3, 4])


@given(
    st.dictionaries(st.sampled_from(FILES), st.sampled_from([1, 2]), min_size=1),
    st.lists(st.dictionaries(st.sampled_from(FILES), BLOBS, min_size=1), min_size=1, max_size=12),
    st.integers(min_value=0, max_value=12),
)
def test_every_commit_that_sets_a_file_to_the_batchs_content_is_a_landing_for_it(
    batch: dict[str, int], edits: list[dict[str, int | None]], batch_at: int
) -> None:
    source = _batch(500, batch_at, {path: Change("A", None, _entry(blob)) for path, blob in batch.items()})
    state: dict[str, Entry | None] = dict.fromkeys(FILES)
    mainline = []
    for number, edit in enumerate(edits, start=1):
        changes = {}
        for path, blob in edit.items():
            new = _entry(blob) if blob is not None else None
            if new != state[path]:
                changes[path] = Change("M", state[path], new)
                state[path] = new
        if changes:
            mainline.append(_main(number, number - 1, number, changes))
    mainline.reverse()  # newest first, as git lists it
    landings = rollback.find_landings(_selection(source), mainline)
    landed = {(landing.sha, path) for landing in landings for path in landing.files}
    for commit in mainline:
        for path, change in commit.changes.items():
            matches = path in batch and change.new is not None and change.new.blob == _entry(batch[path]).blob
            assert ((commit.sha, path) in landed) == (matches and commit.time >= batch_at) or change.new is None
    files, _ = rollback.file_changes(landings, mainline, ["recipes"])
    for plan in rollback.decide(files):
        assert plan.path in batch
        if plan.action in ("remove", "restore"):
            assert files[plan.path].current == files[plan.path].after != plan.target
