"""Deliver one encoded item: attempt, then carry out :func:`~.decision.decide`'s decision.

Shared by the sender threads and blocking mode, so both count, pause, shrink, retry and
spool the same way. Holds the state every sender of one notifier shares: the rate-limit
pause, the spool and what was said about refusals. Nothing here holds a lock while
calling user code (``before_send``) or doing I/O, and :meth:`Delivery.sleep` is the
only wait, which :meth:`Delivery.interrupt` cuts short.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import threading
from typing import Callable, Dict, List, Optional, Set, Tuple, Union

from .config import Config
from .decision import Action, Outcome, classify, decide
from .event import Event
from .item import ItemBuilder
from .last_resort import warn
from .retry import Random, RetryPolicy
from .spool import Spool, uuid_of
from .stats import Counters, DropReason
from .transport import Request, Transport
from .truncate import fit

log = logging.getLogger(__name__)

MIN_REBUILD_LIMIT = 8192
MAX_LOGGED_REASONS = 100
"""Distinct refusals logged per notifier; bounded so a hostile server cannot grow memory."""


class Result(enum.Enum):
    """What became of one item."""

    SENT = "sent"
    DROPPED = "dropped"
    """Refused by the server for good (or spooled items it refused)."""
    GAVE_UP = "gave_up"
    """Out of retry time: the caller spools it or counts it lost."""
    STOPPED = "stopped"
    """Interrupted by close."""


@dataclasses.dataclass
class Job:
    """One encoded item in delivery; the bytes (and so the uuid) never change on a retry."""

    uuid: str
    body: bytes
    limit: int
    event: Optional[Event] = None
    """Kept so a 413 can rebuild the item smaller; ``None`` for spooled items."""
    spool_name: Optional[str] = None
    """For a replayed item, this sender's claim on its spool file."""
    rebuilt: bool = False


