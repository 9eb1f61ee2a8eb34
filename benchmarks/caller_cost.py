"""Caller-side cost of one report, against the stdlib's cheapest off-thread logging.

The floor is ``logging.handlers.QueueHandler`` + ``QueueListener``: the caller formats
the record (including the traceback for ``logger.exception``) and puts it on a queue,
which is the least any off-thread reporter can do. The notifier runs in thread mode
against a local sink server in another process, with a queue large enough that no
report is dropped (a drop is cheaper than a put and would flatter the result).

Four paths: ``report_message``, ``report_exception``, and ``logger.error`` and
``logger.exception`` through a ``RollbarHandler`` (what most users write), each against
``logger.error`` / ``logger.exception`` through the ``QueueHandler``. Each notifier path
is also timed inside an active ``with scope(person=..., request=...)`` (what a web request looks
like), against itself outside any scope (``scope_ratio``), and with a new scope entered
for every call (one report per request, the worst case: the scope's values are copied
at its first report). Two settings: "delivering", where
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
from typing import Any, Callable, ContextManager, Dict, List

from delivery_throughput import TOKEN, sink

from rollbar_notifier.handler import RollbarHandler
from rollbar_notifier.notifier import Notifier
from rollbar_notifier.scope import scope

PATHS = 4
SETTINGS = ("outside", "in_scope", "scope_per_call")
"""How each notifier path is timed: outside any scope, in one active scope, and in a
new scope per call. With idle senders every report of every round stays queued, so the
queue must hold them all."""
REQUEST_SCOPE: Dict[str, Any] = {
    "person": {"id": "4711", "username": "ann"},
    "request": {"url": "https://shop.example.com/orders/17?page=2", "method": "POST",
                "headers": {"Host": "shop.example.com", "User-Agent": "benchmark/1.0",
                            "Accept": "application/json", "Content-Type": "application/json",
                            "Authorization": "Bearer abc", "X-Request-Id": "f00d"},
                "GET": {"page": "2"}, "user_ip": "203.0.113.0", "route": "/orders/{id}"},
    "context": "POST /orders/{id}",
    "framework": "benchmark",
}
"""What a framework integration puts in a request's scope."""


def fail(n: int) -> None:
    raise ValueError(f"benchmark failure {n}")


def per_call_us(report: Callable[[int], object], count: int, setting: str = "outside") -> float:
    block: ContextManager[Any] = (scope(**REQUEST_SCOPE) if setting == "in_scope"
                                  else contextlib.nullcontext())
    if setting == "scope_per_call":
        plain = report

        def report(n: int) -> object:
            with scope(**REQUEST_SCOPE):
                return plain(n)
    with block:
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
                        queue_size=((PATHS * len(SETTINGS) * rounds + 1) * count if idle
                                    else count + 10),
                        queue_bytes=2**40)
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
        "logger_exception": (exception_reporter(lambda: handled.exception("benchmark failure")),
                             exception_reporter(lambda: logger.exception("benchmark failure"))),
    }
    assert len(cases) == PATHS
    samples: Dict[str, Dict[str, List[float]]] = {
        name: {key: [] for key in (*SETTINGS, "floor")} for name in cases}
    try:
        for round_number in range(rounds):
            for name, (ours, floor) in cases.items():
                shift = round_number % len(SETTINGS)  # no setting always runs first
                for setting in SETTINGS[shift:] + SETTINGS[:shift]:
                    samples[name][setting].append(per_call_us(ours, count, setting))
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
    for name, timed in samples.items():
        ours, floor = statistics.median(timed["outside"]), statistics.median(timed["floor"])
        scoped = statistics.median(timed["in_scope"])
        per_call = statistics.median(timed["scope_per_call"])
        results[name] = {"notifier_us": round(ours, 1), "queue_handler_floor_us": round(floor, 1),
                         "ratio": round(ours / floor, 2), "in_scope_us": round(scoped, 1),
                         "scope_ratio": round(scoped / ours, 2),
                         "scope_per_call_us": round(per_call, 1)}
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
                  f"floor {result['queue_handler_floor_us']} us: ratio {result['ratio']}x; "
                  f"in an active scope {result['in_scope_us']} us: "
                  f"{result['scope_ratio']}x; a new scope per call "
                  f"{result['scope_per_call_us']} us "
                  f"(medians of {args.rounds} rounds of {args.count})", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
