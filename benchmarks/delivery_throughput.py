"""Delivered exception items per second against a local server answering after 0 ms and 50 ms.

What is measured is the requirement "delivery items/s for exception items against the
same-run ``requests`` floor (4 threads, keep-alive, same bytes)". The notifier (default
options: 4 senders) reports exceptions raised 11 calls deep (12 frames in the trace, with
their locals), each carrying the 50 INFO records logged before it as telemetry, as a
service's items would. Its rate is from the first report to the end of ``flush()``: the
caller's capture, the senders' building and sending.

The floor, measured in the same run against the same server: the same kind of items
(captured, with the same telemetry, and built by ``ItemBuilder`` with the same options)
prebuilt into bodies, then POSTed by 4 threads sharing one keep-alive
``requests.Session``. That is the rate 4 senders reach when building an item costs
nothing. The server counts what it receives, so the bodies' average size is shown for
both: the same bytes.

The server runs in its own process (so it does not compete with the notifier for the
GIL). Other benchmarks import ``TOKEN`` and ``sink`` from here.
Usage: ``python benchmarks/delivery_throughput.py [--rounds N] [--count N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

import requests

from rollbar_notifier import telemetry
from rollbar_notifier.capture import capture
from rollbar_notifier.config import Config
from rollbar_notifier.event import Event, ReportFields
from rollbar_notifier.item import ItemBuilder
from rollbar_notifier.notifier import Notifier

TOKEN = "benchmark-token"
OK = b'{"err": 0, "result": {"id": null}}'
STATS_PATH = "sink-stats"
"""``GET endpoint + STATS_PATH``: the items and body bytes the sink has received."""
FLOOR_THREADS = 4
"""As many as the notifier's default ``senders``."""
DEPTH = 10
"""Calls below the reporting function: 12 frames in each trace."""
TELEMETRY_RECORDS = 50
"""As many as the default ``telemetry_size``."""
SLOW_DELAY = 0.05
SLOW_SHARE = 5
"""At 50 ms, a round reports ``count // SLOW_SHARE`` items."""

app_log = logging.getLogger("benchmark.app")
_T = TypeVar("_T")


class _Received:
    lock = threading.Lock()
    items = 0
    nbytes = 0


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay = 0.0

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        if self.path.endswith("/" + STATS_PATH):
            with _Received.lock:
                totals = {"items": _Received.items, "bytes": _Received.nbytes}
            self._answer(json.dumps(totals).encode())
            return
        self._answer(b"pong")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with _Received.lock:
            _Received.items += 1
            _Received.nbytes += length
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


def received(endpoint: str) -> Tuple[int, int]:
    """(items, body bytes) the sink at ``endpoint`` has received so far."""
    totals = requests.get(endpoint + STATS_PATH, timeout=10).json()
    return int(totals["items"]), int(totals["bytes"])


def let_app_log() -> None:
    """Let :func:`log_activity`'s INFO records be made (and so collected), printing none."""
    app_log.setLevel(logging.INFO)
    app_log.propagate = False
    if not app_log.handlers:
        app_log.addHandler(logging.NullHandler())


def log_activity() -> None:
    """What a service logs before an error: the items' telemetry (collected once a
    notifier exists)."""
    for n in range(TELEMETRY_RECORDS):
        app_log.info("GET /orders/%d answered 200 in %d ms", 1000 + n, 12 + n % 7)


def descend(depth: int, n: int) -> None:
    order = {"id": n, "lines": depth, "state": "open"}
    if depth <= 0:
        raise ValueError(f"throughput failure {n} ({order['state']})")
    descend(depth - 1, n)


def raise_and_catch(n: int, handle: Callable[[], _T]) -> _T:
    """Raise ``DEPTH`` calls below, catch here and ``handle`` it: the same trace for the
    notifier and the floor."""
    try:
        descend(DEPTH, n)
    except ValueError:
        return handle()
    raise AssertionError("descend() did not raise")


def failure_event(n: int, config: Config) -> Event:
    """What ``Notifier.report`` makes of a ``report_exception()`` outside any scope."""

    def take() -> Optional[Event]:
        return capture(ReportFields(exception=sys.exc_info()), config.capture_locals)

    event = raise_and_catch(n, take)
    assert event is not None
    records = telemetry.attach(config.telemetry_size, config.telemetry_level)
    event.telemetry = records.snapshot(config.telemetry_level, config.telemetry_size)
    return event


def notifier_rate(endpoint: str, count: int) -> Tuple[float, float]:
    """(items/s, average body bytes) of the notifier reporting ``count`` exceptions."""
    notifier = Notifier(access_token=TOKEN, endpoint=endpoint, queue_size=count + 10)
    try:
        log_activity()
        before = received(endpoint)
        started = time.perf_counter()
        for n in range(count):
            raise_and_catch(n, notifier.report_exception)
        if not notifier.flush(120):
            raise RuntimeError("flush timed out")
        elapsed = time.perf_counter() - started
        stats = notifier.stats()
        assert stats["sent"] == count and not stats["dropped"], stats
        items, nbytes = (after - first for after, first in zip(received(endpoint), before))
        assert items == count, (items, count)
        return count / elapsed, nbytes / items
    finally:
        notifier.close(1)


