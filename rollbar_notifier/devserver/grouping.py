"""How occurrences become items: fingerprint, title and default level.

Rollbar groups occurrences server-side; ``docs/rollbar-api.md`` fixes the rule used when
the sender gives no fingerprint, so that retried or repeated errors land in one item.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Mapping

from .. import contract

_DIGITS = re.compile(r"\d+")


def fingerprint(data: Mapping[str, Any]) -> str:
    """The grouping key of a validated `data` object (≤40 characters).

    A sent fingerprint follows the notifier's rule; a derived key is always hashed, even
    when short, so derived keys stay stable across versions of the stored database.
    """
    given = data.get("fingerprint")
    if isinstance(given, str) and given:
        return contract.fingerprint(given)
    return hashlib.sha1(_derived_key(data["body"]).encode("utf-8")).hexdigest()


def title(data: Mapping[str, Any]) -> str:
    """The item title: the sender's, else a one-line summary of the body."""
    given = data.get("title")
    if isinstance(given, str) and given:
        return given[:contract.MAX_TITLE]
    body = data["body"]
    chain = contract.body_traces(body)
    if chain:
        exception = chain[0].get("exception") or {}
        name = str(exception.get("class") or "Exception")
        message = exception.get("message")
        summary = f"{name}: {message}" if message else name
    else:
        summary = _text(body)
    lines = summary.strip().splitlines()
    return (lines[0] if lines else "(empty)")[:contract.MAX_TITLE]


def level(data: Mapping[str, Any]) -> str:
    """The API's default: `error` for exceptions and crashes, `info` for messages."""
    given = data.get("level")
    if isinstance(given, str):
        return given
    return "info" if data["body"].get("message") else "error"


def _derived_key(body: Mapping[str, Any]) -> str:
    chain = contract.body_traces(body)
    if not chain:
        return "message\n" + _DIGITS.sub("#", _text(body))
    exception = chain[0].get("exception") or {}
    frames = chain[0].get("frames") or []
    innermost = frames[-1] if frames else {}
    parts = (exception.get("class"), innermost.get("filename"), innermost.get("method"))
    return "trace\n" + "\n".join(str(part or "") for part in parts)


def _text(body: Mapping[str, Any]) -> str:
    if body.get("message"):
        return str(body["message"].get("body", ""))
    return str((body.get("crash_report") or {}).get("raw", ""))
