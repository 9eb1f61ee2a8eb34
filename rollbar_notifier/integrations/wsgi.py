"""``RollbarMiddleware`` for any WSGI application.

Each request runs in a context of its own holding a scope, so every report made while
it is handled (an escaping exception, ``logger.exception``, an explicit
``report_exception``) carries its request data and log records, and no other request's.
The same context is entered again for each chunk of the response and for ``close()``,
so an error while streaming the response is reported with its request too.

    from rollbar_notifier.integrations.wsgi import RollbarMiddleware
    application = RollbarMiddleware(application)
"""

from __future__ import annotations

import contextvars
import functools
import logging
from types import TracebackType
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Type

from ..notifier import Notifier, resolve_notifier
from ..scope import scope
from . import report
from .lazy import Lazy
from .request import MAX_REQUEST_BODY, from_wsgi, takes_body

log = logging.getLogger(__name__)

Environ = Dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class RecordingInput:
    """``wsgi.input`` keeping a copy of what the application reads, up to ``limit``
    bytes, so an error report can show a body the application consumed."""

    def __init__(self, stream: Any, limit: int = MAX_REQUEST_BODY) -> None:
        self._stream = stream
        self._limit = limit
        self._seen = bytearray()
        self._overflow = False
        self._eof = False

    def _keep(self, data: bytes, asked: Optional[int] = None) -> bytes:
        if not data or (asked is not None and 0 <= asked and len(data) < asked):
            self._eof = True
        if data and not self._overflow:
            if len(self._seen) + len(data) > self._limit:
                self._overflow = True
                self._seen = bytearray()
            else:
                self._seen += data
        return data

    def read(self, size: Optional[int] = -1) -> bytes:
        asked = -1 if size is None else size
        data: bytes = self._stream.read() if asked < 0 else self._stream.read(asked)
        if asked < 0:
            self._eof = True
        return self._keep(data, asked if asked >= 0 else None)

    def readline(self, size: Optional[int] = -1) -> bytes:
        data: bytes = self._stream.readline() if size is None or size < 0 \
            else self._stream.readline(size)
        return self._keep(data)

    def readlines(self, hint: int = -1) -> List[bytes]:
        return [self._keep(line) for line in self._stream.readlines(hint)]

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            yield self._keep(line)

    def __getattr__(self, name: str) -> Any:
        """The stream's other attributes, but no way of reading around the copy."""
        if name.startswith(("read", "peek")):
            raise AttributeError(name)
        return getattr(self._stream, name)

    def body(self, length: Any) -> Optional[bytes]:
        """The body if the application read all of it (``length`` is ``CONTENT_LENGTH``)."""
        if self._overflow:
            return None
        try:
            whole = len(self._seen) == int(length)
        except (TypeError, ValueError):
            whole = self._eof
        return bytes(self._seen) if whole else None


class RollbarMiddleware:
    """Reports exceptions escaping ``app`` (then re-raises them), with a scope per request.

    ``notifier`` defaults to the one ``rollbar_notifier.init()`` made, looked up at each
    request. Subclasses for frameworks built on WSGI add what the framework knows.
    """

    framework = "wsgi"

    def __init__(self, app: WSGIApp, notifier: Optional[Notifier] = None) -> None:
        self.app = app
        self._notifier = notifier

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        context = contextvars.copy_context()
        return context.run(self._start, context, environ, start_response)

    def _start(self, context: contextvars.Context, environ: Environ,
               start_response: StartResponse) -> Iterable[bytes]:
        notifier = resolve_notifier(self._notifier)
        if notifier is None or not notifier.active:
            return self.app(environ, start_response)
        recorder = None
        if takes_body(notifier.config, environ.get("CONTENT_TYPE"),
                      environ.get("CONTENT_LENGTH")) and "wsgi.input" in environ:
            recorder = environ["wsgi.input"] = RecordingInput(environ["wsgi.input"])
        block = scope(request=Lazy(functools.partial(self.request_data, notifier, environ,
                                                     recorder)),
                      person=Lazy(functools.partial(self.person_data, notifier)),
                      context=_method_and_path(environ), framework=self.framework)
        block.__enter__()
        request = _Request(notifier, block)
        try:
            result = self.app(environ, start_response)
        except BaseException as exc:
            request.failed(exc)
            raise
        return _Response(result, context, request)

    def request_data(self, notifier: Notifier, environ: Environ,
                     recorder: Optional[RecordingInput]) -> Dict[str, Any]:
        """``data.request``, built at the request's first report."""
        body = recorder.body(environ.get("CONTENT_LENGTH")) if recorder else None
        return from_wsgi(environ, notifier.config, body=body)

    def person_data(self, notifier: Notifier) -> Optional[Dict[str, Any]]:
        """``data.person``, built at the request's first report; plain WSGI knows no user."""
        return None


def _method_and_path(environ: Environ) -> str:
    """The context until the framework knows better (a Flask URL rule)."""
    return f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO') or '/'}"


class _Request:
    """One request's scope block, left once, whichever way the request ends."""

    __slots__ = ("_block", "_notifier", "_open")

    def __init__(self, notifier: Notifier, block: Any) -> None:
        self._notifier = notifier
        self._block = block
        self._open = True

    def failed(self, exc: BaseException) -> None:
        """Report ``exc`` (an ``Exception``: an exit or a Ctrl-C is no error), then leave."""
        if isinstance(exc, Exception):
            report(self._notifier, exc)
        self.leave(type(exc), exc, exc.__traceback__)

    def leave(self, exc_type: Optional[Type[BaseException]] = None,
              exc: Optional[BaseException] = None,
              tb: Optional[TracebackType] = None) -> None:
        if self._open:
            self._open = False
            self._block.__exit__(exc_type, exc, tb)


class _Response:
    """The application's response, iterated and closed inside the request's context."""

    def __init__(self, result: Iterable[bytes], context: contextvars.Context,
                 request: _Request) -> None:
        self._result = result
        self._iterator: Optional[Iterator[bytes]] = None
        self._context = context
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return self._context.run(self._next)

    def _next(self) -> bytes:
        try:
            if self._iterator is None:
                self._iterator = iter(self._result)
            return next(self._iterator)
        except StopIteration:
            raise
        except BaseException as exc:
            self._request.failed(exc)
            raise

    def close(self) -> None:
        self._context.run(self._close)

    def _close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        except BaseException as exc:
            self._request.failed(exc)
            raise
        self._request.leave()
