"""Encode a payload and make it fit the server's body limit, cutting the least useful first.

Sizes are measured on the exact UTF-8 bytes that will be sent. Each step of the ladder
runs only while the body is still too large, and the last step builds a minimal item
that always fits and still names the exception class, its message and the innermost
frames. What was cut is recorded in ``data.notifier.diagnostic`` so nobody is misled.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Dict, List, Optional, Tuple

from .bounded import PAYLOAD_LIMITS, safe_str, snapshot
from .contract import MAX_BODY_BYTES, body_traces

log = logging.getLogger(__name__)

Payload = Dict[str, Any]

FRAMES_KEPT: Tuple[Tuple[int, int], ...] = ((10, 40), (2, 10))
"""(outermost, innermost) frames kept per trace by the successive frame steps."""
STRING_CAPS: Tuple[int, ...] = (1024, 256, 64)
CONTAINER_CAPS: Dict[int, int] = {1024: 50, 256: 20, 64: 5}
"""Items kept per list or object at each string cap: wide data shrinks with long data."""
MINIMAL_SHAPES: Tuple[Tuple[int, int, int], ...] = (
    (10, 1024, 255), (3, 255, 255), (1, 60, 60), (1, 16, 16))
"""(innermost frames, string cap, cap for class, filename and method) tried in turn for
the minimal item. The last one fits ``MIN_BODY_BYTES`` whatever the strings hold."""
_KEEP_WHOLE = frozenset({"environment", "uuid", "level", "class", "filename", "method"})
"""Strings that identify the item; the string steps leave them for the minimal step."""
_IDENTITY = ("uuid", "level", "timestamp", "language")
"""Short by nature and needed whole (the uuid deduplicates retries): cut only if absurd."""
_DESCRIPTIVE = ("platform", "framework", "code_version", "context", "fingerprint", "title")
_USER_DATA = frozenset({"locals", "custom", "request", "person", "telemetry", "argv", "client"})
"""Where the program's own data lives: only there may the string steps drop items."""


