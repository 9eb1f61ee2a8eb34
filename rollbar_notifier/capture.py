"""Turn what a caller reported into an :class:`Event`, in the caller's thread.

Only what could change after the call returns is taken here: the exception chain,
frame positions, bounded snapshots of locals and extra data, the time and the thread
(frames and locals by :mod:`.traces`, the rest in this module). Everything costly
(source lines, JSON, scrubbing, HTTP) happens later, off the caller's thread. Nothing
in this module does I/O, and :func:`capture` never raises.

Whatever the caller hands over may be odd: a hostile ``level``, a ``timestamp`` of
``nan``, a mapping whose ``__len__`` raises, a ``__repr__`` that sleeps, or the stand-in
frames, tracebacks and code objects that billiard, Twisted or Jinja build. Each field
is taken on its own, so a bad one costs that field (noted in the event's
``diagnostic``), never the report. One capture shares a memo, a deadline and two size
pools (:class:`~.bounded.Shared`), so the event's size, and the time taken, are bounded
however many times the values are referenced.
"""

from __future__ import annotations

import logging
import math
import operator
import sys
import threading
import time
from collections.abc import Mapping as AbcMapping
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

from .bounded import EXTRA_LIMITS, MAX_MESSAGE, Budget, Shared, flat_size, safe_repr, safe_str
from .contract import LEVELS, MAX_TIMESTAMP
from .event import Event, ExceptionArg, ExcInfo, Location, ReportFields, Trace
from .levels import normalize_level
from .traces import LOCALS_POOL as LOCALS_POOL
from .traces import MAX_CHAIN_FRAMES as MAX_CHAIN_FRAMES
from .traces import MAX_FRAMES_HEAD as MAX_FRAMES_HEAD
from .traces import MAX_FRAMES_TAIL as MAX_FRAMES_TAIL
from .traces import MAX_IDENTIFIER, TraceCapture, type_name
from .traces import MAX_TRACEBACK_WALK as MAX_TRACEBACK_WALK
from .traces import MIN_TRACE_FRAMES as MIN_TRACE_FRAMES
from .uuids import new_uuid

log = logging.getLogger(__name__)

ARGUMENTS_POOL = (2000, 131072)
"""(nodes, characters) that ``extra``, ``request``, ``person`` and a telemetry list copy
together."""
ARGUMENT_RESERVE = (200, 8192)
"""(nodes, characters) of the pool kept for each argument still to be copied."""
EVENT_BYTES = 1024
"""What any event holds besides its strings and copies: the objects themselves, its
uuid, level and thread names; an over-estimate on 64-bit CPython."""
FRAME_BYTES = 200
"""One frame, besides its locals and names."""
NODE_BYTES = 64
"""One value of a copy (a dict, list, number or string object), besides its characters."""
MAX_THREAD_NAME = 255
CAPTURE_SECONDS = 0.5
"""Wall-clock time after which values are no longer copied but replaced by a
placeholder: a slow ``__repr__`` must not hold up the caller for long."""

_T = TypeVar("_T")
_FRAME_NAMES = tuple(map(operator.attrgetter, ("filename", "method", "class_name")))


def exc_info_of(exc: ExceptionArg) -> Optional[ExcInfo]:
    """Normalize an exception, an ``exc_info`` tuple or ``None`` (the one being handled)."""
    if exc is None:
        exc = sys.exc_info()
    if isinstance(exc, BaseException):
        return (type(exc), exc, exc.__traceback__)
    if isinstance(exc, tuple) and len(exc) == 3 and isinstance(exc[1], BaseException):
        return (type(exc[1]), exc[1], exc[2])
    return None


def capture(fields: ReportFields, capture_locals: bool = True) -> Optional[Event]:
    """Snapshot one report; ``None`` (with a warning) only if even that fails."""
    try:
        return _plain_message(fields) or _Capture(fields, capture_locals).event()
    except Exception:
        log.warning("rollbar_notifier could not capture a report", exc_info=True)
        return None


