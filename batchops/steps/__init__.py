"""One module per action, named after it (``actions/<step>/action.yml`` -> ``steps/<step>.py``).

A step is a :class:`Step`: it declares its flags (named exactly as the action's
inputs, held to ``action.yml`` by a test), the outputs it gives when it fails
closed, and a ``run`` that returns a :class:`StepResult`. Only the CLI entry
(:mod:`batchops.cli`) writes a result to the runner: outputs, annotations,
log lines and the step summary.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from batchops.core.values import field, valueclass


@valueclass(frozen=True)
class Annotation:
    level: str  # "error", "warning" or "notice"
    message: str
    title: str | None = None
    file: str | None = None
    line: int | None = None


@valueclass
class StepResult:
    """What a step did, for the CLI entry to write out."""

    outputs: dict[str, Any] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)  # Markdown sections, in order
    annotations: list[Annotation] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # trusted lines (written by batchops)
    exit_code: int = 0

    def warning(self, message: str, *, title: str | None = None) -> None:
        self.annotations.append(Annotation("warning", message, title))

    def notice(self, message: str, *, title: str | None = None) -> None:
        self.annotations.append(Annotation("notice", message, title))

    def error(
        self, message: str, *, title: str | None = None, file: str | None = None, line: int | None = None
    ) -> None:
        self.annotations.append(Annotation("error", message, title, file, line))

    def say(self, line: str) -> None:
        self.log.append(line)

    def section(self, markdown: str) -> None:
        self.summary.append(markdown)


@valueclass(frozen=True)
class Step:
    """An action's entry point: ``batchops <name> --<input> VALUE ...``."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], StepResult]
    fail_closed: Mapping[str, Any] = field(default_factory=dict)  # outputs when the step cannot do its job
