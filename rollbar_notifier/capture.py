"""Turn an exception or a message into an :class:`Event` in the caller's thread.

Only what could change after the call returns is taken here: the exception chain,
frame positions, bounded snapshots of locals and extra data, the time and the thread.
Everything costly (source lines, JSON, scrubbing, HTTP) happens later, off the caller's
thread. Nothing in this module does I/O, and the public functions never raise.
"""

from __future__ import annotations

import builtins
import dataclasses
import linecache
import logging
import math
import reprlib
import sys
import threading
import time
import uuid
from collections.abc import Mapping as AbcMapping
from types import FrameType, TracebackType
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Type, Union

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
MAX_STRING = 1024
MAX_ITEMS = 20
MAX_DEPTH = 4
EXTRA_MAX_STRING = 16384
EXTRA_MAX_ITEMS = 200
MAX_MESSAGE = 8192
MAX_NAME = 1024

LazyTelemetry = Callable[[], List[Dict[str, Any]]]
Telemetry = Union[List[Dict[str, Any]], LazyTelemetry]
"""Telemetry events, or a function that builds them later, off the caller's thread."""
ExcInfo = Tuple[Type[BaseException], BaseException, Optional[TracebackType]]
ExceptionArg = Union[BaseException, ExcInfo, Tuple[None, None, None], None]

_CONTAINERS = (AbcMapping, list, tuple, set, frozenset)

_GROUPS: Tuple[type, ...] = tuple(
    group for group in (getattr(builtins, "BaseExceptionGroup", None),) if group is not None
)
"""Exception groups exist from Python 3.11; on older versions nothing is a group."""
_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08


class _BoundedRepr(reprlib.Repr):
    """reprlib with byte-string support, so a 5 MB ``bytes`` is sliced, never copied."""

    def __init__(self, max_string: int) -> None:
        super().__init__()
        self.maxstring = max_string
        self.maxother = max_string
        self.maxlong = 100
        self.maxlevel = 2

    def repr_int(self, x: int, level: int) -> str:
        """Before 3.11 ``repr`` of a huge int is quadratic; after, it raises."""
        if x.bit_length() > 1000:
            return f"<int of {x.bit_length()} bits>"
        return super().repr_int(x, level)

    def repr_bytes(self, x: bytes, level: int) -> str:
        text = repr(x[: self.maxstring])
        if len(x) > self.maxstring:
            text += f"... ({len(x)} bytes)"
        return text

    repr_bytearray = repr_bytes
    repr_memoryview = repr_bytes


_REPR = _BoundedRepr(MAX_STRING)


def safe_str(value: Any, limit: int = MAX_MESSAGE) -> str:
    """``str(value)`` cut to ``limit`` characters, surviving a hostile ``__str__``."""
    try:
        text = value if type(value) is str else str(value)
    except Exception:
        return _fallback(value)
    return text if len(text) <= limit else text[:limit] + "..."


