"""``batchops <command>``: one entrypoint per action, plus the operator commands.

The CLI entry is the one place that writes to the runner: a step returns a
:class:`~batchops.steps.StepResult` and :func:`write_result` writes its outputs,
annotations, log lines and summary; a :class:`~batchops.errors.BatchopsError`
becomes one ``::error`` annotation, the step's fail-closed outputs and its exit
code, never a traceback. Only the module of the command being run is imported,
so the hot path (preflight, breaker-gate) stays free of network and GitHub libraries.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from typing import Any, NoReturn

from batchops import __version__
from batchops.adapters import runner
from batchops.errors import BatchopsError
from batchops.flags import BOOLEAN_WORDS, join_flag_values
from batchops.render import markdown
from batchops.steps import Step, StepResult

# command -> "module:attribute" of a batchops.flags.Command
COMMANDS: dict[str, str] = {
    # steps (one per action under actions/)
    "preflight": "batchops.steps.preflight:STEP",
    "breaker-gate": "batchops.steps.breaker_gate:STEP",
    "breaker-update": "batchops.steps.breaker_update:STEP",
    "persist-with-retry": "batchops.steps.persist_with_retry:STEP",
    "metrics-upload": "batchops.steps.metrics_upload:STEP",
    "drift-monitor": "batchops.steps.drift_monitor:STEP",
    "rollback": "batchops.steps.rollback:STEP",
    "alert": "batchops.steps.alert:STEP",
    "status-page": "batchops.steps.status_page:STEP",
    # operator commands
    "status": "batchops.commands.status:STATUS",
    "stop": "batchops.commands.switch:STOP",
    "resume": "batchops.commands.switch:RESUME",
    "disable": "batchops.commands.switch:DISABLE",
    "enable": "batchops.commands.switch:ENABLE",
    "validate": "batchops.commands.validate:VALIDATE",
    "pending": "batchops.commands.pending:PENDING",
    "log": "batchops.commands.log:LOG",
    "breaker": "batchops.commands.breaker:BREAKER",
    "budget": "batchops.commands.budget:BUDGET",
    "sample": "batchops.commands.budget:SAMPLE",
    "metrics-replay": "batchops.commands.metrics:REPLAY",
    "metrics": "batchops.commands.metrics:METRICS",
    "slo": "batchops.commands.slo:SLO",
    "drift": "batchops.commands.drift:DRIFT",
    "demo": "batchops.commands.demo:DEMO",
    "alert replay": "batchops.commands.alert:REPLAY",
    "batch-trailer": "batchops.commands.rollback:TRAILER",
    "batches": "batchops.commands.batches:BATCHES",
}


def _load(command: str):  # type: ignore[no-untyped-def]
    module_name, attribute = COMMANDS[command].split(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attribute)
    except (ModuleNotFoundError, AttributeError):
        return None


def _usage() -> str:
    lines = [f"batchops {__version__}: the control plane for automated batch pipelines", "", "commands:"]
    for name in COMMANDS:
        command = _load(name)
        if command is not None:
            lines.append(f"  {name:<20} {command.help}")
    lines.append("")
    lines.append("Run `batchops <command> --help` for its flags.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        runner.out_block(_usage())
        return 0 if args else 2
    if args[0] in ("--version", "version"):
        runner.out_block(f"batchops {__version__}")
        return 0
    typed = list(args)  # as the user typed it, for the messages
    args = join_flag_values(deprecated_alias(args))
    if args[:2] == ["alert", "replay"]:  # a command under a step's name (the step itself never imports commands)
        args = ["alert replay", *args[2:]]
    name = args[0]
    command = _load(name) if name in COMMANDS else None
    if command is None and name in COMMANDS:
        runner.error(
            f"batchops {name} could not be loaded ({COMMANDS[name]}); "
            "reinstall batchops, or run with BATCHOPS_DEBUG=1 and report it"
        )
        return 70
    if command is None:
        runner.error(unknown_command(name))
        return 2
    parser = _Parser(prog=f"batchops {name}", description=command.help)
    is_step = isinstance(command, Step)
    try:
        command.configure(parser)
        namespace = parser.parse_args(args[1:])
        namespace.entry = main  # the CLI's own entry, for a command that runs others in-process (demo)
        if is_step:
            result = command.run(namespace)
            write_result(result)
            return result.exit_code
        return int(command.run(namespace) or 0)
    except ArgumentProblem as exc:  # a missing, unknown or malformed flag
        exc.given = ["batchops", *args]
        exc.typed = typed
        if not runner.in_actions():
            runner.log_block(exc.parser.format_usage().rstrip())  # stderr at a terminal
        runner.error(exc.render(), title="batchops")
        return 2
    except SystemExit as exc:  # argparse: --help
        return int(exc.code or 0) if isinstance(exc.code, int) else 2
    except BatchopsError as exc:
        return _failed(exc, command if is_step else None)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # never a traceback for the person reading the log
        if runner.debug():
            raise
        if isinstance(exc, OSError) and (exc.filename or _resource(exc)):  # disk full, read-only, ...: the file named
            return _failed(_os_error(exc), command if is_step else None)
        runner.error(
            f"batchops {name} failed unexpectedly: {exc.__class__.__name__}: {exc}. "
            "Re-run with BATCHOPS_DEBUG=1 for details and report it."
        )
        return 70


# example values for flags whose help gives none ("e.g. ..." in a flag's help is used first)
_FLAG_EXAMPLES = {
    "--reason": '"npm registry outage, INC-42"',
    "--incident-url": "https://github.com/OWNER/REPO/issues/42",
    "--expected-resume": "2026-07-01T12:00:00Z",
    "--sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "--url": "https://example.com/tool-1.0.0/SHA256SUMS",
    "--now": "2026-06-29T10:00:00Z",
}
_EXAMPLE_IN_HELP = re.compile(r"\be\.g\.,? ([^\s,;)]+)")


class ArgumentProblem(Exception):
    """argparse's complaint about the command line, with the parser that made it."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message
        self.given: list[str] = []  # the command line, --dry-run joined to its value, for the example
        self.typed: list[str] = []  # the command line exactly as typed

    def render(self) -> str:
        from batchops.core.escape import one_line

        if self.message.startswith("unrecognized arguments:") and _action_for(self.parser, "--dry-run") is None:
            dry = _dry_run_as_typed(self.typed)
            if dry:
                return one_line(_no_dry_run(self.parser.prog, dry, self.given))
        return one_line(
            f"{self.parser.prog}: {self.message} (fix: {_argument_fix(self.parser, self.message, self.given)})"
        )


