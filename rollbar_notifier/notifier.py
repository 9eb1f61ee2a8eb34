"""The :class:`Notifier`, its one entrance for reports, and the process-wide default.

Every report, whoever makes it (the public methods, the logging handler, the
excepthooks, the asyncio handler, the worker's own loss report), enters through
:meth:`Notifier.report` with a :class:`~.event.ReportFields`: that is the single place
where what a caller said becomes an :class:`~.event.Event`, and so where per-request
scope data will be merged.

Every public method here is called from the host program, so none of them raises
(apart from invalid options at construction): a failure is logged on the
``rollbar_notifier`` logger and the report is dropped.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, Mapping, Optional, Protocol

from . import lifecycle, telemetry
from .blocking import BlockingSender
from .capture import capture, exc_info_of
from .config import Config
from .deploy import report_deploy as send_deploy
from .deploy import update_deploy as change_deploy
from .event import Event, ExceptionArg, LazyTelemetry, Level, ReportFields, Telemetry
from .http_transport import HttpTransport
from .last_resort import warn
from .marks import Once
from .scope import Scope, current_scope, fill, scope_for
from .stats import Stats
from .transport import PING, answers_pong
from .worker import Worker

log = logging.getLogger(__name__)


class Sender(Protocol):
    """What the notifier needs of its mode: it never asks which one it has."""

    def admits(self) -> bool: ...
    def submit(self, event: Event) -> bool: ...
    def flush(self, timeout: Optional[float] = None) -> bool: ...
    def close(self, timeout: Optional[float] = None) -> None: ...
    def exit_budget(self, start: bool = True) -> float: ...
    def report_late_losses(self) -> None: ...
    def stats(self) -> Stats: ...


class Notifier:
    """One configured reporter; ``rollbar_notifier.init()`` makes one the process-wide default."""

    def __init__(self, **options: Any) -> None:
        config = self.config = Config.from_options(options)
        self.transport = HttpTransport(config.endpoint, config.access_token, config.timeout,
                                       verify=config.verify_tls, pool_size=config.senders)
        self.active = bool(config.enabled and config.access_token)
        if config.enabled and not config.access_token:
            warn(log, "rollbar_notifier: no access_token (option or ROLLBAR_ACCESS_TOKEN); "
                 "nothing will be reported")
        self._sender: Optional[Sender] = None
        self._records: Optional[telemetry.TelemetryCollector] = None
        if self.active:
            self._sender = (BlockingSender(config, self.transport) if config.mode == "blocking"
                            else Worker(config, self.transport, self.report))
            if config.telemetry_size > 0:
                self._records = telemetry.attach(config.telemetry_size, config.telemetry_level)
        self._once = Once()
        self._closed = False

    def report(self, fields: ReportFields) -> Optional[str]:
        """Capture in the caller's thread and hand over; the item's uuid, or ``None`` when
        nothing was queued. Never raises.

        The scope's data goes under what ``fields`` says. An exception already reported
        by this notifier is not reported again (``None``): the first report wins."""
        sender = self._sender
        if sender is None:
            return None
        try:
            exc = None if fields.exception is None else fields.exception[1]
            if exc is not None and (isinstance(exc, self.config.ignore)
                                    or not self._once.first(exc)):
                return None
            if not sender.admits():
                return None
            event = capture(fields, self.config.capture_locals)
            if event is None:
                return None
            taken = scope_for(exc)
            fill(event, taken)
            if event.telemetry is None:
                event.telemetry = self.telemetry(scope=taken)
            return event.uuid if sender.submit(event) else None
        except Exception:
            log.warning("rollbar_notifier: reporting failed", exc_info=True)
            return None

    def report_exception(
        self,
        exc: ExceptionArg = None,
        *,
        level: Level = "error",
        extra: Optional[Mapping[str, Any]] = None,
        request: Optional[Mapping[str, Any]] = None,
        person: Optional[Mapping[str, Any]] = None,
        fingerprint: Optional[str] = None,
        title: Optional[str] = None,
        context: Optional[str] = None,
        description: Optional[str] = None,
        telemetry: Optional[Telemetry] = None,
        timestamp: Optional[int] = None,
        thread: Optional[str] = None,
    ) -> Optional[str]:
        """Report ``exc`` (default: the exception being handled); the item's uuid or ``None``.

        ``timestamp`` and ``thread`` default to now and the calling thread; pass them when
        the report describes something that happened earlier or elsewhere, such as a log
        record handled on a ``QueueListener`` thread.
        """
        info = exc_info_of(exc)
        if info is None:
            return None
        return self.report(ReportFields(
            exception=info, level=level, extra=extra, request=request, person=person,
            fingerprint=fingerprint, title=title, context=context, description=description,
            telemetry=telemetry, timestamp=timestamp, thread=thread))

    def report_message(
        self,
        text: Any,
        *,
        level: Level = "info",
        extra: Optional[Mapping[str, Any]] = None,
        request: Optional[Mapping[str, Any]] = None,
        person: Optional[Mapping[str, Any]] = None,
        fingerprint: Optional[str] = None,
        title: Optional[str] = None,
        context: Optional[str] = None,
        telemetry: Optional[Telemetry] = None,
        timestamp: Optional[int] = None,
        thread: Optional[str] = None,
    ) -> Optional[str]:
        """Report a message; the item's uuid or ``None`` when it was not queued.

        ``timestamp`` and ``thread`` are as for :meth:`report_exception`.
        """
        return self.report(ReportFields(
            message=text, level=level, extra=extra, request=request, person=person,
            fingerprint=fingerprint, title=title, context=context, telemetry=telemetry,
            timestamp=timestamp, thread=thread))

    def report_deploy(self, revision: Optional[str] = None, *,
                      environment: Optional[str] = None,
                      rollbar_username: Optional[str] = None,
                      local_username: Optional[str] = None,
                      comment: Optional[str] = None,
                      status: str = "succeeded") -> str:
        """Record a deploy (synchronously: a deploy is rare and its id is the result)."""
        return send_deploy(self.transport, self.config, revision, environment=environment,
                           rollbar_username=rollbar_username, local_username=local_username,
                           comment=comment, status=status)

    def update_deploy(self, deploy_id: Any, status: Optional[str] = None,
                      comment: Optional[str] = None) -> Dict[str, Any]:
        return change_deploy(self.transport, self.config, deploy_id, status=status,
                             comment=comment)

    def ping(self) -> bool:
        """Whether the endpoint answers ``GET status/ping`` with ``pong`` (no token needed)."""
        return answers_pong(self.transport.send(PING))

    def telemetry(self, exclude: Optional[logging.LogRecord] = None,
                  scope: Optional[Scope] = None) -> Optional[LazyTelemetry]:
        """The recent log records (but ``exclude``) of ``scope`` (default: the current one)
        and of no scope, as this notifier attaches them."""
        records = self._records
        if records is None:
            return None  # nothing is collected for this notifier: no telemetry key
        try:
            return records.snapshot(self.config.telemetry_level, self.config.telemetry_size,
                                    exclude, (current_scope() if scope is None else scope).owner)
        except Exception:
            log.debug("rollbar_notifier: reading telemetry failed", exc_info=True)
            return None

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait up to ``timeout`` for the queue to empty.

        ``True`` means every item was handled: sent, refused by the server (a bad token,
        a wrong endpoint), dropped or spooled; not that every item was delivered.
        ``False`` means items were still waiting when the time was up. :meth:`stats`
        tells what became of them, and the first failure of each kind is logged as a
        warning (on stderr when the program shows no log).
        """
        return True if self._sender is None else self._sender.flush(timeout)

    def exit_budget(self, start: bool = True) -> float:
        """What is left of the ``shutdown_timeout`` that all exit-time waits share."""
        if self._sender is None:
            return self.config.shutdown_timeout
        return self._sender.exit_budget(start)

    def flush_within_shutdown_timeout(self, exiting: bool = False) -> None:
        """Deliver what is queued, but never hold up a dying process or
        ``logging.shutdown()`` for longer than ``shutdown_timeout``, counted once across
        every exit-time wait. ``exiting`` (the main thread's uncaught exception) starts
        that count. Never raises."""
        try:
            self.flush(timeout=self.exit_budget(start=exiting))
        except Exception:
            log.debug("rollbar_notifier: flushing failed", exc_info=True)

    def report_late_losses(self) -> None:
        """Say on stderr what was reported after the exit flush and could not be sent."""
        if self._sender is not None:
            self._sender.report_late_losses()

    def close(self, timeout: Optional[float] = None) -> None:
        """Flush for up to ``timeout`` (default ``shutdown_timeout``) and stop; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._sender is not None:
                self._sender.close(timeout)
        finally:
            self.transport.close()

    def stats(self) -> Stats:
        """Counters: queued, sent, retried, spooled, and dropped by reason."""
        if self._sender is None:
            return Stats(queued=0, sent=0, retried=0, spooled=0, dropped={})
        return self._sender.stats()

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


_default: Optional[Notifier] = None
_default_lock = threading.Lock()


def _new_default_lock() -> None:
    """Another thread may hold the lock when the process forks; the child's is free."""
    global _default_lock
    _default_lock = threading.Lock()


lifecycle.on_fork_in_child(_new_default_lock)


def get_notifier() -> Optional[Notifier]:
    """The default notifier, or ``None`` before ``init()``."""
    return _default


def replace_default(notifier: Optional[Notifier]) -> Optional[Notifier]:
    """Make ``notifier`` the default; the previous one, for the caller to close."""
    global _default
    with _default_lock:
        previous, _default = _default, notifier
    return previous


def resolve_notifier(notifier: Optional[Notifier]) -> Optional[Notifier]:
    """The given notifier, else the default one, looked up late: ``init()`` may come later."""
    return notifier if notifier is not None else _default
