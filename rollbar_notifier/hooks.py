"""Report uncaught exceptions: main thread, other threads, unraisable ones and asyncio.

Each hook reports, then always hands the exception to the hook that was there before,
so the program still prints its traceback and exits the way it would have. Then the
main-thread and thread hooks flush, bounded by ``shutdown_timeout``: the process (or
a daemon thread) may be about to die, and the queued item with it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from types import TracebackType
from typing import Any, Callable, Dict, Optional, Tuple, Type

from .bounded import safe_repr, safe_str
from .capture import exc_info_of
from .event import ReportFields
from .notifier import Notifier, resolve_notifier
from .telemetry import EXCLUDED_THREAD_PREFIX

log = logging.getLogger(__name__)

DEFAULT_IGNORE: Tuple[Type[BaseException], ...] = (KeyboardInterrupt, SystemExit)

ExceptHook = Callable[[Type[BaseException], BaseException, Optional[TracebackType]], Any]
ThreadingHook = Callable[[Any], Any]
UnraisableHook = Callable[[Any], Any]


class _Hooks:
    """One installation: the hooks it replaced, and where it reports."""

    def __init__(self, notifier: Optional[Notifier],
                 ignore: Tuple[Type[BaseException], ...]) -> None:
        self.notifier = notifier
        self.ignore = ignore
        self.active = True
        self.previous_excepthook: ExceptHook = sys.excepthook
        self.previous_threading: ThreadingHook = threading.excepthook
        self.previous_unraisable: UnraisableHook = sys.unraisablehook

    def report(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
               tb: Optional[TracebackType], level: str,
               description: Optional[str] = None) -> Optional[Notifier]:
        """Queue the report; return the notifier to flush, or ``None``. Never raises."""
        if not self.active or exc is None or exc_type is None or issubclass(exc_type, self.ignore):
            return None
        try:
            notifier = resolve_notifier(self.notifier)
            if notifier is not None:
                notifier.report(ReportFields(exception=(exc_type, exc, tb), level=level,
                                             description=description))
            return notifier
        except Exception:
            log.debug("rollbar_notifier: reporting an uncaught exception failed", exc_info=True)
            return None

    def excepthook(self, exc_type: Type[BaseException], exc: BaseException,
                   tb: Optional[TracebackType]) -> None:
        notifier = self.report(exc_type, exc, tb, "critical")
        try:
            self.previous_excepthook(exc_type, exc, tb)
        finally:
            _flush(notifier, exiting=True)

    def threading_excepthook(self, args: Any) -> None:
        notifier = None
        thread = args.thread or threading.current_thread()
        if not thread.name.startswith(EXCLUDED_THREAD_PREFIX):
            notifier = self.report(args.exc_type, args.exc_value, args.exc_traceback, "error")
        try:
            self.previous_threading(args)
        finally:
            _flush(notifier)

    def unraisablehook(self, unraisable: Any) -> None:
        """No flush here: it runs inside ``__del__`` and garbage collection, at any time."""
        if not sys.is_finalizing():
            where = unraisable.err_msg or "Exception ignored in"
            self.report(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback,
                        "error", description=f"{where}: {safe_repr(unraisable.object, 500)}")
        self.previous_unraisable(unraisable)


def _flush(notifier: Optional[Notifier], exiting: bool = False) -> None:
    if notifier is not None:
        notifier.flush_within_shutdown_timeout(exiting)


_lock = threading.Lock()
_installed: Optional[_Hooks] = None


def install_excepthook(notifier: Optional[Notifier] = None, *,
                       ignore: Tuple[Type[BaseException], ...] = DEFAULT_IGNORE) -> None:
    """Chain ``sys.excepthook``, ``threading.excepthook`` and ``sys.unraisablehook``.

    ``notifier=None`` reports to the default notifier at the time of the exception.
    Installing again only changes the notifier and ``ignore``: hooks are never stacked.
    """
    global _installed
    with _lock:
        if _installed is not None and _installed.active:
            _installed.notifier = notifier
            _installed.ignore = ignore
            return
        hooks = _Hooks(notifier, ignore)
        sys.excepthook = hooks.excepthook
        threading.excepthook = hooks.threading_excepthook
        sys.unraisablehook = hooks.unraisablehook
        _installed = hooks


def uninstall_excepthook() -> None:
    """Restore the previous hooks; if another library chained over ours, ours go inert."""
    global _installed
    with _lock:
        hooks, _installed = _installed, None
        if hooks is None:
            return
        hooks.active = False
        if sys.excepthook == hooks.excepthook:
            sys.excepthook = hooks.previous_excepthook
        if threading.excepthook == hooks.threading_excepthook:
            threading.excepthook = hooks.previous_threading
        if sys.unraisablehook == hooks.unraisablehook:
            sys.unraisablehook = hooks.previous_unraisable


def install_asyncio_handler(loop: asyncio.AbstractEventLoop,
                            notifier: Optional[Notifier] = None) -> None:
    """Report what asyncio would log as "Task exception was never retrieved" and the like.

    The previous handler (or asyncio's default) still runs, so the log line is kept.
    """
    previous = loop.get_exception_handler()

    def handler(handler_loop: asyncio.AbstractEventLoop, context: Dict[str, Any]) -> None:
        try:
            _report_asyncio(resolve_notifier(notifier), context)
        finally:
            if previous is not None:
                previous(handler_loop, context)
            else:
                handler_loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def _report_asyncio(notifier: Optional[Notifier], context: Dict[str, Any]) -> None:
    if notifier is None:
        return
    try:
        message = safe_str(context.get("message") or "asyncio exception")
        extra = {"asyncio": {key: safe_str(value, 1000) for key, value in context.items()
                             if key not in ("message", "exception")}}
        exc = context.get("exception")
        info = exc_info_of(exc) if isinstance(exc, BaseException) else None
        notifier.report(ReportFields(exception=info, message=message,
                                     description=message if info else None, level="error",
                                     extra=extra))
    except Exception:
        log.debug("rollbar_notifier: reporting an asyncio exception failed", exc_info=True)
