"""``RollbarHandler``: every log record at or above its level becomes a Rollbar item.

A record with an exception becomes a trace item (the log message is the exception's
description); any other record becomes a message item, grouped by its logger and
``msg`` template so ``"user %s failed"`` is one item however many users fail. Attributes
given with ``extra=`` go to ``data.custom``, and the recent log records of the process go
along as telemetry. The context is the ``context`` given with ``extra=``, else the
current scope's (a route), else the logger's name.

The handler must never harm the program that logs: it never raises, never reports the
notifier's own records (or those of the HTTP stack it uses, or from its sender
threads), and a thread-local flag stops any record logged while reporting from being
reported in turn.

Configuration files::

    # dictConfig: notifier options are keyword arguments
    "rollbar": {"class": "rollbar_notifier.RollbarHandler", "level": "ERROR",
                "access_token": "...", "environment": "production"}

    # fileConfig: positional ``args`` are (level, notifier); options go in ``kwargs``
    [handler_rollbar]
    class = rollbar_notifier.RollbarHandler
    level = ERROR
    args = (ERROR,)
    kwargs = {"access_token": "...", "environment": "production"}
"""

from __future__ import annotations

import logging
import sys
import threading
from types import FrameType
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from .bounded import MAX_MESSAGE, safe_str
from .config import Config
from .event import ReportFields, Stack
from .hooks import install_excepthook
from .levels import from_logging
from .notifier import Notifier, resolve_notifier
from .scope import scope_for
from .telemetry import attach, is_excluded

log = logging.getLogger(__name__)

STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "taskName", "rollbar_uuid",
}
"""Attributes every record has; anything else on a record came from ``extra=``."""
PLAIN_RECORD_SIZE = len(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
"""How many attributes a record made by the standard factory has: one with no more
carries no ``extra=`` (more may still be standard ones, set by a formatter)."""

REPORT_FIELDS: Dict[str, Union[type, Tuple[type, ...]]] = {
    "context": str, "fingerprint": str, "title": str, "person": Mapping, "request": Mapping,
}
"""``extra=`` keys that set the item's own fields instead of going to ``data.custom``, with
the type they need for that. Frameworks put other things under the same names (Django
logs ``extra={"request": HttpRequest}``): those stay in ``data.custom``."""

OwnFields = Tuple[Optional[str], Optional[str], Optional[str], Any, Any]
"""The values of :data:`REPORT_FIELDS` a record sets, in that order, ``None`` where unset."""
NO_FIELDS: OwnFields = (None, None, None, None, None)

STRUCTLOG_OWN_KEYS = frozenset({"event", "level", "exc_info", "stack_info", "timestamp"})
"""Keys of a structlog event dict that are not the user's data."""

TRACEBACK_HEADER = "\nTraceback (most recent call last):"
"""Where formatters that insist on it (loguru, structlog renderers) append the traceback."""

MAX_CALL_SITE_DEPTH = 100
"""Frames searched, from ``emit`` outwards, for the call site of a ``stack_info`` record."""

_state = threading.local()


class RollbarHandler(logging.Handler):
    """Reports log records to Rollbar.

    With notifier ``options`` (``access_token=...``) the handler builds and owns its
    notifier (``install_hooks`` defaults to False there); with ``notifier=`` it uses that
    one; with neither it uses the default notifier of ``rollbar_notifier.init()``,
    looked up at each record, so the handler may be configured before ``init()``.
    """

    def __init__(self, level: Union[int, str] = logging.ERROR,
                 notifier: Optional[Notifier] = None, *, fingerprint_messages: bool = True,
                 telemetry: bool = True, **options: Any) -> None:
        super().__init__(level)
        if notifier is not None and options:
            raise ValueError("RollbarHandler takes notifier= or notifier options, not both")
        self.fingerprint_messages = fingerprint_messages
        self.telemetry = telemetry
        self._owns_notifier = bool(options)
        self._notifier = _own_notifier(options) if options else notifier
        if telemetry and self._notifier is None:
            # An active notifier collects from its start; the default one may come later.
            attach(Config.telemetry_size, Config.telemetry_level)

    @property
    def notifier(self) -> Optional[Notifier]:
        """Where records go now: the handler's own or given notifier, else the default."""
        return resolve_notifier(self._notifier)

    def handle(self, record: logging.LogRecord) -> bool:
        """Excluded records are dropped before anything else, and no handler lock is taken.

        ``emit`` is thread-safe on its own, and ``logging.shutdown()`` holds this
        handler's lock while ``flush()`` waits for the sender threads: a sender logging
        through the root logger must not wait on that lock.
        """
        if record.levelno < self.level or is_excluded(record) or getattr(_state, "active", False):
            return False
        if self.filters:
            result = self.filter(record)
            if not result:
                return False
            if isinstance(result, logging.LogRecord):
                record = result
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        _state.active = True
        try:
            notifier = resolve_notifier(self._notifier)
            if notifier is not None:
                record.rollbar_uuid = self._report(notifier, record)
        except Exception:
            log.warning("rollbar_notifier could not report a log record", exc_info=True)
        finally:
            _state.active = False

    def flush(self) -> None:
        """``logging.shutdown()`` calls this at exit: that is when queued items go out."""
        notifier = self.notifier
        if notifier is not None:
            notifier.flush_within_shutdown_timeout()

    def close(self) -> None:
        """Close an owned notifier; a shared one is left to whoever owns it (``atexit``
        closes every notifier), as flushing it here would spend the exit time again.

        ``logging.shutdown()`` calls this after closing handlers made later, such as a
        ``MemoryHandler`` targeting this one: so this is where reports that came too
        late for the exit flush are said to be lost.
        """
        try:
            notifier = self.notifier
            if self._owns_notifier and notifier is not None:
                notifier.close()
            if notifier is not None:
                notifier.report_late_losses()
        except Exception:
            log.warning("rollbar_notifier could not close its notifier", exc_info=True)
        finally:
            super().close()

    def _report(self, notifier: Notifier, record: logging.LogRecord) -> Optional[str]:
        """Runs for every record, in the logging thread: it reads the record and leaves the
        rest (copies, hashing, telemetry events) to capture and the senders."""
        text = self._message(record)
        custom = _extra(record)
        context, fingerprint, title, person, request = \
            _own_fields(custom) if custom else NO_FIELDS
        exc_info = record.exc_info
        exception = (type(exc_info[1]), exc_info[1], exc_info[2]) \
            if exc_info and exc_info[1] is not None else None
        taken = scope_for(exception[1] if exception else None)
        if context is None and not taken.context:
            context = record.name
        stack = group = None
        if exception is None:
            if self.fingerprint_messages and fingerprint is None:
                group = message_group(record)
            if record.stack_info:
                call_site = _call_site(record)
                if call_site is not None:
                    stack = Stack(call_site, record.levelname)
                else:
                    custom["stack_info"] = record.stack_info
        # By position, in field order: half the cost of keywords, on every record.
        return notifier.report(ReportFields(
            exception, text, stack, from_logging(record.levelno),
            text if exception or stack else None, custom or None, request, person,
            fingerprint, group, title, context, None,
            notifier.telemetry(record, taken) if self.telemetry else [],
            int(record.created), record.threadName,
            (record.module, record.funcName, record.lineno, record.process)))

    def _message(self, record: logging.LogRecord) -> str:
        """The record's message; a formatter set on the handler renders it (structlog's
        ``ProcessorFormatter``). Never with a traceback: the item carries it as frames."""
        try:
            if self.formatter is None:
                text = record.getMessage()
            else:
                bare = logging.makeLogRecord(vars(record))
                bare.exc_info = bare.exc_text = bare.stack_info = None
                text = self.format(bare)
        except Exception:
            text = safe_str(record.msg)
        if record.exc_info:
            text = text.split(TRACEBACK_HEADER, 1)[0]
        return text if type(text) is str and len(text) <= MAX_MESSAGE else safe_str(text)


def message_group(record: logging.LogRecord) -> str:
    """Logger name and ``msg`` template, so messages differing only in arguments group;
    the item's fingerprint is its digest.

    structlog's ``wrap_for_formatter`` puts its event dict in ``msg``: its ``event`` is
    the template there.
    """
    msg = record.msg
    template = msg if type(msg) is str else safe_str(
        msg.get("event") if isinstance(msg, dict) else msg)
    return f"{record.name}\n{template}"


def _own_fields(custom: Dict[str, Any]) -> OwnFields:
    """Take the ``extra=`` keys that set the item's own fields out of ``custom``."""
    context, fingerprint, title, person, request = (
        _take(custom, name, kind) for name, kind in REPORT_FIELDS.items())
    return context, fingerprint, title, person, request


def _take(custom: Dict[str, Any], name: str, kind: Union[type, Tuple[type, ...]]) -> Any:
    value = custom.get(name)
    if not isinstance(value, kind):
        return None
    del custom[name]
    return value


def _own_notifier(options: Dict[str, Any]) -> Notifier:
    options.setdefault("install_hooks", False)
    notifier = Notifier(**options)
    if notifier.config.install_hooks:
        install_excepthook(notifier)
    return notifier


def _extra(record: logging.LogRecord) -> Dict[str, Any]:
    """What ``extra=`` put on the record; private (``_``) attributes are libraries' own.

    loguru passes its bound values as one ``extra`` dict, and structlog's
    ``wrap_for_formatter`` its event dict as ``msg``: both are spread out like stdlib
    extras, so ``logger.bind(context=...)`` or ``log.error("x", order=7)`` work the same.
    """
    result: Dict[str, Any] = {}
    if isinstance(record.msg, dict):
        result.update((str(key), value) for key, value in record.msg.items()
                      if key not in STRUCTLOG_OWN_KEYS and not str(key).startswith("_"))
    attributes = vars(record)
    if len(attributes) > PLAIN_RECORD_SIZE:
        for name, value in attributes.items():
            if name in STANDARD_ATTRIBUTES or name.startswith("_"):
                continue
            if name == "extra" and isinstance(value, dict):
                result.update((str(key), item) for key, item in value.items())
            else:
                result[name] = value
    return result


def _call_site(record: logging.LogRecord) -> Optional[FrameType]:
    """The live frame that logged ``record``, found by its position; ``None`` when the
    record was made elsewhere (another thread, a queue, a replayed record)."""
    frame: Optional[FrameType] = sys._getframe(1)
    for _ in range(MAX_CALL_SITE_DEPTH):
        if frame is None:
            return None
        code = frame.f_code
        if (frame.f_lineno == record.lineno and code.co_name == record.funcName
                and code.co_filename == record.pathname):
            return frame
        frame = frame.f_back
    return None

