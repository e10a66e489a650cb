"""The circuit breaker's settings: named defaults, overridden by the control file (pure).

``BreakerConfig`` defaults, overridden by the control file's top-level ``breaker_config``
object, then by ``breaker_config.ecosystems.<name>``. Each bad value is a ControlFileError
naming the field and the allowed range, with an example.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from batchops.core import timeutil
from batchops.core.values import replace, valueclass
from batchops.errors import ControlFileError

CONFIG_KEY = "breaker_config"


@valueclass(frozen=True)
class BreakerConfig:
    """Named defaults; every one can be overridden in the control file."""

    window_size: int = 10  # attempts kept in the sliding window
    failure_rate_threshold: float = 0.5  # trip at a failure rate >= this
    minimum_attempts: int = 5  # never trip with fewer attempts in the window
    wait: timedelta = timedelta(minutes=60)  # first wait in open
    max_wait: timedelta = timedelta(hours=24)  # cap of the doubling wait
    probe_timeout: timedelta = timedelta(hours=6)  # a probe with no result after this is lost

    def wait_for(self, consecutive_opens: int) -> timedelta:
        """The wait after the n-th consecutive open: wait * 2**(n-1), at most max_wait."""
        base = int(self.wait.total_seconds())
        cap = int(self.max_wait.total_seconds())
        doublings = max(0, consecutive_opens - 1)
        seconds = cap if doublings >= 62 else min(base << doublings, cap)
        return timedelta(seconds=max(0, seconds))

    def check(self, where: str = CONFIG_KEY) -> BreakerConfig:
        if self.window_size < 1:
            raise ControlFileError("window_size must be at least 1", field=where, hint="use a window of 10 attempts")
        if self.minimum_attempts < 1:
            raise ControlFileError("minimum_attempts must be at least 1", field=where, hint="use 5")
        if self.minimum_attempts > self.window_size:
            raise ControlFileError(
                f"minimum_attempts ({self.minimum_attempts}) is larger than window_size ({self.window_size}): "
                "the breaker could never trip",
                field=where,
                hint=f"set minimum_attempts <= {self.window_size} or raise window_size",
            )
        if not 0 < self.failure_rate_threshold <= 1:
            raise ControlFileError("failure_rate_threshold must be in (0, 1]", field=where, hint="use 0.5 for 50%")
        return self

    def as_json(self) -> dict[str, Any]:
        return {
            "window_size": self.window_size,
            "failure_rate_threshold": self.failure_rate_threshold,
            "minimum_attempts": self.minimum_attempts,
            "wait": timeutil.format_duration(self.wait),
            "max_wait": timeutil.format_duration(self.max_wait),
            "probe_timeout": timeutil.format_duration(self.probe_timeout),
        }


DEFAULT_CONFIG = BreakerConfig()
_DURATIONS = ("wait", "max_wait", "probe_timeout")
_NUMBERS = ("window_size", "failure_rate_threshold", "minimum_attempts")


def _override(config: BreakerConfig, settings: dict[str, Any], where: str) -> BreakerConfig:
    changes: dict[str, Any] = {}
    for key in _NUMBERS:
        if key in settings:
            changes[key] = settings[key]
    for key in _DURATIONS:
        if key in settings:
            changes[key] = timeutil.parse_duration(settings[key], field=f"{where}.{key}")
    return replace(config, **changes) if changes else config


def config_for(document: dict[str, Any], ecosystem: str | None = None) -> BreakerConfig:
    """Defaults, then ``breaker_config``, then ``breaker_config.ecosystems.<ecosystem>``."""
    settings = document.get(CONFIG_KEY) or {}
    config = _override(DEFAULT_CONFIG, settings, CONFIG_KEY)
    where = CONFIG_KEY
    if ecosystem is not None:
        specific = (settings.get("ecosystems") or {}).get(ecosystem)
        if specific:
            where = f"{CONFIG_KEY}.ecosystems.{ecosystem}"
            config = _override(config, specific, where)
    return config.check(where)
