"""``batchops <command>``: one entrypoint per action, plus the operator commands.

Only the module of the command being run is imported, so the hot path
(preflight, breaker-gate) stays free of network and GitHub libraries.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__, gha
from .errors import BatchopsError

# command -> "module:attribute" of a batchops.command.Command
COMMANDS: dict[str, str] = {
    # steps (one per action under actions/)
    "preflight": "batchops.preflight:PREFLIGHT",
    "breaker-gate": "batchops.breaker_cli:GATE",
    "breaker-update": "batchops.breaker_cli:UPDATE",
    "persist-with-retry": "batchops.persist:PERSIST",
    "metrics-upload": "batchops.metrics:UPLOAD",
    "drift-monitor": "batchops.drift:MONITOR",
    "rollback": "batchops.rollback:ROLLBACK",
    # operator commands
    "status": "batchops.operator:STATUS",
    "stop": "batchops.operator:STOP",
    "resume": "batchops.operator:RESUME",
    "disable": "batchops.operator:DISABLE",
    "enable": "batchops.operator:ENABLE",
    "validate": "batchops.operator:VALIDATE",
    "breaker": "batchops.breaker_cli:BREAKER",
    "budget": "batchops.budget:BUDGET",
    "sample": "batchops.budget:SAMPLE",
    "metrics-replay": "batchops.metrics:REPLAY",
    "metrics": "batchops.metrics:METRICS",
    "slo": "batchops.slo:SLO",
    "drift": "batchops.drift:DRIFT",
    "demo": "batchops.demo:DEMO",
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
        gha.error(f"unknown command {name!r}; run `batchops --help` for the list")
        return 2
    parser = argparse.ArgumentParser(prog=f"batchops {name}", description=command.help)
    try:
        command.configure(parser)
        namespace = parser.parse_args(args[1:])
        return int(command.run(namespace) or 0)
    except SystemExit as exc:  # argparse: --help or bad flags
        return int(exc.code or 0) if isinstance(exc.code, int) else 2
    except BatchopsError as exc:
        report_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # never a traceback for the person reading the log
        if os.environ.get("BATCHOPS_DEBUG"):
            raise
        gha.error(
            f"batchops {name} failed unexpectedly: {exc.__class__.__name__}: {exc}. "
            "Re-run with BATCHOPS_DEBUG=1 for details and report it."
        )
        return 70


def report_error(exc: BatchopsError) -> None:
    gha.error(exc.render(), title="batchops", file=exc.file, line=exc.line)
    gha.summary(
        "### ❌ batchops error\n\n"
        + gha.md_table(["where", "problem", "fix"], [[_where(exc), exc.message, exc.hint or "-"]])
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
