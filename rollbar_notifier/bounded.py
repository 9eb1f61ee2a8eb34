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
from collections.abc import Mapping as AbcMapping
from typing import Any, Dict, List, Optional, Set

MAX_STRING = 1024
MAX_ITEMS = 20
MAX_DEPTH = 4
EXTRA_MAX_STRING = 16384
EXTRA_MAX_ITEMS = 200
MAX_MESSAGE = 8192
MAX_NAME = 1024

_CONTAINERS = (AbcMapping, list, tuple, set, frozenset)


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


class Budget:
    __slots__ = ("chars", "limits", "memo", "nodes", "seen")

    def __init__(self, limits: Limits, memo: Optional[Dict[int, Any]] = None) -> None:
        self.limits = limits
        self.nodes = limits.max_nodes
        self.chars = limits.max_chars
        self.seen: Set[int] = set()
        self.memo = memo
        """Containers already copied in this capture: an argument passed down 200 frames
        is copied once. Ids are stable because the frames keep the objects alive."""

    def copy(self, value: Any) -> Any:
        """A bounded copy of ``value`` drawn from this budget (see :func:`snapshot`)."""
        return _snapshot(value, self, 0)

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
        if isinstance(value, str):
            return budget.cut(str(value), limits.max_string)
        if kind in (dict, list, tuple) or isinstance(value, _CONTAINERS):
            return _snapshot_container(value, budget, depth)
        return budget.cut(safe_repr(value, limits.max_string), limits.max_string)
    except Exception:
        return _fallback(value)


def _snapshot_container(value: Any, budget: Budget, depth: int) -> Any:
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


def _snapshot_mapping(value: AbcMapping[Any, Any], budget: Budget, depth: int) -> Dict[str, Any]:
    result: Dict[str, Any] = {}
    for index, (key, item) in enumerate(value.items()):
        if index >= budget.limits.max_items or budget.nodes <= 0:
            result["..."] = f"{len(value) - index} more items"
            break
        name = key if isinstance(key, str) else safe_repr(key, 200)
        result[str(name)[:MAX_NAME]] = _snapshot(item, budget, depth + 1)
    return result


def _snapshot_sequence(value: Any, budget: Budget, depth: int) -> List[Any]:
    result: List[Any] = []
    for index, item in enumerate(value):
        if index >= budget.limits.max_items or budget.nodes <= 0:
            result.append(f"... {len(value) - index} more items")
            break
        result.append(_snapshot(item, budget, depth + 1))
    return result
