"""Blocking mode: build and deliver in the caller's thread, within ``shutdown_timeout``.

For programs that may die right after reporting (short scripts, serverless handlers
without a flush) and for reports made after the exit flush, when no sender thread is
left. A caller must never wait the whole budget once per report while the server is
down, so after a failure the server is taken as down for a growing back-off, during
which items go to the spool (or are dropped) at once.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Callable, Optional

from . import lifecycle, losses
from .config import Config
from .delivery import Delivery, Job, Result
from .event import Event
from .retry import Random, RetryPolicy
from .stats import Counters, DropReason, Stats
from .transport import Transport


class OutageAwareDelivery:
    """Deliver one job now, within a budget, unless the server was just found down."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery
        self.after_fork_in_child()

    def after_fork_in_child(self) -> None:
        self._lock = threading.RLock()
        self._down_until = 0.0
        self._failures = 0

    def deliver(self, job: Job, budget: float) -> bool:
        """``False`` when the job was lost (neither delivered, refused nor spooled).

        The spool is replayed only once a send has worked, since a failed one says the
        server is not taking items.
        """
        delivery = self.delivery
        with self._lock:
            down = delivery.clock() < self._down_until
        if down:
            return delivery.abandon(job, DropReason.SERVER_UNAVAILABLE)
        if budget <= 0:
            return delivery.abandon(job, DropReason.SHUTDOWN_TIMEOUT)
        policy = delivery.policy.for_blocking(budget)
        result = delivery.deliver(job, policy, patient=False, deadline=delivery.clock() + budget)
        if result in (Result.SENT, Result.DROPPED):
            with self._lock:
                self._failures = 0
            if result is Result.SENT and delivery.take_spool_due():
                delivery.drain_spool(policy, patient=False)
            return True
        with self._lock:
            self._failures += 1
            self._down_until = delivery.clock() + delivery.policy.ceiling(self._failures)
        return delivery.abandon(job, DropReason.RETRY_EXPIRED)


class BlockingSender:
    """The sender of a ``mode="blocking"`` notifier: no queue and no thread."""

    def __init__(self, config: Config, transport: Transport, *,
                 policy: Optional[RetryPolicy] = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 rand: Random = random.random) -> None:
        self.config = config
        self.counters = Counters()
        delivery = Delivery(config, transport, self.counters,
                            policy=policy or RetryPolicy(retry_for=config.retry_for),
                            clock=clock, wall=wall, rand=rand, on_sent=_nothing)
        self._now = OutageAwareDelivery(delivery)
        self._exit = lifecycle.ExitDeadline(config.shutdown_timeout, clock)
        self._closed = False
        lifecycle.track_sender(self)

    def admits(self) -> bool:
        """Blocking mode has no queue to be full."""
        return True

    def submit(self, event: Event) -> bool:
        """Deliver ``event`` before returning; ``False`` only when ``before_send`` dropped it.

        A rate-limit pause or a retry longer than the budget spools (or drops) the item
        rather than blocking.
        """
        self.counters.add("queued")
        job = self._now.delivery.job_for(event)
        if job is None:
            return False
        self._now.deliver(job, self.config.shutdown_timeout)
        return True

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Nothing is ever queued, so ``True``; :meth:`stats` tells what was delivered."""
        return True

    def close(self, timeout: Optional[float] = None) -> None:
        """Cut short any retry wait and name on stderr, once, what was lost; a later report
        is still sent, without waits."""
        lifecycle.forget_sender(self)
        self._now.delivery.interrupt()
        if self._closed:
            return
        self._closed = True
        losses.tell(self.stats()["dropped"], self.config, self._now.delivery.spool is not None)

    def close_at_exit(self) -> None:
        self.close()

    def exit_budget(self, start: bool = True) -> float:
        return self._exit.remaining(start)

    def report_late_losses(self) -> None:
        """Every report was sent (or its loss counted) before its call returned."""

    def stats(self) -> Stats:
        return self.counters.snapshot()

    def after_fork_in_child(self) -> None:
        self.counters = self._now.delivery.counters = Counters()
        self._now.delivery.after_fork_in_child()
        self._now.after_fork_in_child()
        self._exit.after_fork_in_child()


def _nothing() -> None:
    """After a blocking send the caller replays the spool itself, see
    :meth:`OutageAwareDelivery.deliver`."""