def safe_repr(value: Any, limit: int = MAX_STRING) -> str:
    """A bounded ``repr`` that survives a hostile ``__repr__`` and huge containers."""
    try:
        text = _REPR.repr(value)
    except Exception:
        return _fallback(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _fallback(value: Any) -> str:
    try:
        name = type(value).__qualname__
    except Exception:
        name = "object"
    return f"<unprintable {name} object>"


@dataclasses.dataclass(frozen=True)
class Limits:
    """How much of a value is copied at capture: decided before looking at its size.

    ``max_nodes`` and ``max_chars`` bound the whole copy, since per-container limits
    multiply with depth.
    """

    max_string: int = MAX_STRING
    max_items: int = MAX_ITEMS
    max_depth: int = MAX_DEPTH
    max_nodes: int = 300
    max_chars: int = 65536


LOCALS_LIMITS = Limits()
FRAME_LIMITS = Limits(max_nodes=500)
EXTRA_LIMITS = Limits(max_string=EXTRA_MAX_STRING, max_items=EXTRA_MAX_ITEMS, max_depth=6,
                      max_nodes=5000, max_chars=262144)
PAYLOAD_LIMITS = Limits(max_string=131072, max_items=1000, max_depth=32, max_nodes=50000,
                        max_chars=524288)
"""For whole payloads reshaped by a ``before_send`` hook: bounded like everything else."""


class _Budget:
    __slots__ = ("chars", "limits", "memo", "nodes", "seen")

    def __init__(self, limits: Limits, memo: Optional[Dict[int, Any]] = None) -> None:
        self.limits = limits
        self.nodes = limits.max_nodes
        self.chars = limits.max_chars
        self.seen: Set[int] = set()
        self.memo = memo
        """Containers already copied in this capture: an argument passed down 200 frames
        is copied once. Ids are stable because the frames keep the objects alive."""

    def cut(self, text: str, limit: int) -> str:
        """``text`` within both its own limit and what is left of the whole budget."""
        keep = max(min(limit, self.chars), 0)
        self.chars -= min(len(text), keep)
        if len(text) <= keep:
            return str(text)
        return str(text[:keep]) + f"... ({len(text)} chars)"


def snapshot(value: Any, limits: Limits = LOCALS_LIMITS) -> Any:
    """Copy ``value`` into plain JSON-ready data with every size bounded up front.

    Mappings and sequences keep their shape (so scrubbing can find nested keys);
    anything else becomes a bounded repr. The cost depends on the limits, not on the
    size of the value.
    """
    return _snapshot(value, _Budget(limits), 0)


_SCALARS = (type(None), bool, float)


def _snapshot(value: Any, budget: _Budget, depth: int) -> Any:
    limits = budget.limits
    budget.nodes -= 1
    kind = type(value)
    try:
        if kind is str:
            return budget.cut(value, limits.max_string)
        if kind is int or (isinstance(value, int) and kind is not bool):
            return value if -(2**63) <= value < 2**63 else safe_repr(value, 100)
        if kind in _SCALARS:
            return value if kind is not float or math.isfinite(value) else repr(value)
        if isinstance(value, str):
            return budget.cut(str(value), limits.max_string)
        if kind in (dict, list, tuple) or isinstance(value, _CONTAINERS):
            return _snapshot_container(value, budget, depth)
        return budget.cut(safe_repr(value, limits.max_string), limits.max_string)
    except Exception:
        return _fallback(value)


def _snapshot_container(value: Any, budget: _Budget, depth: int) -> Any:
    key = id(value)
    if budget.memo is not None and key in budget.memo:
        return budget.memo[key]
    if depth >= budget.limits.max_depth or budget.nodes <= 0:
        return safe_repr(value, min(budget.limits.max_string, 200))
    if key in budget.seen:
        return f"<cycle {type(value).__qualname__}>"
    budget.seen.add(key)
    try:
        if isinstance(value, AbcMapping):
            result: Any = _snapshot_mapping(value, budget, depth)
        else:
            result = _snapshot_sequence(value, budget, depth)
    finally:
        budget.seen.discard(key)
    if budget.memo is not None:
        budget.memo[key] = result
    return result


def _snapshot_mapping(value: AbcMapping[Any, Any], budget: _Budget, depth: int) -> Dict[str, Any]:
    result: Dict[str, Any] = {}
    for index, (key, item) in enumerate(value.items()):
        if index >= budget.limits.max_items or budget.nodes <= 0:
            result["..."] = f"{len(value) - index} more items"
            break
        name = key if isinstance(key, str) else safe_repr(key, 200)
        result[str(name)[:MAX_NAME]] = _snapshot(item, budget, depth + 1)
    return result


def _snapshot_sequence(value: Any, budget: _Budget, depth: int) -> List[Any]:
    result: List[Any] = []
    for index, item in enumerate(value):
        if index >= budget.limits.max_items or budget.nodes <= 0:
            result.append(f"... {len(value) - index} more items")
            break
        result.append(_snapshot(item, budget, depth + 1))
    return result


@dataclasses.dataclass
class Frame:
    filename: str
    lineno: Optional[int]
    method: str
    argspec: List[str] = dataclasses.field(default_factory=list)
    varargspec: Optional[str] = None
    keywordspec: Optional[str] = None
    locals: Optional[Dict[str, Any]] = None
    class_name: Optional[str] = None


@dataclasses.dataclass
class Trace:
    class_name: str
    message: str
    frames: List[Frame]
    omitted_frames: int = 0


@dataclasses.dataclass
class Event:
    """A snapshot of one report, safe to hand to another thread."""

    uuid: str
    timestamp: int
    level: str
    thread: str
    traces: List[Trace] = dataclasses.field(default_factory=list)
    message: Optional[str] = None
    description: Optional[str] = None
    context: Optional[str] = None
    extra: Optional[Dict[str, Any]] = None
    request: Optional[Dict[str, Any]] = None
    person: Optional[Dict[str, Any]] = None
    fingerprint: Optional[str] = None
    title: Optional[str] = None
    telemetry: Optional[Telemetry] = None



def exc_info_of(exc: ExceptionArg) -> Optional[ExcInfo]:
    """Normalize an exception, an ``exc_info`` tuple or ``None`` (the one being handled)."""
    if exc is None:
        exc = sys.exc_info()
    if isinstance(exc, BaseException):
        return (type(exc), exc, exc.__traceback__)
    if isinstance(exc, tuple) and len(exc) == 3 and isinstance(exc[1], BaseException):
        return (type(exc[1]), exc[1], exc[2])
    return None


def capture_exception(
    exc: ExceptionArg,
    *,
    level: Any = "error",
    capture_locals: bool = True,
    **fields: Any,
) -> Optional[Event]:
    """Snapshot an exception and its chain; ``None`` when there is no exception or on failure."""
    try:
        info = exc_info_of(exc)
        if info is None:
            return None
        traces = _chain(info[1], info[2], capture_locals)
        return _event(level, "error", traces=traces, **fields)
    except Exception:
        log.warning("rollbar_notifier could not capture an exception", exc_info=True)
        return None


def capture_message(text: Any, *, level: Any = "info", **fields: Any) -> Optional[Event]:
    """Snapshot a message report; ``None`` only if even that fails."""
    try:
        return _event(level, "info", message=safe_str(text, MAX_MESSAGE), **fields)
    except Exception:
        log.warning("rollbar_notifier could not capture a message", exc_info=True)
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


def _event(level: Any, default_level: str, **fields: Any) -> Event:
    try:
        level_name = normalize_level(level)
    except ValueError:
        log.warning("rollbar_notifier: unknown level %r, reporting as %s", level, default_level)
        level_name = default_level
    extra = fields.pop("extra", None)
    request = fields.pop("request", None)
    person = fields.pop("person", None)
    for name in ("description", "context", "title", "fingerprint"):
        if fields.get(name) is not None:
            fields[name] = safe_str(fields[name], MAX_MESSAGE)
    timestamp = fields.pop("timestamp", None)
    thread = fields.pop("thread", None)
    return Event(
        uuid=str(uuid.uuid4()),
        timestamp=int(time.time()) if timestamp is None else int(timestamp),
        level=level_name,
        thread=threading.current_thread().name if thread is None else safe_str(thread, 255),
        extra=_mapping("extra", extra, keep_other=True),
        request=_mapping("request", request),
        person=_mapping("person", person),
        **fields,
    )


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
    budget = _Budget(FRAME_LIMITS, memo)
    result: Dict[str, Any] = {}
    for index, (name, value) in enumerate(frame.f_locals.items()):
        if index >= MAX_LOCALS:
            result["..."] = "more locals omitted"
            break
        result[name] = _snapshot(value, budget, 0)
    return result