class Delivery:
    """Builds jobs and delivers them, for every sender of one notifier."""

    def __init__(self, config: Config, transport: Transport, counters: Counters, *,
                 policy: RetryPolicy, clock: Callable[[], float], wall: Callable[[], float],
                 rand: Random, on_sent: Callable[[], None]) -> None:
        self.config = config
        self.transport = transport
        self.counters = counters
        self.builder = ItemBuilder(config)
        self.policy = policy
        self.spool = (Spool(config.spool_dir, config.spool_max_items, config.spool_max_bytes)
                      if config.spool_dir else None)
        self.clock = clock
        self._wall = wall
        self._rand = rand
        self._on_sent = on_sent
        self.after_fork_in_child()

    def after_fork_in_child(self) -> None:
        """Also the initial state: a forked child must share none of it with its parent."""
        self._lock = threading.RLock()
        self.stop = threading.Event()
        self._stopping = False
        self._inflight: Dict[int, Job] = {}
        self._pause_until = 0.0
        self._draining = False
        self._spool_due = bool(self.spool and self.spool.pending())
        self._logged: Set[Tuple[str, Optional[str]]] = set()
        self._kinds: Set[str] = set()

    def job_for(self, event: Event) -> Optional[Job]:
        """The encoded item; ``None`` (and counted) when ``before_send`` dropped it."""
        body = self.builder.build(event)
        if body is None:
            self.counters.drop(DropReason.BEFORE_SEND)
            return None
        return Job(event.uuid, body, self.config.max_body_bytes, event=event)

    def deliver_tracked(self, job: Job, policy: RetryPolicy, patient: bool) -> Result:
        """Deliver while listed as in flight, so :meth:`interrupt` hands it back to be spooled."""
        with self._lock:
            stopping = self._stopping
            if not stopping:
                self._inflight[id(job)] = job
        if stopping:
            self.abandon(job, DropReason.SHUTDOWN_TIMEOUT)
            return Result.STOPPED
        try:
            return self.deliver(job, policy, patient)
        finally:
            with self._lock:
                self._inflight.pop(id(job), None)

    def deliver(self, job: Job, policy: RetryPolicy, patient: bool,
                deadline: Optional[float] = None) -> Result:
        """Send until delivered, refused, out of time or stopped.

        ``patient`` senders wait out any rate-limit pause; a blocked caller gives up
        when the pause would outlast its retry window. A caller with a ``deadline`` also
        cuts each request's timeout to what is left.
        """
        started = self.clock()
        failures = 0
        while True:
            waited = self._wait_out_pause(started, policy, patient)
            if waited is not None:
                return waited
            timeout = None if deadline is None else deadline - self.clock()
            response = self.transport.send(Request("POST", "item/", job.body, timeout=timeout))
            outcome = classify(response, self._wall())
            decision = decide(outcome, failures=failures, elapsed=self.clock() - started,
                              policy=policy, can_shrink=not job.rebuilt and job.event is not None,
                              rand=self._rand)
            if decision.pause is not None:
                self._pause(decision.pause)
            if decision.action is Action.DELIVERED:
                self.counters.add("sent")
                self._on_sent()
                return Result.SENT
            if decision.action is Action.SHRINK and self._shrink(job):
                continue
            if decision.action in (Action.SHRINK, Action.DROP):
                self._refused(outcome)
                return Result.DROPPED
            self.counters.add("retried")
            failures += 1
            if outcome.retry_after is None:
                self._tell(outcome, "rollbar_notifier: could not deliver an item (%s): %s; "
                                    "retrying", each_message=False)
            if decision.action is Action.GIVE_UP:
                log.info("rollbar_notifier: giving up on item %s after %d attempt(s): %s",
                         job.uuid, failures, outcome.message or outcome.reason)
                return Result.GAVE_UP
            if decision.delay and not self.sleep(decision.delay):
                return Result.STOPPED

    def _wait_out_pause(self, started: float, policy: RetryPolicy,
                        patient: bool) -> Optional[Result]:
        while True:
            with self._lock:
                remaining = self._pause_until - self.clock()
            if remaining <= 0:
                return None
            if not patient and self.clock() - started + remaining > policy.retry_for:
                return Result.GAVE_UP
            if not self.sleep(remaining):
                return Result.STOPPED

    def sleep(self, seconds: float) -> bool:
        """The one place that waits; ``False`` when :meth:`interrupt` cut it short."""
        return not self.stop.wait(seconds)

    def interrupt(self) -> List[Job]:
        """Stop every sender's waits and new attempts; the jobs still in flight."""
        with self._lock:
            self._stopping = True
            pending = list(self._inflight.values())
        self.stop.set()
        return pending

    def _pause(self, seconds: float) -> None:
        until = self.clock() + seconds
        with self._lock:
            extended = until > self._pause_until
            if extended:
                self._pause_until = until
        if extended:
            log.warning("rollbar_notifier: rate limited by the server; pausing for %.0f s",
                        seconds)

    def _shrink(self, job: Job) -> bool:
        """Rebuild a 413'd item once with half the size limit; ``False`` if that is not possible."""
        if job.event is None:
            return False
        job.rebuilt = True
        limit = max(MIN_REBUILD_LIMIT, job.limit // 2)
        body = self.builder.build(job.event, limit)
        if body is None:
            return False
        job.body, job.limit = body, limit
        return True

    def _refused(self, outcome: Outcome) -> None:
        self.counters.drop(outcome.reason)
        self._tell(outcome, "rollbar_notifier: the server refused an item (%s): %s",
                   each_message=True)

    def _tell(self, outcome: Outcome, text: str, each_message: bool) -> None:
        """The first failure of each kind is a warning that reaches stderr when nothing
        else would show it (see :mod:`.last_resort`): a bad token or a wrong endpoint must
        not go unnoticed. Later refusals are logged once per server message."""
        key = (outcome.reason, outcome.message)
        with self._lock:
            room = len(self._logged) < MAX_LOGGED_REASONS
            new_kind = room and outcome.reason not in self._kinds
            first = new_kind or (each_message and room and key not in self._logged)
            if first:
                self._kinds.add(outcome.reason)
                self._logged.add(key)
        if new_kind:
            warn(log, text, outcome.reason, outcome.message or "no message")
        elif first:
            log.warning(text, outcome.reason, outcome.message or "no message")

    # -- spool -------------------------------------------------------------------------

    def abandon(self, job: Job, reason: Union[DropReason, str]) -> bool:
        """Keep an undeliverable item in the spool; ``True`` unless it had to be dropped.

        A replayed item is still in the spool: its claim is given back at once, so the
        next process to drain sends it, even if this one exits before its sender does."""
        if job.spool_name is not None:
            if self.spool is not None:
                self.spool.release(job.spool_name)
            return True
        if self.spool is not None:
            written, evicted = self.spool.write(job.uuid, job.body)
            if evicted:
                self.counters.drop(DropReason.SPOOL_FULL, evicted)
            if written:
                self.counters.add("spooled")
                with self._lock:
                    self._spool_due = True
                return True
        self.counters.drop(reason)
        return False

    def take_spool_due(self) -> bool:
        """Whether the spool has items to replay (and, if so, the caller replays them)."""
        with self._lock:
            due, self._spool_due = self._spool_due, False
        return due

    def mark_spool_due(self) -> None:
        with self._lock:
            self._spool_due = True

    def drain_spool(self, policy: RetryPolicy, patient: bool) -> None:
        """Send spooled items oldest first; stop at the first one the server will not take.

        Each file is claimed before it is read, so processes draining one spool never
        send an item twice; one another process holds is skipped."""
        spool = self.spool
        if spool is None:
            return
        with self._lock:
            if self._draining:
                return
            self._draining = True
        try:
            for name in spool.pending():
                if self.stop.is_set():
                    return
                claim = spool.claim(name)
                if claim is None or self._replay(spool, claim, policy, patient):
                    continue
                self.mark_spool_due()
                return
        finally:
            with self._lock:
                self._draining = False

    def _replay(self, spool: Spool, claim: str, policy: RetryPolicy, patient: bool) -> bool:
        """Deliver one claimed file; ``False`` when it stays in the spool (claim released).

        A file over ``max_body_bytes`` (written under a larger limit, or not by us) is
        fitted to the limit first, keeping its uuid."""
        body = spool.read(claim)
        if body is None:
            return True
        limit = self.config.max_body_bytes
        if len(body) > limit:
            body = fit(json.loads(body), limit)
        result = self.deliver_tracked(Job(uuid_of(claim), body, len(body), spool_name=claim),
                                      policy, patient)
        if result in (Result.SENT, Result.DROPPED):
            spool.remove(claim)
            return True
        spool.release(claim)
        return False
