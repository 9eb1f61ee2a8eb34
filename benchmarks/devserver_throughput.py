"""Items per second the devserver stores with 8 concurrent posters.

Run: python benchmarks/devserver_throughput.py [--posters 8] [--items 250] [--rounds 5]
Each round starts a fresh DevServer on a temporary database, lets every poster (a
thread with its own keep-alive `requests.Session`) post its items, and checks that
exactly posters x items occurrences were stored.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from typing import List

import requests

from rollbar_notifier.devserver import DevServer


def _payload(poster: int, number: int) -> bytes:
    body = {
        "data": {
            "environment": "benchmark",
            "uuid": str(uuid.uuid4()),
            "timestamp": int(time.time()),
            "body": {"trace": {
                "frames": [{"filename": "bench.py", "lineno": number, "method": "post",
                            "code": "raise RuntimeError()",
                            "context": {"pre": ["def post():"], "post": []}}],
                "exception": {"class": "RuntimeError", "message": f"poster {poster}"},
            }},
        }
    }
    return json.dumps(body).encode()


def _round(posters: int, items: int) -> float:
    """One timed round; returns stored items per second."""
    with DevServer() as server:
        url = server.api_url + "item/"
        headers = {"X-Rollbar-Access-Token": server.tokens["post_server_item"],
                   "Content-Type": "application/json"}
        bodies = [[_payload(p, n) for n in range(items)] for p in range(posters)]
        failures: List[int] = []
        barrier = threading.Barrier(posters + 1, timeout=30)

        def post(own: List[bytes]) -> None:
            with requests.Session() as session:
                barrier.wait()
                for body in own:
                    status = session.post(url, data=body, headers=headers, timeout=30).status_code
                    if status != 200:
                        failures.append(status)

        threads = [threading.Thread(target=post, args=(own,)) for own in bodies]
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join(timeout=300)
        elapsed = time.perf_counter() - started
        stored = len(server.occurrences())
        if failures or stored != posters * items:
            raise SystemExit(f"stored {stored} of {posters * items}; failures: {failures[:5]}")
        return stored / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posters", type=int, default=8)
    parser.add_argument("--items", type=int, default=250, help="items per poster per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rates = []
    for number in range(1, args.rounds + 1):
        rate = _round(args.posters, args.items)
        rates.append(rate)
        print(f"round {number}: {args.posters * args.items} items stored, {rate:,.0f} items/s")
    print(f"median: {statistics.median(rates):,.0f} items/s "
          f"({args.posters} posters, {args.items} items each, {args.rounds} rounds)")


if __name__ == "__main__":
    main()
