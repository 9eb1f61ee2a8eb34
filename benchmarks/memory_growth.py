"""RSS growth while 3,000 ``logger.exception`` reports are queued and delivered.

Each report is raised from a frame holding a distinct 100 KB local. A queued item that
kept the record's traceback (directly, or through the log records kept for telemetry)
would keep that local alive until sent; capture copies only a bounded repr of it, so the
growth should not depend on the locals' size. Each configuration runs in a fresh child
process (telemetry on, then off), against a sink server in another process (see
``delivery_throughput.py``) so the senders really deliver. The figure is the peak RSS
(``ru_maxrss``) minus the RSS before the first report, medians of the rounds. With
``--delay`` the sink answers that many seconds late, so nearly every report is still
queued when the loop ends: the worst case for what queued items hold.
Usage: ``python benchmarks/memory_growth.py [--rounds N] [--count N] [--delay S]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
from typing import Any, Dict, List

from delivery_throughput import TOKEN, sink

from rollbar_notifier.handler import RollbarHandler
from rollbar_notifier.notifier import Notifier

LOCAL_BYTES = 100_000
MIB = 1024 * 1024
GOAL_MIB = 64


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _fail(number: int) -> None:
    blob = os.urandom(LOCAL_BYTES // 2).hex()  # a distinct 100 KB string per report
    raise ValueError(f"report {number} ({len(blob)} chars held)")


def measure(endpoint: str, count: int, telemetry: bool) -> Dict[str, Any]:
    """One configuration, in this (fresh) process."""
    notifier = Notifier(access_token=TOKEN, endpoint=endpoint, queue_size=count + 10,
                        telemetry_size=50 if telemetry else 0, install_hooks=False)
    logger = logging.getLogger("memory_growth")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(RollbarHandler(notifier=notifier, telemetry=telemetry))
    try:
        start = _rss_bytes()
        for number in range(count):
            logger.info("handling request %d", number)
            try:
                _fail(number)
            except ValueError:
                logger.exception("request %d failed", number)
        queued_end = _rss_bytes()
        if not notifier.flush(300):
            raise RuntimeError("flush timed out")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        stats = notifier.stats()
        return {"growth_mib": (peak - start) / MIB, "at_loop_end_mib": (queued_end - start) / MIB,
                "sent": stats["sent"], "dropped": stats["dropped"]}
    finally:
        notifier.close(5)


def run_child(endpoint: str, count: int, telemetry: bool) -> Dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", endpoint, "--count", str(count)]
        + (["--telemetry"] if telemetry else []),
        capture_output=True, text=True, timeout=600, check=True)
    result: Dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--telemetry", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.count, args.telemetry)))
        return
    results = {}
    with sink(args.delay) as endpoint:
        for telemetry in (True, False):
            runs: List[Dict[str, Any]] = [run_child(endpoint, args.count, telemetry)
                                          for _ in range(args.rounds)]
            label = "telemetry on" if telemetry else "telemetry off"
            growth = statistics.median(run["growth_mib"] for run in runs)
            results[label] = {
                "rss_growth_mib": round(growth, 1),
                "rss_growth_each_round_mib": [round(run["growth_mib"], 1) for run in runs],
                "rss_at_loop_end_mib": round(statistics.median(
                    run["at_loop_end_mib"] for run in runs), 1),
                "sent": [run["sent"] for run in runs],
                "dropped": [run["dropped"] for run in runs]}
            print(f"{label}: RSS grew {growth:.1f} MiB (median of {args.rounds} rounds of "
                  f"{args.count} reports, sink delay {args.delay} s; goal with telemetry on: "
                  f"under {GOAL_MIB} MiB)",
                  flush=True)
    on, off = results["telemetry on"]["rss_growth_mib"], results["telemetry off"]["rss_growth_mib"]
    results["ratio_on_to_off"] = round(on / off, 2) if off else None
    print(json.dumps(results))


if __name__ == "__main__":
    main()
