"""The runner's I/O: the only module that talks to the runner, and the only reader of the environment.

Every line batchops prints goes through here, and every one of them is **one line,
escaped**, in and out of Actions:

* Line breaks and control characters (``\\n``, ``\\r``, tab, C0, DEL, C1 including
  U+0085, U+2028, U+2029 and the bidi overrides) are written as ``\\n``, ``\\r``,
  ``\\t``, ``\\xNN`` or ``\\uNNNN`` (:func:`batchops.core.escape.one_line`), so a value can never start a new
  log line, a new ``name=value`` pair or a new commit-message line.
* A line that the runner would read as a workflow command (``::cmd::`` after leading
  blanks, or the legacy ``##[cmd]`` anywhere) is defused by writing one character as a
  ``\\u00NN`` escape; only the functions of this module that mean to emit a command
  (annotations, masks, groups) produce one. The escapes are valid JSON escapes, so JSON
  printed through :func:`out_json` stays valid JSON.
* Credentials in URLs (``https://user:token@host``) are replaced by ``***``
  (:func:`redact`) in every log line, annotation, command output and summary.
* Annotations carry the one-line message ``%``-escaped as the runner expects;
  outputs go to ``$GITHUB_OUTPUT`` as heredocs with a random delimiter (any text
  round-trips), or as ``name=value`` lines with reversible backslash escapes.
* Summaries: Markdown written by batchops, with control characters escaped, no raw
  HTML (``<`` becomes ``&lt;`` outside code, but for the tags batchops itself uses:
  ``details``, ``summary``, ``br``) and credentials redacted.
* Masking: outside Actions nothing is printed (no runner would read it, and a secret
  is never printed anyway); in Actions ``::add-mask::`` is sent for every line of a
  secret of at least 4 characters (shorter lines would make the runner rewrite
  ordinary log text, so they are not sent, and a warning says so without the value).

APIs: :func:`log` (one line), :func:`log_block` (trusted multi-line text, escaped per
line), :func:`out` / :func:`out_block` / :func:`out_json` (a command's result on
stdout), :func:`annotate`, :func:`mask`, :func:`group`, :func:`set_outputs`,
:func:`summary`. Nothing else in batchops calls ``print``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from batchops.core import escape
from batchops.core.escape import value_text

OUTPUT_ENV = "GITHUB_OUTPUT"
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"

# The shortest secret sent to ::add-mask::; shorter ones would mask ordinary words.
MIN_MASK_LENGTH = 4


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def field_fix(name: str, value: str = "") -> str:
    """How to set ``name`` in a suggested fix: the action input in Actions (``the action input control-file``,
    with ``: VALUE``), the CLI flag elsewhere (``--control-file VALUE``), so a fix is always safe to copy."""
    if in_actions():
        return f"the action input {name}" + (f": {value}" if value else "")
    return f"--{name}" + (f" {value}" if value else "")


def _stream() -> TextIO:
    # In Actions the runner reads workflow commands from stdout; elsewhere keep
    # stdout for `name=value` output lines.
    return sys.stdout if in_actions() else sys.stderr


def redact(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced: ``https://***@host/…``."""
    return escape.redact(text)


def redact_url(url: str) -> str:
    """One URL without its credentials (the one helper for printing an endpoint or remote)."""
    return escape.redact(url)


def safe_line(text: Any) -> str:
    """What every printed line goes through: one line, credentials redacted, no workflow command."""
    return escape.safe_line(value_text(text))


def safe_lines(text: Any) -> list[str]:
    return escape.safe_lines(value_text(text))


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(name: str, message: str, **props: Any) -> str:
    parts = [f"{key}={escape_property(safe_line(value))}" for key, value in props.items() if value not in (None, "")]
    head = f"::{name}"
    if parts:
        head += " " + ",".join(parts)
    return f"{head}::{escape_data(safe_line(message))}"


