"""Encode a payload and make it fit the server's body limit, cutting the least useful first.

Sizes are measured on the exact UTF-8 bytes that will be sent. Each step of the ladder
runs only while the body is still too large, and the last step builds a minimal item
that always fits and still names the exception class, its message and the innermost
frames. What was cut is recorded in ``data.notifier.diagnostic`` so nobody is misled.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple

from .bounded import PAYLOAD_LIMITS, safe_str, snapshot
from .contract import MAX_BODY_BYTES, body_traces
from .event import Event
from .payload import MAX_FRAME_BYTES_AT_LEAST, frame_bytes_at_least
from .scrub import Scrubbed

log = logging.getLogger(__name__)

Payload = Dict[str, Any]
Step = Callable[[Payload], int]
"""One rung of the ladder: cuts ``work`` in place; about how many bytes that saved (0:
nothing cut). The estimate errs high, by a few bytes per cut, so the ladder may encode
once more than needed but never cuts more than needed."""

FRAMES_KEPT: Tuple[Tuple[int, int, int], ...] = ((10, 40, 10), (2, 10, 2))
"""By the successive frame steps: (outermost, innermost) frames kept in the first trace,
and innermost frames kept in every later trace of a chain (up to 19 more traces)."""

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
        text = _dumps(payload)
    except (TypeError, ValueError, RecursionError):
        text = _dumps(snapshot(payload, PAYLOAD_LIMITS))
    return text.encode("utf-8", "replace")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


_STAND_IN = f"rollbar_notifier telemetry {uuid.uuid4()}"
"""Stands where the telemetry goes while the rest is encoded: no item can hold it."""


def encode_sharing(payload: Payload) -> bytes:
    """:func:`encode`, but each telemetry event is encoded once for all the items that
    carry it: in a service's items the same recent log records are most of the bytes.
    Shared events are never edited (a ``before_send`` hook works on a copy of its own)."""
    data = payload.get("data")
    body = data.get("body") if isinstance(data, dict) else None
    events = body.get("telemetry") if isinstance(body, dict) else None
    if not isinstance(body, dict) or type(events) is not list or not events or \
            not all(type(event) is Scrubbed for event in events):
        return encode(payload)
    body["telemetry"] = _STAND_IN
    try:
        text = _dumps(payload)
    except (TypeError, ValueError, RecursionError):
        text = ""
    finally:
        body["telemetry"] = events
    stand_in = f'"{_STAND_IN}"'
    if text.count(stand_in) != 1:
        return encode(payload)
    return text.replace(stand_in, f"[{','.join(map(_encoded_once, events))}]").encode(
        "utf-8", "replace")


def _encoded_once(event: Scrubbed) -> str:
    if event.encoded is None:
        event.encoded = _dumps(event)
    return event.encoded


@dataclasses.dataclass(frozen=True)
class Precut:
    """What :func:`precut` took from an event before its item was built."""

    steps: Tuple[str, ...] = ()
    bytes: int = 0
    """An estimate of what the cut frames would have added to the encoded item."""


def precut(event: Event, limit: int) -> Tuple[Event, Precut]:
    """Cut the frames of an event whose frames alone would make its item over ``limit``,
    before anything is built, scrubbed or encoded; as the ladder's first step would cut
    them (an item over the limit always takes that step), so the item reads the same.
    Everything else capture bounds well below the limit: only frames (up to
    :data:`~.traces.MAX_CHAIN_FRAMES` of a chain, each with seven source lines) can make
    an item many times too large. The event itself is left as it is: a 413 rebuilds
    from it.
    """
    frames = [frame for trace in event.traces for frame in trace.frames]
    if len(frames) * MAX_FRAME_BYTES_AT_LEAST <= limit:
        return event, Precut()
    estimate = counted = 0
    while estimate <= limit:
        if counted == len(frames):
            return event, Precut()
        estimate += frame_bytes_at_least(frames[counted])
        counted += 1
    head, tail, chained = FRAMES_KEPT[0]
    traces = []
    removed = 0
    for index, trace in enumerate(event.traces):
        keep_head, keep_tail = (head, tail) if index == 0 else (0, chained)
        kept = trace.frames
        if len(kept) > keep_head + keep_tail:
            kept = kept[:keep_head] + kept[len(kept) - keep_tail:]
        removed += len(trace.frames) - len(kept)
        traces.append(dataclasses.replace(
            trace, frames=kept,
            omitted_frames=trace.omitted_frames + len(trace.frames) - len(kept)))
    return (dataclasses.replace(event, traces=traces),
            Precut((_frames_step_name(head, tail),), removed * estimate // counted))


def fit(payload: Payload, limit: int = MAX_BODY_BYTES, cut: Precut = Precut()) -> bytes:
    """Return the encoded payload, shrunk by the ladder until it is at most ``limit`` bytes.

    The ladder edits ``payload`` itself (a caller that needs it unchanged passes a copy):
    parsing the encoded item back to get a copy to cut cost more than encoding it. A
    shared part (:class:`~.scrub.Scrubbed`) is never edited, only left out or rebuilt.
    The whole item is encoded again only when the steps' own count of what they cut
    says it may fit: encoding a large item after every step made its fit cost many
    times one encoding. A step that found nothing to cut is not recorded; what
    :func:`precut` cut is recorded first.
    """
    body = encode_sharing(payload)
    if len(body) <= limit and not cut.steps:
        return body
    original = len(body) + cut.bytes
    size = len(body)
    work = payload
    steps: List[str] = list(cut.steps)
    if size <= limit:
        body = _with_diagnostic(work, original, steps)
        if len(body) <= limit:
            return body
    for name, step in _LADDER:
        saved = step(work)
        if not saved:
            continue
        steps.append(name)
        size -= saved
        if size <= limit:
            body = _with_diagnostic(work, original, steps)
            size = len(body)
            if size <= limit:
                return body
    for frames, cap, ident_cap in MINIMAL_SHAPES:
        body = _with_diagnostic(_minimal(work, frames, cap, ident_cap), original,
                                [*steps, "minimal"])
        if len(body) <= limit:
            break
    log.debug("rollbar_notifier truncated an item from %d to %d bytes", original, len(body))
    return body


def add_diagnostic(payload: Payload, key: str, value: Any) -> None:
    """Set ``data.notifier.diagnostic[key]``, making the objects on the way if needed."""
    data = payload.get("data")
    if not isinstance(data, dict):
        data = payload["data"] = {}
    notifier = data.get("notifier")
    if not isinstance(notifier, dict):
        notifier = data["notifier"] = {}
    diagnostic = notifier.get("diagnostic")
    if not isinstance(diagnostic, dict):
        diagnostic = notifier["diagnostic"] = {}
    diagnostic[key] = value


def _with_diagnostic(work: Payload, original: int, steps: List[str]) -> bytes:
    add_diagnostic(work, "truncated", {"original_bytes": original, "steps": list(steps)})
    return encode(work)


def _frames_step(head: int, tail: int, chained: int) -> Step:
    def step(work: Payload) -> int:
        saved = 0
        for index, trace in enumerate(_traces(work)):
            frames = trace.get("frames")
            keep_head, keep_tail = (head, tail) if index == 0 else (0, chained)
            if isinstance(frames, list) and len(frames) > keep_head + keep_tail:
                cut = slice(keep_head, len(frames) - keep_tail)
                saved += len(encode(frames[cut]))
                omitted = cut.stop - cut.start
                del frames[cut]
                previous = trace.get("omitted_frames")
                trace["omitted_frames"] = omitted + (previous if isinstance(previous, int) else 0)
        return saved
    return step


def _traces(work: Payload) -> List[Dict[str, Any]]:
    data = work.get("data")
    return body_traces(data.get("body") if isinstance(data, dict) else None)


def _frames(work: Payload) -> List[List[Dict[str, Any]]]:
    """Every trace's frames that are objects: a before_send hook may have sent anything."""
    return [[f for f in trace.get("frames", ()) if isinstance(f, dict)]
            if isinstance(trace.get("frames"), list) else [] for trace in _traces(work)]


