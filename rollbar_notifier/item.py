"""From an :class:`Event` to the bytes to send: payload, scrub, ``before_send``, truncate.

This is the whole off-thread data path in one place, so the worker, blocking mode and
the 413 rebuild all produce items the same way.

Most of an item's scrubbing is of text that comes again in item after item: what a
frame shows but its locals (names, source lines, argument names) and the recent log
records. Each is scrubbed once, by the builder's scrubber, and shared
(:class:`~.scrub.Scrubbed`); only what is new to an item is scrubbed for it. An event
with far too many frames is cut before it is built (:func:`~.truncate.precut`), so that
an item is encoded once in the common case and a fit never encodes much more than twice
the limit.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Optional, Tuple

from .bounded import PAYLOAD_LIMITS, snapshot
from .config import Config
from .contract import BODY_KINDS
from .event import Event, Frame
from .payload import build_payload, frame_dict, telemetry_events
from .scrub import Scrubbed, Scrubber
from .telemetry import Snapshot
from .truncate import Precut, add_diagnostic, encode, fit, precut

log = logging.getLogger(__name__)

MAX_FRAMES_KEPT = 4096
"""Frames (file, line, names) whose scrubbed form the builder keeps; past it, it starts
over. A file edited while the program runs is read anew only then, as ``linecache``
would serve its old lines until checked anyway."""


class ItemBuilder:
    """Builds encoded items for one config; cheap to call from any thread."""

    def __init__(self, config: Config) -> None:
        self.config = config
        secrets = (config.access_token,) if config.access_token else ()
        self.scrubber = Scrubber(config.scrub_fields, secrets, config.scrub_patterns)
        self._frames: Dict[Tuple[Any, ...], Scrubbed] = {}

    def build(self, event: Event, limit: Optional[int] = None) -> Optional[bytes]:
        """The encoded item, or ``None`` when ``before_send`` dropped it. Never raises."""
        limit = limit or self.config.max_body_bytes
        cut = Precut()
        try:
            event, cut = precut(event, limit)
            payload = self._scrub(self.payload(event), event)
        except Exception:
            log.warning("rollbar_notifier could not build an item; sending a minimal one",
                        exc_info=True)
            try:
                payload = self._scrub(self._fallback(event), event)
            except Exception:
                log.warning("rollbar_notifier could not scrub the minimal item either; it is "
                            "not sent", exc_info=True)
                return None
        sent = self._before_send(payload)
        if sent is None:
            return None
        return fit(sent, limit, cut)

    def _scrub(self, payload: Dict[str, Any], event: Event) -> Dict[str, Any]:
        """The item's uuid is the notifier's own, never a secret, and is put back whole: a
        random one can look like a card number, and the server deduplicates by it."""
        scrubbed: Dict[str, Any] = self.scrubber.scrub(payload)
        data = scrubbed.get("data")
        if isinstance(data, dict) and "uuid" in data:
            data["uuid"] = event.uuid
        return scrubbed

    def payload(self, event: Event) -> Dict[str, Any]:
        """The item before scrubbing; its shared parts come scrubbed already."""
        return _noted(build_payload(event, self.config, self._frame, self._telemetry),
                      event.diagnostic)

    def _frame(self, frame: Frame) -> Dict[str, Any]:
        """A frame scrubbed in two parts: what every item passing through its line shows
        (names, source lines, argument names), scrubbed once; and its locals. Each item
        gets a dict of its own: the truncation ladder takes keys out of it."""
        key = (frame.filename, frame.lineno, frame.method, frame.class_name,
               frame.varargspec, frame.keywordspec, *frame.argspec)
        shared = self._frames.get(key)
        if shared is None:
            shared = self.scrubber.scrubbed(frame_dict(frame, with_locals=False))
            if len(self._frames) >= MAX_FRAMES_KEPT:
                self._frames.clear()
            self._frames[key] = shared
        result = Scrubbed(shared, self.scrubber)
        if frame.locals is not None:
            result.update(self.scrubber.scrub({"locals": frame.locals}))
        return result

    def _telemetry(self, event: Event) -> List[Dict[str, Any]]:
        """Collected log records come scrubbed, once each; a list the caller gave is
        scrubbed with the rest of the item."""
        telemetry = event.telemetry
        if not isinstance(telemetry, Snapshot):
            return telemetry_events(event)
        try:
            return telemetry.scrubbed(self.scrubber)
        except Exception:
            log.debug("rollbar_notifier: building telemetry failed", exc_info=True)
            return []

    def _before_send(self, payload: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        hook = self.config.before_send
        if hook is None:
            return payload
        # The hook works on its own copy: if it edits and then raises, nothing it did ships.
        try:
            result = hook(json.loads(encode(payload)))
        except Exception as exc:
            log.warning("rollbar_notifier: before_send raised; sending the item unchanged",
                        exc_info=True)
            return _noted(payload, {"before_send": f"raised {type(exc).__name__}; the item "
                                                   "was sent unchanged"})
        if result is None:
            return None
        sanitized = snapshot(result, PAYLOAD_LIMITS) if isinstance(result, dict) else result
        problem = _shape_problem(sanitized)
        if problem is None:
            accepted: Dict[str, Any] = sanitized
            return accepted
        log.warning("rollbar_notifier: before_send %s; sending the item unchanged", problem)
        return _noted(payload, {"before_send": f"{problem}; the item was sent unchanged"})

    def _fallback(self, event: Event) -> Dict[str, Any]:
        body: Dict[str, Any]
        if event.traces:
            first = event.traces[0]
            body = {"trace": {
                "frames": [{"filename": f.filename, "lineno": f.lineno, "method": f.method}
                           for f in first.frames],
                "exception": {"class": first.class_name, "message": first.message},
            }}
        else:
            body = {"message": {"body": event.message or ""}}
        return {"data": {"environment": self.config.environment, "level": event.level,
                         "timestamp": event.timestamp, "uuid": event.uuid,
                         "language": "python", "platform": self.config.platform, "body": body}}


def _noted(payload: Dict[str, Any], diagnostic: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    for key, value in (diagnostic or {}).items():
        add_diagnostic(payload, key, value)
    return payload


def _shape_problem(result: Any) -> Optional[str]:
    """Why the server would refuse a hook's result whatever its fields hold, if it would."""
    if not isinstance(result, dict):
        return f"returned {type(result).__name__}, not a dict"
    data = result.get("data")
    if not isinstance(data, dict):
        return f"returned a 'data' of type {type(data).__name__}, not an object"
    body = data.get("body")
    if not isinstance(body, dict) or not any(kind in body for kind in BODY_KINDS):
        return f"returned a 'data.body' without any of {', '.join(BODY_KINDS)}"
    return None
