"""The old backoff formula: ``base * 2**(n-1)``, at most ``cap``. Superseded by :mod:`batchops.core.retry`.

``wait_exponential(base, cap)`` of :mod:`batchops.core.retry` is the same formula as a composable
value; metrics-upload, the upstream fetcher of drift-monitor and the GitHub client use it. Only
persist-with-retry's ``Backoff`` (``core/persist.py``) still calls this function; remove the module
once persist's retry is a ``core.retry`` policy.
"""

from __future__ import annotations


def exponential(retry: int, base: float, cap: float) -> float:
    """The wait before retry number ``retry`` (1 = the first repeat): ``base * 2**(retry-1)``, at most ``cap``."""
    return float(min(cap, base * 2 ** (retry - 1)))
