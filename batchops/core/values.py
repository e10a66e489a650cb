"""Value classes for the hot path, without :mod:`dataclasses`.

:mod:`dataclasses` imports :mod:`inspect` (and with it ``ast``, ``dis``, ``tokenize``): about 10 ms
that every breaker-gate, breaker-update and preflight paid before its first line of work, more than
the whole margin against the scripts they replace. ``@valueclass`` gives the classes on that path what
they used of a dataclass, and nothing else:

- ``__init__`` from the annotated fields, in order: positional or keyword; a default, or
  ``field(default_factory=...)``; then ``__post_init__`` when the class has one;
- ``__repr__`` (``Name(a=1, b='x')``) and ``__eq__`` (same class, same fields);
- ``@valueclass(frozen=True)``: assignment raises :class:`FrozenInstanceError` and instances hash by
  their fields (mutable records are unhashable, as dataclasses make them);
- :func:`replace`: a copy with some fields changed.

The modules off the hot path keep :mod:`dataclasses`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")
MISSING: Any = object()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class Field:
    __slots__ = ("default", "default_factory")

    def __init__(self, default: Any, default_factory: Any) -> None:
        self.default, self.default_factory = default, default_factory


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING) -> Any:
    """A field's default (``default``) or the function that makes it (``default_factory``)."""
    return Field(default, default_factory)


@dataclass_transform(field_specifiers=(field,))
def valueclass(cls: type[T] | None = None, /, *, frozen: bool = False) -> Any:
    """``@valueclass`` or ``@valueclass(frozen=True)`` on a class whose fields are annotated."""

    def make(target: type[T]) -> type[T]:
        return _make(target, frozen)

    return make if cls is None else make(cls)


def replace(obj: T, **changes: Any) -> T:
    """A copy of the record ``obj`` with ``changes``."""
    values = {name: getattr(obj, name) for name in type(obj).__record_fields__}  # type: ignore[attr-defined]
    return type(obj)(**{**values, **changes})


def _make(cls: type[T], frozen: bool) -> type[T]:
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for name in names:
        if name not in cls.__dict__:
            continue
        value = cls.__dict__[name]
        if isinstance(value, Field):
            if value.default_factory is not MISSING:
                factories[name] = value.default_factory
                delattr(cls, name)
                continue
            value = value.default
            setattr(cls, name, value)
        defaults[name] = value
    title = cls.__qualname__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{title}() takes {len(names)} positional arguments but {len(args)} were given")
        values = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in factories and key not in defaults and key not in names:
                raise TypeError(f"{title}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{title}() got multiple values for argument {key!r}")
            values[key] = value
        for name in names:
            if name in values:
                continue
            if name in factories:
                values[name] = factories[name]()
            elif name in defaults:
                values[name] = defaults[name]
            else:
                raise TypeError(f"{title}() missing required argument: {name!r}")
        for name in names:
            object.__setattr__(self, name, values[name])
        post = getattr(self, "__post_init__", None)
        if post is not None:
            post()

    def __repr__(self: Any) -> str:
        return f"{title}(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in names) + ")"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in names)

    cls.__init__ = __init__  # type: ignore[misc, method-assign]
    cls.__repr__ = __repr__  # type: ignore[assignment, method-assign]
    cls.__eq__ = __eq__  # type: ignore[assignment, method-assign]
    cls.__match_args__ = names  # type: ignore[attr-defined, misc]
    cls.__record_fields__ = names  # type: ignore[attr-defined]
    if frozen:

        def __setattr__(self: Any, name: str, value: Any) -> None:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")

        def __delattr__(self: Any, name: str) -> None:
            raise FrozenInstanceError(f"cannot delete field {name!r}")

        def __hash__(self: Any) -> int:
            return hash(tuple(getattr(self, name) for name in names))

        cls.__setattr__ = __setattr__  # type: ignore[assignment, method-assign]
        cls.__delattr__ = __delattr__  # type: ignore[assignment, method-assign]
        cls.__hash__ = __hash__  # type: ignore[assignment, method-assign]
    else:
        cls.__hash__ = None  # type: ignore[assignment]
    return cls
