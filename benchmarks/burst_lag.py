"""How late a burst of errors makes the host's other threads, against the same loop unreported.

A "ticker" thread sleeps 5 ms in a loop and records how late each wake-up is
(``time.perf_counter``): what a heartbeat, a scheduler or an event loop thread of the
host would see. Meanwhile the main thread raises and catches ``--count`` ValueErrors in a
tight loop and reports each one, with ``notifier.report_exception()`` (``--kind
exception``) or ``logger.exception(...)`` through a ``RollbarHandler`` on a
non-propagating logger (``--kind logger``). The baseline, in the same run, is the same
ticker during the same loop that only raises and catches. The notifier has the default
options (4 senders, ``queue_size`` 1000) and delivers to a local sink in another process
(see ``delivery_throughput.py``) that answers at once; a burst this large overflows the
queue, so most reports are dropped as ``queue_full``, as they would be in production.

Reported per side: the loop's duration, the ticker's worst and 99th-percentile lag (ms)
while the loop ran and how many ticks that was; the threads of the process (the ticker
not counted) before the burst, at most during it (sampled at every tick), after
``flush()`` and after ``close()``; and ``stats()``. Medians over ``--rounds``.

The accounting is checked, not assumed (see ``Worker.submit`` and ``_report_losses`` in
``rollbar_notifier/worker.py``): every report is either queued (``queued`` + 1) or
dropped (``dropped["queue_full"]`` + 1). Once the queue drains after an overflow, a
sender reports the loss as one more item ("rollbar_notifier dropped N item(s)") through
``Notifier.report``, which is queued and counted like any other, or dropped as
``queue_full`` itself (then the next loss item counts it among its N). So
``count == queued + dropped["queue_full"] - loss items``, the N of the queued loss items
add up to ``dropped["queue_full"]``, and after the flush every queued item is sent,
spooled or dropped for another reason. The loss items are seen by a ``Notifier``
subclass whose ``report`` notes them: one more call per report, on both paths alike.
Usage: ``python benchmarks/burst_lag.py [--rounds N] [--count N] [--kind exception|logger]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import statistics
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from delivery_throughput import TOKEN, sink

from rollbar_notifier.event import ReportFields
from rollbar_notifier.handler import RollbarHandler
from rollbar_notifier.notifier import Notifier

PERIOD = 0.005
"""The ticker's sleep."""
MAX_TICKS = 200_000
"""The ticker's bound: 1,000 s of 5 ms ticks; a loop that outlasts it is an error."""
QUEUE_FULL = "queue_full"


class Ticker:
    """A thread that sleeps ``PERIOD`` at a time and records how late it wakes."""

    def __init__(self) -> None:
        self.lags: List[float] = []
        self.max_threads = 0
        self.exhausted = False
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="benchmark-ticker", daemon=True)

    def _run(self) -> None:
        lags, sleep, clock, count = self.lags, time.sleep, time.perf_counter, threading.active_count
        self._ready.set()
        for _ in range(MAX_TICKS):
            if self._stop.is_set():
                return
            intended = clock() + PERIOD
            sleep(PERIOD)
            lags.append(clock() - intended)
            self.max_threads = max(self.max_threads, count())
        self.exhausted = True

    def __enter__(self) -> Ticker:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the ticker did not start")
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join(10)
        if self._thread.is_alive() or self.exhausted:
            raise RuntimeError("the ticker outlasted its bound")


class CountingNotifier(Notifier):
    """Notes the worker's loss reports, which enter through :meth:`report` like any other."""

    def __init__(self, **options: Any) -> None:
        self.loss_reports: List[Tuple[int, bool]] = []
        """(N the item says were dropped, whether it was queued), in order."""
        super().__init__(**options)

    def report(self, fields: ReportFields) -> Optional[str]:
        uuid = super().report(fields)
        extra = fields.extra
        if extra is not None and extra.get("reason") == QUEUE_FULL:
            self.loss_reports.append((int(extra.get("dropped", 0)), uuid is not None))
        return uuid


def raise_only(n: int) -> None:
    try:
        raise ValueError(f"burst {n}")
    except ValueError:
        pass


def reporter(kind: str, notifier: Notifier, logger: logging.Logger) -> Callable[[int], None]:
    if kind == "logger":
        def report(n: int) -> None:
            try:
                raise ValueError(f"burst {n}")
            except ValueError:
                logger.exception("burst %d failed", n)
    else:
        def report(n: int) -> None:
            try:
                raise ValueError(f"burst {n}")
            except ValueError:
                notifier.report_exception()
    return report


