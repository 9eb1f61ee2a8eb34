"""``RollbarMiddleware`` for any ASGI 3 application: Starlette, FastAPI, Quart, ...

It reports what the server would otherwise only log: an exception escaping the
application in an HTTP request or a websocket, and a 5xx response that the
framework's own error handler made out of an exception it kept to itself. Under
uvicorn those errors are logged on ``uvicorn.error``, a logger that does not propagate
to the root, so a ``RollbarHandler`` on the root never sees them; the middleware does
not depend on logging at all.

Each request runs in a scope (asyncio gives every request its own task, so its own
context): reports made while it is handled carry its request data, its route once the
router has found it (``GET /orders/{order_id}``), and its log records only.

    from rollbar_notifier.integrations.asgi import RollbarMiddleware
    app.add_middleware(RollbarMiddleware)      # Starlette, FastAPI
    app = RollbarMiddleware(app)               # any ASGI 3 application
"""

from __future__ import annotations

import functools
from typing import Any, Awaitable, Callable, Dict, MutableMapping, Optional

from ..notifier import Notifier, resolve_notifier
from ..scope import scope as notifier_scope
from . import report
from .lazy import Lazy
from .person import person
from .request import MAX_REQUEST_BODY, asgi_headers, from_asgi, full_path, takes_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FRAMEWORKS = ("fastapi", "starlette", "quart", "django", "litestar", "sanic")
"""Packages whose application object names ``data.framework``; others are ``asgi``."""
SERVER_ERROR = 500


def framework_of(app: Any) -> Optional[str]:
    package = type(app).__module__.partition(".")[0]
    return package if package in FRAMEWORKS else None


class _Exchange:
    """What one request has received and answered so far."""

    __slots__ = ("body", "complete", "entry_root", "status")

    def __init__(self, scope: Scope) -> None:
        self.body: Optional[bytearray] = None
        self.complete = False
        self.status = 0
        self.entry_root = str(scope.get("root_path", ""))

    def record(self, message: Message) -> None:
        """Keep the request body as it is received, while it stays small."""
        if self.body is None or message.get("type") != "http.request":
            return
        chunk = message.get("body", b"")
        if len(self.body) + len(chunk) > MAX_REQUEST_BODY:
            self.body = None
            return
        self.body += chunk
        self.complete = not message.get("more_body", False)


class RollbarMiddleware:
    """Reports exceptions escaping ``app`` (then re-raises them) and 5xx responses.

    ``notifier`` defaults to the one ``rollbar_notifier.init()`` made, looked up at each
    request. Lifespan and other scope types pass through untouched.
    """

    def __init__(self, app: ASGIApp, notifier: Optional[Notifier] = None) -> None:
        self.app = app
        self._notifier = notifier
        self._framework = framework_of(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        notifier = resolve_notifier(self._notifier)
        if scope.get("type") not in ("http", "websocket") or notifier is None \
                or not notifier.active:
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope)
        if scope["type"] == "http" and notifier.config.include_request_body:
            headers = asgi_headers(scope.get("headers") or ())
            if takes_body(notifier.config, headers.get("Content-Type"),
                          headers.get("Content-Length")):
                exchange.body = bytearray()

        async def receiving() -> Message:
            message = await receive()
            exchange.record(message)
            return message

        async def sending(message: Message) -> None:
            if message.get("type") == "http.response.start":
                exchange.status = int(message.get("status", 0))
            await send(message)

        framework = framework_of(scope.get("app")) or self._framework or "asgi"
        with notifier_scope(
                request=Lazy(functools.partial(_request, notifier, scope, exchange)),
                person=Lazy(functools.partial(_person, notifier, scope)),
                context=_context(scope, exchange), framework=framework):
            try:
                await self.app(scope, receiving if exchange.body is not None else receive,
                               sending)
            except Exception as exc:
                report(notifier, exc, context=_context(scope, exchange))
                raise
            if exchange.status >= SERVER_ERROR:
                context = _context(scope, exchange)
                notifier.report_message(f"{context} answered {exchange.status}",
                                        level="error", context=context)


def _route(scope: Scope, exchange: _Exchange) -> Optional[str]:
    """The route template the router matched, with the prefix of any mount it went
    through (routers mark the scope in place: ``route`` in Starlette)."""
    route = scope.get("route")
    template = getattr(route, "path", None) or getattr(route, "path_format", None)
    if not isinstance(template, str):
        return None
    root = str(scope.get("root_path", ""))
    mounted = root[len(exchange.entry_root):] if root.startswith(exchange.entry_root) else ""
    return mounted + template


def _context(scope: Scope, exchange: _Exchange) -> str:
    method = "WEBSOCKET" if scope.get("type") == "websocket" else scope.get("method", "GET")
    return f"{method} {_route(scope, exchange) or full_path(scope) or '/'}"


def _request(notifier: Notifier, scope: Scope, exchange: _Exchange) -> Dict[str, Any]:
    body = bytes(exchange.body) if exchange.body is not None and exchange.complete else None
    return from_asgi(scope, notifier.config, body=body, route=_route(scope, exchange))


def _person(notifier: Notifier, scope: Scope) -> Optional[Dict[str, Any]]:
    """From an authentication middleware's ``scope["user"]`` (Starlette's ``BaseUser``)."""
    user = scope.get("user")
    if user is None or not _attribute(user, "is_authenticated"):
        return None
    return person(notifier.config, _attribute(user, "identity"),
                  username=_attribute(user, "display_name"), email=_attribute(user, "email"))


def _attribute(user: Any, name: str) -> Any:
    """Starlette's ``BaseUser`` raises ``NotImplementedError`` for what a subclass lacks."""
    try:
        return getattr(user, name, None)
    except NotImplementedError:
        return None
