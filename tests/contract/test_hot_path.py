"""The hot path: preflight, breaker-gate and breaker-update load no network, GitHub, schema or database library.

Every batch job runs these three steps; what they import is paid on every run
(see benchmarks/breaker_gate.py). Checked on the real CLI entry, in a fresh
interpreter, on the paths that write (probe granted, outcome recorded).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchops.adapters import runner, schema
from batchops.core import gate_glance

ROOT = Path(__file__).resolve().parents[2]
NEVER = (
    "requests",
    "github",
    "urllib3",
    "jsonschema",
    "jsonschema_rs",
    "referencing",
    "sqlite3",
    "http.client",
    "socket",
    "ssl",
)

PROBE = """
import json, sys
from batchops.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as handle:
    json.dump({"code": code, "modules": sorted(sys.modules)}, handle)
"""

CONTROL = {
    "enabled": True,
    "circuit_breaker": {"npm": {"state": "open", "failures": 5, "opens_at": "2026-06-26T21:51:01Z"}},
    "budget": {"macos_minutes_used": 10, "linux_minutes_used": 20, "week_start": ""},
}

STEPS = {
    "preflight": ["preflight", "--ecosystems", "npm,homebrew"],
    "breaker-gate": ["breaker-gate", "--ecosystem", "npm", "--now", "2026-06-26T22:00:00Z"],
    "breaker-update": [
        "breaker-update",
        "--ecosystem",
        "npm",
        "--outcome",
        "success",
        "--macos-minutes",
        "3",
        "--now",
        "2026-06-26T22:10:00Z",
    ],
}


@pytest.mark.parametrize("step", STEPS)
def test_a_hot_path_step_imports_no_network_github_schema_or_database_library(tmp_path: Path, step: str) -> None:
    (tmp_path / "batch-control.json").write_text(json.dumps(CONTROL, indent=2))
    report = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "BATCHOPS_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(tmp_path / "out"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary"),
        RUNNER_TEMP=str(tmp_path / "runner"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *STEPS[step]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(report.read_text())
    assert result["code"] == 0, proc.stdout + proc.stderr
    loaded = [name for name in result["modules"] if name in NEVER or name.split(".")[0] in NEVER]
    assert loaded == [], f"{step} imports {loaded}"
    if step == "breaker-gate":  # the probe of an open breaker: the full step, on its value classes
        slow = [name for name in ("dataclasses", "inspect", "ast", "shutil") if name in result["modules"]]
        assert slow == [], f"the gate's probe imports {slow} (~10 ms before its first line)"


# --- breaker-gate's lean path: a closed breaker answered before argparse is imported -------

LEAN_NEVER = (
    "argparse",
    "dataclasses",
    "batchops.cli",
    "batchops.steps",
    "batchops.adapters.schema",
    "batchops.adapters.fastschema",
    "batchops.core.breaker",
    "re",
    "runpy",
)
ENTRY = (
    "import sys; from batchops.__main__ import run; code = run(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(repr(sorted(sys.modules)))"
)


def test_the_gate_on_a_closed_breaker_answers_without_argparse_the_schema_or_the_breaker_rules(tmp_path: Path) -> None:
    (tmp_path / "batch-control.json").write_text(json.dumps(CONTROL, indent=2))
    report = tmp_path / "modules.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "BATCHOPS_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(tmp_path / "out"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary"),
        INPUT_ECOSYSTEM="homebrew",
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-P", "-c", ENTRY, str(report), "breaker-gate", "--dry-run", "false"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == "homebrew: circuit breaker closed, the batch runs\n"
    loaded = set(eval(report.read_text()))  # noqa: S307 - the repr of a list of names written just above
    assert "batchops.core.gate_glance" in loaded
    assert sorted(loaded & set(LEAN_NEVER)) == []
    assert "| npm | 🔴 open |" in (tmp_path / "summary").read_text()


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith(("GITHUB_", "INPUT_", "RUNNER_")) or key == "BATCHOPS_NOW":
            del os.environ[key]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _run(
    where: Path, call: Callable[[], int | None], env: dict[str, str], actions: bool
) -> tuple[int | None, str, str, dict[str, str], str]:
    output, summary = where / "output", where / "summary"
    for path in (output, summary):
        path.unlink(missing_ok=True)
    if actions:
        env = {**env, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    out, err = io.StringIO(), io.StringIO()
    with _environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = call()
    outputs = runner.parse_output_file(output.read_text()) if output.exists() else {}
    return code, out.getvalue(), err.getvalue(), outputs, summary.read_text() if summary.exists() else ""


def lean_and_full(where: Path, args: list[str], env: dict[str, str] | None = None, *, actions: bool = True) -> bool:
    """Run the lean path and the full step on the same input; when the lean path answers, the answers are one.

    Returns whether the lean path answered. When it does not, it wrote nothing at all.
    """
    from batchops.__main__ import gate_glance
    from batchops.cli import main

    control = where / "batch-control.json"
    before = control.read_bytes() if control.exists() else b""
    lean = _run(where, lambda: gate_glance(args), env or {}, actions)
    if lean[0] is None:
        assert lean[1:] == (None, "", "", {}, "")[1:], "the lean path wrote something and then handed over"
    full = _run(where, lambda: main(["breaker-gate", *args]), env or {}, actions)
    if lean[0] is not None:
        assert lean == full
        assert (control.read_bytes() if control.exists() else b"") == before
    return lean[0] is not None


def test_the_lean_answer_is_the_full_steps_on_every_control_file_of_the_first_user(tmp_path: Path) -> None:
    from tests.conftest import corpus_dir

    history = sorted(
        (Path(os.environ.get("BATCHOPS_CORPUS") or corpus_dir()) / "tsuku" / "control-history").glob("*.json")
    )
    assert history
    answered = 0
    for path in history:
        text = path.read_text(encoding="utf-8")
        (tmp_path / "batch-control.json").write_text(text, encoding="utf-8")
        names = sorted(set(json.loads(text).get("circuit_breaker") or {}) | {"cargo", "default"})
        for ecosystem in names:
            for now in ("2026-01-01T00:00:00Z", "2026-06-26T21:00:00Z", "2026-06-26T21:51:01Z", "2027-01-01T00:00:00Z"):
                args = ["--ecosystem", ecosystem, "--now", now, "--control-file", str(tmp_path / "batch-control.json")]
                answered += lean_and_full(tmp_path, args)
        # every ecosystem without an entry is a closed breaker: the lean path answers it on every file
        assert lean_and_full(tmp_path, ["--ecosystem", "cargo", "--control-file", str(tmp_path / "batch-control.json")])
    assert answered >= len(history) * 4


STAMPS = st.sampled_from(
    ["", "2026-06-26T17:30:00Z", "2026-06-26T20:51:01Z", "2026-06-26T23:00:00Z", "2026-06-27T03:00:00Z"]
)
TIMES = st.one_of(
    STAMPS,
    st.sampled_from(
        [
            "2026-06-26T20:51:01+00:00",
            "2026-06-26T20:51:01.5Z",
            "2026-13-40T25:61:61Z",
            "yesterday",
            "２026-06-26T20:51:01Z",
            "2026-06-26",
        ]
    ),
)
NAMES = st.sampled_from(["homebrew", "npm", "crates.io", "default", "cargo"])
ECOSYSTEMS = st.one_of(NAMES, st.sampled_from(["Bad Name", "a|b", "x" * 65, ""]))
OUTCOME_LISTS = st.lists(st.sampled_from(["success", "failure"]), max_size=14)
ENTRIES = st.fixed_dictionaries(
    {},
    optional={
        "state": st.sampled_from(["closed", "open", "half-open"]),
        "failures": st.integers(0, 12),
        "last_failure": STAMPS,
        "opens_at": STAMPS,
        "window": OUTCOME_LISTS,
        "consecutive_opens": st.integers(0, 3),
        "probe_started_at": STAMPS,
        "opened_at": STAMPS,
        "note": st.text(max_size=4),
    },
)
NOISY_ENTRIES = st.dictionaries(
    st.sampled_from(
        [
            "state",
            "failures",
            "last_failure",
            "opens_at",
            "window",
            "consecutive_opens",
            "probe_started_at",
            "opened_at",
        ]
    ),
    st.one_of(
        st.sampled_from(["closed", "open", "half-open", "broken", "success", "failure"]),
        TIMES,
        st.integers(-2, 12),
        st.booleans(),
        st.none(),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.lists(st.sampled_from(["success", "failure", "skipped"]), max_size=14),
    ),
)
BUDGETS = st.fixed_dictionaries(
    {},
    optional={
        "macos_minutes_used": st.integers(0, 900),
        "linux_minutes_used": st.floats(0, 1e8),
        "week_start": st.sampled_from(["", "2026-06-22"]),
        "sampling_active": st.booleans(),
        "history": st.lists(st.fixed_dictionaries({"week_start": st.just("2026-06-15")}), max_size=2),
    },
)
NOISY_BUDGETS = st.dictionaries(
    st.sampled_from(
        [
            "macos_minutes_used",
            "linux_minutes_used",
            "week_start",
            "sampling_active",
            "history",
            "pause_percent",
            "extra",
        ]
    ),
    st.one_of(
        st.integers(-5, 200),
        st.floats(-1, 1e9, allow_nan=False),
        st.booleans(),
        TIMES,
        st.just("2026-06-22"),
        st.lists(
            st.fixed_dictionaries({"week_start": st.sampled_from(["2026-06-15", "", "2026-06-15T00:00:00Z"])}),
            max_size=2,
        ),
    ),
)
VALID = st.fixed_dictionaries(
    {"enabled": st.booleans(), "circuit_breaker": st.dictionaries(NAMES, ENTRIES, max_size=5)},
    optional={
        "budget": BUDGETS,
        "reason": st.text(max_size=8),
        "disabled_ecosystems": st.lists(NAMES, max_size=3, unique=True),
        "disabled_at": STAMPS,
        "unknown": st.integers(),
    },
)
NOISY = st.fixed_dictionaries(
    {"circuit_breaker": st.dictionaries(ECOSYSTEMS, st.one_of(ENTRIES, NOISY_ENTRIES), max_size=5)},
    optional={
        "enabled": st.one_of(st.booleans(), st.just("yes")),
        "budget": st.one_of(BUDGETS, NOISY_BUDGETS),
        "reason": st.one_of(st.text(max_size=8), st.integers()),
        "disabled_ecosystems": st.lists(ECOSYSTEMS, max_size=3),
        "disabled_at": TIMES,
        "breaker_config": st.sampled_from([{}, {"window_size": 3, "minimum_attempts": 2}, {"probe_timeout": "1h"}]),
        "unknown": st.integers(),
    },
)
DOCUMENTS = st.one_of(VALID, NOISY)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    document=DOCUMENTS,
    ecosystem=ECOSYSTEMS,
    now=st.sampled_from(["2026-06-26T21:00:00Z", "2026-06-27T03:00:00Z", "2026-06-26T23:30:00Z"]),
)
def test_the_lean_answer_is_the_full_steps_on_generated_control_files(
    tmp_path: Path, document: dict, ecosystem: str, now: str
) -> None:
    (tmp_path / "batch-control.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    lean_and_full(
        tmp_path, ["--ecosystem", ecosystem, "--now", now, "--control-file", str(tmp_path / "batch-control.json")]
    )


OTHERS = st.dictionaries(
    st.sampled_from(["homebrew", "npm", "crates.io", "default", "pypi"]),
    st.fixed_dictionaries(
        {"state": st.sampled_from(["open", "half-open", "closed"])},
        optional={
            "failures": st.integers(0, 12),
            "opens_at": STAMPS,
            "window": OUTCOME_LISTS,
            "consecutive_opens": st.integers(1, 3),
            "probe_started_at": STAMPS,
            "last_failure": STAMPS,
        },
    ),
    min_size=1,
    max_size=4,
)
NOWS = st.sampled_from(
    [
        "2026-06-26T17:29:59Z",
        "2026-06-26T20:51:01Z",
        "2026-06-26T21:00:00Z",
        "2026-06-26T23:30:00Z",
        "2026-06-27T03:00:00Z",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(others=OTHERS, now=NOWS)
def test_the_lean_answer_is_the_full_steps_beside_open_and_half_open_breakers(
    tmp_path: Path, others: dict, now: str
) -> None:
    """The summary's table of the other breakers: waits over or not, probes out or lost, windows and rates."""
    (tmp_path / "batch-control.json").write_text(
        json.dumps({"enabled": True, "circuit_breaker": others}), encoding="utf-8"
    )
    args = ["--ecosystem", "cargo", "--now", now, "--control-file", str(tmp_path / "batch-control.json")]
    answered = lean_and_full(tmp_path, args)
    if not any("window" in entry for entry in others.values()):  # legacy entries: nothing to reconcile
        assert answered


