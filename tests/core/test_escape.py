"""The printing rules: any text becomes one line, never a workflow command, credentials redacted."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from batchops.core import escape

# what would end a line for some reader: Python's str.splitlines() splits on all of these
LINE_BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
PAYLOADS = [f"x{brk}::error::PWN" for brk in LINE_BREAKS] + [
    "::error::PWN",
    "   ::error::PWN",
    "\t::error::PWN",
    "##[error]PWN",
    "note ##[set-output name=can-proceed;]true",
    "bad\nBatchops-Operation-Id: deadbeef",
    "\u202eevil\u202c",
]
hostile_text = (
    st.text()
    | st.sampled_from(PAYLOADS)
    | st.lists(
        st.sampled_from(["::", "##[", "\n", "\r", "\u2028", "\x85", "a", "%0A", "\\", "::error::"]), max_size=12
    ).map("".join)
)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_line_break_of_any_kind_cannot_start_a_new_line(payload: str) -> None:
    line = escape.safe_line(payload)
    assert len(line.splitlines()) == 1
    assert not escape.is_command(line)


def test_a_workflow_command_at_the_start_of_a_line_is_defused_visibly() -> None:
    assert escape.safe_line("::error::PWN") == "\\u003a:error::PWN"
    assert escape.safe_line("  ::add-mask::x") == "  \\u003a:add-mask::x"
    assert escape.safe_line("a ##[set-output name=x;]y") == "a #\\u0023[set-output name=x;]y"


def test_line_breaks_and_controls_are_written_as_escapes_a_reader_recognises() -> None:
    assert escape.one_line("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert escape.one_line("bad\u2028thing\x85\x1b[31m") == "bad\\u2028thing\\u0085\\x1b[31m"
    assert escape.one_line("ok: ünïcode and emoji 😀") == "ok: ünïcode and emoji 😀"


@settings(max_examples=500)
@given(hostile_text)
def test_no_text_printed_as_a_line_is_a_workflow_command_or_spans_lines(text: str) -> None:
    line = escape.safe_line(text)
    assert len(line.splitlines()) <= 1
    assert not escape.is_command(line)


@settings(max_examples=300)
@given(st.lists(hostile_text, max_size=5).map("\n".join))
def test_a_block_stays_as_many_lines_as_it_has_newlines_and_none_is_a_command(block: str) -> None:
    lines = escape.safe_lines(block)
    assert len(lines) == len(block.split("\n"))
    for line in lines:
        assert len(line.splitlines()) <= 1 and not escape.is_command(line)


@settings(max_examples=500)
@given(hostile_text)
@example("a\\nb")
@example("##[x")
def test_a_name_value_output_line_gives_the_exact_value_back(value: str) -> None:
    printed = escape.output_line_value(value)
    assert len(printed.splitlines()) <= 1 and not escape.is_command(printed)
    assert escape.parse_output_line_value(printed) == escape.redact(value)


@given(
    st.sampled_from(["https", "http", "git+ssh", "ssh"]),
    st.from_regex(r"[A-Za-z0-9._~-]{1,12}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9._~%!$&'*+,;=-]{1,40}", fullmatch=True),
)
def test_credentials_in_a_url_are_never_printed(scheme: str, user: str, secret: str) -> None:
    text = f"pushing to {scheme}://{user}:{secret}@git.example.test/o/r.git failed"
    assert escape.safe_line(text) == f"pushing to {scheme}://***@git.example.test/o/r.git failed"


def test_text_without_credentials_is_left_alone() -> None:
    assert (
        escape.redact("mail alice@example.test about https://example.test/a@b")
        == "mail alice@example.test about https://example.test/a@b"
    )


def test_summary_markdown_shows_html_as_text_outside_code() -> None:
    markdown = (
        "### x<img src=x onerror=alert(1)>\n\n`<b>code</b>`\n\n```text\n<kept as code>\n```\n\n"
        "<details><summary>More</summary>\n</details>"
    )
    safe = escape.safe_markdown(markdown)
    assert "<img" not in safe and "&lt;img src=x onerror=alert(1)>" in safe
    assert "`<b>code</b>`" in safe and "<kept as code>" in safe
    assert "<details><summary>More</summary>" in safe and "</details>" in safe


@settings(max_examples=300)
@given(hostile_text)
def test_no_summary_carries_raw_html_or_a_control_character(text: str) -> None:
    safe = escape.safe_markdown(f"| cell |\n|---|\n| {text} |")
    assert not re.search(r"<(?!/?(details|summary|br|b|code|sub|sup)\s*/?>)[A-Za-z!/?]", safe)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", safe)


@settings(max_examples=300)
@given(hostile_text)
def test_a_mermaid_label_cannot_close_its_quotes_or_add_a_line(text: str) -> None:
    label = escape.mermaid_label(text)
    assert not re.search(r'["<>\[\]{}()|;`\n\r]', label)
    assert len(label.splitlines()) <= 1 and len(label) <= 80


# A summary value cannot get raw HTML past the escaper by making it misjudge a code span
# or a fence: the escaper trusts only fences CommonMark surely opens, never code spans.
IMG = "<img src=x onerror=alert(1)>"
MISREAD_CODE = {
    "longer opening run": f"``{IMG}`",
    "backslash-escaped backtick": f"\\`{IMG}`",
    "code span opened on the line before": f"`abc\n`{IMG}`",
    "tab-indented fence": f"\t```\n{IMG}",
    "fence after a no-break space": f"\u00a0```\n{IMG}",
    "backtick in a backtick fence's info": f"```x`\n{IMG}",
    "fence inside a list item": f"- a\n  ```\n{IMG}",
    "fence inside an HTML block": f"<details>\n```\n{IMG}",
    "closing fence with an info string": f"```\n``` x\n\n```\n{IMG}",
}


@pytest.mark.parametrize("markdown", MISREAD_CODE.values(), ids=MISREAD_CODE.keys())
def test_a_value_cannot_pass_raw_html_by_faking_code_in_a_summary(markdown: str) -> None:
    safe = escape.safe_markdown(markdown)
    assert "<img" not in safe and "&lt;img src=x onerror=alert(1)>" in safe


def test_html_in_a_real_fence_is_kept_as_code_and_a_fence_left_open_is_closed() -> None:
    assert (
        escape.safe_markdown("text\n\n```mermaid\nx <-- y\n```\nafter <i>")
        == "text\n\n```mermaid\nx <-- y\n```\nafter &lt;i>"
    )
    # left open, the fence would swallow (or, re-opened, expose) what the step appends next
    assert escape.safe_markdown("```\nopen") == "```\nopen\n```"
    assert escape.safe_markdown("~~~~ a`b\n<kept>") == "~~~~ a`b\n<kept>\n~~~~"


def test_a_name_value_output_line_never_shows_the_credentials_of_a_url() -> None:
    printed = escape.output_line_value("see https://bot:SECRETTOKEN@example.test/x\nnext")
    assert "SECRETTOKEN" not in printed
    assert escape.parse_output_line_value(printed) == "see https://***@example.test/x\nnext"


# --- one function per meaning: escaped as it is, a tool's words shortened, a server's reply flattened -------


def test_one_line_writes_any_value_as_an_output_would_and_escapes_it() -> None:
    assert escape.one_line(None) == ""
    assert escape.one_line(True) == "true"
    assert escape.one_line(["a", 1]) == '["a",1]'
    assert escape.one_line("  keeps\tits blanks  ") == "  keeps\\tits blanks  "


def test_a_tools_words_are_escaped_stripped_and_cut_with_an_ellipsis() -> None:
    assert escape.short_line("  fatal: bad\nthing  ") == "fatal: bad\\nthing"
    assert escape.short_line("x" * 400) == "x" * 299 + "…"
    assert escape.short_line("abcdef", 4) == "abc…"


@given(st.text(), st.integers(min_value=1, max_value=50))
def test_a_servers_reply_is_flattened_to_one_printable_line_within_its_limit(text: str, limit: int) -> None:
    flat = escape.flatten(text, limit)
    assert len(flat) <= limit and flat.isprintable() and "  " not in flat and flat == flat.strip()
