"""User-facing errors: a message, a hint that says what to change, and where."""

from __future__ import annotations


class BatchopsError(Exception):
    """An error the person reading the job log can act on.

    The CLI turns it into one ``::error`` annotation and exit code ``exit_code``;
    no traceback is ever shown for it.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        file: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.file = file
        self.field = field
        self.line = line
        self.log: list[str] = []  # trusted lines of what was done before it failed, written before the error

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += f":{self.line}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        text = f"{where}{field}{self.message}"
        if self.hint:
            text += f" (fix: {self.hint})"
        return text


class UsageError(BatchopsError):
    """Bad command-line or action input."""

    exit_code = 2


class ControlFileError(BatchopsError):
    """The control file is missing, unreadable, corrupt or invalid."""


class OperationConflict(BatchopsError):
    """A recorded operation cannot be applied to the current state any more."""
