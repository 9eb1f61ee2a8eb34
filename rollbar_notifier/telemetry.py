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

A factory sees a record before its logger's filters do, and before ``extra=`` is set on
it, so the collector reduces the record at once to what telemetry sends (its message,
level, logger, time and thread) and drops it: a record keeps its ``exc_info``, and
through it every frame and local of a traceback, alive; a queued item must not. Whether
the record goes into telemetry is decided later, at the first report that includes it:
only if its logger is still enabled for its level and the logger's filters accept a
stand-in record carrying that reduced form, so a filter that hides secrets from the logs
hides them from telemetry too. The price: the message is formatted for every collected
record (``getMessage``, as any handler would), a logger's filters run a second time,
and a filter that looks at ``args`` or at ``extra=`` attributes sees neither.

Records are kept apart by scope (:mod:`.scope`): a record logged inside a ``with
scope()`` block is kept on that block's outermost :class:`~.scope.Owner`, in a log of
its own, and goes only with items reported in that block; a record logged outside every
block goes with every item. So concurrent requests never show each other's records, and
a busy process does not push one request's records out of another's log. Finding the
log is one context variable read per record.
"""

from __future__ import annotations

import functools
import logging
import operator
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from .bounded import safe_str
from .levels import from_logging
from .scope import Owner, current_scope
from .scrub import Scrubbed, Scrubber

log = logging.getLogger(__name__)

MAX_MESSAGE = 1024
"""Characters kept per telemetry message: enough to read, small enough for 50 of them."""

EXCLUDED_LOGGERS = ("rollbar_notifier", "urllib3", "requests")
EXCLUDED_THREAD_PREFIX = "rollbar_notifier"


MAX_NAMES_CACHED = 4096
_excluded_names: Dict[str, bool] = {}
"""Logger name -> excluded: asked twice for every record (collector and handler)."""


def is_excluded(record: logging.LogRecord) -> bool:
    """Records the notifier must never report nor collect, to avoid reporting itself."""
    name = record.name or ""
    excluded = _excluded_names.get(name)
    if excluded is None:
        excluded = any(name == prefix or name.startswith(prefix + ".")
                       for prefix in EXCLUDED_LOGGERS)
        if len(_excluded_names) < MAX_NAMES_CACHED:
            _excluded_names[name] = excluded
    return excluded or (record.threadName or "").startswith(EXCLUDED_THREAD_PREFIX)


ENTRY_BYTES = 200
"""What a collected entry costs beyond its message's characters: the object, its strings'
headers, its numbers; an over-estimate on 64-bit CPython."""
MAX_ENTRY_BYTES = ENTRY_BYTES + MAX_MESSAGE + len("...")


class _Entry:
    """What telemetry keeps of one record, taken when the record is made; and, once a
    report has looked at it, its telemetry event (``False`` when its logger rejects it).
    Two reports computing the event at once agree."""

    __slots__ = ("created", "event", "ident", "level", "logger", "message", "nbytes", "scrubbed",
                 "thread")

    def __init__(self, record: logging.LogRecord) -> None:
        self.ident = id(record)
        self.created: float = record.created
        self.level: int = record.levelno
        self.logger: str = record.name
        self.thread: Optional[str] = record.threadName
        self.message = _message(record)
        self.nbytes = ENTRY_BYTES + len(self.message)
        self.event: Union[bool, Dict[str, Any], None] = None
        self.scrubbed: Optional[Scrubbed] = None
        """The event as the last scrubber to ask made it: one entry goes with many items."""

    def is_record(self, key: Tuple[int, float]) -> bool:
        """Whether this entry was taken from the record ``key`` names: its ``id`` and
        ``created`` time, which name a record without holding it (its ``id`` alone could be
        a dead record's)."""
        return self.ident == key[0] and self.created == key[1]

    def resolve(self) -> Union[bool, Dict[str, Any]]:
        if self.event is None:
            message = self._logged_message()
            self.event = message is not None and {
                "level": from_logging(self.level), "type": "log", "source": "server",
                "timestamp_ms": int(self.created * 1000),
                "body": {"message": message, "logger": self.logger}}
        return self.event

    def scrubbed_by(self, scrubber: Scrubber) -> Optional[Scrubbed]:
        """The event scrubbed by ``scrubber``, once; ``None`` when its logger rejects it."""
        done = self.scrubbed
        if done is not None and done.by is scrubber:
            return done
        event = self.resolve()
        if not isinstance(event, dict):
            return None
        done = self.scrubbed = scrubber.scrubbed(event)
        return done

    def _logged_message(self) -> Optional[str]:
        """The message as the record's logger let it through (its filters may rewrite
        it), or ``None`` when the logger is disabled for the level or a filter rejects it.
        A record no logger made (``makeLogRecord``) is taken as it is."""
        logger = logging.root if self.logger == "root" else \
            logging.Logger.manager.loggerDict.get(self.logger)
        if not isinstance(logger, logging.Logger):
            return self.message
        try:
            if not logger.isEnabledFor(self.level):
                return None
            if not logger.filters:
                return self.message
            stand_in = logging.LogRecord(self.logger, self.level, "", 0, self.message, None,
                                         None)
            stand_in.created, stand_in.threadName = self.created, self.thread
            if not logger.filter(stand_in):
                return None
            return _message(stand_in)
        except Exception:
            return None


def _message(record: logging.LogRecord) -> str:
    try:
        return safe_str(record.getMessage(), MAX_MESSAGE)
    except Exception:
        return safe_str(record.msg, MAX_MESSAGE)


View = Tuple[List[_Entry], int, List[_Entry], int, int, int]
"""What a snapshot keeps of a :class:`_Log`: its two blocks, their lengths then, its size,
and the bytes it was charged (see :meth:`_Log.take`)."""


class _Log:
    """The last ``size`` entries of one scope (or of none), and the bytes of every entry
    ever appended and already charged to an item's snapshot.

    Entries go in two blocks of up to ``size``: the block filling up, and the full one
    before it. A block is only ever appended to, and replaced (never emptied) once full,
    so a snapshot takes the two blocks and their lengths, not a copy of 50 entries: a
    report pays for a few references, and a queued item keeps one small tuple, which
    garbage collection walks instead of 50 references. Two threads appending to a full
    block at once may lose one entry (one telemetry event), never a report.
    """

    __slots__ = ("added", "blocks", "charged", "size")

    def __init__(self, size: int, entries: Iterable[_Entry] = ()) -> None:
        self.size = size
        kept = list(entries)[-size:]
        self.blocks: Tuple[List[_Entry], List[_Entry]] = ([], kept)
        self.added = self.charged = sum(entry.nbytes for entry in kept)

    def append(self, entry: _Entry) -> None:
        filling = self.blocks[1]
        if len(filling) < self.size:
            filling.append(entry)
        else:
            self.blocks = (filling, [entry])
        self.added += entry.nbytes

    def take(self) -> View:
        """A view for one item, charged the bytes of the entries appended since the last
        view was taken (no more than the view can hold).

        A snapshot keeps its entries alive after the log drops them; counting each entry
        once, in the first snapshot that takes it, makes the queued items' sum what they
        hold beyond the logs, instead of up to ``telemetry_size`` times that. Threads
        appending or taking at once may make an entry count twice (an over-estimate) or
        not at all (one entry).
        """
        full, filling = self.blocks
        full_length, filling_length = len(full), len(filling)
        added = self.added
        nbytes = min(added - self.charged, (full_length + filling_length) * MAX_ENTRY_BYTES)
        self.charged = added
        return (full, full_length, filling, filling_length, self.size, max(nbytes, 0))


def _entries(view: Optional[View]) -> List[_Entry]:
    """The last ``size`` entries of a log when ``view`` was taken, oldest first."""
    if view is None:
        return []
    full, full_length, filling, filling_length, size, _ = view
    older = size - filling_length
    return (full[max(full_length - older, 0):full_length] if older > 0 else []) + \
        filling[:filling_length]


class Snapshot:
    """The entries one item will take its telemetry from, built into events when called,
    on a sender thread. It holds entries only, never a record."""

    __slots__ = ("_exclude", "_level", "_limit", "_own", "_shared", "nbytes")

    def __init__(self, shared: View, own: Optional[View], level: int,
                 limit: int, exclude: Optional[Tuple[int, float]], nbytes: int) -> None:
        self._shared = shared
        self._own = own
        self._level = level
        self._limit = limit
        self._exclude = exclude
        self.nbytes = nbytes
        """What this item adds to the memory telemetry holds (see :meth:`_Log.take`)."""

    def __call__(self) -> List[Dict[str, Any]]:
        """The events, shared, never copied: no stage edits them in place."""
        return self._events(_Entry.resolve)

    def scrubbed(self, scrubber: Scrubber) -> List[Dict[str, Any]]:
        """The events as ``scrubber`` makes them, each scrubbed once for every item."""
        return self._events(functools.partial(_Entry.scrubbed_by, scrubber=scrubber))

    def _events(self, make: Callable[[_Entry], Any]) -> List[Dict[str, Any]]:
        entries = _entries(self._shared)
        if self._own is not None:
            entries = sorted(entries + _entries(self._own), key=_created)
        chosen: List[Dict[str, Any]] = []
        exclude = self._exclude
        for entry in reversed(entries):
            if len(chosen) >= self._limit:
                break
            if entry.level < self._level or (exclude is not None and entry.is_record(exclude)):
                continue
            event = make(entry)
            if isinstance(event, dict):
                chosen.append(event)
        chosen.reverse()
        return chosen


class TelemetryCollector:
    """Keeps the last records, reduced, in logs (one shared, one per outermost scope);
    never raises, never runs user formatters.

    No lock on the logging path: ``list.append`` is atomic, and a lock there could
    deadlock when a ``__del__`` run by the garbage collector logs while it is held.
    """

    def __init__(self, size: int, level: int) -> None:
        self.level = level
        self._entries = _Log(size)

    def widen(self, size: int, level: int) -> None:
        """Serve one more notifier: keep enough entries and low enough levels for all."""
        if size > self._entries.size:
            full, filling = self._entries.blocks
            self._entries = _Log(size, full + filling)
        self.level = min(self.level, level)

    def observe(self, record: logging.LogRecord) -> None:
        if record.levelno >= self.level and not is_excluded(record):
            owner = current_scope().owner
            entry = _Entry(record)
            if owner is None:
                self._entries.append(entry)
                return
            own = owner.records
            if own is None:  # two threads of one request may both make one: a record lost
                own = owner.records = _Log(self._entries.size)
            own.append(entry)

    def snapshot(self, level: int, limit: int, exclude: Optional[logging.LogRecord] = None,
                 owner: Optional[Owner] = None) -> Snapshot:
        """Telemetry for one item of ``owner``'s block (``None``: outside every block),
        taken now and built later, on a sender thread.

        The caller pays only for a view of each log (see :class:`_Log`); merging,
        filtering and building the events (each once, then cached) happen with the
        payload.
        """
        shared = self._entries.take()
        records = None if owner is None else owner.records
        own = records.take() if isinstance(records, _Log) else None
        return Snapshot(shared, own, level, limit,
                        None if exclude is None else (id(exclude), exclude.created),
                        shared[5] + own[5] if own else shared[5])


_created = operator.attrgetter("created")


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
