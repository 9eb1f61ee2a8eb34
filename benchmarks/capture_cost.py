"""Caller-side capture cost against ``traceback.extract_tb``, and the time to fit huge items.

Run: ``python benchmarks/capture_cost.py``. Figures are medians of 7 rounds; the
ratios compare against a baseline measured in the same run.
"""

from __future__ import annotations

import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import median_seconds

from rollbar_notifier.capture import capture
from rollbar_notifier.config import Config
from rollbar_notifier.event import Event, ReportFields
from rollbar_notifier.item import ItemBuilder


def nested(depth: int, local: object) -> None:
    value = local  # noqa: F841 - a local for the capture to snapshot
    if depth:
        nested(depth - 1, local)
    raise ValueError("benchmark")


def caught(depth: int, local: object) -> BaseException:
    try:
        nested(depth, local)
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


def chain_of(length: int, depth: int, local: object) -> BaseException:
    exc = caught(depth, local)
    for _ in range(length - 1):
        outer = caught(depth, local)
        outer.__cause__ = exc
        exc = outer
    return exc


def capture_exception(exc: BaseException, capture_locals: bool = True) -> Event:
    """What ``report_exception`` does in the caller's thread."""
    event = capture(ReportFields(exception=(type(exc), exc, exc.__traceback__)), capture_locals)
    assert event is not None
    return event


def main() -> None:
    sys.setrecursionlimit(5000)
    config = Config.from_options({"access_token": "benchmark-token"}, environ={})
    builder = ItemBuilder(config)
    print("capture in the caller vs traceback.extract_tb on the same exception (median of 7)")
    for depth in (10, 100):
        exc = caught(depth, {"user": "ann", "items": list(range(50))})
        baseline = median_seconds(lambda exc=exc: traceback.extract_tb(exc.__traceback__), 200)
        ours = median_seconds(lambda exc=exc: capture_exception(exc), 200)
        no_locals = median_seconds(lambda exc=exc: capture_exception(exc, False),
                                   200)
        print(f"  {depth + 2:4d} frames: extract_tb {baseline * 1e6:8.1f} us | capture "
              f"{ours * 1e6:8.1f} us ({ours / baseline:.2f}x) | without locals "
              f"{no_locals * 1e6:8.1f} us ({no_locals / baseline:.2f}x)")

    big = "x" * 5_000_000
    exc = caught(10, big)
    copy = median_seconds(big.encode, 20)
    capture_big = median_seconds(lambda: capture_exception(exc), 50)
    print(f"capture with a 5 MB local: {capture_big * 1e6:.1f} us "
          f"({capture_big / copy:.3f}x the cost of copying that local once)")

    cases = {"5 MB local": caught(10, big), "1000-frame chain": chain_of(4, 250, big)}
    for name, exc in cases.items():
        event = capture_exception(exc)
        encoded = builder.build(event)
        assert encoded is not None and len(encoded) <= 131072
        fit = median_seconds(lambda event=event: builder.build(event), 10)
        small = capture_exception(caught(10, "small"))
        baseline = median_seconds(lambda small=small: builder.build(small), 10)
        print(f"fit {name}: {fit * 1e3:.2f} ms to {len(encoded)} bytes "
              f"({fit / baseline:.1f}x an ordinary 12-frame item, {baseline * 1e3:.2f} ms)")


if __name__ == "__main__":
    main()
