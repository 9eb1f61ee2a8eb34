"""Worker logic with a recording transport: no network, short retry windows."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import pytest
from reports import capture_message

from rollbar_notifier.blocking import BlockingSender
from rollbar_notifier.capture import capture
from rollbar_notifier.config import Config
from rollbar_notifier.event import Event, ReportFields
from rollbar_notifier.retry import RetryPolicy
from rollbar_notifier.spool import Spool
from rollbar_notifier.transport import Request, Response
from rollbar_notifier.worker import Worker

OK = Response(200, {}, b'{"err": 0}')
FAST = RetryPolicy(retry_for=1.0, first=0.02, cap=0.1)


class RecordingTransport:
    """Answers with ``respond(n, request)`` (n counts from 1) and records every request."""

    def __init__(self, respond: Optional[Callable[[int, Request], Response]] = None) -> None:
        self.respond = respond or (lambda n, request: OK)
        self.requests: List[Request] = []
        self.times: List[float] = []
        self.lock = threading.Lock()

    def send(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
            self.times.append(time.monotonic())
            number = len(self.requests)
        return self.respond(number, request)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.requests) >= count

    def uuids(self) -> List[str]:
        with self.lock:
            return [json.loads(r.body or b"{}")["data"]["uuid"] for r in self.requests]


def make_worker(config: Config, transport: RecordingTransport, **kwargs: Any) -> Worker:
    """A worker whose own reports go straight back into it, as a notifier's would."""

    def report(fields: ReportFields) -> Optional[str]:
        event = capture(fields)
        return event.uuid if event is not None and worker.submit(event) else None

    worker = Worker(config, transport, report, **kwargs)
    return worker


def send_now(sender: BlockingSender, event: Event) -> Optional[str]:
    """What a blocking-mode notifier returns for ``event``."""
    return event.uuid if sender.submit(event) else None


@pytest.fixture
def workers() -> Iterator[Callable[..., Any]]:
    made: List[Any] = []

    def make(transport: RecordingTransport, policy: RetryPolicy = FAST,
             clock: Callable[[], float] = time.monotonic, **options: Any) -> Any:
        options.setdefault("access_token", "token")
        config = Config.from_options(options)
        worker = (BlockingSender(config, transport, policy=policy, clock=clock)
                  if config.mode == "blocking"
                  else make_worker(config, transport, policy=policy, clock=clock))
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.close(timeout=0.2)


def message(text: str = "hello") -> Event:
    event = capture_message(text)
    assert event is not None
    return event


def test_items_are_built_and_sent_by_named_sender_threads(workers: Callable[..., Worker]) -> None:
    seen_threads: List[str] = []

    def respond(n: int, request: Request) -> Response:
        seen_threads.append(threading.current_thread().name)
        return OK

    transport = RecordingTransport(respond)
    worker = workers(transport, senders=3)
    events = [message(f"m{n}") for n in range(20)]
    assert all(worker.submit(event) for event in events)
    assert worker.flush(5)
    assert sorted(transport.uuids()) == sorted(e.uuid for e in events)
    assert set(seen_threads) <= {f"rollbar_notifier-sender-{n}" for n in (1, 2, 3)}
    assert worker.stats() == {"queued": 20, "sent": 20, "retried": 0, "spooled": 0,
                              "dropped": {}}
    worker.close(timeout=2)  # the senders are told to stop through the queue: not reports
    assert worker.stats()["queued"] == 20


def test_retries_resend_the_same_bytes(workers: Callable[..., Worker]) -> None:
    transport = RecordingTransport(lambda n, r: OK if n > 3 else
                                   (Response(0, error="reset") if n % 2 else Response(503)))
    worker = workers(transport, senders=1)
    worker.submit(message())
    assert worker.flush(5)
    assert len(transport.requests) == 4
    assert len({r.body for r in transport.requests}) == 1
    assert worker.stats()["retried"] == 3 and worker.stats()["sent"] == 1


def test_413_rebuilds_once_smaller_then_drops(workers: Callable[..., Worker]) -> None:
    transport = RecordingTransport(lambda n, r: Response(413))
    worker = workers(transport, senders=1)
    event = capture_message("big", extra={"blob": ["x" * 16000 for _ in range(8)]})
    assert event is not None
    worker.submit(event)
    assert worker.flush(5)
    sizes = [len(r.body or b"") for r in transport.requests]
    assert len(sizes) == 2 and sizes[0] > 65536 >= sizes[1]
    assert set(transport.uuids()) == {event.uuid}
    assert worker.stats()["dropped"] == {"http_413": 1}


