"""Odd arguments and slow objects cost a field, or some time, never the item.

Each case goes through a real Notifier to the devserver: the item arrives, the bad
field is dropped or replaced, and ``data.notifier.diagnostic`` says so.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest
from delivered import delivered, notifier_for

from rollbar_notifier.bounded import OUT_OF_TIME
from rollbar_notifier.capture import CAPTURE_SECONDS, MAX_TIMESTAMP
from rollbar_notifier.devserver import DevServer
from rollbar_notifier.notifier import Notifier


@pytest.fixture
def notifiers(devserver: DevServer) -> Iterator[Callable[..., Notifier]]:
    made: List[Notifier] = []

    def make(**options: Any) -> Notifier:
        notifier = notifier_for(devserver, **options)
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        notifier.close(timeout=1)


def diagnostic(data: Dict[str, Any]) -> Dict[str, Any]:
    result: Dict[str, Any] = data["notifier"].get("diagnostic", {})
    return result


class LenRaises(dict):
    def __len__(self) -> int:
        raise RuntimeError("no len")


class Unreadable(LenRaises):
    def items(self) -> Any:
        raise RuntimeError("no items")

    def __iter__(self) -> Any:
        raise RuntimeError("no iteration")


class HostileLevel:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    def __hash__(self) -> int:
        raise RuntimeError("no hash")

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_an_extra_whose_len_raises_is_kept_and_one_that_cannot_be_read_is_noted(
        notifiers: Callable[..., Notifier], devserver: DevServer) -> None:
    notifier = notifiers()
    kept = notifier.report_message("len raises", extra=LenRaises(order=7))
    dropped = notifier.report_message("unreadable", extra=Unreadable(order=8))
    items = delivered(notifier, devserver, 2)
    assert items[str(kept)]["custom"]["order"] == 7
    assert "order" not in items[str(dropped)]["custom"]
    assert "extra" in diagnostic(items[str(dropped)])["arguments"]


@pytest.mark.parametrize("timestamp", [math.nan, math.inf, -math.inf, 10**15, MAX_TIMESTAMP,
                                       -5, 10**400, "yesterday"])
def test_a_timestamp_that_is_no_unix_time_becomes_the_capture_time(
        notifiers: Callable[..., Notifier], devserver: DevServer, timestamp: Any) -> None:
    notifier = notifiers()
    before = int(time.time())
    uuid = notifier.report_message("odd time", timestamp=timestamp)
    data = delivered(notifier, devserver, 1)[str(uuid)]
    assert before <= data["timestamp"] <= time.time() + 1
    assert "timestamp" in diagnostic(data)["arguments"]


def test_a_good_timestamp_is_kept_without_a_note(notifiers: Callable[..., Notifier],
                                                 devserver: DevServer) -> None:
    notifier = notifiers()
    uuid = notifier.report_message("earlier", timestamp=1_600_000_000.7)
    data = delivered(notifier, devserver, 1)[str(uuid)]
    assert data["timestamp"] == 1_600_000_000
    assert "arguments" not in diagnostic(data)


def test_a_hostile_level_is_replaced_by_the_default(notifiers: Callable[..., Notifier],
                                                    devserver: DevServer) -> None:
    notifier = notifiers()
    message = notifier.report_message("hostile level", level=HostileLevel())
    try:
        raise ValueError("with a hostile level")
    except ValueError:
        exception = notifier.report_exception(level=HostileLevel())
    items = delivered(notifier, devserver, 2)
    assert items[str(message)]["level"] == "info"
    assert items[str(exception)]["level"] == "error"
    assert "level" in diagnostic(items[str(exception)])["arguments"]


@pytest.mark.parametrize("result", [{"data": "x"}, {"data": {"body": {}}}, "x", ["data"],
                                    {"nothing": 1}])
def test_a_before_send_result_of_the_wrong_shape_sends_the_item_unchanged(
        notifiers: Callable[..., Notifier], devserver: DevServer, result: Any) -> None:
    notifier = notifiers(before_send=lambda payload: result)
    uuid = notifier.report_message("shaped wrong", extra={"kept": True})
    data = delivered(notifier, devserver, 1)[str(uuid)]
    assert data["body"]["message"]["body"] == "shaped wrong"
    assert data["custom"]["kept"] is True
    assert "unchanged" in diagnostic(data)["before_send"]
    assert notifier.stats()["dropped"] == {}


def test_a_before_send_that_raises_is_noted(notifiers: Callable[..., Notifier],
                                            devserver: DevServer) -> None:
    def hook(payload: Dict[str, Any]) -> Dict[str, Any]:
        raise KeyError("bug in the hook")

    notifier = notifiers(before_send=hook)
    uuid = notifier.report_message("hook raised")
    data = delivered(notifier, devserver, 1)[str(uuid)]
    assert "KeyError" in diagnostic(data)["before_send"]


class Slow:
    """An object whose repr takes ``seconds`` (a lazy ORM object, a remote proxy)."""

    calls = 0

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __repr__(self) -> str:
        Slow.calls += 1
        time.sleep(self.seconds)
        return "<Slow>"


def hold(shared: Slow, other: Slow, another: Slow) -> None:
    first = second = third = shared  # noqa: F841 - four locals holding one slow object
    raise ValueError("slow locals")


def test_a_slow_repr_is_paid_once_and_capture_stops_copying_after_its_budget(
        notifiers: Callable[..., Notifier], devserver: DevServer) -> None:
    """Before: every reference paid the repr, 4 x 0.6 s here, plus 1.2 s for the others."""
    notifier = notifiers()
    shared, other, another = Slow(0.6), Slow(0.6), Slow(0.6)
    Slow.calls = 0
    try:
        hold(shared, other, another)
    except ValueError:
        started = time.monotonic()
        uuid = notifier.report_exception(extra={"shared": shared})
        took = time.monotonic() - started
    assert took < 0.6 + CAPTURE_SECONDS + 0.4, f"report_exception took {took:.1f} s"
    assert Slow.calls <= 2
    data = delivered(notifier, devserver, 1)[str(uuid)]
    assert data["custom"]["shared"] == "<Slow>"
    frame = data["body"]["trace"]["frames"][-1]
    values = [frame["locals"][name] for name in ("shared", "other", "another", "first")]
    assert OUT_OF_TIME in values and values[0] == values[3] == "<Slow>"
    assert "capture" in diagnostic(data)
