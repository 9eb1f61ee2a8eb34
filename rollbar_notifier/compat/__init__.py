"""pyrollbar's most used calls, on this notifier: ``import rollbar_notifier.compat as rollbar``.

So a program moves over by changing an import, then its calls one at a time. The items
are the native ones (same shape, scrubbing, telemetry, delivery): ``extra_data`` goes to
``data.custom`` (for messages too), and of ``payload_data`` the keys with a native
counterpart are used (``level``, ``fingerprint``, ``title``, ``context``, ``person``,
``request``, ``custom``); others are left out with a warning. ``request`` must be a
mapping in the Rollbar shape: framework request objects are the integrations' business.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping as AbcMapping
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

from ..config import Config
from ..default import init as native_init
from ..default import report_exception
from ..default import report_message as native_report_message
from ..event import ExceptionArg, Level
from ..notifier import get_notifier

log = logging.getLogger(__name__)

T = TypeVar("T")

MODES = {"blocking": "blocking", "thread": "thread", "default": "thread", "async": "thread",
         "httpx": "thread"}
"""pyrollbar ``handler`` values and the mode that serves them; others fall back to threads."""
RENAMED = {"verify_https": "verify_tls"}
SILENT = frozenset({"allow_logging_basic_config", "suppress_reinit_warning", "url_fields",
                    "notifier", "agent.log_file", "shortener_keys"})
"""pyrollbar options without a counterpart whose absence changes nothing users rely on."""
PAYLOAD_FIELDS = ("level", "fingerprint", "title", "context", "person", "request")


def init(access_token: Optional[str] = None, environment: str = "production",
         scrub_fields: Optional[Any] = None, **options: Any) -> None:
    """Configure the default notifier, once: as in pyrollbar, later calls are ignored."""
    if get_notifier() is not None:
        if not options.get("suppress_reinit_warning"):
            log.warning("rollbar_notifier.compat: already initialized; init() ignored")
        return
    native = translate(options)
    if access_token is not None:
        native["access_token"] = access_token
    if scrub_fields is not None:
        native["scrub_fields"] = scrub_fields
    native_init(environment=environment, **native)


def translate(options: Dict[str, Any]) -> Dict[str, Any]:
    """pyrollbar options as notifier options; those without a counterpart are named in a
    warning and left out, so a migration never stops at an option."""
    known = {field.name for field in dataclasses.fields(Config)}
    native: Dict[str, Any] = {}
    dropped: List[str] = []
    for name, value in options.items():
        if name == "handler":
            native["mode"] = MODES.get(value, "thread")
            if value not in MODES:
                dropped.append(f"handler={value!r}")
        elif name == "locals" and isinstance(value, AbcMapping):
            if "enabled" in value:
                native["capture_locals"] = value["enabled"]
        elif name == "exception_level_filters":
            native["ignore"], unsupported = _ignored_classes(value)
            dropped.extend(unsupported)
        elif RENAMED.get(name, name) in known:
            native[RENAMED.get(name, name)] = value
        elif name not in SILENT:
            dropped.append(name)
    if dropped:
        log.warning("rollbar_notifier.compat: pyrollbar options without a counterpart are "
                    "ignored: %s", ", ".join(dropped))
    return native


def _ignored_classes(filters: Any) -> Tuple[Tuple[type, ...], List[str]]:
    """The classes of pyrollbar's ``(class, "ignored")`` filters; other levels have no
    counterpart, nor have classes named by a string."""
    ignored: List[type] = []
    unsupported: List[str] = []
    for entry in filters or ():
        cls, level = entry if isinstance(entry, tuple) and len(entry) == 2 else (None, None)
        if level == "ignored" and isinstance(cls, type) and issubclass(cls, BaseException):
            ignored.append(cls)
        else:
            unsupported.append(f"exception_level_filters entry {entry!r}")
    return tuple(ignored), unsupported


def report_exc_info(exc_info: ExceptionArg = None, request: Any = None, extra_data: Any = None,
                    payload_data: Optional[Dict[str, Any]] = None, level: Optional[Level] = None,
                    **kw: Any) -> Optional[str]:
    """Report the exception being handled (or ``exc_info``); the item's uuid or ``None``.
    ``kw`` is accepted and unused, as in pyrollbar."""
    return report_exception(exc_info, **_arguments(request, extra_data, payload_data, level))


def report_message(message: Any, level: Level = "error", request: Any = None,
                   extra_data: Any = None,
                   payload_data: Optional[Dict[str, Any]] = None) -> Optional[str]:
    """Report a message, at ``error`` unless told (as pyrollbar); the uuid or ``None``."""
    return native_report_message(message,
                                 **_arguments(request, extra_data, payload_data, level))


def wait(f: Optional[Callable[[], T]] = None) -> Optional[T]:
    """Wait (up to ``shutdown_timeout``) until queued items are sent; then ``f()``."""
    notifier = get_notifier()
    if notifier is not None:
        notifier.flush(notifier.config.shutdown_timeout)
    return f() if f is not None else None


def _arguments(request: Any, extra_data: Any, payload_data: Optional[Dict[str, Any]],
               level: Optional[Level]) -> Dict[str, Any]:
    """pyrollbar's arguments as the native report's keyword arguments. Never raises."""
    try:
        data = dict(payload_data or {})
        extra = (dict(extra_data) if isinstance(extra_data, AbcMapping)
                 else None if extra_data is None else {"value": extra_data})
        custom = data.pop("custom", None)
        if isinstance(custom, AbcMapping):
            extra = {**(extra or {}), **custom}
        named = {key: data.pop(key) for key in PAYLOAD_FIELDS if key in data}
        if data:
            log.warning("rollbar_notifier.compat: payload_data keys without a counterpart "
                        "are left out: %s", ", ".join(sorted(map(str, data))))
        named.setdefault("request", _request(request))
        if level is not None:
            named.setdefault("level", level)
        return dict(named, extra=extra)
    except Exception:
        log.warning("rollbar_notifier.compat: could not read the report's arguments",
                    exc_info=True)
        return {}


def _request(request: Any) -> Optional[Any]:
    if request is None:
        return None
    if isinstance(request, AbcMapping) and "wsgi.version" not in request:
        return request
    log.warning("rollbar_notifier.compat: request must be a mapping in the Rollbar shape "
                "(url, method, headers, ...); a %s is left out (the integrations read "
                "framework requests)", type(request).__name__)
    return None
