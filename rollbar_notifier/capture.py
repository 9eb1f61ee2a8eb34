"""Turn what a caller reported into an :class:`Event`, in the caller's thread.

Only what could change after the call returns is taken here: the exception chain,
frame positions, bounded snapshots of locals and extra data, the time and the thread.
Everything costly (source lines, JSON, scrubbing, HTTP) happens later, off the caller's
thread. Nothing in this module does I/O, and :func:`capture` never raises.
"""

from __future__ import annotations

import builtins
import linecache
import logging
import sys
import threading
import time
import uuid
from collections.abc import Mapping as AbcMapping
from types import FrameType, TracebackType
from typing import Any, Dict, List, Optional, Set, Tuple

from .bounded import (
    EXTRA_LIMITS,
    FRAME_LIMITS,
    MAX_MESSAGE,
    Budget,
    safe_str,
    snapshot,
)
from .event import Event, ExceptionArg, ExcInfo, Frame, ReportFields, Trace
from .levels import normalize_level

log = logging.getLogger(__name__)

MAX_CHAIN = 20
"""Traces kept in one trace_chain (causes, contexts and exception-group members)."""
MAX_FRAMES_HEAD = 50
MAX_FRAMES_TAIL = 200
"""Frames kept per trace at capture: the outermost HEAD and the innermost TAIL."""
MAX_LOCALS_FRAMES = 20
"""Innermost frames of each trace whose locals are captured."""
MAX_LOCALS = 50
"""Local variables captured per frame."""

_GROUPS: Tuple[type, ...] = tuple(
    group for group in (getattr(builtins, "BaseExceptionGroup", None),) if group is not None
)
"""Exception groups exist from Python 3.11; on older versions nothing is a group."""
_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08


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
        if fields.exception is not None:
            _, exc, tb = fields.exception
            return _event(fields, "error", traces=_chain(exc, tb, capture_locals))
        text = safe_str(fields.message, MAX_MESSAGE)
        traces = [] if fields.stack is None else [
            Trace(fields.stack.label, text, capture_stack(fields.stack.frame, capture_locals))]
        return _event(fields, "info", traces=traces, message=text)
    except Exception:
        log.warning("rollbar_notifier could not capture a report", exc_info=True)
        return None


def capture_stack(frame: Optional[FrameType], capture_locals: bool = True) -> List[Frame]:
    """Frames of the live stack ending at ``frame``, oldest first (for ``stack_info``)."""
    frames: List[FrameType] = []
    while frame is not None and len(frames) < MAX_FRAMES_HEAD + MAX_FRAMES_TAIL:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    memo: Dict[int, Any] = {}
    return [_frame(f, f.f_lineno, capture_locals and i >= len(frames) - MAX_LOCALS_FRAMES, memo)
            for i, f in enumerate(frames)]


def _event(fields: ReportFields, default_level: str, traces: List[Trace],
           message: Optional[str] = None) -> Event:
    try:
        level = normalize_level(fields.level if fields.level is not None else default_level)
    except ValueError:
        log.warning("rollbar_notifier: unknown level %r, reporting as %s", fields.level,
                    default_level)
        level = default_level
    return Event(
        uuid=str(uuid.uuid4()),
        timestamp=int(time.time()) if fields.timestamp is None else int(fields.timestamp),
        level=level,
        thread=(threading.current_thread().name if fields.thread is None
                else safe_str(fields.thread, 255)),
        traces=traces,
        message=message,
        description=_text(fields.description),
        context=_text(fields.context),
        extra=_mapping("extra", fields.extra, keep_other=True),
        request=_mapping("request", fields.request),
        person=_mapping("person", fields.person),
        fingerprint=_text(fields.fingerprint),
        title=_text(fields.title),
        telemetry=fields.telemetry,
    )


def _text(value: Any) -> Optional[str]:
    return None if value is None else safe_str(value, MAX_MESSAGE)


