"""The senders yield to the program while it reports faster than they can send, and go
at full speed when somebody waits for them."""

from __future__ import annotations

import threading
import time
from typing import Callable, List

import pytest
from reports import capture_message
from test_worker import OK, RecordingTransport, make_worker

from rollbar_notifier.config import Config
from rollbar_notifier.pacing import BUSY_SHARE, end_item, start_item
from rollbar_notifier.transport import Request, Response

CPU_PER_SEND = 0.004


def test_each_item_moves_the_shared_clock_by_its_cpu_over_the_share() -> None:
    assert start_item(10.0, 10.0, 0.001, share=0.2) == pytest.approx(10.005)
    assert start_item(10.0, 10.0, 0.001, share=0.5) == pytest.approx(10.002)
    # Four senders starting items at once: their expected costs add up on the one clock.
    clock = 0.0
    for _ in range(4):
        clock = start_item(clock, 10.0, 0.001, share=0.2)
    assert clock == pytest.approx(10.020)
    # An item that cost more than it was charged moves the clock on by the difference.
    assert end_item(10.005, 0.001, 0.003, share=0.2) == pytest.approx(10.015)
    assert end_item(10.005, 0.001, 0.0005, share=0.2) == pytest.approx(10.0025)


def test_time_spent_waiting_counts_as_rest() -> None:
    """A clock behind an item's start owes nothing: the senders waited (for the server,
    for the interpreter) or had nothing to do."""
    assert start_item(5.0, 10.0, 0.001, share=0.2) == pytest.approx(10.005)
    assert start_item(10.003, 10.0, 0.001, share=0.2) == pytest.approx(10.008)


def test_no_share_means_no_wait() -> None:
    assert start_item(20.0, 10.0, 0.001, share=0.0) == 10.0
    assert end_item(20.0, 0.001, 0.005, share=0.0) == 20.0
    assert start_item(0.0, 10.0, -1.0) == 10.0


def burning(seconds: float) -> Callable[[int, Request], Response]:
    """A transport whose every send costs ``seconds`` of CPU, as ``requests`` does."""
    def send(n: int, request: Request) -> Response:
        started = time.thread_time()
        while time.thread_time() - started < seconds:
            pass
        return OK
    return send


burn = burning(CPU_PER_SEND)


def slow_server(n: int, request: Request) -> Response:
    """A server that answers after ``SERVER_SECONDS``, costing the sender no CPU."""
    time.sleep(SERVER_SECONDS)
    return OK


SERVER_SECONDS = 0.05


def sent_while_busy(seconds: float, flushing: bool, respond: Callable[[int, Request], Response]
                    = burn, senders: int = 2, warmed: bool = False) -> int:
    """Items sent while the caller keeps the queue full for ``seconds``; ``warmed``: after
    one item sent before, so the senders know what an item costs."""
    transport = RecordingTransport(respond)
    worker = make_worker(Config.from_options({"access_token": "t", "senders": senders,
                                              "queue_size": 10_000}), transport)
    try:
        if warmed:
            assert worker.submit(capture_message("warm up"))  # type: ignore[arg-type]
            assert worker.flush(5)
            transport.requests.clear()
        for n in range(400):
            assert worker.submit(capture_message(f"m{n}"))  # type: ignore[arg-type]
        waiter = threading.Thread(target=worker.flush, args=(seconds,), daemon=True)
        if flushing:
            waiter.start()
        time.sleep(seconds)
        return len(transport.requests)
    finally:
        worker.close(timeout=0)


def test_a_backlog_is_sent_at_a_fraction_of_full_speed_unless_somebody_waits() -> None:
    """400 items, each costing 4 ms of a sender's CPU: in 0.5 s the senders at full speed
    send over a hundred; taking turns and resting keeps them to ``BUSY_SHARE`` of that."""
    paced = sent_while_busy(0.5, flushing=False)
    hurried = sent_while_busy(0.5, flushing=True)
    full_speed = 0.5 / CPU_PER_SEND
    assert paced <= full_speed * BUSY_SHARE * 2, (paced, hurried)
    assert hurried >= full_speed * 0.5, (paced, hurried)


def test_the_senders_keep_to_the_share_together_from_a_bursts_first_items() -> None:
    """Every idle sender wakes for a burst's first reports. Counted one by one, each would
    spend a whole item before its first rest: four items, where the share allows two."""
    sent = sent_while_busy(0.1, flushing=False, respond=burning(0.010), senders=4, warmed=True)
    assert sent <= 1 + 0.1 * BUSY_SHARE / 0.010, sent


def test_waiting_for_a_slow_server_holds_no_turn() -> None:
    """Paced senders still wait for the server side by side: one at a time, a backlog
    behind a 50 ms server would go out at 20 items/s however many senders there are."""
    paced = sent_while_busy(1.0, flushing=False, respond=slow_server, senders=4)
    one_at_a_time = 1.0 / SERVER_SECONDS
    assert paced >= 2 * one_at_a_time, paced


def test_senders_do_not_rest_once_the_queue_is_empty() -> None:
    transport = RecordingTransport(burn)
    worker = make_worker(Config.from_options({"access_token": "t", "senders": 1}), transport)
    try:
        times: List[float] = []
        for n in range(5):
            started = time.monotonic()
            assert worker.submit(capture_message(f"one at a time {n}"))  # type: ignore[arg-type]
            assert transport.wait_for_requests(n + 1, timeout=5)
            times.append(time.monotonic() - started)
        assert max(times) < 1.0, times
    finally:
        worker.close(timeout=1)