@settings(max_examples=300, deadline=None)
@given(document=DOCUMENTS)
def test_what_the_lean_path_takes_for_valid_the_schema_takes_too(document: dict) -> None:
    if gate_glance.surely_valid(document):
        assert schema.problems(document, "batch-control", file="batch-control.json") == []
        assert "breaker_config" not in document


CLOSED = {
    "enabled": True,
    "circuit_breaker": {"homebrew": {"state": "closed", "failures": 1}, "npm": CONTROL["circuit_breaker"]["npm"]},
}


@pytest.mark.parametrize(
    "args,env,lean",
    [
        (["--ecosystem", "homebrew"], {}, True),
        ([], {"INPUT_ECOSYSTEM": "homebrew"}, True),
        (
            [],
            {"INPUT_ECOSYSTEM": " homebrew ", "INPUT_DRY_RUN": "false", "INPUT_CONTROL_FILE": "batch-control.json"},
            True,
        ),
        (["--ecosystem=homebrew", "--dry-run", "false"], {}, True),
        (["--ecosystem", "homebrew", "--dry-run=no"], {"INPUT_DRY_RUN": "true"}, True),
        (["--ecosystem", "homebrew", "--now", "2026-06-26T22:00:00+02:00"], {}, True),
        (["--ecosystem", "homebrew", "--dry-run"], {}, False),  # bare: a dry run, the full step answers it
        (["--dry-run", "--ecosystem", "homebrew"], {}, False),
        (["--ecosystem", "homebrew", "--dry-run", "TRUE"], {}, False),
        (["--ecosystem", "homebrew", "--dry-run=TRUE"], {}, False),  # refused by the full step, with the fix
        (["--ecosystem", "homebrew"], {"INPUT_DRY_RUN": "maybe"}, False),
        (["--eco", "homebrew"], {}, False),
        (["--ecosystem", "homebrew", "extra"], {}, False),
        (["--ecosystem"], {}, False),
        (["--help"], {}, False),
        (["--ecosystem", "npm"], {}, False),  # open: not the lean path's case
        (["--ecosystem", "Homebrew"], {}, False),
        ([], {}, False),
        (["--ecosystem", "homebrew", "--now", "soon"], {}, False),
        (["--ecosystem", "homebrew"], {"BATCHOPS_NOW": "soon"}, False),
        (["--ecosystem", "homebrew", "--control-file", "missing.json"], {}, False),
    ],
)
@pytest.mark.parametrize("actions", [True, False], ids=["actions", "terminal"])
def test_the_lean_path_takes_the_same_flags_and_inputs_and_hands_over_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], lean: bool, actions: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "batch-control.json").write_text(json.dumps(CLOSED, indent=2))
    env = {"BATCHOPS_NOW": "2026-06-26T21:00:00Z", **env}
    assert lean_and_full(tmp_path, args, env, actions=actions) is lean