def _plain_message(fields: ReportFields) -> Optional[Event]:
    """The event of a message whose fields are already what capture would make of them
    (short text, a level by its name, a flat ``extra``, telemetry still to be built):
    what most log records hand over. Made directly, at a fraction of the cost of
    :class:`_Capture`, and equal to what it would make (tests/test_sender_cost.py).
    ``None``: the report needs the general capture.
    """
    (exception, message, stack, level, description, extra, request, person, fingerprint,
     group, title, context, framework, telemetry, timestamp, thread,
     location) = fields  # all, in order
    if (exception is not None or stack is not None or person is not None
            or request is not None or type(message) is not str or len(message) > MAX_MESSAGE
            or not (telemetry is None or callable(telemetry))):
        return None
    chars = len(message)
    for text in (description, context, fingerprint, group, title, framework):
        if text is not None:
            if type(text) is not str or len(text) > MAX_MESSAGE:
                return None
            chars += len(text)
    if level is None:
        level = "info"
    elif type(level) is not str or level not in LEVELS:
        return None
    if timestamp is None:
        timestamp = int(time.time())
    elif type(timestamp) is not int or not 0 <= timestamp < MAX_TIMESTAMP:
        return None
    if thread is None:
        thread = threading.current_thread().name
    elif type(thread) is not str or len(thread) > MAX_THREAD_NAME:
        return None
    if location is not None:
        if _location(location) is not location:
            return None
        chars += len(location[0]) + len(location[1])
    nodes = 0
    if extra is not None:
        size = flat_size(extra, EXTRA_LIMITS)
        if size is None or size[0] > ARGUMENTS_POOL[0] or size[1] >= ARGUMENTS_POOL[1]:
            return None
        nodes, extra_chars = size
        chars += extra_chars
        extra = dict(extra) or None
    # By position, in field order: half the cost of keywords, on every log record.
    return Event(new_uuid(), timestamp, level, thread, (), message, description, context, extra,
                 None, None, fingerprint, group, title, framework, telemetry,
                 EVENT_BYTES + NODE_BYTES * nodes + chars, None, location)


