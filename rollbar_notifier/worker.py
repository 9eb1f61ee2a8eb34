"""Deliver events off the caller's thread: a bounded queue, a few sender threads, retries.

The caller only puts an :class:`Event` on a bounded queue; the senders build the item,
send it, and decide from the :class:`~rollbar_notifier.transport.Outcome` whether to
count it, retry it, pause every sender (429), shrink it (413) or spool it. Nothing here
holds a lock while calling user code (``before_send``) or doing I/O, and the only wait
is :meth:`Worker._sleep`, which :meth:`Worker.close` can cut short.

At exit several waits follow one another: the excepthook's flush, the ``atexit`` close,
``logging.shutdown()`` flushing handlers. They all draw on one deadline per worker
(:meth:`Worker.exit_budget`), so a dead server costs ``shutdown_timeout`` once, not once
per wait. Reports that arrive after the ``atexit`` close (a ``MemoryHandler`` flushed by
``logging.shutdown()``, which runs later) are sent in the caller's thread within what is
left of that deadline.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import queue
import random
import sys
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Union

from .capture import Event, capture_message
from .config import Config
from .item import ItemBuilder
from .retry import Random, RetryPolicy
from .spool import Spool, uuid_of
from .transport import DELIVERED, RETRY, TOO_LARGE, Outcome, Request, Transport, classify

log = logging.getLogger(__name__)

THREAD_PREFIX = "rollbar_notifier"
MIN_REBUILD_LIMIT = 8192
MAX_LOGGED_REASONS = 100
"""Distinct refusals logged per worker; bounded so a hostile server cannot grow memory."""

# What became of one item.
SENT = "sent"
DROPPED = "dropped"
GAVE_UP = "gave_up"
STOPPED = "stopped"



class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_DRAIN_SPOOL = _Marker("drain spool")
_STOP = _Marker("stop")
QueueItem = Union[Event, _Marker]


@dataclasses.dataclass
class _Job:
    """One encoded item in delivery; the bytes (and so the uuid) never change on a retry."""

    uuid: str
    body: bytes
    limit: int
    event: Optional[Event] = None
    """Kept so a 413 can rebuild the item smaller; ``None`` for spooled items."""
    spool_name: Optional[str] = None
    rebuilt: bool = False


class Worker:
    """Queue, senders, retry, rate-limit pause, spool, exit flush and fork handling."""

    def __init__(self, config: Config, transport: Transport, *,
                 policy: Optional[RetryPolicy] = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 rand: Random = random.random) -> None:
        self.config = config
        self.transport = transport
        self.builder = ItemBuilder(config)
        self.policy = policy or RetryPolicy(retry_for=config.retry_for)
        self.spool = (Spool(config.spool_dir, config.spool_max_items, config.spool_max_bytes)
                      if config.spool_dir else None)
        self.threaded = config.mode == "thread"
        self._clock = clock
        self._wall = wall
        self._rand = rand
        self._closed = False
        self._closed_at_exit = False
        self._reset_state()
        _register(self)
        if self.threaded:
            self._start()

    def _reset_state(self) -> None:
        """Everything a forked child must not share with its parent."""
        self._queue: queue.Queue[QueueItem] = _ReentrantQueue(self.config.queue_size)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._stopping = False
        self._threads: List[threading.Thread] = []
        self._inflight: Dict[int, _Job] = {}
        self._pause_until = 0.0
        self._lost = 0
        self._draining = False
        self._spool_due = bool(self.spool and self.spool.pending())
        self._logged: Set[Tuple[str, Optional[str]]] = set()
        self._counts: Dict[str, int] = {"queued": 0, "sent": 0, "retried": 0, "spooled": 0}
        self._dropped: Dict[str, int] = {}
        self._exit_deadline: Optional[float] = None
        self._late_lost = 0
        self._down_until = 0.0
        """Blocking mode: until then the server is taken as down, so callers do not wait."""
        self._failures = 0

    def _start(self) -> None:
        if self._spool_due:
            self._spool_due = False
            self._queue.put_nowait(_DRAIN_SPOOL)
        for number in range(1, self.config.senders + 1):
            thread = threading.Thread(target=self._run, name=f"{THREAD_PREFIX}-sender-{number}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    # -- caller side -------------------------------------------------------------------

    def submit(self, event: Event) -> bool:
        """Queue ``event`` without blocking; ``False`` when it was dropped instead."""
        if self._closed:
            if self._closed_at_exit:
                return self._send_late(event)
            self._count_drop("closed")
            return False
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self._lost += 1
                self._count_drop("queue_full")
            return False
        self._count("queued")
        return True

    def send_now(self, event: Event) -> Optional[str]:
        """Blocking mode: build and deliver in the caller's thread, within ``shutdown_timeout``.

        Returns the uuid unless ``before_send`` dropped the item. A rate-limit pause or a
        retry longer than the budget spools (or drops) the item rather than blocking.
        """
        self._count("queued")
        job = self._job_for(event)
        if job is None:
            self._count_drop("before_send")
            return None
        self._deliver_now(job, self.config.shutdown_timeout)
        return event.uuid

    def _send_late(self, event: Event) -> bool:
        """A report after the ``atexit`` close: no sender is left, so send it here within
        what remains of the exit deadline; :meth:`report_late_losses` tells of a loss."""
        self._count("queued")
        job = self._job_for(event)
        if job is None:
            self._count_drop("before_send")
            return False
        if not self._deliver_now(job, self.exit_budget()):
            with self._lock:
                self._late_lost += 1
        return True

    def _deliver_now(self, job: _Job, budget: float) -> bool:
        """Deliver in the calling thread within ``budget`` seconds; ``False`` if it was lost.

        After a failure the server is taken as down for a growing back-off, during which
        items are spooled (or dropped) at once: a program reporting in a loop must not
        wait the whole budget once per report. The spool is replayed only once a send
        has worked, since a failed one says the server is not taking items.
        """
        with self._lock:
            down = self._clock() < self._down_until
        if down:
            return self._abandon(job, "server_unavailable")
        if budget <= 0:
            return self._abandon(job, "shutdown_timeout")
        policy = self.policy.for_blocking(budget)
        result = self._deliver(job, policy, patient=False, deadline=self._clock() + budget)
        if result in (SENT, DROPPED):
            with self._lock:
                self._failures = 0
            if result == SENT and self._take_spool_due():
                self._drain_spool(policy, patient=False)
            return True
        with self._lock:
            self._failures += 1
            self._down_until = self._clock() + self.policy.ceiling(self._failures)
        return self._abandon(job, "retry_expired")

    def exit_budget(self, start: bool = True) -> float:
        """Seconds left of the one ``shutdown_timeout`` that every exit-time wait shares.

        The first exit-time wait (``start``) fixes the deadline; a wait that may also
        happen during normal running (a handler's ``flush()``) only respects one already
        set, and otherwise gets the whole ``shutdown_timeout``.
        """
        with self._lock:
            if self._exit_deadline is None:
                if not start:
                    return self.config.shutdown_timeout
                self._exit_deadline = self._clock() + self.config.shutdown_timeout
            return max(0.0, self._exit_deadline - self._clock())

    def report_late_losses(self) -> None:
        """One stderr line for reports lost after the exit close (logging may be gone)."""
        with self._lock:
            lost, self._late_lost = self._late_lost, 0
        if lost:
            self._tell_lost(lost, "reported after the exit flush")

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every queued item is sent or definitively dropped (or spooled).

        After :meth:`close` there is nothing left to wait for, so it returns at once.
        """
        if self._closed:
            return self._queue.unfinished_tasks == 0
        return self._wait_idle(timeout)

    def _wait_idle(self, timeout: Optional[float]) -> bool:
        if not self._threads or threading.current_thread() in self._threads:
            return not self._threads or self._queue.unfinished_tasks == 0
        deadline = None if timeout is None else self._clock() + max(timeout, 0.0)
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                if deadline is None:
                    done.wait()
                    continue
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return False
                done.wait(remaining)
        return True

    def close(self, timeout: Optional[float] = None, *, at_exit: bool = False) -> None:
        """Flush for up to ``timeout`` (default ``shutdown_timeout``), then stop; idempotent.

        What is still pending then goes to the spool if there is one; otherwise it is
        counted as dropped and one line on stderr says so (logging may be gone at exit).
        Without a spool the pending events are only counted: building them would spend
        time the exit no longer has.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._closed_at_exit = at_exit
        _live.discard(self)
        if at_exit:
            timeout = self.exit_budget()
        elif timeout is None:
            timeout = self.config.shutdown_timeout
        if self._wait_idle(timeout):
            self._stop_threads([])
            return
        with self._lock:
            self._stopping = True
            pending = list(self._inflight.values())
        self._stop.set()
        events = self._drain_queue()
        if self.spool is None:
            lost = len(pending) + len(events)
            self._count_drop("shutdown_timeout", lost)
        else:
            pending.extend(job for job in map(self._job_for, events) if job is not None)
            lost = sum(1 for job in pending if not self._abandon(job, "shutdown_timeout"))
        if lost:
            self._tell_lost(lost, f"not delivered within shutdown_timeout="
                                  f"{self.config.shutdown_timeout:g}s")
        self._stop_threads(pending)

    def _tell_lost(self, lost: int, why: str) -> None:
        where = "" if self.spool else "; set spool_dir to keep such items"
        sys.stderr.write(f"rollbar_notifier: {lost} item(s) were {why} and were "
                         f"dropped{where}\n")

    def stats(self) -> Dict[str, Any]:
        with self._lock:
            result: Dict[str, Any] = dict(self._counts)
            result["dropped"] = dict(self._dropped)
        return result

    # -- sender threads ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if item is _DRAIN_SPOOL:
                    self._drain_spool(self.policy, patient=True)
                elif isinstance(item, Event):
                    self._process(item, self.policy, patient=True)
                self._report_losses()
            except Exception:
                self._count_drop("internal_error")
                log.warning("rollbar_notifier: a sender failed on an item", exc_info=True)
            finally:
                self._queue.task_done()

    def _process(self, event: Event, policy: RetryPolicy, patient: bool) -> bool:
        """Build and deliver one event; ``False`` when ``before_send`` dropped it."""
        job = self._job_for(event)
        if job is None:
            self._count_drop("before_send")
            return False
        result = self._deliver_tracked(job, policy, patient)
        if result == GAVE_UP:
            self._abandon(job, "retry_expired")
        return True

    def _job_for(self, event: Event) -> Optional[_Job]:
        body = self.builder.build(event)
        if body is None:
            return None
        return _Job(event.uuid, body, self.config.max_body_bytes, event=event)

    def _deliver_tracked(self, job: _Job, policy: RetryPolicy, patient: bool) -> str:
        """Deliver while listed as in flight, so :meth:`close` can spool it if time runs out."""
        with self._lock:
            stopping = self._stopping
            if not stopping:
                self._inflight[id(job)] = job
        if stopping:
            self._abandon(job, "shutdown_timeout")
            return STOPPED
        try:
            return self._deliver(job, policy, patient)
        finally:
            with self._lock:
                self._inflight.pop(id(job), None)

    def _deliver(self, job: _Job, policy: RetryPolicy, patient: bool,
                 deadline: Optional[float] = None) -> str:
        """Send until delivered, refused, out of time or stopped.

        ``patient`` senders wait out any rate-limit pause; a blocked caller gives up
        when the pause would outlast its retry window. Repeated 429s end the item's
        retry window like any other failure. A caller with a ``deadline`` also cuts each
        request's timeout to what is left.
        """
        started = self._clock()
        attempt = 0
        while True:
            waited = self._wait_out_pause(started, policy, patient)
            if waited is not None:
                return waited
            timeout = None if deadline is None else deadline - self._clock()
            response = self.transport.send(Request("POST", "item/", job.body, timeout=timeout))
            outcome = classify(response, self._wall())
            if outcome.kind == DELIVERED:
                self._count("sent")
                self._schedule_spool_drain()
                return SENT
            if outcome.kind == TOO_LARGE and self._shrink(job):
                continue
            if outcome.kind != RETRY:
                self._refused(outcome)
                return DROPPED
            self._count("retried")
            attempt += 1
            if outcome.retry_after is not None:
                self._pause(outcome.retry_after)
                delay: Optional[float] = 0.0
                if self._clock() - started >= policy.retry_for:
                    delay = None
            else:
                delay = policy.next_delay(attempt, self._clock() - started, self._rand)
            if delay is None:
                log.info("rollbar_notifier: giving up on item %s after %d attempt(s): %s",
                         job.uuid, attempt, outcome.message or outcome.reason)
                return GAVE_UP
            if not delay:
                continue
            if not self._sleep(delay):
                return STOPPED

    def _wait_out_pause(self, started: float, policy: RetryPolicy, patient: bool) -> Optional[str]:
        while True:
            with self._lock:
                remaining = self._pause_until - self._clock()
            if remaining <= 0:
                return None
            if not patient and self._clock() - started + remaining > policy.retry_for:
                return GAVE_UP
            if not self._sleep(remaining):
                return STOPPED

    def _sleep(self, seconds: float) -> bool:
        """The one place that waits; ``False`` when :meth:`close` interrupted it."""
        return not self._stop.wait(seconds)

    def _pause(self, seconds: float) -> None:
        until = self._clock() + seconds
        with self._lock:
            extended = until > self._pause_until
            if extended:
                self._pause_until = until
        if extended:
            log.warning("rollbar_notifier: rate limited by the server; pausing for %.0f s",
                        seconds)

    def _shrink(self, job: _Job) -> bool:
        """Rebuild a 413'd item once with half the size limit; ``False`` if that is not possible."""
        if job.rebuilt or job.event is None:
            return False
        job.rebuilt = True
        limit = max(MIN_REBUILD_LIMIT, job.limit // 2)
        body = self.builder.build(job.event, limit)
        if body is None:
            return False
        job.body, job.limit = body, limit
        return True

    def _refused(self, outcome: Outcome) -> None:
        self._count_drop(outcome.reason)
        key = (outcome.reason, outcome.message)
        with self._lock:
            first = key not in self._logged and len(self._logged) < MAX_LOGGED_REASONS
            if first:
                self._logged.add(key)
        if first:
            log.warning("rollbar_notifier: the server refused an item (%s): %s",
                        outcome.reason, outcome.message or "no message")

    def _report_losses(self) -> None:
        """Once the queue drains after an overflow, queue one item saying what was lost."""
        if not self._lost or not self._queue.empty():
            return
        with self._lock:
            lost, self._lost = self._lost, 0
        event = capture_message(
            f"rollbar_notifier dropped {lost} item(s): the queue (queue_size="
            f"{self.config.queue_size}) was full because reports came faster than they "
            f"could be sent",
            level="warning", extra={"dropped": lost, "reason": "queue_full"})
        if event is None or not self.submit(event):
            with self._lock:
                self._lost += lost

    # -- spool -------------------------------------------------------------------------

    def _abandon(self, job: _Job, reason: str) -> bool:
        """Keep an undeliverable item in the spool; ``True`` unless it had to be dropped."""
        if job.spool_name is not None:
            return True
        if self.spool is not None:
            written, evicted = self.spool.write(job.uuid, job.body)
            if evicted:
                self._count_drop("spool_full", evicted)
            if written:
                self._count("spooled")
                with self._lock:
                    self._spool_due = True
                return True
        self._count_drop(reason)
        return False

    def _take_spool_due(self) -> bool:
        with self._lock:
            due, self._spool_due = self._spool_due, False
        return due

    def _schedule_spool_drain(self) -> None:
        """The server answers again: replay the spool on a sender, after what is queued."""
        if not self.threaded or not self._take_spool_due():
            return
        try:
            self._queue.put_nowait(_DRAIN_SPOOL)
        except queue.Full:
            with self._lock:
                self._spool_due = True

    def _drain_spool(self, policy: RetryPolicy, patient: bool) -> None:
        """Send spooled items oldest first; stop at the first one the server will not take."""
        if self.spool is None:
            return
        with self._lock:
            if self._draining:
                return
            self._draining = True
        try:
            for name in self.spool.pending():
                if self._stop.is_set():
                    return
                body = self.spool.read(name)
                if body is None:
                    continue
                job = _Job(uuid_of(name), body, len(body), spool_name=name)
                result = self._deliver_tracked(job, policy, patient)
                if result in (SENT, DROPPED):
                    self.spool.remove(name)
                    continue
                with self._lock:
                    self._spool_due = True
                return
        finally:
            with self._lock:
                self._draining = False

    # -- bookkeeping -------------------------------------------------------------------

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _count_drop(self, reason: str, number: int = 1) -> None:
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + number

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

    def _stop_threads(self, busy: List[_Job]) -> None:
        """Wake and end idle senders; ones stuck in a request are daemons and are left."""
        self._stop.set()
        for _ in self._threads:
            try:
                self._queue.put_nowait(_STOP)
            except queue.Full:
                break
        deadline = self._clock() + (0.2 if busy else 1.0)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - self._clock()))

    def _after_fork_in_child(self) -> None:
        """The transport replaces its own pooled sockets (see :mod:`.transport`)."""
        self._reset_state()
        if self.threaded and not self._closed:
            self._start()