@pytest.mark.parametrize(
    "text",
    [
        '{"enabled": true, "enabled": false}',
        '{"enabled": true, "budget": {"macos_minutes_used": NaN}}',
        '{"enabled": true, "x": 9007199254740993}',
        '{"enabled": true, "x": 0.10000000000000000000000000000000000000001}',
        '{"enabled": true, "x": "\\ud800"}',
        '{"enabled": true} {}',
        '\ufeff{"enabled": true}',
        '{"enabled": true, "x": ' + "[" * 70 + "]" * 70 + "}",
        '{"enabled": true,}',
        "",
        '{"circuit_breaker": {}}',
    ],
)
def test_a_file_the_full_reader_refuses_goes_to_the_full_step_which_fails_closed(tmp_path: Path, text: str) -> None:
    (tmp_path / "batch-control.json").write_text(text, encoding="utf-8")
    args = [
        "--ecosystem",
        "homebrew",
        "--now",
        "2026-06-26T21:00:00Z",
        "--control-file",
        str(tmp_path / "batch-control.json"),
    ]
    assert lean_and_full(tmp_path, args) is False
    code, _, _, outputs, _ = _run(
        tmp_path, lambda: __import__("batchops.cli").cli.main(["breaker-gate", *args]), {}, True
    )
    assert code != 0 and outputs["skip"] == "true"


