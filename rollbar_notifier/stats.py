"""What became of the items a notifier was given, counted for ``Notifier.stats()``."""

from __future__ import annotations

import enum
import threading
from typing import Dict, Literal, TypedDict, Union


class Stats(TypedDict):
    queued: int
    """Reports accepted, in total (not the current queue length)."""
    sent: int
    retried: int
    """Attempts that failed and were tried again."""
    spooled: int
    dropped: Dict[str, int]
    """Items lost, by :class:`DropReason` value or by the server's refusal (``http_403``)."""


class DropReason(enum.Enum):
    QUEUE_FULL = "queue_full"
    CLOSED = "closed"
    """Reported after ``close()``, other than at exit."""
    BEFORE_SEND = "before_send"
    """The ``before_send`` hook returned ``None``."""
    RETRY_EXPIRED = "retry_expired"
    SHUTDOWN_TIMEOUT = "shutdown_timeout"
    SERVER_UNAVAILABLE = "server_unavailable"
    """Blocking mode, while the server is taken as down after a failure."""
    SPOOL_FULL = "spool_full"
    INTERNAL_ERROR = "internal_error"


Counter = Literal["queued", "sent", "retried", "spooled"]


class Counters:
    """Thread-safe; re-entrant, as a report from a garbage-collected ``__del__`` may
    count while its thread is already counting."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._counts: Dict[Counter, int] = {"queued": 0, "sent": 0, "retried": 0, "spooled": 0}
        self._dropped: Dict[str, int] = {}

    def add(self, name: Counter, number: int = 1) -> None:
        with self._lock:
            self._counts[name] += number

    def drop(self, reason: Union[DropReason, str], number: int = 1) -> None:
        key = reason.value if isinstance(reason, DropReason) else reason
        with self._lock:
            self._dropped[key] = self._dropped.get(key, 0) + number

    def snapshot(self) -> Stats:
        with self._lock:
            return Stats(queued=self._counts["queued"], sent=self._counts["sent"],
                         retried=self._counts["retried"], spooled=self._counts["spooled"],
                         dropped=dict(self._dropped))
