"""Register an extra operation for a test (the real table is batchops.core.operations.OPERATIONS)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batchops.core.operations import OPERATIONS


def operation(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        OPERATIONS[name] = fn
        return fn

    return register
