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
from rollbar_notifier.pacing import BUSY_SHARE, rest_after
from rollbar_notifier.transport import Request, Response

CPU_PER_SEND = 0.004


def test_a_sender_rests_to_keep_to_its_share_of_the_time() -> None:
    assert rest_after(0.001, 0.001, share=0.2) == pytest.approx(0.004)
    assert rest_after(0.001, 0.001, share=0.5) == pytest.approx(0.001)


def test_time_spent_waiting_counts_as_rest() -> None:
    assert rest_after(0.001, 0.050, share=0.2) == 0.0
    assert rest_after(0.001, 0.002, share=0.2) == pytest.approx(0.003)


def test_nothing_spent_means_no_rest() -> None:
    assert rest_after(0.0, 0.0) == 0.0
    assert rest_after(-1.0, 0.0) == 0.0


def burn(n: int, request: Request) -> Response:
    """A transport whose every send costs CPU, as ``requests`` does."""
    started = time.thread_time()
    while time.thread_time() - started < CPU_PER_SEND:
        pass
    return OK


def slow_server(n: int, request: Request) -> Response:
    """A server that answers after ``SERVER_SECONDS``, costing the sender no CPU."""
    time.sleep(SERVER_SECONDS)
    return OK


SERVER_SECONDS = 0.05


def sent_while_busy(seconds: float, flushing: bool, respond: Callable[[int, Request], Response]
                    = burn, senders: int = 2) -> int:
    """Items sent while the caller keeps the queue full for ``seconds``."""
    transport = RecordingTransport(respond)
    worker = make_worker(Config.from_options({"access_token": "t", "senders": senders,
                                              "queue_size": 10_000}), transport)
    try:
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

