"""The module-level API: ``init()`` builds the process-wide default notifier, and the
functions beside it report to that one.

It sits above both :mod:`.notifier` and :mod:`.hooks`, since ``init()`` installs the
excepthooks and the signal handlers (:mod:`.signals`), so neither of those needs to
import the other's user.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Mapping, Optional

from . import signals
from .event import ExceptionArg, Level, Telemetry
from .hooks import install_excepthook
from .notifier import Notifier, get_notifier, replace_default
from .worker import THREAD_PREFIX

log = logging.getLogger(__name__)

_warned_no_default = False


def init(report_deploy: bool = False, **options: Any) -> Notifier:
    """Build the default notifier (closing any previous one), install the excepthooks and,
    in the main thread, the handlers of ``flush_on_signals``."""
    notifier = Notifier(**options)
    previous = replace_default(notifier)
    if previous is not None:
        previous.close()
    if notifier.config.install_hooks:
        install_excepthook(notifier)
    signals.uninstall()
    if notifier.active:
        signals.install(notifier.config.flush_on_signals)
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


def _require_default() -> Optional[Notifier]:
    global _warned_no_default
    notifier = get_notifier()
    if notifier is None and not _warned_no_default:
        _warned_no_default = True
        log.warning("rollbar_notifier: nothing is reported until rollbar_notifier.init() is "
                    "called")
    return notifier


def report_exception(
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
    """:meth:`.Notifier.report_exception` on the default notifier."""
    notifier = _require_default()
    if notifier is None:
        return None
    return notifier.report_exception(
        exc, level=level, extra=extra, request=request, person=person,
        fingerprint=fingerprint, title=title, context=context, description=description,
        telemetry=telemetry, timestamp=timestamp, thread=thread)


def report_message(
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
    """:meth:`.Notifier.report_message` on the default notifier."""
    notifier = _require_default()
    if notifier is None:
        return None
    return notifier.report_message(
        text, level=level, extra=extra, request=request, person=person,
        fingerprint=fingerprint, title=title, context=context, telemetry=telemetry,
        timestamp=timestamp, thread=thread)


def report_deploy(revision: Optional[str] = None, *,
                  environment: Optional[str] = None,
                  rollbar_username: Optional[str] = None,
                  local_username: Optional[str] = None,
                  comment: Optional[str] = None,
                  status: str = "succeeded") -> Optional[str]:
    """:meth:`.Notifier.report_deploy` on the default notifier; ``None`` before ``init()``."""
    notifier = _require_default()
    if notifier is None:
        return None
    return notifier.report_deploy(revision, environment=environment,
                                  rollbar_username=rollbar_username,
                                  local_username=local_username, comment=comment,
                                  status=status)


def flush(timeout: Optional[float] = None) -> bool:
    """Wait for the default notifier's queue to empty (see :meth:`.Notifier.flush`: ``True``
    does not mean delivered)."""
    notifier = get_notifier()
    return True if notifier is None else notifier.flush(timeout)


def close(timeout: Optional[float] = None) -> None:
    """Close the default notifier and forget it; put back the signal handlers ``init()``
    replaced."""
    signals.uninstall()
    notifier = replace_default(None)
    if notifier is not None:
        notifier.close(timeout)
