"""Delivered items per second against a local server answering after 0 ms and 50 ms.

The server runs in its own process (so it does not compete with the notifier for the
GIL). The baseline, measured in the same run, is one thread POSTing the same bodies
back to back over one keep-alive ``requests.Session``: what a single-threaded sender
would reach. Usage: ``python benchmarks/delivery_throughput.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, List

import requests

from rollbar_notifier.capture import capture
from rollbar_notifier.config import Config
from rollbar_notifier.event import ReportFields
from rollbar_notifier.item import ItemBuilder
from rollbar_notifier.notifier import Notifier

TOKEN = "benchmark-token"
OK = b'{"err": 0, "result": {"id": null}}'


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay = 0.0

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._answer(b"pong")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.delay:
            time.sleep(self.delay)
        self._answer(OK)

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the benchmark prints its own results."""


def serve(delay: float) -> None:
    _Sink.delay = delay
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


@contextlib.contextmanager
def sink(delay: float) -> Iterator[str]:
    """A sink server in a child process; yields its API endpoint."""
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(delay)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        yield f"http://127.0.0.1:{port}/api/1/"
    finally:
        child.terminate()
        child.wait(10)


def notifier_rate(endpoint: str, count: int) -> float:
    notifier = Notifier(access_token=TOKEN, endpoint=endpoint, queue_size=count + 10)
    try:
        started = time.perf_counter()
        for n in range(count):
            notifier.report_message(f"throughput {n}")
        if not notifier.flush(120):
            raise RuntimeError("flush timed out")
        elapsed = time.perf_counter() - started
        assert notifier.stats()["sent"] == count, notifier.stats()
        return count / elapsed
    finally:
        notifier.close(1)


def baseline_rate(endpoint: str, count: int) -> float:
    builder = ItemBuilder(Config.from_options({"access_token": TOKEN, "endpoint": endpoint}))
    bodies: List[bytes] = []
    for n in range(count):
        event = capture(ReportFields(message=f"baseline {n}"))
        assert event is not None
        body = builder.build(event)
        assert body is not None
        bodies.append(body)
    with requests.Session() as session:
        headers = {"X-Rollbar-Access-Token": TOKEN, "Content-Type": "application/json"}
        started = time.perf_counter()
        for body in bodies:
            session.post(endpoint + "item/", data=body, headers=headers, timeout=10)
        return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    results = {}
    for delay, count in ((0.0, 2000), (0.05, 400)):
        with sink(delay) as endpoint:
            ours, base = [], []
            for _ in range(args.rounds):
                ours.append(notifier_rate(endpoint, count))
                base.append(baseline_rate(endpoint, count // 4))
        label = f"{delay * 1000:.0f} ms"
        results[label] = {"notifier_items_per_s": round(statistics.median(ours), 1),
                          "single_thread_baseline_items_per_s": round(statistics.median(base), 1),
                          "ratio": round(statistics.median(ours) / statistics.median(base), 2),
                          "rounds": args.rounds, "items_per_round": count}
        print(f"server delay {label}: notifier {results[label]['notifier_items_per_s']} items/s, "
              f"single-thread baseline {results[label]['single_thread_baseline_items_per_s']} "
              f"items/s, ratio {results[label]['ratio']}x (medians of {args.rounds} rounds)",
              flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
