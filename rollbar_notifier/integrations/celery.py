"""Celery: ``connect(app)`` reports failing tasks from the worker, whatever its logging.

    rollbar_notifier.init(access_token="...")
    connect(app)

A Celery worker removes the root logger's handlers when it starts, so a
``RollbarHandler`` configured the usual way never sees a task fail. ``connect`` reports
from Celery's signals instead:

- ``task_failure``: the exception, with the task name as the context and
  ``data.custom.celery`` holding the task id, its arguments by parameter name (so the
  notifier scrubs ``password=`` and the like, passed by position or by keyword) and
  its retry count. The trace shows the task's own code only: Celery's frames hold the
  same arguments again, positionally and as ``argsrepr`` text, where no parameter
  name tells a secret apart.
- ``task_prerun`` / ``task_postrun``: a scope per task run, so ``logger.exception``
  in a task gets the same context and only that run's log records.
- ``task_retry``: an INFO record on the ``celery.retry`` logger, outside every run's
  scope, so the retry shows in the telemetry of what this process reports next.
- ``worker_process_shutdown`` / ``worker_shutdown``: queued items are delivered
  before a worker process exits (a pool process ends without running ``atexit``).
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import os
import sys
import threading
from types import TracebackType
from typing import Any, Dict, List, Optional, Tuple

from ..notifier import Notifier, resolve_notifier
from ..scope import scope
from . import report, require

_signals = require("celery.signals", "celery", "celery")

FRAMEWORK = "celery"
INTERNAL_PACKAGES = ("celery", "billiard", "kombu")
"""Packages whose frames are left out of a task's trace."""

retry_log = logging.getLogger("celery.retry")
retry_log.setLevel(logging.INFO)


def connect(app: Any = None, notifier: Optional[Notifier] = None) -> None:
    """Report the tasks of ``app`` (default: every app) to ``notifier`` (default:
    ``init()``'s, looked up at each task). Calling it again replaces the earlier call."""
    hooks = _Hooks(app, notifier)
    uid = f"rollbar_notifier-{id(app)}"
    for name, receiver in (("task_prerun", hooks.prerun), ("task_postrun", hooks.postrun),
                           ("task_failure", hooks.failure), ("task_retry", hooks.retry),
                           ("worker_process_shutdown", hooks.flush),
                           ("worker_shutdown", hooks.flush)):
        getattr(_signals, name).connect(receiver, weak=False, dispatch_uid=f"{uid}-{name}")


class _Hooks:
    def __init__(self, app: Any, notifier: Optional[Notifier]) -> None:
        self._app = app
        self._notifier = notifier
        self._runs: Dict[Tuple[int, Any], Any] = {}
        """Open scope blocks by (thread, task id): a run's signals come from its thread."""

    def _notifier_for(self, task: Any) -> Optional[Notifier]:
        if self._app is not None and getattr(task, "app", None) is not self._app:
            return None
        notifier = resolve_notifier(self._notifier)
        return notifier if notifier is not None and notifier.active else None

    def prerun(self, sender: Any = None, task_id: Any = None, task: Any = None,
               **extra: Any) -> None:
        task = task or sender
        if self._notifier_for(task) is None:
            return
        block = scope(context=_name(task), framework=FRAMEWORK,
                      extra={"celery": {"task_id": task_id, "task": _name(task)}})
        block.__enter__()
        self._runs[(threading.get_ident(), task_id)] = block

    def postrun(self, sender: Any = None, task_id: Any = None, **extra: Any) -> None:
        block = self._runs.pop((threading.get_ident(), task_id), None)
        if block is not None:
            block.__exit__(None, None, None)

    def failure(self, sender: Any = None, task_id: Any = None,
                exception: Optional[BaseException] = None, args: Any = None,
                kwargs: Any = None, **extra: Any) -> None:
        notifier = self._notifier_for(sender)
        if notifier is None or exception is None:
            return
        request = getattr(sender, "request", None)
        details = {"task_id": task_id, "task": _name(sender),
                   **arguments(sender, args or (), kwargs or {}),
                   "retries": getattr(request, "retries", None)}
        report(notifier, exception, context=_name(sender), framework=FRAMEWORK,
               extra={"celery": details}, tb=task_traceback(exception.__traceback__))

    def retry(self, sender: Any = None, request: Any = None, reason: Any = None,
              **extra: Any) -> None:
        if self._notifier_for(sender) is None:
            return
        contextvars.Context().run(
            retry_log.info, "task %s[%s] retry %s: %s", _name(sender),
            getattr(request, "id", None), (getattr(request, "retries", 0) or 0) + 1, reason)

    def flush(self, **extra: Any) -> None:
        notifier = resolve_notifier(self._notifier)
        if notifier is not None:
            notifier.flush_within_shutdown_timeout()


def _name(task: Any) -> str:
    return str(getattr(task, "name", None) or type(task).__qualname__)


def arguments(task: Any, args: Any, kwargs: Any) -> Dict[str, Any]:
    """``{"arguments": {parameter: value}}``, so values are scrubbed by their names; the
    raw ``args`` and ``kwargs`` when they do not fit the task's signature."""
    try:
        bound = inspect.signature(task.run).bind_partial(*args, **kwargs)
    except (TypeError, ValueError, AttributeError):
        return {"args": list(args), "kwargs": dict(kwargs)}
    return {"arguments": dict(bound.arguments)}


def _internal_dirs() -> Tuple[str, ...]:
    dirs = []
    for name in INTERNAL_PACKAGES:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path:
            dirs.append(os.path.dirname(path) + os.sep)
    return tuple(dirs)


def task_traceback(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    """``tb`` without Celery's own frames (all of it if it has no other)."""
    internal = _internal_dirs()
    kept: List[TracebackType] = []
    current = tb
    while current is not None:
        if not current.tb_frame.f_code.co_filename.startswith(internal):
            kept.append(current)
        current = current.tb_next
    if not kept:
        return tb
    rebuilt: Optional[TracebackType] = None
    for entry in reversed(kept):
        rebuilt = TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return rebuilt