def floor_bodies(endpoint: str, count: int) -> List[bytes]:
    config = Config.from_options({"access_token": TOKEN, "endpoint": endpoint})
    builder = ItemBuilder(config)
    telemetry.attach(config.telemetry_size, config.telemetry_level)  # as a notifier does
    log_activity()
    bodies: List[bytes] = []
    for n in range(count):
        body = builder.build(failure_event(n, config))
        assert body is not None
        bodies.append(body)
    return bodies


def floor_rate(endpoint: str, bodies: List[bytes]) -> Tuple[float, float]:
    """(items/s, average body bytes) of ``FLOOR_THREADS`` threads POSTing ``bodies``
    over one shared keep-alive ``requests.Session``."""
    headers = {"X-Rollbar-Access-Token": TOKEN, "Content-Type": "application/json"}
    url = endpoint + "item/"
    ready = threading.Barrier(FLOOR_THREADS + 1)
    failures: List[str] = []
    before = received(endpoint)
    with requests.Session() as session:

        def post(share: List[bytes]) -> None:
            ready.wait(30)
            for body in share:
                try:
                    response = session.post(url, data=body, headers=headers, timeout=10)
                except requests.RequestException as exc:
                    failures.append(repr(exc))
                    continue
                if response.status_code != 200:
                    failures.append(f"HTTP {response.status_code}")

        threads = [threading.Thread(target=post, args=(bodies[i::FLOOR_THREADS],), daemon=True)
                   for i in range(FLOOR_THREADS)]
        for thread in threads:
            thread.start()
        ready.wait(30)
        started = time.perf_counter()
        for thread in threads:
            thread.join(120)
        elapsed = time.perf_counter() - started
    assert not any(thread.is_alive() for thread in threads), "floor threads timed out"
    assert not failures, failures[:5]
    items, nbytes = (after - first for after, first in zip(received(endpoint), before))
    assert items == len(bodies), (items, len(bodies))
    return len(bodies) / elapsed, nbytes / items


def describe(body: bytes) -> Dict[str, int]:
    """Frames and telemetry events of one built item, to show what the items carry."""
    data = json.loads(body)["data"]
    traces = data["body"].get("trace_chain") or [data["body"]["trace"]]
    return {"frames": sum(len(trace["frames"]) for trace in traces),
            "telemetry_events": len(data["body"].get("telemetry", []))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=1500,
                        help="items per round at 0 ms (at 50 ms: a fifth of them)")
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    let_app_log()
    results: Dict[str, Any] = {}
    for delay, count in ((0.0, args.count), (SLOW_DELAY, max(args.count // SLOW_SHARE, 1))):
        with sink(delay) as endpoint:
            ours: List[Tuple[float, float]] = []
            floor: List[Tuple[float, float]] = []
            shape: Dict[str, int] = {}
            for round_number in range(args.rounds):
                bodies = floor_bodies(endpoint, count)  # built outside the timing
                if round_number % 2:  # neither side always runs first
                    floor.append(floor_rate(endpoint, bodies))
                    ours.append(notifier_rate(endpoint, count))
                else:
                    ours.append(notifier_rate(endpoint, count))
                    floor.append(floor_rate(endpoint, bodies))
                shape = describe(bodies[0])
        ours_rate = statistics.median(rate for rate, _ in ours)
        floor_median = statistics.median(rate for rate, _ in floor)
        label = f"{delay * 1000:.0f} ms"
        results[label] = {
            "notifier_items_per_s": round(ours_rate, 1),
            "floor_items_per_s": round(floor_median, 1),
            "ratio": round(ours_rate / floor_median, 2),
            "notifier_body_bytes": round(statistics.median(size for _, size in ours)),
            "floor_body_bytes": round(statistics.median(size for _, size in floor)),
            "floor_threads": FLOOR_THREADS, "rounds": args.rounds, "items_per_round": count,
            "frames_per_item": shape["frames"],
            "telemetry_events_per_item": shape["telemetry_events"]}
        result = results[label]
        print(f"server delay {label}: notifier {result['notifier_items_per_s']} items/s, "
              f"floor ({FLOOR_THREADS} threads, one keep-alive requests.Session) "
              f"{result['floor_items_per_s']} items/s, ratio {result['ratio']}x; "
              f"average body {result['notifier_body_bytes']} bytes vs floor "
              f"{result['floor_body_bytes']} bytes; {result['frames_per_item']} frames and "
              f"{result['telemetry_events_per_item']} telemetry events per item "
              f"(medians of {args.rounds} rounds of {count})", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