def _drop_from_frames(key: str, keep_innermost: bool) -> Step:
    """Remove ``key`` from every frame (but the one that raised, if ``keep_innermost``)."""
    def step(work: Payload) -> int:
        saved = 0
        for index, frames in enumerate(_frames(work)):
            keep = frames[-1] if keep_innermost and index == 0 and frames else None
            for frame in frames:
                if frame is not keep and key in frame:
                    saved += len(encode({key: frame.pop(key)}))
        return saved
    return step


def _strings_step(cap: int) -> Step:
    items = CONTAINER_CAPS[cap]

    def step(work: Payload) -> int:
        saved = 0

        def shrink(value: Any, key: Optional[str], user: bool) -> Any:
            nonlocal saved
            user = user or key in _USER_DATA
            if isinstance(value, str):
                if key in _KEEP_WHOLE or len(value) <= cap:
                    return value
                cut = value[:cap] + "..."
                saved += len(encode(value)) - len(encode(cut))
                return cut
            if isinstance(value, dict):
                pairs = list(value.items())
                if user and len(pairs) > items:
                    saved += len(encode(dict(pairs[items:])))
                    pairs = pairs[:items]
                return {k: shrink(v, k, user) for k, v in pairs}
            if isinstance(value, list):
                if user and len(value) > items:
                    saved += len(encode(value[items:]))
                    value = value[:items]
                return [shrink(v, None, user) for v in value]
            return value

        work["data"] = shrink(work.get("data", {}), None, False)
        return saved
    return step


def _drop_extras(work: Payload) -> int:
    data = work.get("data", {})
    body = data.get("body", {})
    places = [(body, "telemetry")] if isinstance(body, dict) else []
    places += [(data, key) for key in ("request", "custom", "person", "client")]
    return sum(len(encode({key: place.pop(key)})) for place, key in places if key in place)


def _frames_step_name(head: int, tail: int) -> str:
    return f"frames_{head}_{tail}"


_LADDER: Tuple[Tuple[str, Step], ...] = (
    *((_frames_step_name(head, tail), _frames_step(head, tail, chained))
      for head, tail, chained in FRAMES_KEPT),
    ("locals_outer", _drop_from_frames("locals", keep_innermost=True)),
    ("locals_all", _drop_from_frames("locals", keep_innermost=False)),
    *((f"strings_{cap}", _strings_step(cap)) for cap in STRING_CAPS),
    ("context_lines", _drop_from_frames("context", keep_innermost=False)),
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
