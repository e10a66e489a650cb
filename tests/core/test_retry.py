"""Retry policies as values: they compose, and the loop never sleeps for real."""

from __future__ import annotations

import random

import pytest

from batchops.core.retry import (
    Policy,
    jitter_between,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_retry_after,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def failing(times: int, value: str = "ok"):
    calls = {"n": 0}

    def once() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise ConnectionError(f"attempt {calls['n']}")
        return value

    return once, calls


def test_a_call_that_fails_twice_succeeds_on_the_third_attempt_after_doubling_waits() -> None:
    clock = Clock()
    once, calls = failing(2)
    policy: Policy[str] = Policy(stop=stop_after_attempt(5), wait=wait_exponential(base=1, cap=30))
    assert policy.call(once, sleep=clock.sleep, monotonic=clock.monotonic) == "ok"
    assert calls["n"] == 3
    assert clock.slept == [1, 2]


def test_the_last_failure_is_raised_when_attempts_run_out() -> None:
    clock = Clock()
    once, calls = failing(10)
    policy: Policy[str] = Policy(stop=stop_after_attempt(3), wait=wait_exponential(base=1, cap=30))
    with pytest.raises(ConnectionError, match="attempt 3"):
        policy.call(once, sleep=clock.sleep, monotonic=clock.monotonic)
    assert calls["n"] == 3


def test_a_delay_limit_stops_before_a_wait_that_would_cross_it() -> None:
    clock = Clock()
    once, calls = failing(100)
    policy: Policy[str] = Policy(stop=stop_after_attempt(50) | stop_after_delay(30), wait=wait_exponential(1, 16))
    with pytest.raises(ConnectionError):
        policy.call(once, sleep=clock.sleep, monotonic=clock.monotonic)
    assert clock.now <= 30
    assert clock.slept == [1, 2, 4, 8]  # 15 s spent; the next wait (16) would end past 30


def test_a_failure_not_worth_retrying_is_raised_at_once() -> None:
    clock = Clock()
    once, calls = failing(5)
    policy: Policy[str] = Policy(
        stop=stop_after_attempt(5), retry=lambda failure: not isinstance(failure, ConnectionError)
    )
    with pytest.raises(ConnectionError):
        policy.call(once, sleep=clock.sleep, monotonic=clock.monotonic)
    assert calls["n"] == 1 and clock.slept == []


def test_retry_after_from_the_far_side_wins_up_to_its_cap_and_jitter_scales_the_rest() -> None:
    clock = Clock()
    once, _ = failing(2)
    asked = iter([7.0, None])
    policy: Policy[str] = Policy(
        stop=stop_after_attempt(5),
        wait=wait_retry_after(wait_exponential(2, 60) * jitter_between(0.5, 0.5, random.Random(1)), cap=5),
        retry_after=lambda failure: next(asked),
    )
    policy.call(once, sleep=clock.sleep, monotonic=clock.monotonic)
    assert clock.slept == [5, 2.0]  # Retry-After 7 capped at 5; then 2 * 2**1 * 0.5


def test_the_exponential_wait_doubles_per_repeat_from_the_base_until_the_cap() -> None:
    from batchops.core.retry import Attempt

    wait = wait_exponential(base=0.5, cap=8.0)
    assert [wait(Attempt(number=n)) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_the_decision_alone_gives_the_wait_or_none_for_a_loop_a_library_runs() -> None:
    from batchops.core.retry import Attempt

    policy: Policy[str] = Policy(stop=stop_after_attempt(3) | stop_after_delay(10), wait=wait_exponential(2, 60))
    assert policy.next_wait(Attempt(1, 0.0, ConnectionError())) == 2
    assert policy.next_wait(Attempt(2, 3.0, ConnectionError())) == 4
    assert policy.next_wait(Attempt(2, 7.0, ConnectionError())) is None  # 7 + 4 would pass 10
    assert policy.next_wait(Attempt(3, 0.0, ConnectionError())) is None  # attempts used up
