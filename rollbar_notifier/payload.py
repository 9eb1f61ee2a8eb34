"""Build the Rollbar item (``{"data": {...}}``) from an :class:`Event` and the config.

Runs off the caller's thread: this is where source lines are read and where the API's
length rules (``docs/rollbar-api.md``) are applied, so that the server never rejects a
field we chose to send.
"""

from __future__ import annotations

import json
import linecache
import logging
import os
import sys
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import parse_qsl

from ._version import __version__
from .bounded import safe_str
from .config import Config
from .contract import (
    MAX_CONTEXT,
    MAX_ENVIRONMENT,
    MAX_PERSON_FIELD,
    MAX_PERSON_ID,
    MAX_TITLE,
    REQUEST_OBJECT_FIELDS,
    REQUEST_TEXT_FIELDS,
    digest,
    fingerprint,
)
from .event import LOCATION_KEYS, Event, Frame, Trace

NOTIFIER_NAME = "rollbar_notifier"
CONTEXT_LINES = 3
MAX_SOURCE_LINE = 500

log = logging.getLogger(__name__)


FrameShape = Callable[[Frame], Dict[str, Any]]
"""A frame as the item shows it."""
Events = Callable[[Event], List[Dict[str, Any]]]
"""The telemetry events of an item."""


def build_payload(event: Event, config: Config, frame: Optional[FrameShape] = None,
                  telemetry: Optional[Events] = None) -> Dict[str, Any]:
    """Return the complete item for ``event``; every optional field present only when set.

    ``frame`` and ``telemetry`` (default: made now) let the item builder hand in parts
    it made once, already scrubbed, for many items.
    """
    data: Dict[str, Any] = {
        "environment": config.environment[:MAX_ENVIRONMENT],
        "level": event.level,
        "timestamp": event.timestamp,
        "uuid": event.uuid,
        "language": "python",
        "platform": config.platform,
        "body": _body(event, frame or frame_dict, telemetry or telemetry_events),
        "server": _server(config),
        "notifier": {"name": NOTIFIER_NAME, "version": __version__},
        "custom": {"thread": event.thread, **(event.extra or {}),
                   **(dict(zip(LOCATION_KEYS, event.location)) if event.location else {})},
    }
    optional = {
        "framework": event.framework or config.framework,
        "code_version": config.code_version,
        "context": event.context[:MAX_CONTEXT] if event.context else None,
        "request": _request(event.request) if event.request else None,
        "person": _person(event.person) if event.person else None,
        "fingerprint": (fingerprint(event.fingerprint) if event.fingerprint
                        else digest(event.group) if event.group else None),
        "title": event.title[:MAX_TITLE] if event.title else None,
    }
    data.update((key, value) for key, value in optional.items() if value is not None)
    return {"data": data}


