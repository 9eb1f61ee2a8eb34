"""Turn what a caller reported into an :class:`Event`, in the caller's thread.

Only what could change after the call returns is taken here: the exception chain,
frame positions, bounded snapshots of locals and extra data, the time and the thread.
Everything costly (source lines, JSON, scrubbing, HTTP) happens later, off the caller's
thread. Nothing in this module does I/O, and :func:`capture` never raises.

Whatever the caller hands over may be odd: a hostile ``level``, a ``timestamp`` of
``nan``, a mapping whose ``__len__`` raises, a ``__repr__`` that sleeps, or the stand-in
frames, tracebacks and code objects that billiard, Twisted or Jinja build. Each field
is taken on its own, so a bad one costs that field (noted in the event's
``diagnostic``), never the report. One capture shares a memo, a deadline and two size
pools (:class:`~.bounded.Shared`), so the event's size, and the time taken, are bounded
however many times the values are referenced.
"""

from __future__ import annotations

import builtins
import collections
import linecache
import logging
import math
import sys
import threading
import time
import uuid
from collections.abc import Mapping as AbcMapping
from itertools import islice
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

from .bounded import (
    EXTRA_LIMITS,
    FRAME_LIMITS,
    MAX_MESSAGE,
    Budget,
    Shared,
    safe_repr,
    safe_str,
)
from .event import Event, ExceptionArg, ExcInfo, Frame, ReportFields, Trace
from .levels import normalize_level

log = logging.getLogger(__name__)

MAX_CHAIN = 20
"""Traces kept in one trace_chain (causes, contexts and exception-group members)."""
MAX_FRAMES_HEAD = 50
MAX_FRAMES_TAIL = 200
"""Frames kept per trace at capture: the outermost HEAD and the innermost TAIL."""
MAX_CHAIN_FRAMES = MAX_FRAMES_HEAD + MAX_FRAMES_TAIL
"""Frames kept over a whole chain: the first traces take up to HEAD + TAIL each, until
this many are taken; every later trace still keeps ``MIN_TRACE_FRAMES``."""
MIN_TRACE_FRAMES = 5
MAX_LOCALS_FRAMES = 20
"""Innermost frames of each trace whose locals (and argument names) are captured."""
MAX_LOCALS = 50
"""Local variables captured per frame."""
MAX_FILENAME = 512
MAX_IDENTIFIER = 255
"""Function, class, argument and local names: generated code can make them any length."""
MAX_TRACEBACK_WALK = 100_000
"""Traceback entries followed at most: a stand-in traceback may loop or never end."""
ARGUMENTS_POOL = (2000, 131072)
"""(nodes, characters) that ``extra``, ``request``, ``person`` and a telemetry list copy
together."""
ARGUMENT_RESERVE = (200, 8192)
"""(nodes, characters) of the pool kept for each argument still to be copied."""
LOCALS_POOL = (3000, 65536)
"""(nodes, characters) that the locals and argument names of every frame of a capture
copy together, innermost frame first. With ``MAX_CHAIN_FRAMES`` and the per-value limits
these make the largest event capture can produce, and fitting it to ``max_body_bytes``
takes a few tens of milliseconds (tests/test_capture_bounds.py)."""
CAPTURE_SECONDS = 0.5
"""Wall-clock time after which values are no longer copied but replaced by a
placeholder: a slow ``__repr__`` must not hold up the caller for long."""
MAX_TIMESTAMP = 2**37
"""The API's bound for ``data.timestamp`` (seconds), see docs/rollbar-api.md."""