def _mapping(name: str, value: Any, keep_other: bool = False) -> Optional[Dict[str, Any]]:
    """A bounded copy of a mapping argument; anything else must not cost the report.

    A list of pairs is accepted as a mapping. Other values of ``extra`` are kept under
    the key ``extra``; other requests or persons are left out with a warning.
    """
    if value is None or (isinstance(value, (AbcMapping, list, tuple, str)) and not value):
        return None
    if not isinstance(value, AbcMapping) and isinstance(value, (list, tuple)):
        try:
            value = dict(value)
        except (TypeError, ValueError):
            pass
    if isinstance(value, AbcMapping):
        copied: Dict[str, Any] = snapshot(value, EXTRA_LIMITS)
        return copied
    if keep_other:
        return {name: snapshot(value, EXTRA_LIMITS)}
    log.warning("rollbar_notifier: %s must be a mapping, got %s; it is left out",
                name, type(value).__name__)
    return None


def _chain(exc: BaseException, tb: Optional[TracebackType], capture_locals: bool) -> List[Trace]:
    """The reported exception first, then group members, then its cause or context."""
    traces: List[Trace] = []
    memo: Dict[int, Any] = {}
    seen: Set[int] = set()
    pending: List[Tuple[BaseException, Optional[TracebackType]]] = [(exc, tb)]
    while pending and len(traces) < MAX_CHAIN:
        current, current_tb = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        traces.append(_trace(current, current_tb, capture_locals, memo))
        members = getattr(current, "exceptions", None) if isinstance(current, _GROUPS) else None
        following = [(m, m.__traceback__) for m in (members or ()) if isinstance(m, BaseException)]
        cause = _cause(current)
        if cause is not None:
            following.append((cause, cause.__traceback__))
        pending[:0] = following
    return traces


def _cause(exc: BaseException) -> Optional[BaseException]:
    if exc.__cause__ is not None:
        return exc.__cause__
    if exc.__suppress_context__:
        return None
    return exc.__context__


def _trace(exc: BaseException, tb: Optional[TracebackType], capture_locals: bool,
           memo: Dict[int, Any]) -> Trace:
    entries: List[Tuple[FrameType, int]] = []
    total = 0
    while tb is not None:
        total += 1
        entries.append((tb.tb_frame, tb.tb_lineno))
        if len(entries) > MAX_FRAMES_HEAD + MAX_FRAMES_TAIL:
            del entries[MAX_FRAMES_HEAD]
        tb = tb.tb_next
    locals_from = len(entries) - MAX_LOCALS_FRAMES
    frames = [_frame(f, lineno, capture_locals and i >= locals_from, memo)
              for i, (f, lineno) in enumerate(entries)]
    return Trace(
        class_name=safe_str(getattr(type(exc), "__qualname__", "Exception"), 255),
        message=safe_str(exc, MAX_MESSAGE),
        frames=frames,
        omitted_frames=total - len(entries),
    )


def _frame(frame: FrameType, lineno: Optional[int], with_locals: bool,
           memo: Dict[int, Any]) -> Frame:
    code = frame.f_code
    nargs = code.co_argcount + code.co_kwonlyargcount
    names = code.co_varnames
    varargspec = names[nargs] if code.co_flags & _CO_VARARGS else None
    kw_index = nargs + (1 if varargspec else 0)
    keywordspec = names[kw_index] if code.co_flags & _CO_VARKEYWORDS else None
    filename = code.co_filename
    linecache.lazycache(filename, frame.f_globals)
    qualname = getattr(code, "co_qualname", code.co_name)
    class_name = qualname.rsplit(".", 2)[-2] if "." in qualname else None
    return Frame(
        filename=filename,
        lineno=lineno,
        method=code.co_name,
        argspec=list(names[:nargs]),
        varargspec=varargspec,
        keywordspec=keywordspec,
        locals=_locals(frame, memo) if with_locals else None,
        class_name=class_name if class_name and class_name != "<locals>" else None,
    )


def _locals(frame: FrameType, memo: Dict[int, Any]) -> Dict[str, Any]:
    """All locals of a frame share one budget, so a frame costs the same however many."""
    budget = Budget(FRAME_LIMITS, memo)
    result: Dict[str, Any] = {}
    for index, (name, value) in enumerate(frame.f_locals.items()):
        if index >= MAX_LOCALS:
            result["..."] = "more locals omitted"
            break
        result[name] = budget.copy(value)
    return result
