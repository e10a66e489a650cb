"""GitHub Actions I/O: the only module that talks to the runner.

Outputs go to ``$GITHUB_OUTPUT`` in heredoc form with a random delimiter, so
untrusted text (an incident reason with newlines, ``name=value`` or ``::error::``
in it) can neither forge another output nor end the value early. Workflow
commands (annotations, masks, groups) are escaped as the runner expects, and
any untrusted text printed to the log is wrapped in ``::stop-commands::``.
Without ``$GITHUB_OUTPUT`` the outputs are printed as ``name=value`` lines.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from batchops.render.text import value_text

OUTPUT_ENV = "GITHUB_OUTPUT"
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _stream() -> TextIO:
    # In Actions the runner reads workflow commands from stdout; elsewhere keep
    # stdout for `name=value` output lines.
    return sys.stdout if in_actions() else sys.stderr


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(name: str, message: str, **props: Any) -> str:
    parts = [f"{key}={escape_property(str(value))}" for key, value in props.items() if value not in (None, "")]
    head = f"::{name}"
    if parts:
        head += " " + ",".join(parts)
    return f"{head}::{escape_data(message)}"


def annotate(level: str, message: str, *, title: str | None = None, file: str | None = None, line: int | None = None) -> None:
    """Emit an ``error``/``warning``/``notice`` annotation (plain ``level: message`` outside Actions)."""
    if not in_actions():
        where = f"{file}:{line}: " if file and line and not message.startswith(file) else ""
        print(f"{level}: {where}{message}", file=sys.stderr, flush=True)
        return
    print(_command(level, message, title=title, file=file, line=line), file=_stream(), flush=True)


def error(message: str, **kwargs: Any) -> None:
    annotate("error", message, **kwargs)


def warning(message: str, **kwargs: Any) -> None:
    annotate("warning", message, **kwargs)


def notice(message: str, **kwargs: Any) -> None:
    annotate("notice", message, **kwargs)


def mask(secret: str | None) -> None:
    """Ask the runner to mask a secret (each line of it) in every later log line."""
    if not secret:
        return
    for line in secret.splitlines() or [secret]:
        if line.strip():
            print(f"::add-mask::{escape_data(line)}", file=sys.stdout if in_actions() else _stream(), flush=True)


def log(text: str = "") -> None:
    """Print trusted text (written by batchops itself) to the log."""
    print(text, file=_stream(), flush=True)


def log_untrusted(text: str) -> None:
    """Print text that may contain workflow commands, with command processing off."""
    if not in_actions():
        print(text, file=_stream(), flush=True)
        return
    import secrets

    token = secrets.token_hex(16)
    stream = _stream()
    print(f"::stop-commands::{token}", file=stream)
    print(text, file=stream)
    print(f"::{token}::", file=stream, flush=True)


@contextlib.contextmanager
def group(title: str) -> Iterator[None]:
    if in_actions():
        print(f"::group::{escape_data(title)}", flush=True)
    try:
        yield
    finally:
        if in_actions():
            print("::endgroup::", flush=True)


def set_outputs(outputs: Mapping[str, Any], *, stdout: TextIO | None = None) -> None:
    """Write step outputs: heredoc blocks to $GITHUB_OUTPUT, else name=value lines."""
    path = os.environ.get(OUTPUT_ENV)
    if path:
        import secrets

        with open(path, "a", encoding="utf-8") as handle:
            for name, value in outputs.items():
                text = value_text(value)
                delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
                while delimiter in text:  # astronomically unlikely; never trust it
                    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
                handle.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
        return
    out = stdout or sys.stdout
    for name, value in outputs.items():
        text = value_text(value)
        # one line per output: a newline in untrusted text must not start a new pair
        text = text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")
        print(f"{name}={text}", file=out)
    out.flush()


def parse_output_file(text: str) -> dict[str, str]:
    """Read a $GITHUB_OUTPUT file the way the runner does (``name<<DELIM`` blocks, ``name=value`` lines)."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            index += 1
            while index < len(lines) and lines[index] != delimiter:
                body.append(lines[index])
                index += 1
            outputs[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
        index += 1
    return outputs


def summary(markdown: str) -> None:
    """Append Markdown to the step summary (when the runner provides one)."""
    path = os.environ.get(SUMMARY_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip("\n") + "\n\n")


def summary_path() -> Path | None:
    path = os.environ.get(SUMMARY_ENV)
    return Path(path) if path else None


# --- the runner's environment: the only place batchops reads GITHUB_*, RUNNER_* and BATCHOPS_* -------


def setting(name: str, default: str = "") -> str:
    """A variable of the environment (GITHUB_*, RUNNER_*, BATCHOPS_*, INPUT_*); empty counts as unset."""
    value = os.environ.get(name, "")
    return value if value.strip() != "" else default


def input_value(input_name: str) -> str:
    """The value a composite action passes for an input (``INPUT_<NAME>``), or ''."""
    return setting("INPUT_" + input_name.upper().replace("-", "_").replace(" ", "_"))


def debug() -> bool:
    return bool(setting("BATCHOPS_DEBUG"))


def temp_dir() -> Path:
    """The one temp folder: the job's ``$RUNNER_TEMP`` in Actions, else the system's."""
    import tempfile

    return Path(setting("RUNNER_TEMP") or tempfile.gettempdir())


def journal_path() -> Path:
    """Where this job's operation journal lives.

    ``$BATCHOPS_JOURNAL`` if set; in Actions ``$RUNNER_TEMP/batchops/journal.jsonl``
    (one per job); elsewhere ``.git/batchops/journal.jsonl`` of the enclosing
    repository, or ``.batchops/journal.jsonl`` in the working directory.
    """
    explicit = setting("BATCHOPS_JOURNAL")
    if explicit:
        return Path(explicit)
    runner_temp = setting("RUNNER_TEMP")
    if runner_temp:
        return Path(runner_temp) / "batchops" / "journal.jsonl"
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        git = folder / ".git"
        if git.is_dir():
            return git / "batchops" / "journal.jsonl"
    return here / ".batchops" / "journal.jsonl"


def now(override: str | None = None) -> Any:
    """The current time (UTC), or the fixed time of ``--now`` / ``BATCHOPS_NOW``."""
    from datetime import UTC, datetime

    from batchops.core import timeutil

    fixed = override or setting("BATCHOPS_NOW")
    if fixed:
        return timeutil.parse_iso(fixed, field="--now / BATCHOPS_NOW")
    return datetime.now(UTC)


def repository() -> str:
    """``owner/name`` of the repository the workflow runs for (``$GITHUB_REPOSITORY``)."""
    return setting("GITHUB_REPOSITORY")


def api_url() -> str:
    return setting("GITHUB_API_URL", "https://api.github.com")


def server_url() -> str:
    return setting("GITHUB_SERVER_URL")


def run_url() -> str:
    """The link to this workflow run, or '' outside Actions."""
    server, repo, run_id = setting("GITHUB_SERVER_URL"), setting("GITHUB_REPOSITORY"), setting("GITHUB_RUN_ID")
    if server and repo and run_id:
        return f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}"
    return ""


def current_branch_hint() -> str:
    """The branch the workflow runs on, from the runner (PR head, or a pushed branch), or ''."""
    if setting("GITHUB_HEAD_REF"):
        return setting("GITHUB_HEAD_REF")
    if setting("GITHUB_REF").startswith("refs/heads/") and setting("GITHUB_REF_NAME"):
        return setting("GITHUB_REF_NAME")
    return ""


def process_environment() -> dict[str, str]:
    """A copy of the environment, for the adapters that start child processes."""
    return dict(os.environ)


@contextlib.contextmanager
def scoped_environment(values: Mapping[str, str], *, clear_prefixes: tuple[str, ...] = ("INPUT_", "GITHUB_"), clear: tuple[str, ...] = ("BATCHOPS_NOW",)) -> Iterator[None]:
    """Run a block as if in a job with ``values`` as its environment (the demo plays steps in-process)."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith(clear_prefixes) or key in clear:
            del os.environ[key]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
