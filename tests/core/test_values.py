"""The hot path's value classes (``batchops.core.values``) behave as the dataclasses they replace."""

from __future__ import annotations

import pytest

from batchops.core.breaker import Breaker, Transition
from batchops.core.breaker_window import Window
from batchops.core.values import FrozenInstanceError, field, replace, valueclass


@valueclass
class Job:
    name: str
    tries: int = 0
    tags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = self.name.strip()


@valueclass(frozen=True)
class Point:
    x: int
    y: int = 0


def test_fields_take_positions_keywords_defaults_and_fresh_factories() -> None:
    first, second = Job(" a "), Job("b", 2, ["x"])
    assert (first.name, first.tries, first.tags) == ("a", 0, [])  # __post_init__ ran
    assert (second.name, second.tries, second.tags) == ("b", 2, ["x"])
    first.tags.append("t")
    assert Job("c").tags == []  # each instance its own list
    assert Job(name="d", tries=3) == Job("d", 3)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: Job(), "missing required argument: 'name'"),
        (lambda: Job("a", 1, [], 4), "takes 3 positional arguments but 4 were given"),
        (lambda: Job("a", nam="b"), "unexpected keyword argument 'nam'"),
        (lambda: Job("a", name="b"), "multiple values for argument 'name'"),
    ],
)
def test_a_wrong_call_says_what_is_wrong(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match=message):
        call()


def test_repr_eq_and_hash_as_dataclasses_give_them() -> None:
    assert repr(Job("a", 1)) == "Job(name='a', tries=1, tags=[])"
    assert Job("a") == Job("a") and Job("a") != Job("b") and Job("a") != "a"
    assert hash(Point(1, 2)) == hash(Point(1, 2)) and {Point(1, 2): 1}[Point(1, 2)] == 1
    with pytest.raises(TypeError):
        hash(Job("a"))  # a mutable record is not hashable


def test_a_frozen_record_refuses_assignment_and_replace_copies() -> None:
    point = Point(1)
    with pytest.raises(FrozenInstanceError):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del point.y  # type: ignore[misc]
    moved = replace(point, y=5)
    assert moved == Point(1, 5) and point == Point(1, 0)


def test_the_breaker_s_values_keep_their_behaviour() -> None:
    breaker = Breaker(state="open", failures=5)
    assert breaker.window == Window(breaker.window.size) and breaker.window is not Breaker().window
    assert Window(3, ["failure", "bogus", "success", "failure", "failure"]).outcomes == [
        "success",
        "failure",
        "failure",
    ]
    step = Transition("trip", "closed", "open", "2026-06-26T20:41:00Z")
    assert step.detail == "" and step == replace(step) and step.__match_args__[:2] == ("name", "source")
