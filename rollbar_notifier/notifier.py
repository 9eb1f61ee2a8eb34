"""The :class:`Notifier` that ties capture, item building and delivery together.

Every public method here is called from the host program, so none of them raises
(apart from invalid options at construction): a failure is logged on the
``rollbar_notifier`` logger and the report is dropped.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, Optional

from .capture import (
    Event,
    ExceptionArg,
    Telemetry,
    capture_exception,
    capture_message,
    exc_info_of,
)
from .config import Config
from .transport import PING, HttpTransport, answers_pong
from .worker import THREAD_PREFIX, Worker

log = logging.getLogger(__name__)


class Notifier:
    """One configured reporter; :func:`init` makes one the process-wide default."""

    def __init__(self, **options: Any) -> None:
        self.config = Config.from_options(options)
        self.transport = HttpTransport(self.config.endpoint, self.config.access_token,
                                       self.config.timeout, verify=self.config.verify_tls,
                                       pool_size=self.config.senders)
        self.active = bool(self.config.enabled and self.config.access_token)
        if self.config.enabled and not self.config.access_token:
            log.warning("rollbar_notifier: no access_token (option or ROLLBAR_ACCESS_TOKEN); "
                        "nothing will be reported")
        self._worker = Worker(self.config, self.transport) if self.active else None
        self._closed = False

    def report_exception(
        self,
        exc: ExceptionArg = None,
        *,
        level: Any = "error",
        extra: Optional[Dict[str, Any]] = None,
        request: Optional[Dict[str, Any]] = None,
        person: Optional[Dict[str, Any]] = None,
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
        return self._report("report_exception", self._capture_exception, exc,
                            description=description, level=level, extra=extra,
                            request=request, person=person, fingerprint=fingerprint,
                            title=title, context=context, telemetry=telemetry,
                            timestamp=timestamp, thread=thread)

    def _capture_exception(self, exc: ExceptionArg, **fields: Any) -> Optional[Event]:
        info = exc_info_of(exc)
        if info is None or isinstance(info[1], self.config.ignore):
            return None
        return capture_exception(info, capture_locals=self.config.capture_locals, **fields)

    def report_message(
        self,
        text: Any,
        *,
        level: Any = "info",
        extra: Optional[Dict[str, Any]] = None,
        request: Optional[Dict[str, Any]] = None,
        person: Optional[Dict[str, Any]] = None,
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
        return self._report("report_message", capture_message, text, level=level, extra=extra,
                            request=request, person=person, fingerprint=fingerprint,
                            title=title, context=context, telemetry=telemetry,
                            timestamp=timestamp, thread=thread)

    def _report(self, name: str, capture: Callable[..., Optional[Event]], subject: Any,
                **fields: Any) -> Optional[str]:
        """Capture in the caller's thread and submit; a failure is logged, never raised."""
        if self._worker is None:
            return None
        try:
            event = capture(subject, **fields)
            return self.submit(event) if event is not None else None
        except Exception:
            log.warning("rollbar_notifier: %s failed", name, exc_info=True)
            return None

    def submit(self, event: Event) -> Optional[str]:
        """Queue (or, in blocking mode, send) an event built with :mod:`.capture`."""
        worker = self._worker
        if worker is None:
            return None
        try:
            if worker.threaded:
                return event.uuid if worker.submit(event) else None
            return worker.send_now(event)
        except Exception:
            log.warning("rollbar_notifier: submitting an item failed", exc_info=True)
            return None

    def report_deploy(self, revision: Optional[str] = None, *,
                      environment: Optional[str] = None,
                      rollbar_username: Optional[str] = None,
                      local_username: Optional[str] = None,
                      comment: Optional[str] = None,
                      status: str = "succeeded") -> str:
        """Record a deploy (synchronously: a deploy is rare and its id is the result)."""
        from .deploy import report_deploy as send_deploy

        return send_deploy(self.transport, self.config, revision, environment=environment,
                           rollbar_username=rollbar_username, local_username=local_username,
                           comment=comment, status=status)

    def update_deploy(self, deploy_id: Any, status: Optional[str] = None,
                      comment: Optional[str] = None) -> Dict[str, Any]:
        from .deploy import update_deploy as change_deploy

        return change_deploy(self.transport, self.config, deploy_id, status=status,
                             comment=comment)

    def ping(self) -> bool:
        """Whether the endpoint answers ``GET status/ping`` with ``pong`` (no token needed)."""
        return answers_pong(self.transport.send(PING))

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait for queued items; ``True`` when all were sent or definitively dropped."""
        return True if self._worker is None else self._worker.flush(timeout)

    def exit_budget(self, start: bool = True) -> float:
        """What is left of the ``shutdown_timeout`` that all exit-time waits share (see
        :meth:`.Worker.exit_budget`)."""
        if self._worker is None:
            return self.config.shutdown_timeout
        return self._worker.exit_budget(start)

    def report_late_losses(self) -> None:
        """Say on stderr what was reported after the exit flush and could not be sent."""
        if self._worker is not None:
            self._worker.report_late_losses()

    def close(self, timeout: Optional[float] = None) -> None:
        """Flush for up to ``timeout`` (default ``shutdown_timeout``) and stop; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._worker is not None:
                self._worker.close(timeout)
        finally:
            self.transport.close()

    def stats(self) -> Dict[str, Any]:
        """Counters: queued, sent, retried, spooled, and dropped by reason."""
        if self._worker is None:
            return {"queued": 0, "sent": 0, "retried": 0, "spooled": 0, "dropped": {}}
        return self._worker.stats()

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


