"""The same exception object is reported once per notifier, whichever paths see it: the
first report wins and later ones add nothing (items on a DevServer)."""

from __future__ import annotations

import dataclasses
import logging
import pickle
import subprocess
import sys

from delivered import WAIT, delivered, notifier_for

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.handler import RollbarHandler


def test_logger_exception_then_the_excepthook_gives_one_item(devserver: DevServer) -> None:
    code = f"""
import logging, rollbar_notifier
rollbar_notifier.init(access_token={devserver.tokens['post_server_item']!r},
                      endpoint={devserver.api_url!r}, environment="test")
logging.getLogger().addHandler(rollbar_notifier.RollbarHandler())

def pay():
    try:
        raise ValueError("card declined")
    except ValueError:
        logging.getLogger("shop").exception("payment failed")
        raise

pay()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    assert "ValueError: card declined" in done.stderr, "the previous excepthook still runs"
    (occurrence,) = devserver.wait_for_occurrences(1, WAIT)
    assert len(devserver.occurrences()) == 1
    trace = occurrence["data"]["body"]["trace"]
    assert trace["exception"] == {"class": "ValueError", "message": "card declined",
                                  "description": "payment failed"}
    assert occurrence["data"]["level"] == "error", "the first report (the log record) won"


def test_the_first_report_wins_per_notifier(devserver: DevServer) -> None:
    with notifier_for(devserver) as first, notifier_for(devserver) as second:
        logger = logging.getLogger("exactly_once")
        logger.propagate = False
        handler = RollbarHandler(notifier=first)
        logger.addHandler(handler)
        try:
            try:
                raise KeyError("sku")
            except KeyError as exc:
                logger.exception("lookup failed")
                caught = exc
        finally:
            logger.removeHandler(handler)
            logger.propagate = True
        assert first.report_exception(caught, level="critical") is None
        assert first.report_exception(caught) is None
        other = second.report_exception(caught)
        assert other is not None, "another notifier reports it once too"
        assert second.report_exception(caught) is None
        items = delivered(first, devserver, 2)
        assert second.flush(WAIT)
    assert sorted(d["level"] for d in items.values()) == ["error", "error"]
    assert items[other]["body"]["trace"]["exception"]["class"] == "KeyError"


@dataclasses.dataclass(frozen=True)
class Declined(Exception):
    """An exception whose attributes cannot be set: the note still is."""

    code: int


def test_frozen_exceptions_are_reported_once_and_copies_from_pickles_again(
        devserver: DevServer) -> None:
    with notifier_for(devserver) as notifier:
        frozen = Declined(51)
        assert notifier.report_exception(frozen) is not None
        assert notifier.report_exception(frozen) is None
        plain = ValueError("sent from another process")
        assert notifier.report_exception(plain) is not None
        copied = pickle.loads(pickle.dumps(plain))
        assert notifier.report_exception(copied) is not None, "a copy is another exception"
        delivered(notifier, devserver, 3)