def _dry_run_as_typed(typed: list[str]) -> str:
    """``--dry-run``, ``--dry-run true`` or ``--dry-run=true``: the dry-run flag as the user wrote it, or ''."""
    for index, token in enumerate(typed):
        if token.startswith("--dry-run="):
            return token
        if token == "--dry-run":
            following = typed[index + 1] if index + 1 < len(typed) else ""
            return f"--dry-run {following}" if following.lower() in BOOLEAN_WORDS else token
    return ""


def _no_dry_run(prog: str, dry: str, given: list[str]) -> str:
    """The error for ``--dry-run`` on a command that changes nothing (so it has no such flag)."""
    import shlex

    rest = [shlex.quote(part) for part in given[2:] if not part.startswith("--dry-run")]
    example = " ".join([prog, *rest])
    return (
        f"{prog}: unrecognized argument: {dry} ({prog} changes nothing, so it needs no dry run; "
        f"fix: run it without {dry.split()[0].split('=')[0]}, e.g. `{example}`)"
    )


def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` finds it (``COLUMNS``, else the terminal
    on standard output, else 80), without importing shutil."""
    value = os.environ.get("COLUMNS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout at the terminal's width. argparse makes a formatter for every flag
    declared and sizes it with shutil, which a step's hot path would otherwise import (bz2, lzma
    and all) only to declare its flags."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None):
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


class _Parser(argparse.ArgumentParser):
    """argparse that hands its complaint to :func:`main` (one ``error`` line naming the flag and the fix)
    instead of printing the usage and exiting; sub-command parsers are of this class too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise ArgumentProblem(self, message)


def _action_for(parser: argparse.ArgumentParser, name: str) -> argparse.Action | None:
    for action in parser._actions:
        if name in action.option_strings or name in (action.metavar, action.dest):
            return action
    return None


def _example(action: argparse.Action | None, name: str) -> str:
    """``--reason "npm registry outage, INC-42"`` or ``homebrew``: the flag (or argument) with a value to type."""
    flag = name if name.startswith("-") else ""
    value = ""
    if flag == "--dry-run" or (
        action is not None and action.option_strings and action.nargs == "?" and action.const is not None
    ):
        return flag  # a flag that stands alone (--dry-run): suggested bare, never with a value that turns it off
    if action is not None:
        if action.choices:
            value = str(next(iter(action.choices)))
        elif action.nargs == 0:
            return flag
        else:
            found = _EXAMPLE_IN_HELP.search(action.help or "")
            value = found.group(1).rstrip(".") if found else _FLAG_EXAMPLES.get(flag, "")
            if not value and action.default not in (None, "", False):
                value = str(action.default)
    value = (
        value
        or _FLAG_EXAMPLES.get(flag, "")
        or (str(action.metavar or action.dest).upper() if action else name.upper())
    )
    return f"{flag} {value}".strip()


def _argument_fix(parser: argparse.ArgumentParser, message: str, given: list[str]) -> str:
    """What to type instead, with an example value (the command line as typed, completed)."""
    import difflib
    import shlex

    helps = f"`{parser.prog} --help` lists them"
    if message.startswith("the following arguments are required:"):
        names = [n.strip() for n in message.split(":", 1)[1].split(",") if n.strip()]
        known = {option for action in parser._actions for option in action.option_strings}
        typed_parts, meant = [], []
        for part in given or [parser.prog]:
            flag, sep, value = part.partition("=")
            guess = (
                difflib.get_close_matches(flag, names, n=1, cutoff=0.6)
                if flag.startswith("--") and flag not in known
                else []
            )
            if guess:  # a typo of a required flag: `--reasn x` is `--reason x`
                meant.append(f"{guess[0]} (not {flag})")
                names.remove(guess[0])
                part = guess[0] + sep + value
            typed_parts.append("--dry-run" if part == "--dry-run=true" else part)  # as typed: bare
        shown = [_example(_action_for(parser, n.split("/")[0]), n.split("/")[0]) for n in names]
        example = " ".join([*(shlex.quote(part) for part in typed_parts), *shown])
        if meant:
            return f"did you mean {', '.join(meant)}? e.g. `{example}`"
        return f"add {', '.join(names)}, e.g. `{example}`"
    found = re.match(r"argument ([^:]+): (.*)", message)
    if found:
        name = found.group(1).split("/")[0]
        action = _action_for(parser, name)
        if (
            "invalid choice" in found.group(2)
            and action is not None
            and action.nargs == "?"
            and action.const is not None
        ):
            completed = [name if part.split("=")[0] == name else shlex.quote(part) for part in given] or [
                parser.prog,
                name,
            ]
            return f"write {name} alone, e.g. `{' '.join(completed)}`"
        if "invalid choice" in found.group(2) and action is not None and action.choices:
            choices = [str(choice) for choice in action.choices]
            typed = re.search(r"invalid choice: '([^']*)'", found.group(2))
            guess = difflib.get_close_matches(typed.group(1), choices, n=1, cutoff=0.6) if typed else []
            chosen = (
                f"{name} {guess[0]}".strip()
                if guess and name.startswith("-")
                else (guess[0] if guess else _example(action, name))
            )
            return (
                "did you mean " + guess[0] + "? " if guess else ""
            ) + f"use one of {', '.join(choices)}, e.g. `{parser.prog} {chosen}`"
        return f"give {name} a value, e.g. {_example(action, name)}"
    if message.startswith("unrecognized arguments:"):
        extra = message.split(":", 1)[1].split()
        options = [option for action in parser._actions for option in action.option_strings]
        guess = difflib.get_close_matches(extra[0].split("=")[0], options, n=1, cutoff=0.6) if extra else []
        return (f"did you mean {guess[0]}? " if guess else "remove it; ") + helps
    return f"correct the command line; {helps}"


def _failed(exc: BatchopsError, step: Step | None) -> int:
    """The log lines of what was done before it failed, one ``::error`` annotation, the step's
    fail-closed outputs, its exit code."""
    for line in exc.log:
        runner.log(line)
    report_error(exc)
    if step is not None and step.fail_closed:
        outputs = dict(step.fail_closed)
        if "reason" in outputs:
            outputs["reason"] = exc.render()
        try:
            runner.set_outputs(outputs)
        except OSError as problem:  # the output file itself cannot be written: already said once
            if str(problem.filename) not in exc.render():
                report_error(_os_error(problem))
    return exc.exit_code


def _os_error(exc: OSError) -> BatchopsError:
    from batchops.adapters.files import os_error

    return os_error(exc)


def _resource(exc: OSError) -> bool:
    from batchops.adapters.files import RESOURCE_ERRORS

    return exc.errno in RESOURCE_ERRORS


def deprecated_alias(args: list[str]) -> list[str]:
    """The command line a deprecated form stands for, with one warning on stderr (stdout stays the result).

    ``batchops rollback --print-trailer ID`` (batchops 0.x, shown in its README) is ``batchops batch-trailer ID``.
    """
    if args[0] != "rollback":
        return args
    for i, arg in enumerate(args):
        if arg == "--print-trailer" and i + 1 < len(args):
            batch_id = args[i + 1]
        elif arg.startswith("--print-trailer="):
            batch_id = arg.split("=", 1)[1]
        else:
            continue
        message = "`batchops rollback --print-trailer ID` is deprecated; use `batchops batch-trailer ID`"
        runner.annotate("warning", message, title="batchops", stderr=True)
        return ["batch-trailer", batch_id]
    return args


def unknown_command(name: str) -> str:
    """The error for a command batchops does not have, with the closest one it has."""
    import difflib

    from batchops.core.escape import one_line

    guess = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.6)
    hint = f"; did you mean `batchops {guess[0]}`?" if guess else ";"
    return f"unknown command {one_line(name)!r}{hint} run `batchops --help` for the list"


def write_result(result: StepResult) -> None:
    """Write a step's result to the runner: log lines, annotations, outputs, summary."""
    for line in result.log:
        runner.log(line)
    for note in result.annotations:
        runner.annotate(note.level, note.message, title=note.title, file=note.file, line=note.line)
    runner.set_outputs(result.outputs)
    for section in result.summary:
        runner.summary(section)


def report_error(exc: BatchopsError) -> None:
    runner.error(exc.render(), title="batchops", file=exc.file, line=exc.line)
    runner.summary(
        "### ❌ batchops error\n\n"
        + markdown.md_table(["where", "problem", "fix"], [[_where(exc), exc.message, exc.hint or "-"]])
    )


def _where(exc: BatchopsError) -> str:
    where = exc.file or "-"
    if exc.line:
        where += f":{exc.line}"
    if exc.field:
        where += f" ({exc.field})"
    return where


if __name__ == "__main__":
    sys.exit(main())