def test_refusals_are_dropped_and_logged_once_per_reason(
        workers: Callable[..., Worker], caplog: pytest.LogCaptureFixture) -> None:
    def respond(n: int, request: Request) -> Response:
        status = 403 if n % 2 else 422
        return Response(status, {}, json.dumps({"err": 1, "message": f"bad {status}"}).encode())

    worker = workers(RecordingTransport(respond), senders=1)
    with caplog.at_level(logging.WARNING, logger="rollbar_notifier"):
        for _ in range(6):
            worker.submit(message())
        assert worker.flush(5)
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert sorted(refusals) == ["rollbar_notifier: the server refused an item (http_403): bad 403",
                                "rollbar_notifier: the server refused an item (http_422): bad 422"]
    assert worker.stats()["dropped"] == {"http_403": 3, "http_422": 3}
    assert "token" not in caplog.text


def test_429_pauses_every_sender_until_the_reset(workers: Callable[..., Worker]) -> None:
    limited_until = time.monotonic() + 1.0

    def respond(n: int, request: Request) -> Response:
        if time.monotonic() < limited_until:
            return Response(429, {"X-Rate-Limit-Remaining-Seconds": "1"})
        return OK

    transport = RecordingTransport(respond)
    worker = workers(transport, senders=4)
    events = [message(f"m{n}") for n in range(30)]
    for event in events:
        worker.submit(event)
    assert worker.flush(10)
    limited = [t for t in transport.times if t < limited_until]
    assert len(limited) <= 4
    assert sorted(set(transport.uuids())) == sorted(e.uuid for e in events)
    assert worker.stats()["sent"] == 30 and worker.stats()["dropped"] == {}


