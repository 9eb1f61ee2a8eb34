"""The frames of a capture: the exception chain or live stack, and the locals of frames.

Part of :mod:`.capture`, in the caller's thread: frame positions and bounded snapshots of
locals are taken now because they change once the call returns. A stand-in frame,
traceback or code object (billiard, Twisted, Jinja) costs at most its own fields. The
frames of a whole chain share one allowance, and the locals of all of them one size pool.
"""

from __future__ import annotations

import builtins
import collections
import linecache
import logging
from itertools import islice
from types import CodeType
from typing import Any, Dict, List, Optional, Tuple

from .bounded import FRAME_LIMITS, MAX_MESSAGE, Budget, Shared, safe_str
from .event import Frame, Trace

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
LOCALS_POOL = (3000, 65536)
"""(nodes, characters) that the locals and argument names of every frame of a capture
copy together, innermost frame first. With ``MAX_CHAIN_FRAMES`` and the per-value limits
these make the largest event capture can produce, and fitting it to ``max_body_bytes``
takes a few tens of milliseconds (tests/test_capture_bounds.py)."""

_GROUPS: Tuple[type, ...] = tuple(
    group for group in (getattr(builtins, "BaseExceptionGroup", None),) if group is not None
)
"""Exception groups exist from Python 3.11; on older versions nothing is a group."""
_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08
Walked = List[Tuple[Any, Optional[int]]]
"""(frame, line number) pairs, oldest first."""
ArgSpec = Tuple[List[str], Optional[str], Optional[str], int]
"""Argument names, the names of ``*args`` and ``**kwargs``, and their length in all."""


class TraceCapture:
    """The traces of one capture, and the frame allowance and locals pool they share."""

    def __init__(self, locals_pool: Shared, capture_locals: bool) -> None:
        self.locals = locals_pool
        self.capture_locals = capture_locals
        self.frames_left = MAX_CHAIN_FRAMES
        self.locals_omitted = False
        self.argspecs: Dict[int, ArgSpec] = {}
        """By code object: a recursion shows the same one in many frames."""
        self._budget = Budget(FRAME_LIMITS, locals_pool)
        """Opened for each frame's locals in turn."""

    def chain(self, exc: BaseException, tb: Any) -> List[Trace]:
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
            class_name=safe_str(type_name(exc), MAX_IDENTIFIER),
            message=safe_str(exc, MAX_MESSAGE),
            frames=self._frames(kept),
            omitted_frames=total - len(kept),
        )

    def stack(self, frame: Any) -> List[Frame]:
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
            items = mapping.items() if len(mapping) <= MAX_LOCALS else \
                islice(mapping.items(), MAX_LOCALS)
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
        budget = self._budget
        budget.open()
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
        filename, method, class_name = _code_names(code)
        if filename not in linecache.cache:  # most frames' files are read already
            linecache.lazycache(filename, getattr(raw, "f_globals", None) or {})
        if lineno is None:
            lineno = _line(getattr(raw, "f_lineno", None))
        return Frame(filename, lineno, method, class_name=class_name)
    except Exception:
        return Frame(filename="<unknown>", lineno=lineno, method="<unknown>")


MAX_CODES_NAMED = 4096
_code_names_cache: Dict[int, Tuple[Any, Tuple[str, str, Optional[str]]]] = {}
"""id of a code object -> the code object (keeping the id its own) and its names in a
frame: most reports show frames of the same code. By identity: code objects of two
files compare equal when only their file names differ."""


def _code_names(code: Any) -> Tuple[str, str, Optional[str]]:
    """(filename, method, class name) of frames running ``code``."""
    cached = _code_names_cache.get(id(code))
    if cached is not None and cached[0] is code:
        return cached[1]
    filename = _name(getattr(code, "co_filename", None), "<unknown>", MAX_FILENAME)
    qualname = getattr(code, "co_qualname", None)
    class_name = None
    if isinstance(qualname, str) and "." in qualname:
        class_name = _identifier(qualname.rsplit(".", 2)[-2])
    method = _name(getattr(code, "co_name", None), "<unknown>", MAX_IDENTIFIER)
    names = (filename, method, class_name if class_name and class_name != "<locals>" else None)
    if type(code) is CodeType:
        if len(_code_names_cache) >= MAX_CODES_NAMED:
            _code_names_cache.clear()
        _code_names_cache[id(code)] = (code, names)
    return names


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


def type_name(value: Any) -> str:
    try:
        return _name(type(value).__qualname__, "object", MAX_IDENTIFIER)
    except Exception:
        return "object"

