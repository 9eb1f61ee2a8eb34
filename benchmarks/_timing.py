"""Shared timing helper: medians of repeated rounds, because this machine is noisy."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_seconds(function: Callable[[], object], calls: int, rounds: int = 7) -> float:
    """Median over ``rounds`` of the mean time of one call among ``calls`` calls."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)