class _Capture:
    """One report being captured, and what all its parts share."""

    def __init__(self, fields: ReportFields, capture_locals: bool) -> None:
        self.fields = fields
        deadline = time.monotonic() + CAPTURE_SECONDS
        self.arguments = Shared(*ARGUMENTS_POOL, deadline)
        self.traces = TraceCapture(
            Shared(*LOCALS_POOL, deadline, memo=self.arguments.memo), capture_locals)
        """One memo for both: an object in ``extra`` and in four locals is copied once."""
        self.notes: Dict[str, str] = {}
        self.arguments_to_come: List[str] = []

    def event(self) -> Event:
        fields = self.fields
        listed = None if callable(fields.telemetry) else fields.telemetry
        given = (("person", fields.person), ("request", fields.request),
                 ("extra", fields.extra), ("telemetry", listed))
        self.arguments_to_come = [name for name, value in given if value is not None]
        copied = {name: self._guarded(name, self._argument, name, value)
                  for name, value in given if value is not None}
        message: Optional[str] = None
        traces: Sequence[Trace] = ()
        if fields.exception is not None:
            default_level = "error"
            _, exc, tb = fields.exception
            traces = self.traces.chain(exc, tb)
        else:
            default_level = "info"
            message = safe_str(fields.message, MAX_MESSAGE)
            stack = fields.stack
            if stack is not None:
                traces = [Trace(safe_str(stack.label, MAX_IDENTIFIER), message,
                                self.traces.stack(stack.frame))]
        event = Event(
            uuid=new_uuid(),
            timestamp=self._timestamp(fields.timestamp),
            level=self._level(fields.level, default_level),
            thread=(threading.current_thread().name if fields.thread is None
                    else safe_str(fields.thread, MAX_THREAD_NAME)),
            traces=traces,
            message=message,
            description=_text(fields.description),
            context=_text(fields.context),
            extra=copied.get("extra"),
            request=copied.get("request"),
            person=copied.get("person"),
            fingerprint=_text(fields.fingerprint),
            group=_text(fields.group),
            title=_text(fields.title),
            framework=_text(fields.framework),
            telemetry=copied.get("telemetry", fields.telemetry),
            location=self._guarded("location", _location, fields.location),
        )
        event.diagnostic = self._diagnostic()
        event.nbytes = self._nbytes(event)
        return event

    def _nbytes(self, event: Event) -> int:
        """What the event holds, from what its copies were charged: never by walking them."""
        nodes = ARGUMENTS_POOL[0] - self.arguments.nodes + LOCALS_POOL[0] - self.traces.locals.nodes
        chars = ARGUMENTS_POOL[1] - self.arguments.chars + LOCALS_POOL[1] - self.traces.locals.chars
        for text in (event.message, event.description, event.context, event.fingerprint,
                     event.group, event.title, event.framework,
                     *(event.location[:2] if event.location else ())):
            chars += len(text) if text else 0
        frames = 0
        for trace in event.traces:
            chars += len(trace.class_name) + len(trace.message)
            frames += len(trace.frames)
            for name in _FRAME_NAMES:  # by C-level maps: a trace may have 250 frames
                chars += sum(map(len, filter(None, map(name, trace.frames))))
        return EVENT_BYTES + FRAME_BYTES * frames + NODE_BYTES * nodes + chars

    # -- arguments -----------------------------------------------------------------------

    def _note(self, name: str, text: str) -> None:
        log.warning("rollbar_notifier: argument %s: %s", name, text)
        self.notes[name] = text

    def _guarded(self, name: str, make: Callable[..., Optional[_T]], *args: Any
                 ) -> Optional[_T]:
        try:
            return make(*args)
        except Exception as exc:
            self._note(name, f"left out: reading it raised {type(exc).__name__}")
            return None

    def _argument(self, name: str, value: Any) -> Any:
        return self._telemetry(value) if name == "telemetry" else self._mapping(name, value)

    def _mapping(self, name: str, value: Any) -> Optional[Dict[str, Any]]:
        """A bounded copy of a mapping argument; anything else must not cost the report.

        A list of pairs is accepted as a mapping. Other values of ``extra`` are kept under
        the key ``extra``; other requests or persons are left out.
        """
        budget = self._argument_budget(name)
        if budget is None:
            return None
        if isinstance(value, (list, tuple)):
            try:
                value = dict(value)
            except Exception:
                pass
        copied = budget.copy(value)
        budget.close()
        if isinstance(value, AbcMapping) and isinstance(copied, dict):
            return copied or None
        if isinstance(value, AbcMapping):
            self._note(name, f"left out: its items could not be read ({copied})")
        elif name == "extra":
            return None if copied in ("", []) else {name: copied}
        else:
            self._note(name, f"left out: a mapping was expected, not {type_name(value)}")
        return None

    def _argument_budget(self, name: str) -> Optional[Budget]:
        """The arguments are copied in the order person, request, extra, telemetry (the
        small, structured ones first); each may take the pool but for a reserve for each
        argument still to come, so a huge one costs the others at most their share.
        ``None``: no room is left."""
        if name not in self.arguments_to_come:
            return None
        self.arguments_to_come.remove(name)
        later = len(self.arguments_to_come)
        budget = Budget(EXTRA_LIMITS, self.arguments,
                        (later * ARGUMENT_RESERVE[0], later * ARGUMENT_RESERVE[1]))
        if budget.nodes <= 0 or budget.chars <= 0:
            self._note(name, "left out: the other arguments took all the room capture has")
            return None
        return budget

    def _telemetry(self, value: Any) -> Optional[List[Dict[str, Any]]]:
        budget = self._argument_budget("telemetry")
        if budget is None:
            return None
        copied = budget.copy(value)
        budget.close()
        if isinstance(copied, list):
            return [event for event in copied if isinstance(event, dict)]
        self._note("telemetry", f"left out: a list was expected, not {type_name(value)}")
        return None

    def _level(self, value: Any, default: str) -> str:
        if value is None:
            return default
        try:
            return normalize_level(value)
        except Exception:
            self._note("level", f"unknown level {safe_repr(value, 100)}; sent as {default}")
            return default

    def _timestamp(self, value: Any) -> int:
        now = int(time.time())
        if value is None:
            return now
        try:
            seconds = float(value)
        except Exception:
            seconds = math.nan
        if math.isfinite(seconds) and 0 <= seconds < MAX_TIMESTAMP:
            return int(seconds)
        self._note("timestamp", f"{safe_repr(value, 100)} is not a Unix time in seconds; "
                                "the capture time is sent")
        return now

    def _diagnostic(self) -> Optional[Dict[str, Any]]:
        diagnostic: Dict[str, Any] = {"arguments": self.notes} if self.notes else {}
        late = self.traces.locals.out_of_time()
        if late or self.traces.locals_omitted:
            gaps = [f"values were not copied after {CAPTURE_SECONDS:g} s"] if late else []
            if self.traces.locals_omitted:
                gaps.append("locals of some frames were left out: the capture's size pool "
                            "was spent")
            diagnostic["capture"] = "; ".join(gaps)
        return diagnostic or None


def _location(value: Any) -> Optional[Location]:
    """``value`` itself when it holds what a log record does (short names, plain numbers),
    else a copy made so; ``None`` for anything but a tuple of four."""
    if type(value) is not tuple or len(value) != 4:
        return None
    module, function, lineno, process = value
    plain_lineno, plain_process = _plain_int(lineno), _plain_int(process)
    if (type(module) is str and type(function) is str and len(module) <= MAX_IDENTIFIER
            and len(function) <= MAX_IDENTIFIER and plain_lineno and plain_process):
        return value
    return (safe_str(module, MAX_IDENTIFIER), safe_str(function, MAX_IDENTIFIER),
            lineno if plain_lineno else None, process if plain_process else None)


def _plain_int(value: Any) -> bool:
    return value is None or (type(value) is int and -(2**63) <= value < 2**63)


def _text(value: Any) -> Optional[str]:
    return None if value is None else safe_str(value, MAX_MESSAGE)