def _warm_environment(tmp_path: Path) -> Path:
    """An environment as scripts/install.sh leaves it: an interpreter and its copy of the lock."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / ".batchops-lock").write_bytes((ROOT / "requirements.lock").read_bytes())
    return venv


def _step(tmp_path: Path, venv: Path, *args: str, **inputs: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "BATCHOPS_", "PYTHON"))
    }
    env.update(
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(tmp_path / "out"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary"),
        BATCHOPS_VENV=str(venv),
        BATCHOPS_NOW="2026-06-26T22:00:00Z",
        BATCHOPS_JOURNAL=str(tmp_path / "journal.jsonl"),
        **inputs,
    )
    (tmp_path / "out").write_text("")
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "batchops.sh"), "breaker-gate", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_action_entry_answers_a_closed_breaker_and_takes_the_probe_of_an_open_one(tmp_path: Path) -> None:
    (tmp_path / "batch-control.json").write_text(json.dumps(CLOSED, indent=2))
    venv = _warm_environment(tmp_path)
    closed = _step(tmp_path, venv, INPUT_ECOSYSTEM="homebrew")
    assert closed.returncode == 0, closed.stderr
    assert runner.parse_output_file((tmp_path / "out").read_text()) == {
        "skip": "false",
        "state": "closed",
        "opens-at": "",
    }
    question = _step(tmp_path, venv, "--dry-run", INPUT_ECOSYSTEM="npm")  # bare: only asks
    assert question.returncode == 0, question.stderr
    assert runner.parse_output_file((tmp_path / "out").read_text())["state"] == "half-open"
    assert json.loads((tmp_path / "batch-control.json").read_text()) == CLOSED
    probe = _step(tmp_path, venv, INPUT_ECOSYSTEM="npm", INPUT_DRY_RUN="false")
    assert probe.returncode == 0, probe.stderr
    assert runner.parse_output_file((tmp_path / "out").read_text()) == {
        "skip": "false",
        "state": "half-open",
        "opens-at": "",
    }
    assert json.loads((tmp_path / "batch-control.json").read_text())["circuit_breaker"]["npm"]["state"] == "half-open"


def test_a_workspace_file_named_like_a_module_does_not_take_its_place(tmp_path: Path) -> None:
    (tmp_path / "batch-control.json").write_text(json.dumps(CLOSED, indent=2))
    for name in ("os.py", "json.py", "argparse.py", "datetime.py"):
        (tmp_path / name).write_text("raise SystemExit('the workspace shadowed a module')\n")
    (tmp_path / "batchops").mkdir()
    (tmp_path / "batchops" / "__init__.py").write_text("raise SystemExit('the workspace shadowed batchops')\n")
    venv = _warm_environment(tmp_path)
    for ecosystem in ("homebrew", "npm"):
        run = _step(tmp_path, venv, "--ecosystem", ecosystem)
        assert run.returncode == 0 and "shadowed" not in run.stdout + run.stderr, run.stderr