def _emit(line: str, stream: TextIO | None = None) -> None:
    print(line, file=stream or _stream(), flush=True)


def annotate(
    level: str,
    message: str,
    *,
    title: str | None = None,
    file: str | None = None,
    line: int | None = None,
    stderr: bool = False,
) -> None:
    """Emit an ``error``/``warning``/``notice`` annotation (plain ``level: message`` outside Actions).

    ``stderr=True`` keeps it off stdout in Actions too (the runner reads commands from both),
    for commands whose stdout is captured as data.
    """
    if level not in ("error", "warning", "notice"):
        level = "warning"
    if not in_actions():
        where = f"{file}:{line}: " if file and line and not message.startswith(str(file)) else ""
        _emit(safe_line(f"{level}: {where}{message}"), sys.stderr)
        return
    _emit(_command(level, message, title=title, file=file, line=line), sys.stderr if stderr else None)


def error(message: str, **kwargs: Any) -> None:
    annotate("error", message, **kwargs)


def warning(message: str, **kwargs: Any) -> None:
    annotate("warning", message, **kwargs)


def notice(message: str, **kwargs: Any) -> None:
    annotate("notice", message, **kwargs)


def mask(secret: str | None) -> None:
    """Ask the runner to mask a secret (each line of it) in every later log line.

    Outside Actions this prints nothing: nothing would mask it, and batchops never
    prints a secret. Lines shorter than :data:`MIN_MASK_LENGTH` characters are not
    sent (the runner would rewrite every occurrence of them in ordinary log text);
    a warning says so, without the value.
    """
    if not secret or not in_actions():
        return
    short = False
    for line in secret.replace("\r", "\n").split("\n"):
        line = line.strip()
        if not line:
            continue
        if len(line) < MIN_MASK_LENGTH:
            short = True
            continue
        _emit(f"::add-mask::{escape_data(line)}", sys.stdout)
    if short:
        warning(
            f"a secret (or a line of one) is shorter than {MIN_MASK_LENGTH} characters and is not masked; "
            "use a real token",
            title="batchops",
        )


def log(text: Any = "") -> None:
    """Print one line to the log: escaped, credentials redacted, never a workflow command."""
    _emit(safe_line(text))


def log_block(text: Any) -> None:
    """Print trusted multi-line text (a table, a plan) written by batchops: each line is escaped as by :func:`log`."""
    stream = _stream()
    for line in safe_lines(text):
        print(line, file=stream)
    stream.flush()


def out(text: Any = "") -> None:
    """A command's result, one line on stdout: escaped as by :func:`log`."""
    _emit(safe_line(text), sys.stdout)


def out_block(text: Any) -> None:
    """A command's multi-line result on stdout (a table, a report, a commit message), escaped per line."""
    value = value_text(text)
    if value.endswith("\n"):
        value = value[:-1]
    for line in safe_lines(value):
        print(line, file=sys.stdout)
    sys.stdout.flush()


def stdout_is_terminal() -> bool:
    """True when a person reads stdout (a terminal), False when it is piped or captured."""
    return sys.stdout.isatty()


def out_json(document: Any, *, indent: int | None = 2) -> None:
    """A JSON document on stdout, still valid JSON (ASCII, and every escape a JSON escape)."""
    import json

    out_block(json.dumps(document, indent=indent, ensure_ascii=True))


@contextlib.contextmanager
def group(title: str) -> Iterator[None]:
    if in_actions():
        _emit(f"::group::{escape_data(safe_line(title))}", sys.stdout)
    try:
        yield
    finally:
        if in_actions():
            _emit("::endgroup::", sys.stdout)


output_line_value = escape.output_line_value
parse_output_line_value = escape.parse_output_line_value
safe_markdown = escape.safe_markdown


