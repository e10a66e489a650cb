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
    "persist-with-retry": "batchops.steps.persist_with_retry:PERSIST",
    "metrics-upload": "batchops.steps.metrics_upload:UPLOAD",
    "drift-monitor": "batchops.steps.drift_monitor:MONITOR",
    "rollback": "batchops.steps.rollback:ROLLBACK",
    # operator commands
    "status": "batchops.commands.status:STATUS",
    "stop": "batchops.commands.switch:STOP",
    "resume": "batchops.commands.switch:RESUME",
    "disable": "batchops.commands.switch:DISABLE",
    "enable": "batchops.commands.switch:ENABLE",
    "validate": "batchops.commands.validate:VALIDATE",
    "breaker": "batchops.commands.breaker:BREAKER",
    "budget": "batchops.commands.budget:BUDGET",
    "sample": "batchops.commands.budget:SAMPLE",
    "metrics-replay": "batchops.steps.metrics_upload:REPLAY",
    "metrics": "batchops.steps.metrics_upload:METRICS",
    "slo": "batchops.commands.slo:SLO",
    "drift": "batchops.steps.drift_monitor:DRIFT",
    "demo": "batchops.commands.demo:DEMO",
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
        print(_usage())
        return 0 if args else 2
    if args[0] in ("--version", "version"):
        print(f"batchops {__version__}")
        return 0
    name = args[0]
    command = _load(name) if name in COMMANDS else None
    if command is None:
        runner.error(f"unknown command {name!r}; run `batchops --help` for the list")
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
        report_error(exc)
        if is_step and command.fail_closed:
            outputs = dict(command.fail_closed)
            if "reason" in outputs:
                outputs["reason"] = exc.render()
            runner.set_outputs(outputs)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # never a traceback for the person reading the log
        if runner.debug():
            raise
        runner.error(
            f"batchops {name} failed unexpectedly: {exc.__class__.__name__}: {exc}. "
            "Re-run with BATCHOPS_DEBUG=1 for details and report it."
        )
        return 70


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