_live: weakref.WeakSet[Worker] = weakref.WeakSet()


class _ReentrantQueue(queue.Queue):  # type: ignore[type-arg]
    """A ``queue.Queue`` whose lock the same thread may take again.

    Garbage collection can run a ``__del__`` at any allocation, even inside a queue
    operation; if it raises, the unraisable hook reports it and queues on the same
    thread. With the stdlib's plain lock that nested put would deadlock the host.
    """

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.mutex = threading.RLock()  # type: ignore[assignment]
        self.not_empty = threading.Condition(self.mutex)
        self.not_full = threading.Condition(self.mutex)
        self.all_tasks_done = threading.Condition(self.mutex)


_registry_lock = threading.Lock()
_hooks_registered = False


def _register(worker: Worker) -> None:
    """Track live workers; the exit and fork hooks are registered once per process."""
    global _hooks_registered
    with _registry_lock:
        _live.add(worker)
        if _hooks_registered:
            return
        _hooks_registered = True
    atexit.register(_close_all_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)


def _close_all_at_exit() -> None:
    for worker in list(_live):
        try:
            worker.close(at_exit=True)
        except Exception:
            log.debug("rollbar_notifier: closing at exit failed", exc_info=True)


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for worker in list(_live):
        try:
            worker._after_fork_in_child()
        except Exception:
            log.debug("rollbar_notifier: restarting after fork failed", exc_info=True)
    _close_at_multiprocessing_exit()