_GROUPS: Tuple[type, ...] = tuple(
    group for group in (getattr(builtins, "BaseExceptionGroup", None),) if group is not None
)
"""Exception groups exist from Python 3.11; on older versions nothing is a group."""
_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08
_T = TypeVar("_T")
Walked = List[Tuple[Any, Optional[int]]]
"""(frame, line number) pairs, oldest first."""
ArgSpec = Tuple[List[str], Optional[str], Optional[str], int]
"""Argument names, the names of ``*args`` and ``**kwargs``, and their length in all."""


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
        self.capture_locals = capture_locals
        deadline = time.monotonic() + CAPTURE_SECONDS
        self.arguments = Shared(*ARGUMENTS_POOL, deadline)
        self.locals = Shared(*LOCALS_POOL, deadline, memo=self.arguments.memo)
        """One memo for both: an object in ``extra`` and in four locals is copied once."""
        self.frames_left = MAX_CHAIN_FRAMES
        self.locals_omitted = False
        self.notes: Dict[str, str] = {}
        self.arguments_to_come: List[str] = []
        self.argspecs: Dict[int, ArgSpec] = {}
        """By code object: a recursion shows the same one in many frames."""

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
            traces = self._chain(exc, tb)
        else:
            default_level = "info"
            message = safe_str(fields.message, MAX_MESSAGE)
            stack = fields.stack
            traces = [] if stack is None else [
                Trace(safe_str(stack.label, MAX_IDENTIFIER), message, self._stack(stack.frame))]
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
            self._note(name, f"left out: a mapping was expected, not {_type_name(value)}")
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
        self._note("telemetry", f"left out: a list was expected, not {_type_name(value)}")
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
        late = self.locals.out_of_time()
        if late or self.locals_omitted:
            gaps = [f"values were not copied after {CAPTURE_SECONDS:g} s"] if late else []
            if self.locals_omitted:
                gaps.append("locals of some frames were left out: the capture's size pool "
                            "was spent")
            diagnostic["capture"] = "; ".join(gaps)
        return diagnostic

    # -- traces --------------------------------------------------------------------------

    def _chain(self, exc: BaseException, tb: Any) -> List[Trace]:
        """The reported exception first, then group members, then its cause or context."""
        traces: List[Trace] = []
        seen = set()
        pending: List[Tuple[BaseException, Any]] = [(exc, tb)]
        while pending and len(traces) < MAX_CHAIN:
            current, current_tb = pending.pop(0)
            if id(current) in seen:
                continue
            seen.add(id(current))
            traces.append(self._trace(current, current_tb))
            members = (getattr(current, "exceptions", None)
                       if isinstance(current, _GROUPS) else None)
            following = [(m, m.__traceback__) for m in (members or ())
                         if isinstance(m, BaseException)]
            cause = _cause(current)
            if cause is not None:
                following.append((cause, cause.__traceback__))
            pending[:0] = following
        return traces

    def _trace(self, exc: BaseException, tb: Any) -> Trace:
        head, tail = self._allowance()
        kept: Walked = []
        inner: collections.deque[Tuple[Any, Optional[int]]] = collections.deque(maxlen=tail)
        total = 0
        try:
            while tb is not None and total < MAX_TRACEBACK_WALK:
                entry = (getattr(tb, "tb_frame", None), _line(getattr(tb, "tb_lineno", None)))
                (kept if len(kept) < head else inner).append(entry)
                total += 1
                tb = getattr(tb, "tb_next", None)
        except Exception:
            log.debug("rollbar_notifier: a stand-in traceback ended the walk", exc_info=True)
        kept.extend(inner)
        return Trace(
            class_name=safe_str(_type_name(exc), MAX_IDENTIFIER),
            message=safe_str(exc, MAX_MESSAGE),
            frames=self._frames(kept),
            omitted_frames=total - len(kept),
        )

    def _stack(self, frame: Any) -> List[Frame]:
        """Frames of the live stack ending at ``frame``, oldest first (for ``stack_info``)."""
        head, tail = self._allowance()
        walked: Walked = []
        while frame is not None and len(walked) < head + tail:
            walked.append((frame, None))
            frame = getattr(frame, "f_back", None)
        walked.reverse()
        return self._frames(walked)

    def _allowance(self) -> Tuple[int, int]:
        """(outermost, innermost) frames the next trace may keep."""
        keep = min(MAX_FRAMES_HEAD + MAX_FRAMES_TAIL, max(MIN_TRACE_FRAMES, self.frames_left))
        head = min(MAX_FRAMES_HEAD, keep // 5) if keep > MIN_TRACE_FRAMES else 0
        return head, keep - head

    def _frames(self, walked: Walked) -> List[Frame]:
        """Locals are taken innermost first, so the frame that raised gets the pool first."""
        self.frames_left -= len(walked)
        frames = [_frame(raw, lineno) for raw, lineno in walked]
        if self.capture_locals:
            first = max(len(frames) - MAX_LOCALS_FRAMES, 0)
            for frame, (raw, _) in zip(reversed(frames[first:]), reversed(walked[first:])):
                self._add_locals(frame, raw)
        return frames

    def _add_locals(self, frame: Frame, raw: Any) -> None:
        """Argument names and up to ``MAX_LOCALS`` locals, drawn from the locals pool.

        The caller waits for this in every report, so it is kept lean: a frame whose
        budget runs out midway still lists its locals, their values cut short."""
        try:
            mapping = raw.f_locals
            items = islice(mapping.items(), MAX_LOCALS)
        except Exception:
            return
        pool = self.locals
        if pool.spent:
            self.locals_omitted = True
            frame.locals = {"...": "locals omitted: the capture's size pool was spent"}
            return
        code = getattr(raw, "f_code", None)
        spec = self.argspecs.get(id(code))
        if spec is None:
            spec = self.argspecs[id(code)] = _argspec(code)
        frame.argspec, frame.varargspec, frame.keywordspec, spent_on_names = spec
        budget = Budget(FRAME_LIMITS, pool)
        copy = budget.copy
        try:
            result = {(name[:MAX_IDENTIFIER] if type(name) is str else _identifier(name)):
                      copy(value) for name, value in items}
            if len(mapping) > MAX_LOCALS:
                result["..."] = "more locals omitted"
        except Exception:
            result = {"...": "the locals could not be read"}
        budget.nodes -= len(frame.argspec) + len(result)
        budget.chars -= spent_on_names + sum(map(len, result))
        budget.close()
        frame.locals = result


def _frame(raw: Any, lineno: Optional[int]) -> Frame:
    """What a frame says of itself. A stand-in lacking an attribute loses that field; one
    whose attributes raise is kept as an unknown frame."""
    try:
        code = getattr(raw, "f_code", None)
        filename = _name(getattr(code, "co_filename", None), "<unknown>", MAX_FILENAME)
        qualname = getattr(code, "co_qualname", None)
        class_name = None
        if isinstance(qualname, str) and "." in qualname:
            class_name = _identifier(qualname.rsplit(".", 2)[-2])
        linecache.lazycache(filename, getattr(raw, "f_globals", None) or {})
        return Frame(
            filename=filename,
            lineno=_line(getattr(raw, "f_lineno", None)) if lineno is None else lineno,
            method=_name(getattr(code, "co_name", None), "<unknown>", MAX_IDENTIFIER),
            class_name=class_name if class_name and class_name != "<locals>" else None,
        )
    except Exception:
        return Frame(filename="<unknown>", lineno=lineno, method="<unknown>")


def _argspec(code: Any) -> ArgSpec:
    """Nothing if the code object lacks what is needed to tell the names apart."""
    try:
        nargs = code.co_argcount + code.co_kwonlyargcount
        names = code.co_varnames
        varargs = names[nargs] if code.co_flags & _CO_VARARGS else None
        keywords = (names[nargs + (1 if varargs else 0)]
                    if code.co_flags & _CO_VARKEYWORDS else None)
        arguments = [name[:MAX_IDENTIFIER] if type(name) is str else _identifier(name)
                     for name in names[:min(nargs, MAX_LOCALS)]]
        return (arguments, None if varargs is None else _identifier(varargs),
                None if keywords is None else _identifier(keywords),
                sum(map(len, arguments)))
    except Exception:
        return [], None, None, 0


def _cause(exc: BaseException) -> Optional[BaseException]:
    if exc.__cause__ is not None:
        return exc.__cause__
    if exc.__suppress_context__:
        return None
    return exc.__context__


def _line(value: Any) -> Optional[int]:
    return value if type(value) is int else None


def _name(value: Any, default: str, limit: int) -> str:
    if type(value) is str:
        return value if len(value) <= limit else value[:limit] + "..."
    return default if value is None else safe_str(value, limit)


def _identifier(name: Any) -> str:
    return name[:MAX_IDENTIFIER] if type(name) is str else safe_str(name, MAX_IDENTIFIER)


def _type_name(value: Any) -> str:
    try:
        return _name(type(value).__qualname__, "object", MAX_IDENTIFIER)
    except Exception:
        return "object"


def _text(value: Any) -> Optional[str]:
    return None if value is None else safe_str(value, MAX_MESSAGE)
