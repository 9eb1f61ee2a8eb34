"""The recent log records of the whole process, attached to items as ``body.telemetry``.

An error is easier to understand with what was logged just before it, in any thread
and by any logger. The notifier's own records (and those of the HTTP libraries it
uses) are never collected: they are noise, and collecting them while reporting would
feed the notifier its own output.

It is fed by the log record factory rather than by a handler on the root logger:
``dictConfig`` and ``fileConfig`` remove the root logger's handlers *after* building
the configured ones (so a handler attached from ``RollbarHandler.__init__`` would be
gone before the first record), and a factory also sees records of loggers that do not
propagate to the root.

A factory sees a record before its logger's filters do, so the collector only keeps
the record itself in a bounded ring (no formatting: every INFO record of the process
passes here) and decides when an item is reported: a record goes into telemetry only
if its logger is still enabled for its level and the logger's filters accept it, so a
filter that hides secrets from the logs hides them from telemetry too. Each record is
formatted and checked once, at the first report that includes it, so a report pays
only for the records logged since the previous one. The price: the last
``telemetry_size`` records stay alive until pushed out (their arguments included),
they are formatted as their arguments are at that first report, and a logger's
filters run a second time on them.

Records are kept apart by scope (:mod:`.scope`): a record logged inside a ``with
scope()`` block is kept on that block's outermost :class:`~.scope.Owner`, in a ring of
its own, and goes only with items reported in that block; a record logged outside every
block goes with every item. So concurrent requests never show each other's records, and
a busy process does not push one request's records out of another's ring. Finding the
ring is one context variable read per record.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any, Deque, Dict, List, Optional, Tuple, Union

from .bounded import safe_str
from .event import LazyTelemetry
from .levels import from_logging
from .scope import Owner, current_scope

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


def _was_logged(record: logging.LogRecord) -> bool:
    """Whether ``record``'s logger let it through: enabled for its level, and its filters
    accept it. A record no logger made (``makeLogRecord``) is taken as it is."""
    logger = logging.root if record.name == "root" else \
        logging.Logger.manager.loggerDict.get(record.name)
    if not isinstance(logger, logging.Logger):
        return True
    try:
        return logger.isEnabledFor(record.levelno) and bool(logger.filter(record))
    except Exception:
        return False


def _message(record: logging.LogRecord) -> str:
    try:
        return safe_str(record.getMessage(), MAX_MESSAGE)
    except Exception:
        return safe_str(record.msg, MAX_MESSAGE)


class _Entry:
    """A collected record and, once a report has looked at it, its telemetry event
    (``False`` when its logger rejects it). Two reports computing it at once agree."""

    __slots__ = ("event", "record")

    def __init__(self, record: logging.LogRecord) -> None:
        self.record = record
        self.event: Union[bool, Dict[str, Any], None] = None

    def resolve(self) -> Union[bool, Dict[str, Any]]:
        if self.event is None:
            record = self.record
            self.event = _was_logged(record) and {
                "level": from_logging(record.levelno), "type": "log", "source": "server",
                "timestamp_ms": int(record.created * 1000),
                "body": {"message": _message(record), "logger": record.name}}
        return self.event


class TelemetryCollector:
    """Keeps the last records in rings (one shared, one per outermost scope); never raises,
    never runs user formatters.

    No lock on the logging path: ``deque.append`` is atomic, and a lock there could
    deadlock when a ``__del__`` run by the garbage collector logs while it is held.
    """

    def __init__(self, size: int, level: int) -> None:
        self.level = level
        self._entries: Deque[_Entry] = collections.deque(maxlen=size)

    def widen(self, size: int, level: int) -> None:
        """Serve one more notifier: keep enough entries and low enough levels for all."""
        if size > (self._entries.maxlen or 0):
            self._entries = collections.deque(_copy(self._entries), maxlen=size)
        self.level = min(self.level, level)

    def observe(self, record: logging.LogRecord) -> None:
        if record.levelno >= self.level and not is_excluded(record):
            owner = current_scope().owner
            if owner is None:
                self._entries.append(_Entry(record))
                return
            ring = owner.records
            if ring is None:  # two threads of one request may both make one: a record lost
                ring = owner.records = collections.deque(maxlen=self._entries.maxlen)
            ring.append(_Entry(record))

    def snapshot(self, level: int, limit: int, exclude: Optional[logging.LogRecord] = None,
                 owner: Optional[Owner] = None) -> LazyTelemetry:
        """Telemetry for one item of ``owner``'s block (``None``: outside every block),
        taken now and built later, on a sender thread.

        The caller pays only for copying the rings' references; merging, filtering and
        formatting the records (each once, then cached) happen with the payload.
        """
        shared = _copy(self._entries)
        own = _copy(owner.records) if owner is not None and owner.records is not None else ()

        def events() -> List[Dict[str, Any]]:
            entries = sorted(shared + own, key=_created) if own else shared
            chosen: List[Dict[str, Any]] = []
            for entry in reversed(entries):
                if len(chosen) >= limit:
                    break
                if entry.record.levelno < level or entry.record is exclude:
                    continue
                event = entry.resolve()
                if isinstance(event, dict):  # shared, never copied: no stage edits in place
                    chosen.append(event)
            chosen.reverse()
            return chosen

        return events


def _copy(ring: Deque[_Entry]) -> Tuple[_Entry, ...]:
    """A snapshot; another thread appending meanwhile makes one try fail, so retry."""
    for _ in range(MAX_COPY_ATTEMPTS):
        try:
            return tuple(ring)
        except RuntimeError:
            continue
    return ()


def _created(entry: _Entry) -> float:
    return entry.record.created


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


def recent(level: int, limit: int, exclude: Optional[logging.LogRecord] = None,
           owner: Optional[Owner] = None) -> Optional[LazyTelemetry]:
    """Telemetry for an item of ``owner``'s block, or ``None`` when nothing is collected
    (so the key is omitted)."""
    collector = _collector
    if collector is None or limit <= 0:
        return None
    try:
        return collector.snapshot(level, limit, exclude, owner)
    except Exception:
        log.debug("rollbar_notifier: reading telemetry failed", exc_info=True)
        return None