def encode(payload: Any) -> bytes:
    """The exact bytes sent: compact UTF-8 JSON, valid even for lone surrogates or NaN."""
    try:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = json.dumps(snapshot(payload, PAYLOAD_LIMITS), ensure_ascii=False,
                          separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8", "replace")


def fit(payload: Payload, limit: int = MAX_BODY_BYTES) -> bytes:
    """Return the encoded payload, shrunk by the ladder until it is at most ``limit`` bytes."""
    body = encode(payload)
    if len(body) <= limit:
        return body
    original = len(body)
    work: Payload = json.loads(body)
    steps: List[str] = []
    for name, step in _LADDER:
        step(work)
        steps.append(name)
        body = _with_diagnostic(work, original, steps)
        if len(body) <= limit:
            return body
    for frames, cap, ident_cap in MINIMAL_SHAPES:
        body = _with_diagnostic(_minimal(work, frames, cap, ident_cap), original,
                                [*steps, "minimal"])
        if len(body) <= limit:
            break
    log.debug("rollbar_notifier truncated an item from %d to %d bytes", original, len(body))
    return body


def _with_diagnostic(work: Payload, original: int, steps: List[str]) -> bytes:
    data = work.setdefault("data", {})
    notifier = data.get("notifier")
    if not isinstance(notifier, dict):
        notifier = data["notifier"] = {}
    diagnostic = notifier.get("diagnostic")
    if not isinstance(diagnostic, dict):
        diagnostic = notifier["diagnostic"] = {}
    diagnostic["truncated"] = {"original_bytes": original, "steps": list(steps)}
    return encode(work)


def _frames_step(head: int, tail: int) -> Callable[[Payload], None]:
    def step(work: Payload) -> None:
        for trace in _traces(work):
            frames = trace.get("frames")
            if isinstance(frames, list) and len(frames) > head + tail:
                omitted = len(frames) - head - tail
                del frames[head:len(frames) - tail]
                previous = trace.get("omitted_frames")
                trace["omitted_frames"] = omitted + (previous if isinstance(previous, int) else 0)
    return step


def _traces(work: Payload) -> List[Dict[str, Any]]:
    data = work.get("data")
    return body_traces(data.get("body") if isinstance(data, dict) else None)


def _frames(work: Payload) -> List[List[Dict[str, Any]]]:
    """Every trace's frames that are objects: a before_send hook may have sent anything."""
    return [[f for f in trace.get("frames", ()) if isinstance(f, dict)]
            if isinstance(trace.get("frames"), list) else [] for trace in _traces(work)]


def _drop_outer_locals(work: Payload) -> None:
    for index, frames in enumerate(_frames(work)):
        keep = frames[-1] if index == 0 and frames else None
        for frame in frames:
            if frame is not keep:
                frame.pop("locals", None)


def _drop_all_locals(work: Payload) -> None:
    for frames in _frames(work):
        for frame in frames:
            frame.pop("locals", None)


def _strings_step(cap: int) -> Callable[[Payload], None]:
    items = CONTAINER_CAPS[cap]

    def shrink(value: Any, key: Optional[str], user: bool) -> Any:
        user = user or key in _USER_DATA
        if isinstance(value, str):
            return value if key in _KEEP_WHOLE or len(value) <= cap else value[:cap] + "..."
        if isinstance(value, dict):
            kept = list(value.items())[:items] if user else value.items()
            return {k: shrink(v, k, user) for k, v in kept}
        if isinstance(value, list):
            return [shrink(v, None, user) for v in (value[:items] if user else value)]
        return value

    def step(work: Payload) -> None:
        work["data"] = shrink(work.get("data", {}), None, False)
    return step


def _drop_context(work: Payload) -> None:
    for frames in _frames(work):
        for frame in frames:
            frame.pop("context", None)


def _drop_extras(work: Payload) -> None:
    data = work.get("data", {})
    body = data.get("body", {})
    if isinstance(body, dict):
        body.pop("telemetry", None)
    for key in ("request", "custom", "person", "client"):
        data.pop(key, None)


_LADDER: Tuple[Tuple[str, Callable[[Payload], None]], ...] = (
    *((f"frames_{head}_{tail}", _frames_step(head, tail)) for head, tail in FRAMES_KEPT),
    ("locals_outer", _drop_outer_locals),
    ("locals_all", _drop_all_locals),
    *((f"strings_{cap}", _strings_step(cap)) for cap in STRING_CAPS),
    ("context_lines", _drop_context),
    ("request_custom_telemetry", _drop_extras),
)


def _minimal(work: Payload, max_frames: int, cap: int, ident_cap: int) -> Payload:
    """The smallest useful item: identity, exception class and message, innermost frames.

    The environment is never cut: it decides where the item is filed, and the config
    already bounds it to 255 characters.
    """
    data = _dict(work.get("data"))
    minimal: Dict[str, Any] = {"environment": _cut(data.get("environment", "unknown"), 255)}
    minimal.update((k, _cut(data[k], 64)) for k in _IDENTITY if data.get(k) is not None)
    minimal.update((k, _cut(data[k], cap)) for k in _DESCRIPTIVE if data.get(k) is not None)
    notifier = _dict(data.get("notifier"))
    minimal["notifier"] = {k: _cut(notifier[k], cap) for k in ("name", "version") if k in notifier}
    minimal["body"] = _minimal_body(data.get("body"), max_frames, cap, ident_cap)
    return {"data": minimal}


def _minimal_body(body: Any, max_frames: int, cap: int, ident_cap: int) -> Dict[str, Any]:
    body = _dict(body)
    trace = body.get("trace")
    chain = _list(body.get("trace_chain"))
    if trace is None and chain:
        trace = chain[0]
    if isinstance(trace, dict):
        exception = _dict(trace.get("exception"))
        frames = _list(trace.get("frames"))
        return {"trace": {
            "frames": [_minimal_frame(frame, ident_cap) for frame in frames[-max_frames:]],
            "exception": {"class": _cut(exception.get("class", "Exception"), ident_cap),
                          "message": _cut(exception.get("message", ""), cap)},
        }}
    return {"message": {"body": _cut(_dict(body.get("message")).get("body", ""), cap)}}


def _minimal_frame(frame: Any, cap: int) -> Dict[str, Any]:
    frame = _dict(frame)
    result = {"filename": _cut(frame.get("filename", "<unknown>"), cap),
              "method": _cut(frame.get("method", "?"), cap)}
    if isinstance(frame.get("lineno"), int):
        result["lineno"] = frame["lineno"]
    return result


def _cut(value: Any, cap: int) -> Any:
    if isinstance(value, (int, float, bool)):
        return value
    text = safe_str(value)
    return text if len(text) <= cap else text[:cap] + "..."


def _dict(value: Any) -> Dict[str, Any]:
    """``value`` if it is an object, else an empty one: the payload may be reshaped."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> List[Any]:
    return value if isinstance(value, list) else []
