"""The one backoff formula: every retry in batchops waits ``base * 2**(n-1)``, at most ``cap``.

Each caller keeps its own jitter and bounds, chosen for what it retries: persist-with-retry
draws the wait uniformly from 0 to this (full jitter, so a matrix of jobs spreads out),
metrics-upload takes 50-100% of it, the upstream fetcher of drift-monitor uses it as is,
and the GitHub client's retry policy uses it where GitHub gives no ``Retry-After``.
"""

from __future__ import annotations


def exponential(retry: int, base: float, cap: float) -> float:
    """The wait before retry number ``retry`` (1 = the first repeat): ``base * 2**(retry-1)``, at most ``cap``."""
    return float(min(cap, base * 2 ** (retry - 1)))