def set_outputs(outputs: Mapping[str, Any], *, stdout: TextIO | None = None) -> None:
    """Write step outputs: heredoc blocks to $GITHUB_OUTPUT, else name=value lines."""
    path = os.environ.get(OUTPUT_ENV)
    if path:
        try:
            with open(path, "a", encoding="utf-8") as handle:
                for name, value in outputs.items():
                    text = value_text(value)
                    delimiter = f"ghadelimiter_{os.urandom(16).hex()}"
                    while delimiter in text:  # astronomically unlikely; never trust it
                        delimiter = f"ghadelimiter_{os.urandom(16).hex()}"
                    handle.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
        except OSError as exc:  # disk full, file too large: the error names $GITHUB_OUTPUT's file
            exc.filename = exc.filename or path
            raise
        return
    out_stream = stdout or sys.stdout
    for name, value in outputs.items():
        # one line per output: a newline in untrusted text must not start a new pair
        print(f"{escape.one_line(name)}={output_line_value(value_text(value))}", file=out_stream)
    out_stream.flush()


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
    """Append Markdown to the step summary (when the runner provides one), made safe by :func:`safe_markdown`.

    A summary that cannot be written (disk full, file-size limit) is one warning naming the file, not a failure.
    """
    path = os.environ.get(SUMMARY_ENV)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(safe_markdown(markdown).rstrip("\n") + "\n\n")
    except OSError as exc:  # a summary is a report, not a result: it never changes a step's outcome
        warning(
            f"{path}: the step summary could not be written ({exc.strerror or exc.__class__.__name__}); "
            "the step's outputs and result are unaffected",
            title="batchops",
        )


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


def job_temp_dir() -> Path | None:
    """The job's own temp folder (``$RUNNER_TEMP``, emptied for every job), or None outside a runner.

    A ``RUNNER_TEMP`` that does not exist yet is created (``mkdir -p``), so every step finds it alike;
    one that cannot be created is one clear error naming the path.
    """
    folder = setting("RUNNER_TEMP")
    if not folder:
        return None
    path = Path(folder)
    if not path.is_dir():
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from batchops.errors import BatchopsError

            reason = exc.strerror or type(exc).__name__
            raise BatchopsError(
                f"RUNNER_TEMP names {escape.one_line(folder)}, which does not exist and cannot be created ({reason})",
                field="RUNNER_TEMP",
                hint="point RUNNER_TEMP at a writable folder, e.g. RUNNER_TEMP=/tmp/runner-temp, or leave it unset",
            ) from None
    return path


def job_identity() -> str:
    """This job's identity ``run-id/attempt/job``, or '' without one.

    GitHub Actions always sets ``GITHUB_RUN_ID`` and ``GITHUB_JOB``; a script on a self-hosted
    machine or another CI may not, and then there is no job to speak of ('').
    """
    run_id, job = setting("GITHUB_RUN_ID"), setting("GITHUB_JOB")
    if not run_id or not job:
        return ""
    return "/".join((run_id, setting("GITHUB_RUN_ATTEMPT"), job))


def temp_dir() -> Path:
    """The one temp folder: the job's ``$RUNNER_TEMP`` in Actions, else the system's."""
    import tempfile

    return job_temp_dir() or Path(tempfile.gettempdir())


def journal_path() -> Path:
    """Where this job's operation journal lives.

    ``$BATCHOPS_JOURNAL`` if set; in Actions ``$RUNNER_TEMP/batchops/journal.jsonl``
    (one per job); elsewhere ``.git/batchops/journal.jsonl`` of the enclosing
    repository, or ``.batchops/journal.jsonl`` in the working directory.
    """
    explicit = setting("BATCHOPS_JOURNAL")
    if explicit:
        return Path(explicit)
    job = job_temp_dir()
    if job:
        return job / "batchops" / "journal.jsonl"
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
def scoped_environment(
    values: Mapping[str, str],
    *,
    clear_prefixes: tuple[str, ...] = ("INPUT_", "GITHUB_"),
    clear: tuple[str, ...] = ("BATCHOPS_NOW",),
) -> Iterator[None]:
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