def _person(person: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """``id`` is required (a string of at most 40 characters); ``username`` and ``email``
    at most 255 (``docs/rollbar-api.md``)."""
    if person.get("id") in (None, ""):
        log.warning("rollbar_notifier: a person without an 'id' is not sent")
        return None
    result = dict(person, id=safe_str(person["id"], MAX_PERSON_ID)[:MAX_PERSON_ID])
    for key in ("username", "email"):
        if result.get(key) is not None:
            result[key] = safe_str(result[key], MAX_PERSON_FIELD)[:MAX_PERSON_FIELD]
    return result


def _request(request: Dict[str, Any]) -> Dict[str, Any]:
    """Give each API request field its type, so the server does not reject the item.

    Frameworks hand over headers as lists of pairs and query strings as text; those
    become objects. A value that cannot be made into its type is left out.
    """
    result: Dict[str, Any] = {}
    for key, value in request.items():
        if value is None:
            continue
        if key in REQUEST_TEXT_FIELDS:
            result[key] = value if isinstance(value, str) else safe_str(value)
        elif key in REQUEST_OBJECT_FIELDS:
            shaped = _as_object(value)
            if shaped is None:
                log.warning("rollbar_notifier: request.%s must be a mapping; it is left out",
                            key)
            else:
                result[key] = shaped
        elif key == "body" and not isinstance(value, str):
            result[key] = json.dumps(value, ensure_ascii=False, default=safe_str)
        else:
            result[key] = value
    return result


def _as_object(value: Any) -> Optional[Dict[str, Any]]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        return dict(parse_qsl(value.lstrip("?"), keep_blank_values=True))
    if isinstance(value, list) and all(
            isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
            for pair in value):
        return {name: item for name, item in value}
    return None


def _body(event: Event, frame: FrameShape, telemetry: Events) -> Dict[str, Any]:
    body: Dict[str, Any]
    if not event.traces:
        body = {"message": {"body": event.message or ""}}
    elif len(event.traces) == 1:
        body = {"trace": _trace(event.traces[0], event.description, frame)}
    else:
        body = {"trace_chain": [
            _trace(trace, event.description if index == 0 else None, frame)
            for index, trace in enumerate(event.traces)
        ]}
    events = telemetry(event)
    if events:
        body["telemetry"] = events
    return body


def telemetry_events(event: Event) -> List[Dict[str, Any]]:
    """Lazy telemetry is built here, on the sender thread; a failure costs only it."""
    if not callable(event.telemetry):
        return event.telemetry or []
    try:
        return event.telemetry()
    except Exception:
        log.debug("rollbar_notifier: building telemetry failed", exc_info=True)
        return []


def _trace(trace: Trace, description: Optional[str], shape: FrameShape) -> Dict[str, Any]:
    exception: Dict[str, Any] = {"class": trace.class_name, "message": trace.message}
    if description:
        exception["description"] = description
    result: Dict[str, Any] = {"frames": list(map(shape, trace.frames)),
                              "exception": exception}
    if trace.omitted_frames:
        result["omitted_frames"] = trace.omitted_frames
    return result


def frame_dict(frame: Frame, with_locals: bool = True) -> Dict[str, Any]:
    """A frame, its source lines read now; without its locals, what every item passing
    through the same line shows of it."""
    result: Dict[str, Any] = {"filename": frame.filename, "lineno": frame.lineno,
                              "method": frame.method}
    if frame.class_name:
        result["class_name"] = frame.class_name
    result.update(source_lines(frame.filename, frame.lineno))
    if frame.argspec:
        result["argspec"] = frame.argspec
    if frame.varargspec:
        result["varargspec"] = frame.varargspec
    if frame.keywordspec:
        result["keywordspec"] = frame.keywordspec
    if with_locals and frame.locals is not None:
        result["locals"] = frame.locals
    return result


def source_lines(filename: str, lineno: Optional[int]) -> Dict[str, Any]:
    """The frame's line and its neighbours, from linecache (primed lazily at capture)."""
    lines = _lines(filename, lineno)
    if lines is None or lineno is None:
        return {}

    def clean(line: str) -> str:
        return line.rstrip("\r\n")[:MAX_SOURCE_LINE]

    start = max(lineno - 1 - CONTEXT_LINES, 0)
    return {
        "code": clean(lines[lineno - 1]),
        "context": {
            "pre": [clean(line) for line in lines[start:lineno - 1]],
            "post": [clean(line) for line in lines[lineno:lineno + CONTEXT_LINES]],
        },
    }


FRAME_OVERHEAD = 40
"""Encoded bytes of a frame besides its strings: keys, quotes, the line number."""
MAX_FRAME_BYTES_AT_LEAST = FRAME_OVERHEAD + 512 + 255 + (2 * CONTEXT_LINES + 1) * MAX_SOURCE_LINE
"""The most :func:`frame_bytes_at_least` can say (capture bounds the names)."""


def frame_bytes_at_least(frame: Frame) -> int:
    """Fewer bytes than the frame will encode to, without building it: its names and its
    source lines' characters (escaping only adds), but not its locals."""
    total = FRAME_OVERHEAD + len(frame.filename) + len(frame.method)
    lineno = frame.lineno
    lines = _lines(frame.filename, lineno)
    if lines is not None and lineno is not None:
        start = max(lineno - 1 - CONTEXT_LINES, 0)
        for line in lines[start:lineno + CONTEXT_LINES]:
            total += max(min(len(line) - 2, MAX_SOURCE_LINE), 0)  # "\r\n" at most
    return total


def _lines(filename: str, lineno: Optional[int]) -> Optional[List[str]]:
    """The file's lines if ``lineno`` is one of them."""
    if not lineno:
        return None
    try:
        lines = linecache.getlines(filename)
    except Exception:
        return None
    return lines if 0 < lineno <= len(lines) else None


def _server(config: Config) -> Dict[str, Any]:
    server: Dict[str, Any] = {
        "host": config.host,
        "root": config.root,
        "pid": os.getpid(),
        "argv": list(sys.argv),
        "python": sys.version.split()[0],
    }
    if config.branch:
        server["branch"] = config.branch
    if config.code_version:
        server["code_version"] = config.code_version
    return server
