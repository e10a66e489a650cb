"""Retry policies as values: when to stop, how long to wait, which failures to retry.

A policy reads as a sentence at its call site::

    policy = Policy(
        stop=stop_after_attempt(5) | stop_after_delay(30),
        wait=wait_exponential(base=1, cap=16) * jitter_between(0.5, 1.0),
        retry=lambda failure: isinstance(failure, TransientError),
    )
    result = policy.call(send, sleep=clock.sleep, monotonic=clock.monotonic)

Everything that waits is injected (``sleep``, ``monotonic``, the random source), so a test
never sleeps and the core stays free of the clock. One :class:`Attempt` holds what the loop
knows; giving up is a value of :class:`Stop`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Attempt:
    """What the loop knows after an attempt: its number (1 = the first call), the time spent since
    the first call began, the failure (``None`` after a success) and a wait the far side asked for."""

    number: int = 0
    elapsed: float = 0.0
    failure: BaseException | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Stop:
    """When to give up: ``stop(attempt)`` is true once no further attempt may be made."""

    test: Callable[[Attempt], bool]

    def __call__(self, attempt: Attempt) -> bool:
        return self.test(attempt)

    def __or__(self, other: Stop) -> Stop:
        return Stop(lambda attempt: self(attempt) or other(attempt))


def stop_after_attempt(count: int) -> Stop:
    return Stop(lambda attempt: attempt.number >= count)


def stop_after_delay(seconds: float) -> Stop:
    """Stop once ``seconds`` have passed since the first call (the next wait would cross it too)."""
    return Stop(lambda attempt: attempt.elapsed >= seconds)


@dataclass(frozen=True)
class Wait:
    """How long to wait before the next attempt: ``wait(attempt)`` in seconds."""

    seconds: Callable[[Attempt], float]

    def __call__(self, attempt: Attempt) -> float:
        return max(0.0, float(self.seconds(attempt)))

    def __add__(self, other: Wait) -> Wait:
        return Wait(lambda attempt: self(attempt) + other(attempt))

    def __mul__(self, other: Wait) -> Wait:
        return Wait(lambda attempt: self(attempt) * other(attempt))

    def at_most(self, cap: float) -> Wait:
        return Wait(lambda attempt: min(cap, self(attempt)))


def wait_fixed(seconds: float) -> Wait:
    return Wait(lambda attempt: seconds)


def exponential(repeat: int, base: float, cap: float) -> float:
    """The one backoff formula: ``base * 2**(n-1)`` before repeat ``n`` (1 = the first repeat), at most ``cap``."""
    return float(min(cap, base * 2 ** max(0, repeat - 1)))


def wait_exponential(base: float, cap: float) -> Wait:
    """:func:`exponential` as a :class:`Wait`."""
    return Wait(lambda attempt: exponential(attempt.number, base, cap))


def jitter_between(low: float, high: float, rng: random.Random | None = None) -> Wait:
    """A factor drawn uniformly from ``low`` to ``high`` (multiply a wait by it)."""
    source = rng or random.Random()
    return Wait(lambda attempt: source.uniform(low, high))


def wait_retry_after(otherwise: Wait, cap: float) -> Wait:
    """The wait the far side asked for (``Retry-After``), at most ``cap``; else ``otherwise``."""
    return Wait(
        lambda attempt: min(cap, attempt.retry_after) if attempt.retry_after is not None else otherwise(attempt)
    )


def retry_always(failure: BaseException) -> bool:
    return True


@dataclass(frozen=True)
class Policy(Generic[T]):
    """A retry policy: ``stop`` | ``wait`` | ``retry`` (which failures are worth another attempt)."""

    stop: Stop
    wait: Wait = field(default_factory=lambda: wait_fixed(0.0))
    retry: Callable[[BaseException], bool] = retry_always
    retry_after: Callable[[BaseException], float | None] = lambda failure: None

    def next_wait(self, state: Attempt) -> float | None:
        """The wait before the next attempt after the failed attempt ``state``; ``None``: give up.

        The one decision of every retry loop in batchops (:meth:`call`, and the loops that a library
        runs, such as urllib3's ``Retry`` under the GitHub client): a failure not worth retrying, a
        ``stop`` reached, or a wait that would run past a ``stop_after_delay`` all give up."""
        assert state.failure is not None, "next_wait is asked after a failed attempt"
        if not self.retry(state.failure) or self.stop(state):
            return None
        pause = self.wait(state)
        if self.stop(Attempt(state.number, state.elapsed + pause, state.failure, state.retry_after)):
            return None  # the wait would run past a delay limit: give up now
        return pause

    def call(
        self, attempt_once: Callable[[], T], *, sleep: Callable[[float], None], monotonic: Callable[[], float]
    ) -> T:
        """Call ``attempt_once`` until it succeeds, a failure is not worth retrying, or ``stop`` says so;
        the last failure is raised as it was. A wait never runs past a ``stop_after_delay``: the loop
        stops instead of sleeping into it."""
        started = monotonic()
        state = Attempt()
        while True:
            state.number += 1
            try:
                return attempt_once()
            except Exception as failure:  # noqa: BLE001 - the policy decides what is retried
                state.failure = failure
                state.retry_after = self.retry_after(failure)
                state.elapsed = monotonic() - started
                pause = self.next_wait(state)
                if pause is None:
                    raise
                sleep(pause)
