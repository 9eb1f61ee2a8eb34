"""What the queue may hold: ``queue_bytes`` bounds it in bytes, and queued events hold
copies only, never a frame, traceback or log record."""

from __future__ import annotations

import gc
import json
import logging
import threading
import weakref
from typing import Any, Callable, Iterator, List

import pytest
from reports import capture_exception, capture_message
from scripted_server import Recorded, Reply, ScriptedServer
from test_worker import OK, RecordingTransport, make_worker

from rollbar_notifier.config import Config
from rollbar_notifier.event import Event
from rollbar_notifier.handler import RollbarHandler
from rollbar_notifier.notifier import Notifier
from rollbar_notifier.transport import Response
from rollbar_notifier.worker import Worker, footprint

WAIT = 10.0


@pytest.fixture
def gated_worker() -> Iterator[Callable[..., Any]]:
    """A one-sender worker whose transport holds every request until ``gate`` is set."""
    made: List[Worker] = []
    gate = threading.Event()

    def make(**options: Any) -> Any:
        transport = RecordingTransport(lambda n, r: OK if gate.wait(WAIT) else Response(0))
        config = Config.from_options({"access_token": "token", "senders": 1, **options})
        worker = make_worker(config, transport)
        made.append(worker)
        return worker, transport, gate

    yield make
    gate.set()
    for worker in made:
        worker.close(timeout=0.5)


def message(text: str) -> Event:
    event = capture_message(text)
    assert event is not None
    return event


def event_with_locals() -> Event:
    """An exception whose frame holds about as much as capture copies of one frame."""

    def fail() -> None:
        held = [f"{n:04}" * 256 for n in range(20)]  # noqa: F841  (captured as a local)
        raise ValueError("with large locals")

    try:
        fail()
    except ValueError as exc:
        event = capture_exception(exc)
    assert event is not None
    return event


