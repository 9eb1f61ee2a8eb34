"""Bounded copies and safe strings: the bottom layer every other stage stands on.

Anything the host program hands over (locals, ``extra``, a ``before_send`` result, an
exception whose ``__str__`` raises) is copied here into plain JSON-ready data whose
size is decided by limits, not by the value. Nothing here imports another module of
the package, does I/O or raises.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
import time
from collections.abc import Mapping as AbcMapping
from typing import Any, Dict, List, Optional, Set, Tuple

MAX_STRING = 1024
MAX_ITEMS = 20
MAX_DEPTH = 4
EXTRA_MAX_STRING = 16384
EXTRA_MAX_ITEMS = 200
MAX_MESSAGE = 8192
MAX_NAME = 1024

_CONTAINERS = (AbcMapping, list, tuple, set, frozenset)
_PLAIN = frozenset({dict, list, tuple})


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
    return f"<unprintable {_type_name(value)} object>"


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
FRAME_LIMITS = Limits(max_nodes=500, max_chars=16384)
"""The locals of one frame; a capture's frames share a pool of a few times this, so one
frame full of long strings leaves room for the next ones."""
EXTRA_LIMITS = Limits(max_string=EXTRA_MAX_STRING, max_items=EXTRA_MAX_ITEMS, max_depth=6,
                      max_nodes=5000, max_chars=262144)
PAYLOAD_LIMITS = Limits(max_string=131072, max_items=1000, max_depth=32, max_nodes=50000,
                        max_chars=524288)
"""For whole payloads reshaped by a ``before_send`` hook: bounded like everything else."""


Memo = Dict[Tuple[int, bool], Tuple[Any, Any, int, int]]
"""(id, shallow) -> (the object, its copy, nodes and chars the copy cost). Holding the
object keeps its id from being reused by another object during the capture."""


class Shared:
    """What every snapshot of one capture draws from: one memo, one size pool, one deadline.

    Per-value limits alone multiply: 20 frames of 50 locals each, in 20 chained
    exceptions, can each hold the same large container. The pool caps the sum; the
    memo makes an object referenced many times cost one ``__repr__`` call (but its size
    each time it is shown); past the deadline, values are no longer copied at all.
    """

    __slots__ = ("chars", "deadline", "memo", "nodes")

    def __init__(self, nodes: int, chars: int, deadline: float = math.inf,
                 memo: Optional[Memo] = None) -> None:
        self.nodes = nodes
        self.chars = chars
        self.deadline = deadline
        self.memo: Memo = {} if memo is None else memo

    @property
    def spent(self) -> bool:
        return self.nodes <= 0 or self.chars <= 0

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline


class Budget:
    """The limits of one copy (a frame's locals, one argument), drawn from a pool.

    It starts with what its limits allow and the pool still has; :meth:`close` charges
    the pool with what was used. One budget of a pool is open at a time.
    """

    __slots__ = ("chars", "limits", "nodes", "seen", "shared", "taken")

    def __init__(self, limits: Limits, shared: Optional[Shared] = None,
                 reserve: Tuple[int, int] = (0, 0)) -> None:
        """``reserve``: (nodes, chars) of the pool this budget must leave to others."""
        self.limits = limits
        if shared is None:
            shared = Shared(limits.max_nodes, limits.max_chars)
        self.shared = shared
        self.seen: Set[int] = set()
        self.open(reserve)

    def open(self, reserve: Tuple[int, int] = (0, 0)) -> None:
        """Start a copy with what the limits allow and the pool has left: after
        :meth:`close`, one budget serves the next copy (a capture's frames one by one)."""
        limits, shared = self.limits, self.shared
        nodes, chars = shared.nodes - reserve[0], shared.chars - reserve[1]
        self.nodes = limits.max_nodes if limits.max_nodes < nodes else nodes
        self.chars = limits.max_chars if limits.max_chars < chars else chars
        self.taken = (self.nodes, self.chars)

    def copy(self, value: Any) -> Any:
        """A bounded copy of ``value`` drawn from this budget (see :func:`snapshot`).

        Most locals are short strings, plain numbers and small flat dicts: those are
        copied here as :func:`_snapshot` would, without its general steps.
        """
        kind = type(value)
        if kind is str:
            self.nodes -= 1
            return self.cut(value, self.limits.max_string)
        if (kind is int and -(2**63) <= value < 2**63) or value is None or kind is bool:
            self.nodes -= 1
            return value
        if kind is dict:
            size = flat_size(value, self.limits)
            # The walk checks its budget before each item: a flat copy must leave some over.
            if size is not None and size[0] <= self.nodes and size[1] < self.chars:
                self.nodes -= size[0]
                self.chars -= size[1]
                return dict(value)
        return _snapshot(value, self, 0)

    def close(self) -> None:
        nodes, chars = self.taken
        self.shared.nodes -= nodes - self.nodes
        self.shared.chars -= chars - self.chars
        self.taken = (self.nodes, self.chars)

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
    return Budget(limits).copy(value)


def flat_size(value: Any, limits: Limits) -> Optional[Tuple[int, int]]:
    """(nodes, characters) that copying ``value`` costs, if it is a dict of short strings
    and plain numbers within ``limits`` (a log record's location, most ``extra=``): such a
    dict copied with ``dict(value)`` is what the general walk would make, since nothing
    in it can run user code, hold a cycle or need cutting. ``None``: it needs the walk.
    """
    if type(value) is not dict or len(value) > limits.max_items:
        return None
    longest = limits.max_string
    chars = 0
    for key, item in value.items():
        if type(key) is not str or len(key) > MAX_NAME:
            return None
        chars += len(key)
        kind = type(item)
        if kind is str:
            if len(item) > longest:
                return None
            chars += len(item)
        elif kind is int:
            if not -(2**63) <= item < 2**63:
                return None
        elif kind is float:
            if not math.isfinite(item):
                return None
        elif kind is not bool and item is not None:
            return None
    return len(value) + 1, chars


OUT_OF_TIME = "<not copied: the capture ran out of time>"
_SCALARS = (type(None), bool, float)


def _snapshot(value: Any, budget: Budget, depth: int) -> Any:
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
        return _memoised(value, budget, depth, depth >= limits.max_depth or budget.nodes <= 0)
    except Exception:
        return _fallback(value)


def _memoised(value: Any, budget: Budget, depth: int, shallow: bool) -> Any:
    """Copy an object that may run user code once per capture; each use pays its size."""
    shared = budget.shared
    key = (id(value), shallow)
    entry = shared.memo.get(key)
    if entry is not None:
        _, copied, nodes, chars = entry
        if type(copied) is str:
            return budget.cut(copied, budget.limits.max_string)
        if budget.nodes < nodes or budget.chars < chars:
            placeholder = f"<repeated {_type_name(value)}>"
            budget.chars -= len(placeholder)
            return placeholder
        budget.nodes -= nodes
        budget.chars -= chars
        return copied
    if not shallow and id(value) in budget.seen:
        return f"<cycle {_type_name(value)}>"
    plain = type(value) in _PLAIN
    if not plain and shared.out_of_time():
        return OUT_OF_TIME
    nodes, chars = budget.nodes, budget.chars
    copied = _copy(value, budget, depth, shallow, plain)
    shared.memo[key] = (value, copied, nodes - budget.nodes, chars - budget.chars)
    return copied


def _copy(value: Any, budget: Budget, depth: int, shallow: bool, plain: bool) -> Any:
    """``plain``: a dict, list or tuple, whose copy runs no user code but its items'."""
    limits = budget.limits
    if not plain:
        if isinstance(value, str):
            return budget.cut(str(value), limits.max_string)
        if not isinstance(value, _CONTAINERS):
            return budget.cut(safe_repr(value, limits.max_string), limits.max_string)
    if shallow:
        return budget.cut(safe_repr(value, min(limits.max_string, 200)), limits.max_string)
    budget.seen.add(id(value))
    try:
        if type(value) is dict or (not plain and isinstance(value, AbcMapping)):
            return _snapshot_mapping(value, budget, depth)
        fields = None if plain else _namedtuple_fields(value)
        if fields is not None:
            return _snapshot_mapping(dict(zip(fields, value)), budget, depth)
        return _snapshot_sequence(value, budget, depth)
    finally:
        budget.seen.discard(id(value))


def _namedtuple_fields(value: Any) -> Optional[Tuple[str, ...]]:
    """A namedtuple is copied under its field names, so a secret in it is scrubbed by name."""
    if not isinstance(value, tuple):
        return None
    fields = getattr(type(value), "_fields", None)
    if (isinstance(fields, tuple) and len(fields) == len(value)
            and all(isinstance(name, str) for name in fields)):
        return fields
    return None


def _type_name(value: Any) -> str:
    try:
        return str(type(value).__qualname__)
    except Exception:
        return "object"


def _snapshot_mapping(value: AbcMapping[Any, Any], budget: Budget, depth: int) -> Dict[str, Any]:
    result: Dict[str, Any] = {}
    for index, (key, item) in enumerate(value.items()):
        if index >= budget.limits.max_items or budget.nodes <= 0 or budget.chars <= 0:
            result["..."] = _more(value, index)
            break
        name = budget.cut(str(key if type(key) is str else _memoised(key, budget, depth, True)),
                          MAX_NAME)
        result[name] = _snapshot(item, budget, depth + 1)
    return result


def _snapshot_sequence(value: Any, budget: Budget, depth: int) -> List[Any]:
    result: List[Any] = []
    for index, item in enumerate(value):
        if index >= budget.limits.max_items or budget.nodes <= 0 or budget.chars <= 0:
            result.append("... " + _more(value, index))
            break
        result.append(_snapshot(item, budget, depth + 1))
    return result


def _more(value: Any, index: int) -> str:
    try:
        return f"{len(value) - index} more items"
    except Exception:
        return "more items"
