"""When to try an item again: an immutable policy and pure backoff maths.

Nothing here sleeps or reads a clock; the caller passes the elapsed time and a random
source, so the policy is tested with plain numbers. The worker owns the only wait.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Callable, Optional

Random = Callable[[], float]


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by a per-item time window.

    Full jitter (a uniform delay between 0 and the exponential bound) spreads the
    retries of many processes that failed together, so a recovering server is not
    hit by all of them at once.
    """

    retry_for: float = 300.0
    """Seconds from the first attempt after which an item is given up."""
    first: float = 1.0
    """Upper bound of the first delay."""
    cap: float = 30.0
    """Upper bound of any delay."""

    def ceiling(self, attempt: int) -> float:
        """The longest delay after failed attempt number ``attempt`` (1 for the first)."""
        exponent = min(max(attempt - 1, 0), 32)
        return min(self.cap, self.first * 2.0**exponent)

    def backoff(self, attempt: int, rand: Random = random.random) -> float:
        """The delay after failed attempt number ``attempt``: jittered below its ceiling."""
        return rand() * self.ceiling(attempt)

    def next_delay(self, attempt: int, elapsed: float,
                   rand: Random = random.random) -> Optional[float]:
        """Seconds to wait before the next attempt, or ``None`` when the window is over.

        A delay that would end past the window is cut short, so the last attempt
        happens at the end of the window rather than not at all.
        """
        remaining = self.retry_for - elapsed
        if remaining <= 0:
            return None
        return min(self.backoff(attempt, rand), remaining)

    def for_blocking(self, budget: float) -> RetryPolicy:
        """The same policy with the window shortened to what a blocked caller can afford."""
        return dataclasses.replace(self, retry_for=min(self.retry_for, budget))
