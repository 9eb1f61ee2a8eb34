"""The feed of stored occurrences that `serve`, `tail` and the page follow live.

Followers are only woken; what is new is always read back from the store after the
last occurrence they saw. So a slow follower costs no memory, one that reconnects
with `Last-Event-ID` misses nothing, and the feed shows exactly what was stored.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable, Dict, Iterator, List

from .messages import Response, Stream
from .store import Store

log = logging.getLogger(__name__)

BATCH = 100
"""Occurrences read from the store per step of a follower."""
RETRY_MS = 1000
"""How soon an EventSource reconnects after the stream ends."""
POLL_SECONDS = 0.5
"""How often an in-process follower checks its stop event while nothing arrives."""

Event = Dict[str, Any]


class Feed:
    """Wakes followers when an occurrence was stored; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakers: List[Callable[[], None]] = []

    def listen(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake()` on every `notify()` until the returned function is called."""
        with self._lock:
            self._wakers.append(wake)

        def remove() -> None:
            with self._lock:
                if wake in self._wakers:
                    self._wakers.remove(wake)
        return remove

    def notify(self) -> None:
        with self._lock:
            wakers = list(self._wakers)
        for wake in wakers:
            try:
                wake()
            except Exception:  # a follower's failure must not fail the post that woke it
                log.exception("could not wake a feed follower")


def follow(store: Store, feed: Feed, stop: threading.Event, after: int) -> Iterator[Event]:
    """Occurrences stored after occurrence `after`, oldest first, as they arrive, until
    `stop` is set; those stored before it was set are all given."""
    woken = threading.Event()
    remove = feed.listen(woken.set)
    try:
        while True:
            woken.clear()
            stopping = stop.is_set()
            events = store.feed(after, BATCH)
            yield from events
            if events:
                after = events[-1]["id"]
            elif stopping:
                return
            else:
                woken.wait(POLL_SECONDS)
    finally:
        remove()


def event_stream(store: Store, feed: Feed, after: int) -> Response:
    """A `text/event-stream` answer: one `occurrence` event per occurrence after `after`,
    its `id` the occurrence id, its data the JSON of `Store.feed`."""
    seen = [after]

    def next_events() -> bytes:
        events = store.feed(seen[0], BATCH)
        if events:
            seen[0] = events[-1]["id"]
        return b"".join(sse(event) for event in events)

    return Response(200, f"retry: {RETRY_MS}\n\n".encode(), "text/event-stream; charset=utf-8",
                    {"Cache-Control": "no-store"}, Stream(next_events, feed.listen))


def sse(event: Event) -> bytes:
    data = json.dumps(event, ensure_ascii=False)  # escapes newlines, so one data line
    return f"id: {event['id']}\nevent: occurrence\ndata: {data}\n\n".encode()
