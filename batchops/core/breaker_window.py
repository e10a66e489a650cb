"""The breaker's count-based sliding window: the last ``size`` outcomes, oldest first (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchops.core.values import field, valueclass
from batchops.errors import UsageError

if TYPE_CHECKING:
    from batchops.core.breaker_config import BreakerConfig

SUCCESS, FAILURE = "success", "failure"
OUTCOMES = (SUCCESS, FAILURE)


@valueclass
class Window:
    """The last ``size`` outcomes, oldest first."""

    size: int
    outcomes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.outcomes = [o for o in self.outcomes if o in OUTCOMES][-self.size :]

    def add(self, outcome: str) -> None:
        if outcome not in OUTCOMES:
            raise UsageError(f"{outcome!r} is not an outcome", field="outcome", hint="use success or failure")
        self.outcomes.append(outcome)
        del self.outcomes[: -self.size]

    def clear(self) -> None:
        self.outcomes.clear()

    @property
    def attempts(self) -> int:
        return len(self.outcomes)

    @property
    def failures(self) -> int:
        return self.outcomes.count(FAILURE)

    @property
    def failure_rate(self) -> float:
        return self.failures / self.attempts if self.outcomes else 0.0

    def should_trip(self, config: BreakerConfig) -> bool:
        return self.attempts >= config.minimum_attempts and self.failure_rate >= config.failure_rate_threshold
