"""The runner adapter: outputs cannot be forged, every printed line is one escaped line, secrets masked."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchops.adapters import runner
from batchops.render import markdown

parse_output_file = runner.parse_output_file


FORGERIES = [
    "bad batch\ncan-proceed=true",
    "x\nghadelimiter_0000\ncan-proceed=true",
    "::error::forged annotation",
    "reason<<EOF\ninjected\nEOF",
    "%0Acan-proceed=true",
]


@pytest.mark.parametrize("reason", FORGERIES)
def test_untrusted_reason_cannot_forge_another_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reason: str
) -> None:
    out = tmp_path / "output"
    out.touch()
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    runner.set_outputs({"can-proceed": False, "reason": reason})
    parsed = parse_output_file(out.read_text())
    assert parsed == {"can-proceed": "false", "reason": reason}


@settings(max_examples=200)
@given(st.text())
def test_any_text_round_trips_through_the_output_file(value: str) -> None:
    import os
    import tempfile

    value = value.replace("\r", "")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out"
        path.touch()
        old = os.environ.get("GITHUB_OUTPUT")
        os.environ["GITHUB_OUTPUT"] = str(path)
        try:
            runner.set_outputs({"value": value, "after": "x"})
        finally:
            if old is None:
                del os.environ["GITHUB_OUTPUT"]
            else:
                os.environ["GITHUB_OUTPUT"] = old
        assert parse_output_file(path.read_text()) == {"value": value, "after": "x"}


def test_delimiters_are_random_per_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    runner.set_outputs({"a": "1", "b": "2"})
    delimiters = re.findall(r"<<(\S+)", out.read_text())
    assert len(set(delimiters)) == 2


def test_without_output_file_values_print_as_single_name_value_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    buffer = io.StringIO()
    runner.set_outputs({"ecosystems": ["homebrew", "npm"], "reason": "a\nb=c", "ok": True}, stdout=buffer)
    assert buffer.getvalue().splitlines() == ['ecosystems=["homebrew","npm"]', "reason=a\\nb=c", "ok=true"]
    assert runner.parse_output_line_value("a\\nb=c") == "a\nb=c"


def test_annotation_message_cannot_start_a_new_workflow_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    runner.error("boom\n::set-output name=x::y", file="a,b:c.json", line=3)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out.startswith("::error file=a%2Cb%3Ac.json,line=3::boom\\n::set-output")


def test_secrets_are_masked_line_by_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    runner.mask("tok-1\ntok-2")
    assert capsys.readouterr().out.splitlines() == ["::add-mask::tok-1", "::add-mask::tok-2"]


def test_untrusted_log_text_cannot_be_read_as_a_workflow_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    runner.log_block("::error::forged\n  ::add-mask::x\nfine")
    assert capsys.readouterr().out.splitlines() == ["\\u003a:error::forged", "  \\u003a:add-mask::x", "fine"]


def test_summary_tables_escape_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    runner.summary(markdown.md_table(["a", "b"], [["x|y", "line1\nline2 <script>"]]))
    text = path.read_text()
    assert "x\\|y" in text and "line1 line2 &lt;script&gt;" in text
    assert [line for line in text.splitlines() if line.startswith("| ")] == [
        "| a | b |",
        "| x\\|y | line1 line2 &lt;script&gt; |",
    ]


def test_groups_wrap_the_log_in_actions(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with runner.group("persist"):
        print("inside")
    assert capsys.readouterr().out.splitlines() == ["::group::persist", "inside", "::endgroup::"]


MEANT = ("::error title=t::", "::warning title=t::", "::notice title=t::", "::group::", "::endgroup::")


@settings(max_examples=200, deadline=None)
@given(
    text=st.text()
    | st.sampled_from(
        ["::error::PWN", "a\n::error::PWN", "##[add-mask]x", "x\u2028::warning::y", "\r\n::set-output name=a::b"]
    ),
    actions=st.booleans(),
)
def test_no_line_printed_from_any_text_starts_a_command_batchops_did_not_mean(text: str, actions: bool) -> None:
    import contextlib
    import os

    from batchops.core import escape

    old = os.environ.get("GITHUB_ACTIONS")
    os.environ["GITHUB_ACTIONS"] = "true" if actions else "false"
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runner.log(text)
            runner.log_block(f"{text}\n{text}")
            runner.out(text)
            runner.out_block(text)
            for level in ("error", "warning", "notice"):
                runner.annotate(level, text, title="t")
            with runner.group(text):
                pass
            runner.set_outputs({"value": text})
    finally:
        if old is None:
            del os.environ["GITHUB_ACTIONS"]
        else:
            os.environ["GITHUB_ACTIONS"] = old
    commands = [line for line in (out.getvalue() + err.getvalue()).split("\n") if escape.is_command(line)]
    expected = 5 if actions else 0  # three annotations, the group and its end
    assert len(commands) == expected and all(line.startswith(MEANT) for line in commands)


# --- the job's temp folder ------------------------------------------------------------------


def test_a_runner_temp_that_does_not_exist_is_created_for_whoever_asks_for_the_temp_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    missing = tmp_path / "runner" / "temp"
    monkeypatch.setenv("RUNNER_TEMP", str(missing))
    with tempfile.TemporaryDirectory(prefix="batchops-rollback-", dir=runner.temp_dir()) as folder:  # as rollback does
        assert Path(folder).parent == missing
    assert runner.job_temp_dir() == missing and missing.is_dir()


def test_a_runner_temp_that_cannot_be_created_is_an_error_naming_the_path_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchops.errors import BatchopsError

    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path / "a-file" / "temp"))
    with pytest.raises(BatchopsError) as caught:
        runner.temp_dir()
    assert str(tmp_path / "a-file" / "temp") in caught.value.render()
    assert "\n" not in caught.value.render() and "RUNNER_TEMP=" in caught.value.hint


@pytest.mark.parametrize(
    ("env", "identity"),
    [
        ({"GITHUB_RUN_ID": "101", "GITHUB_RUN_ATTEMPT": "2", "GITHUB_JOB": "batch"}, "101/2/batch"),
        ({"GITHUB_RUN_ID": "101", "GITHUB_JOB": ""}, ""),
        ({"GITHUB_RUN_ID": "", "GITHUB_JOB": "batch"}, ""),
        ({}, ""),
    ],
)
def test_a_job_identity_needs_both_the_run_id_and_the_job(
    monkeypatch: pytest.MonkeyPatch, env: dict, identity: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert runner.job_identity() == identity
