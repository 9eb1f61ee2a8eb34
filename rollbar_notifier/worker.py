"""Deliver events off the caller's thread: a bounded queue, a few sender threads, flush, close.

The caller only puts an :class:`~.event.Event` on a bounded queue; each sender takes
one, builds and delivers it through the shared :class:`~.delivery.Delivery`, and
replays the spool when the server answers again. The queue and the threads are all
this module owns: what one attempt leads to is :mod:`.decision`'s, how it is carried
out :mod:`.delivery`'s, and when the process exits or forks :mod:`.lifecycle`'s.

The queue is bounded twice: by ``queue_size`` events and by ``queue_bytes``, an
estimate of what the queued events hold (:func:`footprint`), made once when the event
is queued from the sizes capture already bounded; never by encoding it. Past either
bound the newest report is dropped and counted, and one item reports the loss once the
queue drains. A queued event holds copies only: no frame, traceback or log record.

Reports that arrive after the ``atexit`` close (a ``MemoryHandler`` flushed by
``logging.shutdown()``, which runs later) find no sender left: they are sent in the
caller's thread within what is left of the exit deadline.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from typing import Callable, Dict, List, Optional, Union

from . import lifecycle, losses, pacing, signals
from .blocking import OutageAwareDelivery
from .bounded_queue import BoundedQueue
from .config import Config
from .delivery import Delivery, Job, Result
from .event import Event, ReportFields
from .retry import Random, RetryPolicy
from .stats import Counters, DropReason, Stats
from .telemetry import Snapshot
from .transport import Transport

log = logging.getLogger(__name__)

THREAD_PREFIX = "rollbar_notifier"

Report = Callable[[ReportFields], Optional[str]]
"""The notifier's entrance, through which the worker reports its own losses."""


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_DRAIN_SPOOL = _Marker("drain spool")
_STOP = _Marker("stop")
QueueItem = Union[Event, _Marker]
TURN_POLL_SECONDS = 0.05
"""How often a sender waiting for its turn looks whether it should stop waiting."""

