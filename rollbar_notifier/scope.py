"""Per-request data that every report made inside a ``with scope(...)`` block carries.

A web request, a task or a job has a person, a request, a route: reports made while it
runs should carry them without every call passing them. The scope lives in a
:class:`contextvars.ContextVar`, so it follows the work and nothing else: asyncio tasks
(each starts with a copy of its creator's context), threads started in a copied context
(``contextvars.copy_context().run``) and a framework's request handling see the scope
they were started in; two requests running at once never see each other's. A thread
started plainly begins outside every scope.

Blocks nest: an inner block's values win, ``extra`` dicts merge, and leaving a block
restores the outer scope. ``set_person`` and the other setters change the current scope;
inside a block the change ends with the block, outside every block it stays with the
current thread or task.

The outermost block (a request) is also the unit telemetry is kept by: the log records
logged inside it, in nested blocks too, go with its items and no others.

The package exports the function ``scope``, which shadows this module as an attribute of
the package: import from it with ``from rollbar_notifier.scope import ...``.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Mapping as AbcMapping
from types import MappingProxyType, TracebackType
from typing import Any, List, Mapping, Optional, Tuple, Type

from .capture import capture
from .event import Event, ReportFields
from .marks import note, noted

NO_EXTRA: Mapping[str, Any] = MappingProxyType({})
_LEFT_KEY = "_rollbar_notifier_scope"
"""The note an exception carries of the scope it left: reported later (by the
excepthook, or a framework hook after the block), it still has its request's data."""


class Owner:
    """The identity of an outermost block, shared by the blocks nested in it.

    Telemetry keeps the log records logged under it in ``records``, so they go with this
    block's items only, and are freed with it.
    """

    __slots__ = ("records",)

    def __init__(self) -> None:
        self.records: Optional[Any] = None
        """The telemetry log of this block (its type is :mod:`.telemetry`'s own)."""


@dataclasses.dataclass(frozen=True)
class Scope:
    """The data reports made now take where they do not say otherwise."""

    person: Optional[Mapping[str, Any]] = None
    request: Optional[Mapping[str, Any]] = None
    context: Optional[str] = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=lambda: NO_EXTRA)
    framework: Optional[str] = None
    owner: Optional[Owner] = None
    """``None`` outside every block."""
    _captured: Optional[Event] = dataclasses.field(default=None, init=False, repr=False,
                                                   compare=False)

    def nested(self, person: Any = None, request: Any = None, context: Any = None,
               extra: Any = None, framework: Any = None) -> Scope:
        """The scope of a block opened in this one: given values win, ``extra`` merges."""
        return Scope(
            person=self.person if person is None else person,
            request=self.request if request is None else request,
            context=self.context if context is None else context,
            extra=self.extra if extra is None else _merged(self.extra, extra),
            framework=self.framework if framework is None else framework,
            owner=self.owner or Owner(),
        )

    def captured(self) -> Event:
        """Bounded copies of this scope's values, made at its first report and shared by
        the next ones (a report made in the scope copies nothing more)."""
        template = self._captured
        if template is None:
            template = capture(ReportFields(
                person=self.person, request=self.request, context=self.context,
                extra=self.extra or None, framework=self.framework), capture_locals=False)
            if template is None:
                template = _EMPTY_EVENT
            object.__setattr__(self, "_captured", template)
        return template


_EMPTY_EVENT = Event(uuid="", timestamp=0, level="info", thread="")
OUTSIDE = Scope()
_current: contextvars.ContextVar[Scope] = contextvars.ContextVar("rollbar_notifier.scope",
                                                                 default=OUTSIDE)


def _merged(outer: Mapping[str, Any], extra: Any) -> Mapping[str, Any]:
    """A non-mapping ``extra`` is kept under the key ``extra``, as a report keeps it."""
    added = extra if isinstance(extra, AbcMapping) else {"extra": extra}
    return MappingProxyType({**outer, **added})


def current_scope() -> Scope:
    """The scope reports made here take their data from."""
    return _current.get()


class _Block:
    """What ``with scope(...)`` enters; may be entered again, even nested in itself."""

    __slots__ = ("_changes", "_entered")

    def __init__(self, changes: Tuple[Any, Any, Any, Any, Any]) -> None:
        self._changes = changes
        self._entered: List[Tuple[contextvars.Token[Scope], Scope]] = []

    def __enter__(self) -> Scope:
        outer = _current.get()
        inner = outer.nested(*self._changes)
        self._entered.append((_current.set(inner), outer))
        return inner

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        token, outer = self._entered.pop()
        if exc is not None:
            _remember(exc, _current.get())
        try:
            _current.reset(token)
        except (ValueError, RuntimeError):  # left in another context than it was entered in
            _current.set(outer)


def scope(*, person: Optional[Mapping[str, Any]] = None,
          request: Optional[Mapping[str, Any]] = None, context: Optional[str] = None,
          extra: Optional[Mapping[str, Any]] = None, framework: Optional[str] = None) -> _Block:
    """``with scope(person={"id": 7}, request={...}):``: every report made inside carries
    these values where it does not give its own. ``None`` leaves a value as it is."""
    return _Block((person, request, context, extra, framework))


def _change(**values: Any) -> None:
    _current.set(dataclasses.replace(_current.get(), **values))


def set_person(id: Any, username: Optional[str] = None, email: Optional[str] = None) -> None:
    """The person of the current scope; ``set_person(None)`` forgets it."""
    person = None if id is None else {key: value for key, value in (
        ("id", id), ("username", username), ("email", email)) if value is not None}
    _change(person=person)


def set_context(text: Optional[str]) -> None:
    """The context (a route, a task name) of the current scope."""
    _change(context=text)


def set_extra(key: str, value: Any) -> None:
    """One more ``data.custom`` entry in the current scope."""
    _change(extra=_merged(_current.get().extra, {key: value}))


def set_request(request: Optional[Mapping[str, Any]]) -> None:
    """The request of the current scope, in the Rollbar shape (``url``, ``method``, ...)."""
    _change(request=request)


def set_framework(name: Optional[str]) -> None:
    """The framework (``data.framework``) of the current scope."""
    _change(framework=name)


def _remember(exc: BaseException, left: Scope) -> None:
    """Note the innermost block ``exc`` left, unless it left one of another request
    before (an exception object raised again, such as a module-level instance)."""
    earlier = noted(exc, _LEFT_KEY)
    if not isinstance(earlier, Scope) or earlier.owner is not left.owner:
        note(exc, _LEFT_KEY, left)


def scope_for(exc: Optional[BaseException]) -> Scope:
    """The scope a report of ``exc`` takes: the block it left, if it was reported after
    leaving it and not from within another request, else the current scope."""
    current = _current.get()
    if exc is None:
        return current
    left = noted(exc, _LEFT_KEY)
    if isinstance(left, Scope) and (current.owner is None or current.owner is left.owner):
        return left
    return current


def fill(event: Event, taken: Scope) -> None:
    """Give ``event`` the values of the scope its report ``taken`` where the report gave
    none; ``extra`` merges, the report's keys winning."""
    if taken is OUTSIDE:
        return
    template = taken.captured()
    if event.person is None:
        event.person = template.person
    if event.request is None:
        event.request = template.request
    if event.context is None:
        event.context = template.context
    if event.framework is None:
        event.framework = template.framework
    if template.extra:
        event.extra = {**template.extra, **event.extra} if event.extra else template.extra
