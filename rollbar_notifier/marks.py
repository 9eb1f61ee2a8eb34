"""Notes the notifier keeps on exception objects themselves.

An exception cannot be weakly referenced, so a table keyed by exception would either
hold exceptions (and their tracebacks, frames and locals) alive, or be fooled when a
dead one's ``id`` is reused. A note in the exception's own ``__dict__`` lives and dies
with it. Notes never travel: a pickled or deep-copied exception comes back without them
(``multiprocessing`` pickles exceptions between processes, whose notifiers are others).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple


class _Note:
    """Holds a value; pickles (and deep-copies) as ``None``, so the value never has to."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __reduce__(self) -> Tuple[Any, Tuple[()]]:
        return (type(None), ())

    def __repr__(self) -> str:
        return "<rollbar_notifier note>"


def noted(exc: BaseException, key: str) -> Any:
    """The value noted on ``exc`` under ``key``, or ``None``."""
    try:
        note = vars(exc).get(key)
    except Exception:  # an exception class whose instances have no usable __dict__
        return None
    return note.value if isinstance(note, _Note) else None


def note(exc: BaseException, key: str, value: Any) -> None:
    """Note ``value`` on ``exc``; bypasses ``__setattr__`` (frozen dataclass exceptions)."""
    try:
        vars(exc)[key] = _Note(value)
    except Exception:
        pass


class Once:
    """Remembers which exceptions its notifier reported, so each is reported once.

    Several paths often see the same exception: ``logger.exception(...)`` then ``raise``
    to the excepthook or a framework's error hook. The first report wins. The note's key
    holds this object's ``id``; a later ``Once`` at a reused address gets the same key but
    not the same identity, which is what :meth:`first` checks.
    """

    __slots__ = ("_key",)

    def __init__(self) -> None:
        self._key = f"_rollbar_notifier_reported_{id(self):x}"

    def first(self, exc: Optional[BaseException]) -> bool:
        """Whether this is the first report of ``exc``; marks it reported."""
        if exc is None:
            return True
        if noted(exc, self._key) is self:
            return False
        note(exc, self._key, self)
        return True
