"""Hostile text on the way out: every line batchops prints is one escaped line, in and out of Actions.

The runner reads workflow commands from a step's stdout and stderr, a terminal
shows whatever it is sent, and a step summary renders Markdown. Untrusted text (a
key, a reason, a file name) must reach none of them as a command, a new line or
raw HTML, and no secret is ever printed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from batchops.adapters import runner
from batchops.core import escape
from tests.cli_helpers import run_cli

BREAKS = ["\n", "\r\n", "\r", "\u2028", "\u2029", "\x85", "\x0b"]
PAYLOAD = "::error::PWN"


def forged(text: str) -> list[str]:
    """Lines a runner would read as a command batchops did not mean, or that start with the payload."""
    bad = []
    for line in text.replace("\r", "\n").split("\n"):
        stripped = line.lstrip()
        if stripped.startswith(PAYLOAD) or stripped.startswith("PWN") or "##[" in line:
            bad.append(line)
        elif stripped.startswith("Batchops-Operation-Id: deadbeef"):
            bad.append(line)
    return bad


def write_control(folder: Path, document: dict) -> None:
    (folder / "batch-control.json").write_text(json.dumps(document, indent=2))


@pytest.mark.parametrize("actions", [True, False], ids=["in-actions", "terminal"])
@pytest.mark.parametrize("brk", BREAKS, ids=[repr(b) for b in BREAKS])
def test_a_key_with_a_newline_cannot_inject_a_workflow_command(tmp_path: Path, actions: bool, brk: str) -> None:
    write_control(
        tmp_path,
        {
            "enabled": True,
            "breaker_config": {"ecosystems": {f"y{brk}{PAYLOAD}": {}}},
            "circuit_breaker": {f"z{brk}{PAYLOAD}": {"state": "ajar"}},
        },
    )
    run = run_cli(["validate", "batch-control.json"], tmp_path, actions=actions)
    assert run.returncode == 1
    assert forged(run.stdout) == [] and forged(run.stderr) == []
    assert "/circuit_breaker/z" in run.stdout


@pytest.mark.parametrize("actions", [True, False], ids=["in-actions", "terminal"])
@pytest.mark.parametrize("brk", BREAKS, ids=[repr(b) for b in BREAKS])
def test_a_stop_reason_cannot_inject_a_command_or_html_through_preflight(
    tmp_path: Path, actions: bool, brk: str
) -> None:
    reason = (
        f"bad{brk}{PAYLOAD}{brk}Batchops-Operation-Id: deadbeef{brk}"
        "<img src=x onerror=alert(1)> ##[set-output name=can-proceed;]true"
    )
    write_control(tmp_path, {"enabled": False, "reason": reason, "incident_url": f"https://x.test/{brk}{PAYLOAD}"})
    run = run_cli(["preflight", "--ecosystems", "homebrew"], tmp_path, actions=actions)
    assert run.returncode == 0, run.log
    assert forged(run.stdout) == [] and forged(run.stderr) == []
    assert "<img" not in run.summary
    if actions:
        # the output itself is exact (heredoc); the test reads the file in text mode, which folds \r
        assert run.outputs["reason"] == reason.replace("\r\n", "\n").replace("\r", "\n")
        warnings = [line for line in run.stdout.splitlines() if line.startswith("::warning")]
        assert len(warnings) == 1 and "bad\\" in warnings[0]
    else:
        lines = [line for line in run.stdout.splitlines() if line.startswith("reason=")]
        assert len(lines) == 1 and runner.parse_output_line_value(lines[0].removeprefix("reason=")) == reason


@pytest.mark.parametrize("actions", [True, False], ids=["in-actions", "terminal"])
def test_a_hostile_control_file_path_is_printed_on_one_line(tmp_path: Path, actions: bool) -> None:
    run = run_cli(["preflight", "--control-file", f"x\n{PAYLOAD}\n##[add-mask]y.json"], tmp_path, actions=actions)
    assert run.returncode == 1
    assert run.outputs.get("can-proceed") == "false"
    assert forged(run.stdout) == [] and forged(run.stderr) == []


@pytest.mark.parametrize("actions", [True, False], ids=["in-actions", "terminal"])
def test_resume_cannot_forge_a_commit_trailer_or_a_command(tmp_path: Path, actions: bool) -> None:
    reason = f"bad\n{PAYLOAD}\nBatchops-Operation-Id: deadbeef"
    write_control(tmp_path, {"enabled": False, "reason": reason})
    env = {"BATCHOPS_JOURNAL": str(tmp_path / "j" / "journal.jsonl")}
    run = run_cli(["resume"], tmp_path, actions=actions, env=env)
    assert run.returncode == 0, run.log
    assert forged(run.stdout) == [] and forged(run.stderr) == []
    message = (tmp_path / "j" / "commit-message.txt").read_text()
    assert forged(message) == []
    ids = [line for line in message.splitlines() if line.startswith("Batchops-Operation-Id:")]
    assert len(ids) == 1 and "deadbeef" not in ids[0]


@pytest.mark.parametrize("actions", [True, False], ids=["in-actions", "terminal"])
def test_status_prints_a_hostile_reason_on_one_line(tmp_path: Path, actions: bool) -> None:
    write_control(tmp_path, {"enabled": False, "reason": f"bad\u2028{PAYLOAD}\x85##[error]x"})
    for args in (["status"], ["status", "--json"]):
        run = run_cli(args, tmp_path, actions=actions)
        assert run.returncode == 0, run.log
        assert forged(run.stdout) == [] and forged(run.stderr) == [], args


# --- the runner adapter, in and out of Actions --------------------------------------------------


@pytest.fixture(params=[True, False], ids=["in-actions", "terminal"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    if request.param:
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
    else:
        monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return bool(request.param)


def test_every_printing_function_keeps_untrusted_text_on_one_line(
    mode: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = f"a\n{PAYLOAD}\r\n##[add-mask]x\u2028PWN"
    runner.log(hostile)
    runner.log_block(f"first\n{hostile}")
    runner.out(hostile)
    runner.out_block(f"head\n{hostile}\n")
    for level in ("error", "warning", "notice"):
        runner.annotate(level, hostile, title=hostile, file=hostile, line=3)
    with runner.group(hostile):
        pass
    captured = capsys.readouterr()
    assert forged(captured.out) == [] and forged(captured.err) == []
    runner.out_json({"k": hostile, hostile: [hostile]})
    printed = capsys.readouterr().out
    assert forged(printed) == [] and json.loads(printed) == {"k": hostile, hostile: [hostile]}


def test_outside_actions_a_secret_is_never_printed_not_even_to_mask_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    runner.mask("ghp_SECRETTOKEN")
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


def test_a_secret_shorter_than_four_characters_is_never_sent_to_add_mask(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    runner.mask("H")
    runner.mask("abc\nlong-enough")
    out = capsys.readouterr().out
    assert "::add-mask::H" not in out and "::add-mask::abc" not in out
    assert "::add-mask::long-enough" in out
    assert out.count("shorter than 4 characters") == 2 and "H\n" not in out.replace("::add-mask::", "")


def test_credentials_in_a_url_are_redacted_wherever_they_are_printed(
    mode: bool, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    url = "https://bot:SECRET@git.example.test/o/r.git"
    runner.log(f"push to {url}")
    runner.warning(f"push to {url} failed", title=url)
    runner.out(url)
    runner.summary(f"remote: {url}")
    captured = capsys.readouterr()
    assert "SECRET" not in captured.out + captured.err + summary.read_text()
    assert "https://***@git.example.test/o/r.git" in captured.out + captured.err


def test_name_value_outputs_cannot_forge_a_pair_or_a_legacy_command() -> None:
    buffer = io.StringIO()
    value = "x\ncan-proceed=true ##[set-output name=skip;]false\u2028"
    runner.set_outputs({"reason": value, "can-proceed": False}, stdout=buffer)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 2 and lines[1] == "can-proceed=false"
    assert not escape.is_command(lines[0])
    assert runner.parse_output_line_value(lines[0].removeprefix("reason=")) == value


def test_a_summary_never_carries_raw_html_from_a_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    runner.summary(
        "### npm <img src=x onerror=alert(1)>\n\n<details><summary>Severities</summary>\n\n"
        "| a |\n|---|\n| `<b>` |\n</details>"
    )
    text = path.read_text()
    assert "<img" not in text and "&lt;img" in text
    assert "<details><summary>Severities</summary>" in text and "`<b>`" in text


def test_only_the_runner_prints() -> None:
    """No module but the runner adapter calls print() or writes to sys.stdout/sys.stderr,
    so no line escapes the escaping."""
    import ast

    package = Path(__file__).resolve().parents[2] / "batchops"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).as_posix() == "adapters/runner.py":
            continue
        if path.relative_to(package).as_posix() == "__main__.py":
            # the CLI entry's lean breaker-gate path: it writes only a checked ecosystem name and constants,
            # held byte for byte to what the runner writes by tests/contract/test_hot_path.py
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.relative_to(package)}:{node.lineno}: print()")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("stdout", "stderr")
                and isinstance(node.value, ast.Name)
                and node.value.id == "sys"
            ):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}: sys.{node.attr}")
    assert offenders == []
