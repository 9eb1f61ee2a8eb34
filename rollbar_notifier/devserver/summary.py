"""The few fields of an occurrence that lists, filters and the feed show, taken once at
ingestion and stored in columns.

Lists never decode stored payloads: one payload can be 128 KB of JSON and several times
that as Python objects, so a page of 400 occurrences would cost the server hundreds of MB.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from ..contract import body_traces

MAX_MESSAGE = 1024
"""Characters of the message kept for search: enough to find it, bounded per item."""
MAX_COLUMN = 255


def summarize(data: Any) -> Dict[str, Optional[str]]:
    """`location`, `code_version`, `host`, `framework` and `message` of a `data` object.

    Tolerates any shape, because it also reads databases written by older versions or
    by other tools.
    """
    if not isinstance(data, dict):
        data = {}
    server = data.get("server")
    return {
        "location": location(data.get("body")),
        "code_version": _text(data.get("code_version")),
        "host": _text(server.get("host")) if isinstance(server, dict) else None,
        "framework": _text(data.get("framework")),
        "message": message(data.get("body")),
    }


def location(body: Any) -> Optional[str]:
    """`file:line in function` of the innermost frame of the reported exception."""
    chain = body_traces(body)
    frames = chain[0].get("frames") if chain else None
    if not isinstance(frames, list) or not frames or not isinstance(frames[-1], dict):
        return None
    frame: Mapping[str, Any] = frames[-1]
    where = str(frame.get("filename") or "?")
    if isinstance(frame.get("lineno"), int):
        where += f":{frame['lineno']}"
    method = frame.get("method")
    if method:
        where += f" in {method}"
    return where[:MAX_COLUMN]


def message(body: Any) -> Optional[str]:
    """What search matches besides the title: the exception message or the message text."""
    if not isinstance(body, dict):
        return None
    chain = body_traces(body)
    if chain:
        exception = chain[0].get("exception")
        text = exception.get("message") if isinstance(exception, dict) else None
    elif isinstance(body.get("message"), dict):
        text = body["message"].get("body")
    else:
        report = body.get("crash_report")
        text = report.get("raw") if isinstance(report, dict) else None
    return text[:MAX_MESSAGE] if isinstance(text, str) else None


def _text(value: Any) -> Optional[str]:
    return value[:MAX_COLUMN] if isinstance(value, str) and value else None
