"""The access token cut in two at capture, at every offset and in every place that cuts text,
leaves no piece of it of 4 or more characters in the item."""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import pytest
from reports import capture_exception, capture_message

from rollbar_notifier import telemetry
from rollbar_notifier.bounded import MAX_MESSAGE, MAX_NAME, MAX_STRING
from rollbar_notifier.config import Config
from rollbar_notifier.contract import MAX_PERSON_ID, MAX_TITLE
from rollbar_notifier.devserver import DevServer
from rollbar_notifier.event import Event
from rollbar_notifier.item import ItemBuilder
from rollbar_notifier.notifier import Notifier
from rollbar_notifier.scrub import MIN_FRAGMENT, SCRUBBED

TOKEN = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
"""No four digits in a row, so no cut marker's ``(9000 chars)`` can look like a piece."""
FILL = "z"
TAIL = " tail"
OFFSETS = range(len(TOKEN) + 1)


def pieces(token: str) -> Tuple[str, ...]:
    return tuple(token[i:i + MIN_FRAGMENT] for i in range(len(token) - MIN_FRAGMENT + 1))


def cut_at(limit: int, offset: int) -> str:
    """Text whose first ``limit`` characters end ``offset`` characters into the token."""
    return FILL * (limit - offset) + TOKEN + TAIL


class Wide:
    """An object whose repr is longer than capture keeps, so reprlib cuts out its middle."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


HEAD = (MAX_STRING - 3) // 2
"""Characters of a long repr that reprlib keeps before its ``...``; the rest from the end."""
KEPT_TAIL = MAX_STRING - 3 - HEAD


def raised(text: str) -> BaseException:
    try:
        raise ValueError(text)
    except ValueError as exc:
        return exc


def with_local(value: Any) -> Event:
    def hold(local: Any) -> None:
        raise ValueError("cut")

    try:
        hold(value)
    except ValueError as exc:
        event = capture_exception(exc)
    assert event is not None
    return event


def innermost_local(data: Dict[str, Any]) -> Any:
    return data["body"]["trace"]["frames"][-1]["locals"]["local"]


Place = Tuple[Callable[[int], Optional[Event]], Callable[[Dict[str, Any]], str], str]
PLACES: Dict[str, Place] = {
    "message": (lambda k: capture_message(cut_at(MAX_MESSAGE, k)),
                lambda data: data["body"]["message"]["body"], FILL),
    "exception message": (lambda k: capture_exception(raised(cut_at(MAX_MESSAGE, k))),
                          lambda data: data["body"]["trace"]["exception"]["message"], FILL),
    "description": (lambda k: capture_exception(raised("x"),
                                                description=cut_at(MAX_MESSAGE, k)),
                    lambda data: data["body"]["trace"]["exception"]["description"], FILL),
    "string local": (lambda k: with_local(cut_at(MAX_STRING, k)), innermost_local, FILL),
    "start of a repr": (lambda k: with_local(Wide("<" + cut_at(HEAD - 1, k) + FILL * 900)),
                        innermost_local, "<" + FILL),
    "end of a repr": (lambda k: with_local(Wide("<" + FILL * 900 + TOKEN
                                                + FILL * (KEPT_TAIL - len(TOKEN) + k))),
                      innermost_local, "<" + FILL),
    "title": (lambda k: capture_message("x", title=cut_at(MAX_TITLE, k)),
              lambda data: data["title"], FILL),
    "person id": (lambda k: capture_message("x", person={"id": cut_at(MAX_PERSON_ID, k)}),
                  lambda data: data["person"]["id"], FILL),
    "key": (lambda k: capture_message("x", extra={cut_at(MAX_NAME, k): 1}),
            lambda data: next(key for key in data["custom"] if key.startswith(FILL)), FILL),
}


@pytest.mark.parametrize("place", sorted(PLACES))
def test_a_token_cut_at_any_offset_leaves_no_piece_of_it(place: str) -> None:
    make, find, start = PLACES[place]
    builder = ItemBuilder(Config.from_options({"access_token": TOKEN}, environ={}))
    cut_inside = 0
    for offset in OFFSETS:
        event = make(offset)
        assert event is not None
        text = find(json.loads(builder.build(event) or b"")["data"])
        assert text.startswith(start)
        assert [piece for piece in pieces(TOKEN) if piece in text] == [], (place, offset)
        cut_inside += SCRUBBED in text and TOKEN[:offset] not in text
    assert cut_inside >= len(TOKEN) - 2 * MIN_FRAGMENT


@pytest.fixture
def notifier(devserver: DevServer) -> Iterator[Notifier]:
    notifier = Notifier(access_token=devserver.tokens["post_server_item"],
                        endpoint=devserver.api_url, install_hooks=False)
    yield notifier
    notifier.close(timeout=1)


def test_a_token_cut_in_log_records_leaves_no_piece_of_it_in_telemetry(
        notifier: Notifier, devserver: DevServer) -> None:
    token = devserver.tokens["post_server_item"]
    log = logging.getLogger("tests.scrub_cuts")
    for offset in range(len(token) + 1):
        log.warning("%s", FILL * (telemetry.MAX_MESSAGE - offset) + token + TAIL)
    uuid = notifier.report_message("after the cut records")
    assert notifier.flush(10)
    data = next(o["data"] for o in devserver.occurrences() if o["data"]["uuid"] == uuid)
    messages = [entry["body"]["message"] for entry in data["body"]["telemetry"]
                if entry["body"]["message"].startswith(FILL)]
    assert len(messages) == len(token) + 1
    assert [piece for piece in pieces(token) if any(piece in text for text in messages)] == []
