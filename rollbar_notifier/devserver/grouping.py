"""How occurrences become items: fingerprint, title and default level.

Rollbar groups occurrences server-side; SPEC.md's decision fixes the rule used when
the sender gives no fingerprint, so that retried or repeated errors land in one item.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Mapping, Optional

from .. import payload

MAX_TITLE = 255
_DIGITS = re.compile(r"\d+")


def fingerprint(data: Mapping[str, Any]) -> str:
    """The grouping key of a validated `data` object (≤40 characters).

    A sent fingerprint follows the notifier's rule; a derived key is always hashed, even
    when short, so derived keys stay stable across versions of the stored database.
    """
    given = data.get("fingerprint")
    if isinstance(given, str) and given:
        return payload.fingerprint(given)
    return hashlib.sha1(_derived_key(data["body"]).encode("utf-8")).hexdigest()


def title(data: Mapping[str, Any]) -> str:
    """The item title: the sender's, else a one-line summary of the body."""
    given = data.get("title")
    if isinstance(given, str) and given:
        return given[:MAX_TITLE]
    body = data["body"]
    trace = first_trace(body)
    if trace is not None:
        exception = trace.get("exception") or {}
        name = str(exception.get("class") or "Exception")
        message = exception.get("message")
        summary = f"{name}: {message}" if message else name
    else:
        summary = _text(body)
    lines = summary.strip().splitlines()
    return (lines[0] if lines else "(empty)")[:MAX_TITLE]


def level(data: Mapping[str, Any]) -> str:
    """SPEC.md's default: `error` for exceptions and crashes, `info` for messages."""
    given = data.get("level")
    if isinstance(given, str):
        return given
    return "info" if data["body"].get("message") else "error"


def first_trace(body: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    """The reported exception's trace (the head of a chain), or None for messages."""
    if body.get("trace"):
        trace: Mapping[str, Any] = body["trace"]
        return trace
    chain = body.get("trace_chain")
    if chain:
        head: Mapping[str, Any] = chain[0]
        return head
    return None


def _derived_key(body: Mapping[str, Any]) -> str:
    trace = first_trace(body)
    if trace is None:
        return "message\n" + _DIGITS.sub("#", _text(body))
    exception = trace.get("exception") or {}
    frames = trace.get("frames") or []
    innermost = frames[-1] if frames else {}
    parts = (exception.get("class"), innermost.get("filename"), innermost.get("method"))
    return "trace\n" + "\n".join(str(part or "") for part in parts)


def _text(body: Mapping[str, Any]) -> str:
    if body.get("message"):
        return str(body["message"].get("body", ""))
    return str((body.get("crash_report") or {}).get("raw", ""))
