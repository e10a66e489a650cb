"""One backoff formula (core.retry.exponential): base * 2**(n-1), capped; each retry policy only adds its jitter."""

from __future__ import annotations

import random

import pytest

from batchops.core.metrics import RetryPolicy
from batchops.core.persist import Backoff
from batchops.core.retry import exponential


def test_the_wait_doubles_per_retry_from_the_base_until_the_cap() -> None:
    assert [exponential(n, 0.5, 8.0) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize("retry", range(1, 12))
def test_persist_draws_full_jitter_below_the_formula(retry: int) -> None:
    rng = random.Random(retry)
    policy = Backoff(base=0.1, cap=8.0)
    waits = [policy.delay(retry, rng) for _ in range(200)]
    assert all(0.0 <= w <= exponential(retry, 0.1, 8.0) for w in waits)
    assert max(waits) > 0.8 * exponential(retry, 0.1, 8.0)  # the whole window is used, not a fixed fraction


def test_persist_widens_the_slot_to_the_time_an_attempt_took() -> None:
    rng = random.Random(1)
    assert max(Backoff(base=0.1, cap=8.0).delay(3, rng, slot=1.0) for _ in range(200)) > 3.0  # 1.0 * 2**2 = 4


@pytest.mark.parametrize("attempt", range(1, 8))
def test_metrics_waits_half_to_all_of_the_formula(attempt: int) -> None:
    rng = random.Random(attempt)
    policy = RetryPolicy(base=1.0, cap=16.0)
    full = exponential(attempt, 1.0, 16.0)
    assert all(0.5 * full <= policy.backoff(attempt, rng) <= full for _ in range(200))