MULTIPROCESSING_EXIT_PRIORITY = 0
"""Run with ``multiprocessing``'s first round of finalizers, which ends a child process."""


class _MultiprocessingHook:
    """What ``multiprocessing.util.register_after_fork`` keeps a weak reference to."""


_multiprocessing_hook = _MultiprocessingHook()
_multiprocessing_registered = False


def _close_at_multiprocessing_exit() -> None:
    """A ``multiprocessing`` child ends in ``os._exit()``, so ``atexit`` never runs there;
    its finalizers do. ``Process._bootstrap`` clears the finalizers it inherited *after*
    this fork hook, then runs the after-fork callbacks: so the finalizer is registered
    from one of those. Inherited by grandchildren, hence registered once."""
    global _multiprocessing_registered
    util = sys.modules.get("multiprocessing.util")
    if util is None or _multiprocessing_registered:
        return
    try:
        util.register_after_fork(_multiprocessing_hook, _finalize_in_child)
        _multiprocessing_registered = True
    except Exception:
        log.debug("rollbar_notifier: registering the multiprocessing exit flush failed",
                  exc_info=True)


def _finalize_in_child(hook: _MultiprocessingHook) -> None:
    util = sys.modules["multiprocessing.util"]
    util.Finalize(None, _close_all_at_exit, exitpriority=MULTIPROCESSING_EXIT_PRIORITY)
