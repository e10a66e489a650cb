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
import sys

from batchops import __version__
from batchops.adapters import runner
from batchops.errors import BatchopsError
from batchops.render import markdown
from batchops.steps import Step, StepResult

# command -> "module:attribute" of a batchops.cli.args.Command
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
    "batch-trailer": "batchops.commands.rollback:TRAILER",
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
    args = deprecated_alias(args)
    name = args[0]
    command = _load(name) if name in COMMANDS else None
    if command is None and name in COMMANDS:
        runner.error(f"batchops {name} could not be loaded ({COMMANDS[name]}); reinstall batchops, or run with BATCHOPS_DEBUG=1 and report it")
        return 70
    if command is None:
        runner.error(unknown_command(name))
        return 2
    parser = argparse.ArgumentParser(prog=f"batchops {name}", description=command.help)
    is_step = isinstance(command, Step)
    try:
        command.configure(parser)
        namespace = parser.parse_args(args[1:])
        if is_step:
            result = command.run(namespace)
            write_result(result)
            return result.exit_code
        return int(command.run(namespace) or 0)
    except SystemExit as exc:  # argparse: --help or bad flags
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


def _failed(exc: BatchopsError, step: Step | None) -> int:
    """One ``::error`` annotation, the step's fail-closed outputs, its exit code."""
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

    ``batchops rollback --print-trailer ID`` (1.0 and before) is ``batchops batch-trailer ID``.
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
        print(f"::warning title=batchops::{message}" if runner.in_actions() else f"warning: {message}", file=sys.stderr)
        return ["batch-trailer", batch_id]
    return args


def unknown_command(name: str) -> str:
    """The error for a command batchops does not have, with the closest one it has."""
    import difflib

    from batchops.core.control import one_line

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