def p99(values: List[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timed_loop(body: Callable[[int], None], count: int) -> Dict[str, Any]:
    """Run ``body`` ``count`` times while the ticker records; lags in ms."""
    threads_before = threading.active_count()
    with Ticker() as ticker:
        started = time.perf_counter()
        for n in range(count):
            body(n)
        duration = time.perf_counter() - started
    lags = ticker.lags
    if not lags:
        raise RuntimeError("the ticker recorded no tick during the loop")
    return {"duration_s": duration, "worst_lag_ms": max(lags) * 1000,
            "p99_lag_ms": p99(lags) * 1000, "ticks": len(lags),
            "threads_before": threads_before,
            "threads_during_max": ticker.max_threads - 1}  # the ticker itself not counted


def baseline(count: int) -> Dict[str, Any]:
    return timed_loop(raise_only, count)


def burst(endpoint: str, count: int, kind: str) -> Dict[str, Any]:
    notifier = CountingNotifier(access_token=TOKEN, endpoint=endpoint)
    logger = logging.getLogger("benchmark.burst")
    logger.propagate = False
    handler = RollbarHandler(notifier=notifier)
    if kind == "logger":
        logger.addHandler(handler)
    said = io.StringIO()
    try:
        result = timed_loop(reporter(kind, notifier, logger), count)
        result["flushed"] = notifier.flush(60)
        result["threads_after_flush"] = threading.active_count()
    finally:
        logger.removeHandler(handler)
        with contextlib.redirect_stderr(said):  # the loss line close() writes
            notifier.close(5)
    result["threads_after_close"] = threading.active_count()
    result["stats"] = stats = notifier.stats()
    result["close_said"] = said.getvalue().strip()
    result["accounting"] = account(count, stats, notifier.loss_reports)
    return result


def account(count: int, stats: Any, loss_reports: List[Tuple[int, bool]]) -> Dict[str, Any]:
    """Where every report went (see the module's docstring); ``ok`` when it all adds up."""
    dropped: Dict[str, int] = stats["dropped"]
    queue_full = dropped.get(QUEUE_FULL, 0)
    loss_queued = sum(1 for _, queued in loss_reports if queued)
    loss_refused = len(loss_reports) - loss_queued
    callers_queued = stats["queued"] - loss_queued
    callers_dropped = queue_full - loss_refused
    announced = sum(number for number, queued in loss_reports if queued)
    other_drops = sum(number for reason, number in dropped.items() if reason != QUEUE_FULL)
    resolved = stats["sent"] + stats["spooled"] + other_drops
    checks = {
        "every report queued or dropped": callers_queued + callers_dropped == count,
        "every queue_full drop announced by a loss item": announced == queue_full,
        "every queued item sent, spooled or dropped": resolved == stats["queued"],
    }
    return {"reports": count, "callers_queued": callers_queued,
            "callers_dropped_queue_full": callers_dropped, "loss_items_queued": loss_queued,
            "loss_items_refused": loss_refused, "announced_dropped": announced,
            "sent_spooled_or_other_drops": resolved,
            "failed": [name for name, ok in checks.items() if not ok]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--kind", choices=("exception", "logger"), default="exception")
    args = parser.parse_args()
    ours: List[Dict[str, Any]] = []
    base: List[Dict[str, Any]] = []
    with sink(0.0) as endpoint:
        for round_number in range(args.rounds):
            if round_number % 2:  # neither side always runs first
                ours.append(burst(endpoint, args.count, args.kind))
                base.append(baseline(args.count))
            else:
                base.append(baseline(args.count))
                ours.append(burst(endpoint, args.count, args.kind))
            run, plain = ours[-1], base[-1]
            print(f"round {round_number + 1}: {args.kind} burst of {args.count} in "
                  f"{run['duration_s']:.2f} s ({run['ticks']} ticks): worst lag "
                  f"{run['worst_lag_ms']:.1f} ms, p99 {run['p99_lag_ms']:.1f} ms; baseline "
                  f"{plain['duration_s']:.2f} s ({plain['ticks']} ticks): worst "
                  f"{plain['worst_lag_ms']:.1f} ms, p99 {plain['p99_lag_ms']:.1f} ms; threads "
                  f"{run['threads_before']} before, at most {run['threads_during_max']} "
                  f"during, {run['threads_after_flush']} after flush, "
                  f"{run['threads_after_close']} after close; stats {json.dumps(run['stats'])}; "
                  f"accounting {json.dumps(run['accounting'])}", flush=True)
            if not run["flushed"]:
                print("  flush(60) timed out", flush=True)
            if run["close_said"]:
                print(f"  close() said: {run['close_said']}", flush=True)

    def median(runs: List[Dict[str, Any]], key: str) -> float:
        return round(statistics.median(run[key] for run in runs), 2)

    results = {
        "kind": args.kind, "count": args.count, "rounds": args.rounds,
        "ours": {key: median(ours, key) for key in ("duration_s", "worst_lag_ms", "p99_lag_ms")},
        "baseline": {key: median(base, key)
                     for key in ("duration_s", "worst_lag_ms", "p99_lag_ms")},
        "threads": {"baseline_during_max": max(run["threads_during_max"] for run in base),
                    "before": max(run["threads_before"] for run in ours),
                    "during_max": max(run["threads_during_max"] for run in ours),
                    "after_flush": max(run["threads_after_flush"] for run in ours),
                    "after_close": max(run["threads_after_close"] for run in ours)},
        "stats": [run["stats"] for run in ours],
        "accounting_failed": sorted({name for run in ours
                                     for name in run["accounting"]["failed"]}),
    }
    results["worst_lag_ratio"] = round(results["ours"]["worst_lag_ms"]
                                       / max(results["baseline"]["worst_lag_ms"], 1e-3), 2)
    results["p99_lag_ratio"] = round(results["ours"]["p99_lag_ms"]
                                     / max(results["baseline"]["p99_lag_ms"], 1e-3), 2)
    print(f"{args.kind} burst of {args.count}: worst lag {results['ours']['worst_lag_ms']} ms vs "
          f"baseline {results['baseline']['worst_lag_ms']} ms "
          f"({results['worst_lag_ratio']}x), p99 {results['ours']['p99_lag_ms']} ms vs "
          f"baseline {results['baseline']['p99_lag_ms']} ms ({results['p99_lag_ratio']}x); "
          f"loop {results['ours']['duration_s']} s vs {results['baseline']['duration_s']} s "
          f"(medians of {args.rounds} rounds); accounting "
          f"{'adds up' if not results['accounting_failed'] else results['accounting_failed']}",
          flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
