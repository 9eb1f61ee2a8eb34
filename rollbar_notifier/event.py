"""Plain values that cross the notifier: what a caller reports, and what capture keeps of it.

:class:`ReportFields` is what every entry point (the public functions, the logging
handler, the excepthooks, the worker's own loss report) hands to ``Notifier.report``;
:class:`Event` is the snapshot of it that is safe to pass to a sender thread. Keeping
them free of behaviour lets every stage depend on them without depending on each other.
"""

from __future__ import annotations

import dataclasses
from types import FrameType, TracebackType
from typing import (
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
)

LazyTelemetry = Callable[[], List[Dict[str, Any]]]
Telemetry = Union[List[Dict[str, Any]], LazyTelemetry]
"""Telemetry events, or a function that builds them later, off the caller's thread."""
ExcInfo = Tuple[Type[BaseException], BaseException, Optional[TracebackType]]
ExceptionArg = Union[BaseException, ExcInfo, Tuple[None, None, None], None]
Level = Union[str, int]
"""A Rollbar level name (or alias such as ``warn``) or a ``logging`` level number."""


@dataclasses.dataclass(frozen=True)
class Stack:
    """A live stack reported as a message's trace, as a log record's ``stack_info`` asks."""

    frame: FrameType
    """The innermost frame: the call site."""
    label: str
    """Stands where an exception's class would (the record's level name)."""


Location = Tuple[str, str, Optional[int], Optional[int]]
"""Where a log record was made: its ``module``, ``funcName``, ``lineno`` and ``process``
(``None`` when ``logging.logProcesses`` is off), sent in ``data.custom`` under the names
of :data:`LOCATION_KEYS`. A plain tuple rather than entries of ``extra``: capture checks
four types instead of walking and copying a mapping, on every log record's path."""
LOCATION_KEYS = ("module", "funcName", "lineno", "process")


class ReportFields(NamedTuple):
    """Everything a caller says about one report, before anything is copied.

    Exactly one of ``exception`` and ``message`` describes the report; ``stack`` may add
    a trace to a message. A field left ``None`` takes its default at capture. A named
    tuple rather than a frozen dataclass: it is made for every report, in the caller's
    thread, and costs a quarter as much to make.
    """

    exception: Optional[ExcInfo] = None
    message: Any = None
    """The text of a message report: anything with a ``__str__``."""
    stack: Optional[Stack] = None
    level: Optional[Level] = None
    """``None``: ``error`` for an exception, ``info`` for a message."""
    description: Optional[str] = None
    extra: Optional[Mapping[str, Any]] = None
    request: Optional[Mapping[str, Any]] = None
    person: Optional[Mapping[str, Any]] = None
    fingerprint: Optional[str] = None
    group: Optional[str] = None
    """Text whose digest is the fingerprint when ``fingerprint`` is ``None``: the sender
    computes it, so the caller does not pay for hashing."""
    title: Optional[str] = None
    context: Optional[str] = None
    framework: Optional[str] = None
    """``data.framework``; ``None`` is the current scope's, else the ``framework`` option."""
    telemetry: Optional[Telemetry] = None
    """``None``: the recent log records of the current scope and of no scope."""
    timestamp: Optional[int] = None
    """Unix seconds; ``None`` is now. Set when reporting something that happened earlier."""
    thread: Optional[str] = None
    """``None`` is the calling thread. Set when reporting for another thread."""
    location: Optional[Location] = None
    """Where the log record reported was made (the logging handler's)."""


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
    traces: Sequence[Trace] = ()
    """Empty for a message: shared, as nothing edits an event's traces in place."""
    message: Optional[str] = None
    description: Optional[str] = None
    context: Optional[str] = None
    extra: Optional[Dict[str, Any]] = None
    request: Optional[Dict[str, Any]] = None
    person: Optional[Dict[str, Any]] = None
    fingerprint: Optional[str] = None
    group: Optional[str] = None
    """See :attr:`ReportFields.group`."""
    title: Optional[str] = None
    framework: Optional[str] = None
    telemetry: Optional[Telemetry] = None
    nbytes: int = 0
    """What the event's own copies hold, estimated by capture from the sizes it bounded
    (telemetry and the scope's shared values aside): see :func:`.worker.footprint`."""
    diagnostic: Optional[Dict[str, Any]] = None
    """What capture had to leave out or replace (a bad argument, values not copied in
    time), sent as ``data.notifier.diagnostic`` so nobody is misled by a gap; ``None``
    when nothing was (most events: no dict is made for them)."""
    location: Optional[Location] = None
