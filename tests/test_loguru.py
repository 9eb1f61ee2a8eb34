"""RollbarHandler as a loguru sink: loguru hands it standard LogRecords."""

from __future__ import annotations

from loguru import logger

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.handler import RollbarHandler

WAIT = 10.0


def test_loguru_sink_reports_messages_and_exceptions(devserver: DevServer) -> None:
    handler = RollbarHandler(access_token=devserver.tokens["post_server_item"],
                             endpoint=devserver.api_url, environment="loguru")
    sink = logger.add(handler, format="{message}", level="INFO")
    try:
        logger.info("below the handler's ERROR level: telemetry only")
        logger.bind(order_id=7, context="orders#pay").error("payment {} failed", 7)
        try:
            int("x")
        except ValueError:
            logger.exception("parsing the amount failed")
    finally:
        logger.remove(sink)  # closes the handler, which flushes and closes its notifier
    stored = {o["data"]["level"] + ("-trace" if "trace" in o["data"]["body"] else ""): o["data"]
              for o in devserver.wait_for_occurrences(2, WAIT)}
    assert set(stored) == {"error", "error-trace"}
    message = stored["error"]
    assert message["body"]["message"]["body"] == "payment 7 failed"
    assert (message["context"], message["custom"]["order_id"]) == ("orders#pay", 7)
    assert [e["body"]["message"] for e in message["body"]["telemetry"]][-1] == (
        "below the handler's ERROR level: telemetry only")
    trace = stored["error-trace"]["body"]["trace"]
    assert trace["exception"] == {"class": "ValueError",
                                  "message": "invalid literal for int() with base 10: 'x'",
                                  "description": "parsing the amount failed"}
    assert trace["frames"][-1]["method"] == "test_loguru_sink_reports_messages_and_exceptions"
    assert stored["error-trace"]["context"] == __name__
