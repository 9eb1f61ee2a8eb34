"""``RollbarMiddleware`` for Django, configured from a ``ROLLBAR`` dict in settings.

    MIDDLEWARE = ["rollbar_notifier.integrations.django.RollbarMiddleware", ...]
    ROLLBAR = {"access_token": "...", "environment": "production"}

The first middleware built calls ``rollbar_notifier.init(**ROLLBAR)``, unless the
program already did: Django builds the middleware chain again for every handler (each
test client, for one), but the notifier is made once. Put the middleware first, so its
scope covers the others.

An exception raised by a view is reported from ``process_exception``; one raised
anywhere else in the request (another middleware) from Django's
``got_request_exception`` signal. The notifier reports an exception once, whichever
of these, and of ``logger.exception`` calls, sees it first. ``Http404`` and
``PermissionDenied`` are answers, not errors: they are reported (as warnings) only with
``"report_http404": True`` and ``"report_permission_denied": True`` in ``ROLLBAR``.

The context of an item is the dotted name of the view (``shop.views.order_detail``);
the person is ``request.user``'s primary key (its username and email only with
``capture_username`` and ``capture_email``).
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Dict, Optional, TypedDict

from .. import default
from ..notifier import Notifier, get_notifier
from ..scope import scope, set_context
from . import report, require
from .lazy import Lazy
from .person import person
from .request import from_wsgi, takes_body

_conf = require("django.conf", "django", "django")
_signals = require("django.core.signals", "django", "django")
_exceptions = require("django.core.exceptions", "django", "django")
_http = require("django.http", "django", "django")
_sync = require("asgiref.sync", "django", "django")

FRAMEWORK = "django"
SIGNAL_UID = "rollbar_notifier.integrations.django"
INTEGRATION_KEYS = ("report_http404", "report_permission_denied")
"""Keys of ``settings.ROLLBAR`` read here; the others are options of ``init()``."""
WARNING = "warning"

_setup_lock = threading.Lock()
_set_up = False


def _options() -> Dict[str, Any]:
    return dict(getattr(_conf.settings, "ROLLBAR", None) or {})


def _setup() -> None:
    """``init()`` from ``settings.ROLLBAR`` unless the program did, and connect the
    signal: once per process."""
    global _set_up
    with _setup_lock:
        if _set_up:
            return
        if get_notifier() is None:
            options = {key: value for key, value in _options().items()
                       if key not in INTEGRATION_KEYS}
            options.setdefault("framework", FRAMEWORK)
            default.init(**options)
        _signals.got_request_exception.connect(_on_request_exception, weak=False,
                                               dispatch_uid=SIGNAL_UID)
        _set_up = True


class RollbarMiddleware:
    """Django middleware (sync or async, as the chain around it is)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        _setup()
        options = _options()
        self._report_http404 = bool(options.get("report_http404", False))
        self._report_permission_denied = bool(options.get("report_permission_denied", False))
        self._async = _sync.iscoroutinefunction(get_response)
        if self._async:
            _sync.markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self._async:
            return self._acall(request)
        with _scope(request):
            return self.get_response(request)

    async def _acall(self, request: Any) -> Any:
        with _scope(request):
            return await self.get_response(request)

    def process_view(self, request: Any, view_func: Any, view_args: Any,
                     view_kwargs: Any) -> None:
        set_context(view_name(view_func))

    def process_exception(self, request: Any, exception: BaseException) -> None:
        level = None
        if isinstance(exception, _http.Http404):
            if not self._report_http404:
                return
            level = WARNING
        elif isinstance(exception, _exceptions.PermissionDenied):
            if not self._report_permission_denied:
                return
            level = WARNING
        _report(request, exception, level)


def _scope(request: Any) -> Any:
    notifier = get_notifier()
    if notifier is None or not notifier.active:
        return scope()
    return scope(**_about(notifier, request), framework=FRAMEWORK)


class _About(TypedDict, total=False):
    """What a request tells a scope and a report, as keyword arguments of both."""

    request: Lazy
    person: Lazy
    context: str


def _about(notifier: Notifier, request: Any) -> _About:
    """The request's data and user, read at its first report, and its context: the view
    once resolved, until then the method and path."""
    return {"request": Lazy(lambda: request_data(notifier, request)),
            "person": Lazy(lambda: person_data(notifier, request)),
            "context": _resolved_view(request) or f"{request.method} {request.path}"}


def _on_request_exception(sender: Any, request: Any = None, **kwargs: Any) -> None:
    """Django sends this from inside its ``except`` block, for exceptions it did not
    turn into a 4xx answer."""
    exc = sys.exc_info()[1]
    if exc is not None:
        _report(request, exc, None)


def _report(request: Any, exc: BaseException, level: Optional[str]) -> None:
    notifier = get_notifier()
    if notifier is None or not notifier.active:
        return
    about: _About = _about(notifier, request) if request is not None else {}
    report(notifier, exc, level=level, framework=FRAMEWORK, **about)


def view_name(view: Any) -> str:
    """``module.qualname`` of a view function, or of the class of a class-based view."""
    target = getattr(view, "view_class", None) or getattr(view, "cls", None) or view
    target = getattr(target, "func", target)  # functools.partial
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{name}" if module else name


def _resolved_view(request: Any) -> Optional[str]:
    match = getattr(request, "resolver_match", None)
    return view_name(match.func) if match is not None else None


def request_data(notifier: Notifier, request: Any) -> Dict[str, Any]:
    meta = request.META
    body = None
    if takes_body(notifier.config, meta.get("CONTENT_TYPE"), meta.get("CONTENT_LENGTH")):
        try:
            body = request.body
        except Exception:  # the application read the stream itself: the body is gone
            body = None
    match = getattr(request, "resolver_match", None)
    return from_wsgi(meta, notifier.config, body=body, url=_url(request),
                     route=getattr(match, "route", None),
                     params=getattr(match, "kwargs", None))


def _url(request: Any) -> Optional[str]:
    """The URL as Django sees it (``SECURE_PROXY_SSL_HEADER`` included), unless the host
    is not an allowed one (then the environ's)."""
    try:
        return str(request.build_absolute_uri())
    except Exception:
        return None


def person_data(notifier: Notifier, request: Any) -> Optional[Dict[str, Any]]:
    """``request.user`` as set by ``AuthenticationMiddleware``, if it is authenticated."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    username = user.get_username() if hasattr(user, "get_username") else None
    email_field = user.get_email_field_name() if hasattr(user, "get_email_field_name") \
        else "email"
    return person(notifier.config, getattr(user, "pk", None), username=username,
                  email=getattr(user, email_field, None))
