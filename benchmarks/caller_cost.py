"""Caller-side cost of one report, against the stdlib's cheapest off-thread logging.

The floor is ``logging.handlers.QueueHandler`` + ``QueueListener``: the caller formats
the record (including the traceback for ``logger.exception``) and puts it on a queue,
which is the least any off-thread reporter can do. The notifier runs in thread mode
against a local sink server in another process, with a queue large enough that no
report is dropped (a drop is cheaper than a put and would flatter the result).

Three paths: ``report_message``, ``report_exception``, and ``logger.error`` through a
``RollbarHandler`` (what most users write), each against ``logger.error`` /
``logger.exception`` through the ``QueueHandler``. Two settings: "delivering", where
the senders build and send items while the caller loops (on CPython they take turns
with it on the GIL, which the caller pays for), and "senders idle", where the server
holds the one sender in a slow request so only the caller's own work is timed.
Usage: ``python benchmarks/caller_cost.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import logging.handlers
import queue
import statistics
import time
from typing import Callable, Dict, List

from delivery_throughput import TOKEN, sink

from rollbar_notifier.handler import RollbarHandler
from rollbar_notifier.notifier import Notifier

PATHS = 3
"""Notifier paths timed per round; with idle senders every report of every round stays
queued, so the queue must hold them all."""


def fail(n: int) -> None:
    raise ValueError(f"benchmark failure {n}")


def per_call_us(report: Callable[[int], object], count: int) -> float:
    started = time.perf_counter()
    for n in range(count):
        report(n)
    return (time.perf_counter() - started) / count * 1e6


def exception_reporter(report: Callable[[], object]) -> Callable[[int], object]:
    def call(n: int) -> object:
        try:
            fail(n)
        except ValueError:
            return report()
        return None
    return call


def measure(endpoint: str, rounds: int, count: int, idle: bool) -> Dict[str, Dict[str, float]]:
    notifier = Notifier(access_token=TOKEN, endpoint=endpoint, senders=1 if idle else 4,
                        queue_size=(PATHS * rounds + 1) * count if idle else count + 10)
    records: queue.Queue[logging.LogRecord] = queue.Queue()
    listener = logging.handlers.QueueListener(records, logging.NullHandler())
    logger = logging.getLogger("benchmark.floor")
    logger.propagate = False
    logger.addHandler(logging.handlers.QueueHandler(records))
    listener.start()
    handled = logging.getLogger("benchmark.rollbar")
    handled.propagate = False
    handled.addHandler(RollbarHandler(notifier=notifier))
    cases = {
        "message": (lambda n: notifier.report_message(f"benchmark message {n}"),
                    lambda n: logger.error("benchmark message %s", n)),
        "exception": (exception_reporter(notifier.report_exception),
                      exception_reporter(lambda: logger.exception("benchmark failure"))),
        "logger_error": (lambda n: handled.error("benchmark message %s", n),
                         lambda n: logger.error("benchmark message %s", n)),
    }
    assert len(cases) == PATHS
    samples: Dict[str, Dict[str, List[float]]] = {name: {"notifier": [], "floor": []}
                                                  for name in cases}
    try:
        for _ in range(rounds):
            for name, (ours, floor) in cases.items():
                samples[name]["notifier"].append(per_call_us(ours, count))
                if not idle:
                    notifier.flush(60)
                samples[name]["floor"].append(per_call_us(floor, count))
        assert "queue_full" not in notifier.stats()["dropped"], notifier.stats()
    finally:
        listener.stop()
        for handler in handled.handlers[:]:
            handled.removeHandler(handler)
        with contextlib.redirect_stderr(io.StringIO()):
            notifier.close(0 if idle else 5)
    results = {}
    for name, pair in samples.items():
        ours, floor = statistics.median(pair["notifier"]), statistics.median(pair["floor"])
        results[name] = {"notifier_us": round(ours, 1), "queue_handler_floor_us": round(floor, 1),
                         "ratio": round(ours / floor, 2)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    results = {}
    for setting, delay in (("delivering", 0.0), ("senders idle", 600.0)):
        with sink(delay) as endpoint:
            results[setting] = measure(endpoint, args.rounds, args.count, idle=delay > 0)
        for name, result in results[setting].items():
            print(f"{setting}: {name} {result['notifier_us']} us per call vs QueueHandler "
                  f"floor {result['queue_handler_floor_us']} us: ratio {result['ratio']}x "
                  f"(medians of {args.rounds} rounds of {args.count})", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