def test_a_full_queue_drops_counts_and_reports_the_loss(workers: Callable[..., Worker]) -> None:
    gate = threading.Event()
    transport = RecordingTransport(lambda n, r: OK if gate.wait(10) else Response(0))
    worker = workers(transport, senders=1, queue_size=5)
    accepted = [worker.submit(message(f"m{n}")) for n in range(50)]
    assert 5 <= accepted.count(True) <= 6
    gate.set()
    assert worker.flush(5)
    bodies = [json.loads(r.body or b"{}")["data"] for r in transport.requests]
    warnings = [b for b in bodies if b["level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["custom"]["dropped"] == accepted.count(False)
    assert "queue" in warnings[0]["body"]["message"]["body"]
    assert worker.stats()["dropped"] == {"queue_full": accepted.count(False)}


def test_before_send_can_drop(workers: Callable[..., Worker]) -> None:
    transport = RecordingTransport()
    worker = workers(transport, before_send=lambda payload: None)
    assert worker.submit(message())
    assert worker.flush(5)
    assert transport.requests == []
    assert worker.stats()["dropped"] == {"before_send": 1}


def test_expired_items_are_spooled_and_replayed_after_recovery(
        workers: Callable[..., Worker], tmp_path: Path) -> None:
    up = threading.Event()
    transport = RecordingTransport(lambda n, r: OK if up.is_set() else Response(503))
    worker = workers(transport, policy=RetryPolicy(retry_for=0.2, first=0.02, cap=0.05),
                     senders=2, spool_dir=str(tmp_path))
    lost = [message(f"lost{n}") for n in range(3)]
    for event in lost:
        worker.submit(event)
    assert worker.flush(5)
    spool = Spool(str(tmp_path), 100, 10**6)
    assert len(spool.pending()) == 3 and worker.stats()["spooled"] == 3
    up.set()
    worker.submit(message("after"))
    assert worker.flush(5)
    assert spool.pending() == []
    assert {e.uuid for e in lost} <= set(transport.uuids())


def test_without_a_spool_expired_items_are_counted(workers: Callable[..., Worker]) -> None:
    worker = workers(RecordingTransport(lambda n, r: Response(500)),
                     policy=RetryPolicy(retry_for=0.1, first=0.01, cap=0.02))
    worker.submit(message())
    assert worker.flush(5)
    assert worker.stats()["dropped"] == {"retry_expired": 1}


def test_close_spools_what_is_pending_and_is_idempotent(
        workers: Callable[..., Worker], tmp_path: Path) -> None:
    transport = RecordingTransport(lambda n, r: Response(0, error="down"))
    worker = workers(transport, policy=RetryPolicy(retry_for=60, first=5, cap=5),
                     spool_dir=str(tmp_path), senders=2)
    events = [message(f"m{n}") for n in range(5)]
    for event in events:
        worker.submit(event)
    assert not worker.flush(0.2)
    started = time.monotonic()
    worker.close(timeout=0.2)
    worker.close(timeout=0.2)
    assert time.monotonic() - started < 2
    names = Spool(str(tmp_path), 100, 10**6).pending()
    assert sorted(n.split("-", 2)[2][:-5] for n in names) == sorted(e.uuid for e in events)
    assert not worker.submit(message())


def test_close_without_a_spool_says_so_on_stderr(
        workers: Callable[..., Worker], capsys: pytest.CaptureFixture[str]) -> None:
    worker = workers(RecordingTransport(lambda n, r: Response(0, error="down")),
                     policy=RetryPolicy(retry_for=60, first=5, cap=5), senders=1)
    for n in range(3):
        worker.submit(message(f"m{n}"))
    worker.close(timeout=0.1)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "3 item(s) were not delivered" in err
    assert worker.stats()["dropped"] == {"shutdown_timeout": 3}


def test_thread_count_is_fixed_and_threads_end_on_close(workers: Callable[..., Worker]) -> None:
    before = threading.active_count()
    worker = workers(RecordingTransport(), senders=4)
    assert threading.active_count() == before + 4
    for n in range(200):
        worker.submit(message(f"m{n}"))
    assert threading.active_count() == before + 4
    worker.close(timeout=2)
    assert threading.active_count() == before


def test_blocking_mode_sends_in_the_callers_thread(workers: Callable[..., Worker]) -> None:
    callers: List[str] = []

    def respond(n: int, request: Request) -> Response:
        callers.append(threading.current_thread().name)
        return Response(503) if n == 1 else OK

    before = threading.active_count()
    worker = workers(RecordingTransport(respond), mode="blocking")
    assert threading.active_count() == before
    event = message()
    assert send_now(worker, event) == event.uuid
    assert callers == [threading.current_thread().name] * 2
    dropping = workers(RecordingTransport(), mode="blocking", before_send=lambda p: None)
    assert send_now(dropping, message()) is None


def test_blocking_mode_does_not_wait_out_a_long_rate_limit(
        workers: Callable[..., Worker], tmp_path: Path) -> None:
    transport = RecordingTransport(lambda n, r: Response(429, {"X-Rate-Limit-Remaining-Seconds":
                                                               "120"}))
    worker = workers(transport, mode="blocking", shutdown_timeout=1, spool_dir=str(tmp_path))
    started = time.monotonic()
    assert send_now(worker, message()) is not None
    assert time.monotonic() - started < 1
    assert worker.stats()["spooled"] == 1 and len(transport.requests) == 1


def test_a_submit_nested_inside_the_workers_own_locks_does_not_deadlock(
        workers: Callable[..., Worker]) -> None:
    """Garbage collection may run a failing ``__del__`` (and so the unraisable hook) at any
    allocation, including while this thread is inside a queue operation."""
    transport = RecordingTransport()
    worker = workers(transport)
    accepted: List[bool] = []

    def nested() -> None:
        with worker._queue.mutex, worker._lock:
            accepted.append(worker.submit(message("from a __del__")))

    thread = threading.Thread(target=nested, daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "submit deadlocked on a lock its own thread held"
    assert accepted == [True]
    assert worker.flush(5)


class ShiftedClock:
    """The monotonic clock plus a shift: waits the test wants over pass at once, while
    the sends still take the real time they take."""

    def __init__(self) -> None:
        self.offset = 0.0

    def shift(self, seconds: float) -> None:
        self.offset += seconds

    def __call__(self) -> float:
        return time.monotonic() + self.offset


class TickingClock:
    """A monotonic clock that moves ``step`` seconds at every reading: time passes in the
    worker's own arithmetic without the test waiting for it."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_repeated_429s_still_end_the_items_retry_window() -> None:
    transport = RecordingTransport(lambda n, r: Response(429, {"X-Rate-Limit-Remaining-Seconds":
                                                               "1"}))
    worker = make_worker(Config.from_options({"access_token": "token", "senders": 1}), transport,
                    policy=RetryPolicy(retry_for=30.0), clock=TickingClock(2.0))
    try:
        worker.submit(message())
        assert worker.flush(10)
        assert worker.stats()["dropped"] == {"retry_expired": 1}
        assert 2 <= len(transport.requests) <= 10
    finally:
        worker.close(timeout=0.2)


def test_flush_returns_at_once_after_close(workers: Callable[..., Worker]) -> None:
    worker = workers(RecordingTransport(lambda n, r: Response(0, error="down")),
                     policy=RetryPolicy(retry_for=60, first=5, cap=5), senders=1)
    worker.submit(message())
    worker.close(timeout=0.1)
    started = time.monotonic()
    assert worker.flush(5)
    assert time.monotonic() - started < 0.1


def test_exit_waits_share_one_deadline(workers: Callable[..., Worker]) -> None:
    clock = ShiftedClock()
    worker = workers(RecordingTransport(), shutdown_timeout=2, clock=clock)
    assert worker.exit_budget(start=False) == 2
    assert worker.exit_budget() <= 2
    clock.shift(0.3)
    assert worker.exit_budget(start=False) < 1.8
    assert worker.exit_budget() < 1.8


def test_close_without_a_spool_counts_pending_items_without_building_them(
        workers: Callable[..., Worker], capsys: pytest.CaptureFixture[str]) -> None:
    built: List[str] = []

    def before_send(payload: Any) -> Any:
        built.append(payload["data"]["uuid"])
        return payload

    gate = threading.Event()
    transport = RecordingTransport(lambda n, r: OK if gate.wait(5) else Response(0))
    worker = workers(transport, senders=1, before_send=before_send)
    for n in range(5):
        worker.submit(message(f"m{n}"))
    assert transport.wait_for_requests(1)
    worker.close(timeout=0.1)
    gate.set()
    assert len(built) == 1, "only the item in flight was built"
    assert worker.stats()["dropped"] == {"shutdown_timeout": 5}
    assert "5 item(s)" in capsys.readouterr().err


def test_reports_after_the_exit_close_are_sent_in_the_callers_thread(
        workers: Callable[..., Worker], capsys: pytest.CaptureFixture[str]) -> None:
    transport = RecordingTransport()
    worker = workers(transport, shutdown_timeout=2)
    worker.close_at_exit()
    late = message("flushed by a MemoryHandler during logging.shutdown()")
    assert worker.submit(late)
    assert transport.uuids() == [late.uuid]
    down = workers(RecordingTransport(lambda n, r: Response(0, error="down")),
                   shutdown_timeout=0.3)
    down.close_at_exit()
    started = time.monotonic()
    for n in range(3):
        down.submit(message(f"late {n}"))
    assert time.monotonic() - started < 1.5
    down.report_late_losses()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "3 item(s) were reported after the exit flush" in err


def test_a_corrupt_spool_is_replayed_at_start_without_crashing(
        workers: Callable[..., Worker], tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), 100, 10**6)
    good = message("spooled before")
    spool.write("not-json", b"\xff\xfe garbage")
    spool.write("no-data", b'{"data": 3}')
    spool.write(good.uuid, json.dumps({"data": {"uuid": good.uuid}}).encode())
    (tmp_path / "truncated.json").write_bytes(b'{"data": {')
    transport = RecordingTransport()
    worker = workers(transport, spool_dir=str(tmp_path))
    assert worker.flush(5)
    worker.submit(message("after"))
    assert worker.flush(5)
    assert transport.uuids()[0] == good.uuid and len(transport.uuids()) == 2
    assert spool.pending() == []
    assert worker.stats()["dropped"] == {}


def test_blocking_mode_does_not_wait_again_while_the_server_is_down(
        workers: Callable[..., Worker], tmp_path: Path) -> None:
    state = {"up": False}
    transport = RecordingTransport(lambda n, r: OK if state["up"] else Response(0, error="down"))
    clock = ShiftedClock()
    worker = workers(transport, policy=RetryPolicy(retry_for=60, first=0.2, cap=0.2),
                     mode="blocking", shutdown_timeout=0.5, spool_dir=str(tmp_path), clock=clock)
    started = time.monotonic()
    first = [send_now(worker, message("down 0"))]
    attempts = len(transport.requests)
    first += [send_now(worker, message(f"down {n}")) for n in range(1, 10)]
    assert time.monotonic() - started < 1.5
    assert len(transport.requests) == attempts, "only the first report tried the server"
    assert worker.stats()["spooled"] == 10
    clock.shift(0.25)
    state["up"] = True
    fresh = message("back up")
    send_now(worker, fresh)
    sent = transport.uuids()[attempts:]
    assert sent[0] == fresh.uuid and set(sent[1:]) == set(first)
    assert Spool(str(tmp_path), 100, 10**6).pending() == []