class Worker:
    """The sender of a ``mode="thread"`` notifier."""

    def __init__(self, config: Config, transport: Transport, report: Report, *,
                 policy: Optional[RetryPolicy] = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 rand: Random = random.random) -> None:
        self.config = config
        self._report = report
        self._clock = clock
        self.counters = Counters()
        self.delivery = Delivery(config, transport, self.counters,
                                 policy=policy or RetryPolicy(retry_for=config.retry_for),
                                 clock=clock, wall=wall, rand=rand,
                                 on_sent=self._schedule_spool_drain)
        self._late = OutageAwareDelivery(self.delivery)
        self._exit = lifecycle.ExitDeadline(config.shutdown_timeout, clock)
        self._closed = False
        self._closed_at_exit = False
        self._reset()
        lifecycle.track_sender(self)
        self._start()

    def _reset(self) -> None:
        """The worker's own state that a forked child must not share with its parent."""
        earlier: Optional[BoundedQueue[QueueItem]] = getattr(self, "_queue", None)
        if earlier is not None:
            self.counters.add("queued", earlier.accepted)
        self._queue = BoundedQueue[QueueItem](self.config.queue_size, self.config.queue_bytes)
        self._lock = threading.RLock()
        self._threads: List[threading.Thread] = []
        self._hurry = threading.Event()
        """Set while somebody waits for the queue to empty, and once closing: no rests."""
        self._turn = threading.Lock()
        """Held by the one sender building an item while the senders are paced (:meth:`_busy`)."""
        self._pace = 0.0
        """When a paced sender may start building (see :mod:`.pacing`); on ``_clock``."""
        self._cost = 0.0
        """The CPU time of the last item: what the next paced one is charged as it starts."""
        self._charged: Dict[int, float] = {}
        """By sender thread: what its item in hand was charged as it started."""
        self._waiting = 0
        self._lost = 0
        self._late_lost = 0

    def _start(self) -> None:
        if self.delivery.take_spool_due():
            self._queue.offer(_DRAIN_SPOOL, counted=False)
        for number in range(1, self.config.senders + 1):
            thread = threading.Thread(target=self._run, name=f"{THREAD_PREFIX}-sender-{number}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    # -- caller side -------------------------------------------------------------------

    def admits(self) -> bool:
        """Whether a report may be captured at all: when the queue is full, it is dropped
        and counted now, before capture spends anything on it (in a burst, most reports)."""
        if self._closed or not self._queue.full():
            return True
        self._lose()
        return False

    def submit(self, event: Event) -> bool:
        """Queue ``event`` without blocking; ``False`` when it was dropped instead."""
        if self._closed:
            if self._closed_at_exit:
                return self._send_late(event)
            self.counters.drop(DropReason.CLOSED)
            return False
        if not self._queue.offer(event, footprint(event)):
            self._lose()
            return False
        return True

    def _lose(self) -> None:
        with self._lock:
            self._lost += 1
        self.counters.drop(DropReason.QUEUE_FULL)

    def _send_late(self, event: Event) -> bool:
        """A report after the ``atexit`` close: send it here within what remains of the exit
        deadline; :meth:`report_late_losses` tells of a loss."""
        self.counters.add("queued")
        job = self.delivery.job_for(event)
        if job is None:
            return False
        if not self._late.deliver(job, self.exit_budget()):
            with self._lock:
                self._late_lost += 1
        return True

    def exit_budget(self, start: bool = True) -> float:
        """Seconds left of the one ``shutdown_timeout`` every exit-time wait shares."""
        return self._exit.remaining(start)

    def report_late_losses(self) -> None:
        """One stderr line for reports lost after the exit close (logging may be gone)."""
        with self._lock:
            lost, self._late_lost = self._late_lost, 0
        if lost:
            hint = "" if self.delivery.spool else losses.SPOOL_HINT
            losses.write(f"rollbar_notifier: {lost} item(s) were reported after the exit flush "
                         f"and were dropped{hint}")

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until the queue is empty: every item taken was sent, refused by the server,
        dropped or spooled. ``True`` says nothing was left waiting, not that everything
        was delivered: :meth:`stats` tells that.

        After :meth:`close` there is nothing left to wait for, so it returns at once.
        """
        if self._closed:
            return self._queue.unfinished == 0
        return self._wait_idle(timeout)

    def _wait_idle(self, timeout: Optional[float]) -> bool:
        if not self._threads or threading.current_thread() in self._threads:
            return not self._threads or self._queue.unfinished == 0
        deadline = None if timeout is None else self._clock() + max(timeout, 0.0)
        done = self._queue.all_done
        with done:
            self._waiting += 1
            self._hurry.set()
            try:
                while self._queue.unfinished:
                    if deadline is None:
                        done.wait()
                        continue
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        return False
                    done.wait(remaining)
            finally:
                self._waiting -= 1
                if not self._waiting and not self._closed:
                    self._hurry.clear()
        return True

    def close(self, timeout: Optional[float] = None) -> None:
        """Flush for up to ``timeout`` (default ``shutdown_timeout``), then stop; idempotent.

        What is still pending then goes to the spool if there is one; otherwise it is
        counted as dropped. Without a spool the pending events are only counted: building
        them would spend time the exit no longer has. Then one line on stderr names every
        item this worker lost, by reason (see :mod:`.losses`).
        """
        self._close(self.config.shutdown_timeout if timeout is None else timeout, False)

    def close_at_exit(self) -> None:
        self._close(None, True)

    def _close(self, timeout: Optional[float], at_exit: bool) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._closed_at_exit = at_exit
        lifecycle.forget_sender(self)
        pending: List[Job] = []
        if not self._wait_idle(self.exit_budget() if timeout is None else timeout):
            pending = self.delivery.interrupt()
            events = self._drain_queue()
            if self.delivery.spool is None:
                self.counters.drop(DropReason.SHUTDOWN_TIMEOUT, len(pending) + len(events))
            else:
                pending.extend(job for job in map(self.delivery.job_for, events)
                               if job is not None)
                for job in pending:
                    self.delivery.abandon(job, DropReason.SHUTDOWN_TIMEOUT)
        losses.tell(self.stats()["dropped"], self.config, self.delivery.spool is not None)
        self._stop_threads(pending)

    def stats(self) -> Stats:
        """The counters, and the queue's count of what it accepted (see :meth:`_reset`)."""
        stats = self.counters.snapshot()
        stats["queued"] += self._queue.accepted
        return stats

    # -- sender threads ----------------------------------------------------------------

    def _run(self) -> None:
        signals.leave_signals_to_the_main_thread()
        policy = self.delivery.policy
        while True:
            item = self._queue.get()
            if item is _STOP:
                self._queue.task_done()
                return
            paced = self._busy()
            cpu = time.thread_time()
            self._handle(item, policy, paced)
            self._settle(time.thread_time() - cpu)

    def _handle(self, item: QueueItem, policy: RetryPolicy, paced: bool) -> None:
        try:
            if item is _DRAIN_SPOOL:
                self.delivery.drain_spool(policy, patient=True)
            elif isinstance(item, Event):
                self._process(item, policy, paced)
            self._report_losses()
        except Exception:
            self.counters.drop(DropReason.INTERNAL_ERROR)
            log.warning("rollbar_notifier: a sender failed on an item", exc_info=True)
        finally:
            self._queue.task_done()

    def _busy(self) -> bool:
        """Whether the program reports faster than the senders send, with nobody waiting
        for the queue: items wait, or another sender is on one still. Then they build
        items one at a time, on a pace clock they share (see :mod:`.pacing`): each sender
        that works or waits for the interpreter is one more thread the program's own
        threads queue behind. A burst's first item goes out at full speed, not its first
        few: idle senders all wake for its first reports."""
        queue = self._queue
        return not self._hurry.is_set() and (
            not queue.empty() or queue.unfinished - queue.size > 1)

    def _take_turn(self) -> bool:
        """Wait for the turn to build; ``False`` once somebody waits for the queue (a
        flush, the close): then every sender works at once."""
        while not self._hurry.is_set():
            if self._turn.acquire(timeout=TURN_POLL_SECONDS):
                return True
        return False

    def _start_paced(self) -> None:
        """Wait until the pace clock allows an item (a flush or close cuts it short), then
        charge it what the last paced item cost: senders starting side by side, as in a
        burst's first items, count before any of them ends."""
        seconds = self._pace - self._clock()
        if seconds > 0 and not self._hurry.is_set():
            self._hurry.wait(seconds)
        with self._lock:
            self._charged[threading.get_ident()] = self._cost
            self._pace = pacing.start_item(self._pace, self._clock(), self._cost)

    def _settle(self, cpu: float) -> None:
        """Correct the pace clock by what an item charged as it started really cost; any
        item tells what the next one may cost."""
        with self._lock:
            charged = self._charged.pop(threading.get_ident(), None)
            if charged is not None:
                self._pace = pacing.end_item(self._pace, charged, cpu)
            self._cost = cpu

    def _process(self, event: Event, policy: RetryPolicy, paced: bool) -> None:
        job = self._build(event, paced)
        if job is not None and \
                self.delivery.deliver_tracked(job, policy, patient=True) is Result.GAVE_UP:
            self.delivery.abandon(job, DropReason.RETRY_EXPIRED)

    def _build(self, event: Event, paced: bool) -> Optional[Job]:
        """The turn covers building only: waiting for the server holds no turn, so a slow
        server still has every sender sending."""
        turn = paced and self._take_turn()
        try:
            if turn:
                self._start_paced()
            return self.delivery.job_for(event)
        finally:
            if turn:
                self._turn.release()

    def _report_losses(self) -> None:
        """Once the queue drains after an overflow, report what was lost, as an item."""
        if not self._lost or not self._queue.empty():
            return
        with self._lock:
            lost, self._lost = self._lost, 0
        uuid = self._report(ReportFields(
            message=f"rollbar_notifier dropped {lost} item(s): the queue (queue_size="
                    f"{self.config.queue_size}, queue_bytes={self.config.queue_bytes}) was "
                    f"full because reports came faster than they could be sent",
            level="warning", extra={"dropped": lost, "reason": DropReason.QUEUE_FULL.value}))
        if uuid is None:
            with self._lock:
                self._lost += lost

    def _schedule_spool_drain(self) -> None:
        """The server answers again: replay the spool on a sender, after what is queued."""
        if not self.delivery.take_spool_due():
            return
        if not self._queue.offer(_DRAIN_SPOOL, counted=False):
            self.delivery.mark_spool_due()

    # -- stopping ----------------------------------------------------------------------

    def _drain_queue(self) -> List[Event]:
        events: List[Event] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return events
            self._queue.task_done()
            if isinstance(item, Event):
                events.append(item)

    def _stop_threads(self, busy: List[Job]) -> None:
        """Wake and end idle senders; ones stuck in a request are daemons and are left."""
        self._hurry.set()
        self.delivery.stop.set()
        for _ in self._threads:
            if not self._queue.offer(_STOP, counted=False):
                break
        deadline = self._clock() + (0.2 if busy else 1.0)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - self._clock()))

    def after_fork_in_child(self) -> None:
        """The transport has replaced its pooled sockets by now (see :mod:`.lifecycle`)."""
        self.counters = self.delivery.counters = Counters()
        self.delivery.after_fork_in_child()
        self._late.after_fork_in_child()
        self._exit.after_fork_in_child()
        self._reset()
        if not self._closed:
            self._start()


def footprint(event: Event) -> int:
    """Bytes ``event`` holds, over-estimated without encoding it: what capture charged its
    copies (:attr:`~.event.Event.nbytes`) and its telemetry entries. A telemetry list given
    by the caller was copied by capture too; entries shared with other queued events are
    counted in the first that took them (see :meth:`.telemetry.Snapshot`)."""
    telemetry = event.telemetry
    return event.nbytes + (telemetry.nbytes if isinstance(telemetry, Snapshot) else 0)
