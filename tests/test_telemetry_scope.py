"""Telemetry by scope: an item carries the records of its own request (nested blocks and
threads started in it included) and those logged outside every scope, never another
request's; and every active notifier collects, with or without a ``RollbarHandler``."""

from __future__ import annotations

import contextvars
import subprocess
import sys
import threading
from typing import Iterator, List, Optional

import pytest
from delivered import APP_LOG, WAIT, delivered, notifier_for, telemetry_messages

from rollbar_notifier import scope
from rollbar_notifier.devserver import DevServer
from rollbar_notifier.notifier import Notifier
from rollbar_notifier.scope import current_scope

RING = 50
"""The default ``telemetry_size``: the records kept per ring."""


@pytest.fixture
def notifier(devserver: DevServer) -> Iterator[Notifier]:
    with notifier_for(devserver) as made:
        yield made


def test_records_of_nested_blocks_and_of_threads_started_in_the_request_go_with_it(
        notifier: Notifier, devserver: DevServer) -> None:
    seen: List[Optional[object]] = []

    def worker(text: str) -> None:
        seen.append(current_scope().person)
        APP_LOG.info(text)

    with scope(person={"id": "ann"}):
        APP_LOG.info("request started")
        with scope(extra={"step": "load"}):
            APP_LOG.info("in the load step")
        with scope(extra={"step": "save"}):
            copied = threading.Thread(target=contextvars.copy_context().run,
                                      args=(worker, "from a copied-context thread"))
            plain = threading.Thread(target=worker, args=("from a plain thread",))
            for thread in (copied, plain):
                thread.start()
                thread.join(WAIT)
            uuid = notifier.report_message("save failed", level="error")
    (item,) = delivered(notifier, devserver, 1).values()
    assert telemetry_messages(item)[-4:] == [
        "request started", "in the load step", "from a copied-context thread",
        "from a plain thread"]
    assert seen == [{"id": "ann"}, None], "a plain thread starts outside every scope"
    assert item["uuid"] == uuid


def test_each_event_has_milliseconds_and_the_logger_and_the_size_is_kept(
        devserver: DevServer) -> None:
    with notifier_for(devserver, telemetry_size=3) as notifier:
        with scope(context="job"):
            for n in range(5):
                APP_LOG.info("step %d", n)
            notifier.report_message("job failed")
        (item,) = delivered(notifier, devserver, 1).values()
    events = item["body"]["telemetry"]
    assert [e["body"]["message"] for e in events] == ["step 2", "step 3", "step 4"]
    assert all(e["body"]["logger"] == APP_LOG.name for e in events)
    assert all(isinstance(e["timestamp_ms"], int) and e["timestamp_ms"] > 10**12
               for e in events)
    assert [e["timestamp_ms"] for e in events] == sorted(e["timestamp_ms"] for e in events)


def test_a_request_keeps_its_early_records_while_another_logs_many(
        notifier: Notifier, devserver: DevServer) -> None:
    """Each outermost block keeps its own ring: one shared ring would hold only the last
    ``telemetry_size`` records of the whole process."""
    ready, done = threading.Event(), threading.Event()

    def busy() -> None:
        with scope(person={"id": "busy"}):
            ready.wait(WAIT)
            for n in range(RING + 10):
                APP_LOG.info("busy %d", n)
            done.set()

    thread = threading.Thread(target=busy)
    thread.start()
    with scope(person={"id": "quiet"}):
        APP_LOG.info("quiet request started")
        ready.set()
        done.wait(WAIT)
        uuid = notifier.report_message("quiet request failed")
    thread.join(WAIT)
    messages = telemetry_messages(delivered(notifier, devserver, 1)[uuid])
    assert messages[-1] == "quiet request started"
    assert not [m for m in messages if m.startswith("busy")]


def test_init_alone_sends_telemetry_without_a_handler(devserver: DevServer) -> None:
    """In a fresh process, so no handler or earlier test has attached the collector."""
    code = f"""
import logging, rollbar_notifier
log = logging.getLogger("shop")
log.setLevel(logging.INFO)
log.info("before init: not collected")
notifier = rollbar_notifier.init(access_token={devserver.tokens['post_server_item']!r},
                                 endpoint={devserver.api_url!r}, install_hooks=False)
log.info("cart loaded")
with rollbar_notifier.scope(person={{"id": 1}}):
    log.warning("payment slow")
    print(notifier.report_message("checkout failed"))
rollbar_notifier.close()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    (occurrence,) = devserver.wait_for_occurrences(1, WAIT)
    data = occurrence["data"]
    assert data["uuid"] == done.stdout.strip()
    assert [(e["body"]["logger"], e["body"]["message"], e["level"])
            for e in data["body"]["telemetry"]] == [("shop", "cart loaded", "info"),
                                                    ("shop", "payment slow", "warning")]
