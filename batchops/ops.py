"""Operation registry: named, pure mutations of a JSON document.

An operation is ``fn(document, args) -> result``: it changes ``document`` in place
(no I/O, no clock: the time is in ``args``) and returns a JSON-able result for the
step's outputs. It raises OperationConflict when it no longer makes sense on the
document it is given (persist-with-retry then stops and pushes nothing).

Operation names are ``<module>.<verb>``; the module ``batchops.<module>`` is
imported on first use, so registering is just decorating a function there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .errors import BatchopsError

Applier = Callable[[dict[str, Any], dict[str, Any]], Any]
_REGISTRY: dict[str, Applier] = {}


def operation(name: str) -> Callable[[Applier], Applier]:
    def decorate(fn: Applier) -> Applier:
        _REGISTRY[name] = fn
        return fn

    return decorate


def lookup(name: str) -> Applier:
    if name not in _REGISTRY:
        module = name.split(".", 1)[0]
        try:
            importlib.import_module(f"batchops.{module}")
        except ModuleNotFoundError:
            pass
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BatchopsError(
            f"unknown operation {name!r}",
            hint="the journal was written by a newer batchops; use the same version in every job",
        ) from None


def apply(document: dict[str, Any], name: str, args: dict[str, Any]) -> Any:
    return lookup(name)(document, args)
