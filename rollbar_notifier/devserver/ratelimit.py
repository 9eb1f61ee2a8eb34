"""Per-token fixed-window rate limits for `POST item/`, with Rollbar's headers.

The notifier's 429 handling (pause until the window ends) is only testable against
a server that reports the window the same way Rollbar does.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable, Dict, Tuple

Headers = Dict[str, str]


class RateLimiter:
    """Allows `count` items per token in each window of `seconds`, starting at its first item."""

    def __init__(
        self, count: int, seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        if count < 1 or seconds <= 0:
            raise ValueError("a rate limit needs count >= 1 and seconds > 0")
        self.count = count
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: Dict[str, Tuple[float, int]] = {}

    def take(self, token: str) -> Tuple[bool, Headers]:
        """Use one slot of `token`'s window; returns whether it was allowed and the headers."""
        now = self._clock()
        with self._lock:
            start, used = self._windows.get(token, (now, 0))
            if now >= start + self.seconds:
                start, used = now, 0
            allowed = used < self.count
            if allowed:
                used += 1
            self._windows[token] = (start, used)
        end = start + self.seconds
        return allowed, {
            "X-Rate-Limit-Limit": str(self.count),
            "X-Rate-Limit-Remaining": str(self.count - used),
            "X-Rate-Limit-Remaining-Seconds": str(max(0, math.ceil(end - now))),
            "X-Rate-Limit-Reset": str(math.ceil(end)),
        }
