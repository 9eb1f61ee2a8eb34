"""The recent log records of the whole process, attached to items as ``body.telemetry``.

An error is easier to understand with what was logged just before it, in any thread
and by any logger. The collector keeps a bounded ring of already-formatted entries, so
the cost per record is one ``getMessage()`` and the memory is fixed whatever the
program logs. The notifier's own records (and those of the HTTP libraries it uses) are
never collected: they are noise, and collecting them while reporting would feed the
notifier its own output.

It is fed by the log record factory rather than by a handler on the root logger:
``dictConfig`` and ``fileConfig`` remove the root logger's handlers *after* building
the configured ones (so a handler attached from ``RollbarHandler.__init__`` would be
gone before the first record), and a factory also sees records of loggers that do not
propagate to the root.
"""

from __future__ import annotations

import collections
import logging
import threading
import weakref
from typing import Any, Callable, Deque, Dict, List, NamedTuple, Optional, Tuple

from .capture import safe_str
from .levels import from_logging

log = logging.getLogger(__name__)

MAX_MESSAGE = 1024
"""Characters kept per telemetry message: enough to read, small enough for 50 of them."""

MAX_COPY_ATTEMPTS = 5

EXCLUDED_LOGGERS = ("rollbar_notifier", "urllib3", "requests")
EXCLUDED_THREAD_PREFIX = "rollbar_notifier"


def is_excluded(record: logging.LogRecord) -> bool:
    """Records the notifier must never report nor collect, to avoid reporting itself."""
    name = record.name or ""
    for prefix in EXCLUDED_LOGGERS:
        if name == prefix or name.startswith(prefix + "."):
            return True
    return (record.threadName or "").startswith(EXCLUDED_THREAD_PREFIX)


class _Entry(NamedTuple):
    record: Callable[[], Optional[logging.LogRecord]]
    """A weak reference: excludes the reported record itself, without keeping it alive
    (an ``id()`` would be reused by the next record, once this one is freed)."""
    levelno: int
    timestamp_ms: int
    message: str


class TelemetryCollector:
    """Keeps the last records in a ring; never raises, never runs user formatters.

    No lock on the logging path: ``deque.append`` is atomic, and a lock there could
    deadlock when a ``__del__`` run by the garbage collector logs while it is held.
    """

    def __init__(self, size: int, level: int) -> None:
        self.level = level
        self._entries: Deque[_Entry] = collections.deque(maxlen=size)

    def widen(self, size: int, level: int) -> None:
        """Serve one more notifier: keep enough entries and low enough levels for all."""
        if size > (self._entries.maxlen or 0):
            self._entries = collections.deque(self._copy(), maxlen=size)
        self.level = min(self.level, level)

    def observe(self, record: logging.LogRecord) -> None:
        if record.levelno < self.level or is_excluded(record):
            return
        try:
            message = safe_str(record.getMessage(), MAX_MESSAGE)
        except Exception:
            message = safe_str(record.msg, MAX_MESSAGE)
        self._entries.append(_Entry(weakref.ref(record), record.levelno, int(record.created * 1000),
                                    message))

    def _copy(self) -> Tuple[_Entry, ...]:
        """A snapshot; another thread appending meanwhile makes one try fail, so retry."""
        for _ in range(MAX_COPY_ATTEMPTS):
            try:
                return tuple(self._entries)
            except RuntimeError:
                continue
        return ()

    def events(self, level: int, limit: int,
               exclude: Optional[logging.LogRecord] = None) -> List[Dict[str, Any]]:
        """The last ``limit`` entries at or above ``level``, oldest first, as Rollbar events."""
        if limit <= 0:
            return []
        chosen = [e for e in self._copy()
                  if e.levelno >= level and (exclude is None or e.record() is not exclude)]
        chosen = chosen[-limit:]
        return [{"level": from_logging(e.levelno), "type": "log", "source": "server",
                 "timestamp_ms": e.timestamp_ms, "body": {"message": e.message}}
                for e in chosen]


_install_lock = threading.Lock()
_collector: Optional[TelemetryCollector] = None


def attach(size: int, level: int) -> TelemetryCollector:
    """Start collecting, process-wide, once; later calls only widen the collector."""
    global _collector
    with _install_lock:
        if _collector is not None:
            _collector.widen(size, level)
            return _collector
        collector = TelemetryCollector(size, level)
        make_record = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            try:
                collector.observe(record)
            except Exception:  # logging here could recurse; telemetry must never break logging
                pass
            return record

        logging.setLogRecordFactory(factory)
        _collector = collector
        return collector


def recent(level: int, limit: int,
           exclude: Optional[logging.LogRecord] = None) -> Optional[List[Dict[str, Any]]]:
    """Telemetry for an item, or ``None`` when nothing is collected (so the key is omitted)."""
    collector = _collector
    if collector is None:
        return None
    try:
        return collector.events(level, limit, exclude) or None
    except Exception:
        log.debug("rollbar_notifier: reading telemetry failed", exc_info=True)
        return None