_default: Optional[Notifier] = None
_default_lock = threading.Lock()
_warned_no_default = False


def init(report_deploy: bool = False, **options: Any) -> Notifier:
    """Build the default notifier (closing any previous one) and install the excepthooks."""
    global _default
    notifier = Notifier(**options)
    with _default_lock:
        previous, _default = _default, notifier
    if previous is not None:
        previous.close()
    if notifier.config.install_hooks:
        try:
            from .hooks import install_excepthook
        except ImportError:
            log.debug("rollbar_notifier: excepthooks unavailable", exc_info=True)
        else:
            install_excepthook(notifier)
    if report_deploy:
        _report_deploy_at_start(notifier)
    return notifier


def _report_deploy_at_start(notifier: Notifier) -> None:
    """Record a deploy on a thread, waiting at most ``timeout`` so start-up never stalls."""

    def run() -> None:
        try:
            deploy_id = notifier.report_deploy()
            log.info("rollbar_notifier: reported deploy %s", deploy_id)
        except Exception as exc:
            log.warning("rollbar_notifier: reporting the deploy at start-up failed: %s", exc)

    thread = threading.Thread(target=run, name=f"{THREAD_PREFIX}-deploy", daemon=True)
    thread.start()
    thread.join(notifier.config.timeout)


def get_notifier() -> Optional[Notifier]:
    return _default


def _require_default() -> Optional[Notifier]:
    global _warned_no_default
    notifier = _default
    if notifier is None and not _warned_no_default:
        _warned_no_default = True
        log.warning("rollbar_notifier: nothing is reported until rollbar_notifier.init() is "
                    "called")
    return notifier


def report_exception(exc: ExceptionArg = None, **kwargs: Any) -> Optional[str]:
    notifier = _require_default()
    if notifier is None:
        return None
    return notifier.report_exception(exc, **kwargs)


def report_message(text: Any, **kwargs: Any) -> Optional[str]:
    notifier = _require_default()
    return None if notifier is None else notifier.report_message(text, **kwargs)


def report_deploy(revision: Optional[str] = None, **kwargs: Any) -> Optional[str]:
    notifier = _require_default()
    return None if notifier is None else notifier.report_deploy(revision, **kwargs)


def flush(timeout: Optional[float] = None) -> bool:
    notifier = _default
    return True if notifier is None else notifier.flush(timeout)


def close(timeout: Optional[float] = None) -> None:
    """Close the default notifier and forget it."""
    global _default
    with _default_lock:
        notifier, _default = _default, None
    if notifier is not None:
        notifier.close(timeout)
