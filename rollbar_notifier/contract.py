"""The Rollbar API contract this project relies on, as constants and two pure rules.

Both sides import it: the notifier, so it never sends a field the server would refuse,
and the devserver, so it checks exactly what the notifier was built to. It depends on
the standard library only, which keeps the devserver free of ``requests``. The prose
behind every value is in ``docs/rollbar-api.md``.
"""

from __future__ import annotations

import hashlib
from typing import Any, Dict, List, Tuple

MAX_BODY_BYTES = 131072
"""The API refuses a request body over 128 KB with 413."""

LEVELS: Tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
"""Rollbar's levels, least severe first."""

SERVER_SCOPE = "post_server_item"
CLIENT_SCOPE = "post_client_item"
READ_SCOPE = "read"
WRITE_SCOPE = "write"
SCOPES: Tuple[str, ...] = (SERVER_SCOPE, CLIENT_SCOPE, READ_SCOPE, WRITE_SCOPE)
CLIENT_PLATFORMS = frozenset({"browser", "android", "ios", "flash", "client"})
"""The only platforms a ``post_client_item`` token may report for."""
TOKEN_HEADER = "X-Rollbar-Access-Token"

BODY_KINDS: Tuple[str, ...] = ("trace", "trace_chain", "message", "crash_report")
"""``data.body`` holds exactly one of these (plus, optionally, ``telemetry``)."""
ITEM_STATUSES: Tuple[str, ...] = ("active", "resolved", "muted")
DEPLOY_STATUSES: Tuple[str, ...] = ("started", "succeeded", "failed", "timed_out")

MAX_TIMESTAMP = 2**37
"""Exclusive bound for times in unix seconds (before the year ~6325): a later or non-finite
value cannot be stored as an SQLite integer nor shown as a date."""
MAX_FINGERPRINT = 40
MAX_TITLE = 255
MAX_CONTEXT = 255
MAX_ENVIRONMENT = 255
MAX_CODE_VERSION = 40
MAX_PERSON_ID = 40
MAX_PERSON_FIELD = 255
MAX_DEPLOY_FIELD = 255
MAX_DEPLOY_COMMENT = 65536
REQUEST_TEXT_FIELDS = frozenset({"url", "method", "query_string", "user_ip"})
REQUEST_OBJECT_FIELDS = frozenset({"headers", "params", "GET", "POST"})


def fingerprint(value: str) -> str:
    """A fingerprint over 40 characters is replaced by its SHA-1 hex digest."""
    return value if len(value) <= MAX_FINGERPRINT else digest(value)


def digest(text: str) -> str:
    """The SHA-1 hex digest of ``text``: 40 characters, so always a valid fingerprint."""
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()


def body_traces(body: Any) -> List[Dict[str, Any]]:
    """The traces of an item body: the reported exception's first, then its causes.

    Empty for messages and crash reports. The one reading of ``trace`` versus
    ``trace_chain``, tolerant of a body a ``before_send`` hook reshaped, so the notifier's
    truncation and the devserver's grouping and page agree on what a trace is.
    """
    if not isinstance(body, dict):
        return []
    traces = [body["trace"]] if body.get("trace") else body.get("trace_chain")
    if not isinstance(traces, list):
        return []
    return [trace for trace in traces if isinstance(trace, dict)]