def test_queue_bytes_drops_the_newest_counts_and_reports_the_loss(
        gated_worker: Callable[..., Any]) -> None:
    size = footprint(message("m00"))
    worker, transport, gate = gated_worker(queue_size=1000, queue_bytes=3 * size + size // 2)
    accepted = [worker.submit(message(f"m{n:02}")) for n in range(30)]
    # three fit; a fourth may fit once the sender has taken the first off the queue
    assert accepted[:3] == [True] * 3 and 3 <= accepted.count(True) <= 4
    gate.set()
    assert worker.flush(WAIT)
    bodies = [json.loads(r.body or b"{}")["data"] for r in transport.requests]
    sent = [b["body"]["message"]["body"] for b in bodies if b["level"] != "warning"]
    assert sent == [f"m{n:02}" for n, queued in enumerate(accepted) if queued]
    (warning,) = [b for b in bodies if b["level"] == "warning"]
    assert warning["custom"]["dropped"] == accepted.count(False)
    assert warning["custom"]["reason"] == "queue_full"
    assert "queue_bytes" in warning["body"]["message"]["body"]
    assert worker.stats()["dropped"] == {"queue_full": accepted.count(False)}


def test_the_byte_bound_counts_what_events_hold_not_how_many_they_are(
        gated_worker: Callable[..., Any]) -> None:
    """Events with large locals fill the bound with far fewer of them than small messages."""
    large = footprint(event_with_locals())
    small = footprint(message("small"))
    assert large > 5 * small
    worker, _, gate = gated_worker(queue_size=1000, queue_bytes=4 * large + large // 2)
    large_accepted = [worker.submit(event_with_locals()) for _ in range(20)]
    gate.set()
    assert worker.flush(WAIT)
    gate.clear()
    small_accepted = [worker.submit(message("small")) for _ in range(200)]
    assert 4 <= large_accepted.count(True) <= 5
    assert small_accepted.count(True) >= 5 * large_accepted.count(True)
    assert worker.stats()["dropped"] == {
        "queue_full": large_accepted.count(False) + small_accepted.count(False)}


def test_a_queued_report_keeps_no_traceback_frame_or_log_record_alive(
        server: ScriptedServer) -> None:
    """``logger.exception`` with telemetry on: once the call returns, the raising frame's
    locals are free although the items (and telemetry holding the records) are queued."""
    gate = threading.Event()
    arrived = threading.Event()

    def hold(request: Recorded) -> Reply:
        arrived.set()
        gate.wait(WAIT)
        return Reply()

    server.handle_with(hold)
    notifier = Notifier(access_token="token", endpoint=server.api_url, senders=1,
                        install_hooks=False)
    logger = logging.getLogger("tests.memory_bounds")
    logger.propagate = False  # pytest's capture handlers keep every record they see
    logger.setLevel(logging.INFO)
    handler = RollbarHandler(notifier=notifier)
    logger.addHandler(handler)

    class Held:
        def __repr__(self) -> str:
            return "<held local>"

    def fail(refs: List[weakref.ref[Held]]) -> None:
        held = Held()
        refs.append(weakref.ref(held))
        raise ValueError("failed with a local")

    refs: List[weakref.ref[Held]] = []
    try:
        notifier.report_message("occupies the only sender")
        assert arrived.wait(WAIT)
        for number in range(2):
            logger.info("before failure %d", number)
            try:
                fail(refs)
            except ValueError:
                logger.exception("request %d failed", number)
        gc.collect()
        assert [ref() for ref in refs] == [None, None]
        assert not notifier.flush(0), "the reports are still queued"
        gate.set()
        assert notifier.flush(WAIT)
        assert server.wait_for(lambda: len(server.delivered()) == 3)
    finally:
        gate.set()
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        notifier.close(timeout=1)
    items = [r.json()["data"] for r in server.requests()]
    second = items[2]
    frame = second["body"]["trace"]["frames"][-1]
    assert frame["locals"]["held"] == "<held local>"
    telemetry = [e["body"]["message"] for e in second["body"]["telemetry"]]
    assert telemetry[-3:] == ["before failure 0", "request 0 failed", "before failure 1"]


def test_log_records_count_in_the_footprint_of_the_first_event_taking_them(
        server: ScriptedServer) -> None:
    notifier = Notifier(access_token="token", endpoint=server.api_url, install_hooks=False)
    logger = logging.getLogger("tests.memory_bounds.telemetry")
    logger.propagate = False
    try:
        bare = message("charged")
        for number in range(5):
            logger.warning("%d %s", number, "y" * 800)
        charged = message("charged")
        charged.telemetry = notifier.telemetry()
        assert footprint(charged) - footprint(bare) >= 5 * 800
        again = message("charged")
        again.telemetry = notifier.telemetry()
        assert footprint(again) - footprint(bare) < 800, "shared records are counted once"
    finally:
        notifier.close(timeout=1)


def test_a_logger_filter_that_rewrites_records_rewrites_their_telemetry(
        server: ScriptedServer) -> None:
    """Telemetry keeps a record's message, not the record: the logger's filters run again
    on a stand-in carrying it, so a redacting filter still redacts what is sent."""

    class Redact(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.msg, record.args = record.getMessage().replace("hunter2", "[redacted]"), ()
            return "drop me" not in record.msg

    notifier = Notifier(access_token="token", endpoint=server.api_url, install_hooks=False)
    logger = logging.getLogger("tests.memory_bounds.redacted")
    logger.propagate = False
    logger.addFilter(Redact())
    try:
        logger.warning("login for %s with %s", "bob", "hunter2")
        logger.warning("drop me")
        events = notifier.telemetry()
        assert events is not None
        mine = [e["body"]["message"] for e in events()
                if e["body"]["logger"] == "tests.memory_bounds.redacted"]
        assert mine == ["login for bob with [redacted]"]
    finally:
        logger.filters.clear()
        notifier.close(timeout=1)
