"""Reporting from inside web frameworks, task queues and serverless handlers.

Each module here serves one framework and imports it only when the module itself is
imported, so no framework is a dependency of the notifier. They all do the same three
things: open a scope per request or task (so that every report made inside, by any
path, carries its request, person, route and log records), report what escapes through
the framework's own hook, and leave the rest (delivery, scrubbing, reporting an
exception once) to the notifier.
"""

from __future__ import annotations

import importlib
from types import TracebackType
from typing import Any, Mapping, Optional

from ..event import Level, ReportFields
from ..notifier import Notifier


def require(module: str, integration: str, package: str) -> Any:
    """Import ``module`` for ``rollbar_notifier.integrations.<integration>``, saying which
    package to install when it is missing (an error inside the framework is raised as is)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is None or not (module == exc.name or module.startswith(exc.name + ".")):
            raise
        raise ImportError(f"rollbar_notifier.integrations.{integration} needs {package}, "
                          f"which is not installed: pip install {package}") from exc


def report(notifier: Optional[Notifier], exc: BaseException,
           tb: Optional[TracebackType] = None, *, level: Optional[Level] = None,
           context: Optional[str] = None, framework: Optional[str] = None,
           extra: Optional[Mapping[str, Any]] = None,
           request: Optional[Mapping[str, Any]] = None,
           person: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """Report ``exc`` (with its own traceback unless ``tb`` is given) and the given
    :class:`~rollbar_notifier.event.ReportFields`; the current scope fills in the rest."""
    if notifier is None:
        return None
    return notifier.report(ReportFields(
        exception=(type(exc), exc, tb if tb is not None else exc.__traceback__),
        level=level, context=context, framework=framework, extra=extra, request=request,
        person=person))
