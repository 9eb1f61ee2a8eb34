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
import sys
import threading
import time
import uuid
from collections.abc import Mapping as AbcMapping
from typing import Any, Callable, Dict, List, Optional, TypeVar

from .bounded import EXTRA_LIMITS, MAX_MESSAGE, Budget, Shared, safe_repr, safe_str
from .contract import MAX_TIMESTAMP
from .event import Event, ExceptionArg, ExcInfo, ReportFields, Trace
from .levels import normalize_level
from .traces import LOCALS_POOL as LOCALS_POOL
from .traces import MAX_CHAIN_FRAMES as MAX_CHAIN_FRAMES
from .traces import MAX_FRAMES_HEAD as MAX_FRAMES_HEAD
from .traces import MAX_FRAMES_TAIL as MAX_FRAMES_TAIL
from .traces import MAX_IDENTIFIER, TraceCapture, type_name
from .traces import MAX_TRACEBACK_WALK as MAX_TRACEBACK_WALK
from .traces import MIN_TRACE_FRAMES as MIN_TRACE_FRAMES

log = logging.getLogger(__name__)

ARGUMENTS_POOL = (2000, 131072)
"""(nodes, characters) that ``extra``, ``request``, ``person`` and a telemetry list copy
together."""
ARGUMENT_RESERVE = (200, 8192)
"""(nodes, characters) of the pool kept for each argument still to be copied."""
CAPTURE_SECONDS = 0.5
"""Wall-clock time after which values are no longer copied but replaced by a
placeholder: a slow ``__repr__`` must not hold up the caller for long."""

_T = TypeVar("_T")


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
        return _Capture(fields, capture_locals).event()
    except Exception:
        log.warning("rollbar_notifier could not capture a report", exc_info=True)
        return None


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
        if fields.exception is not None:
            default_level = "error"
            _, exc, tb = fields.exception
            traces = self.traces.chain(exc, tb)
        else:
            default_level = "info"
            message = safe_str(fields.message, MAX_MESSAGE)
            stack = fields.stack
            traces = [] if stack is None else [Trace(
                safe_str(stack.label, MAX_IDENTIFIER), message, self.traces.stack(stack.frame))]
        return Event(
            uuid=str(uuid.uuid4()),
            timestamp=self._timestamp(fields.timestamp),
            level=self._level(fields.level, default_level),
            thread=(threading.current_thread().name if fields.thread is None
                    else safe_str(fields.thread, 255)),
            traces=traces,
            message=message,
            description=_text(fields.description),
            context=_text(fields.context),
            extra=copied.get("extra"),
            request=copied.get("request"),
            person=copied.get("person"),
            fingerprint=_text(fields.fingerprint),
            title=_text(fields.title),
            framework=_text(fields.framework),
            telemetry=copied.get("telemetry", fields.telemetry),
            diagnostic=self._diagnostic(),
        )

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

    def _diagnostic(self) -> Dict[str, Any]:
        diagnostic: Dict[str, Any] = {"arguments": self.notes} if self.notes else {}
        late = self.traces.locals.out_of_time()
        if late or self.traces.locals_omitted:
            gaps = [f"values were not copied after {CAPTURE_SECONDS:g} s"] if late else []
            if self.traces.locals_omitted:
                gaps.append("locals of some frames were left out: the capture's size pool "
                            "was spent")
            diagnostic["capture"] = "; ".join(gaps)
        return diagnostic


def _text(value: Any) -> Optional[str]:
    return None if value is None else safe_str(value, MAX_MESSAGE)
