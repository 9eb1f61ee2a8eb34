"""A mapping computed when a report first reads it.

A scope is opened for every request, but its request data and person are needed only
by the few requests that report something, and only then are they complete: the route
is known after routing, the user after authentication. So the scope holds a
:class:`Lazy`, built when the notifier copies the scope at its first report.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator, Mapping, Optional

log = logging.getLogger(__name__)

Build = Callable[[], Optional[Mapping[str, Any]]]


class Lazy(Mapping[str, Any]):
    """The mapping ``build()`` returns, built once, on first read; empty if it fails, as
    the host program must never see the notifier's errors."""

    __slots__ = ("_build", "_value")

    def __init__(self, build: Build) -> None:
        self._build = build
        self._value: Optional[Mapping[str, Any]] = None

    def _data(self) -> Mapping[str, Any]:
        value = self._value
        if value is None:
            try:
                value = self._build() or {}
            except Exception:
                log.warning("rollbar_notifier: reading the request or its user failed",
                            exc_info=True)
                value = {}
            self._value = value
        return value

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return "<rollbar_notifier lazy mapping>" if self._value is None else repr(self._value)
