"""RollbarHandler under structlog's standard-library integration, both usual set-ups."""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, List

import pytest
import structlog

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.handler import RollbarHandler

WAIT = 10.0


@pytest.fixture
def handler(devserver: DevServer) -> Iterator[RollbarHandler]:
    """Our handler alone on a non-propagating logger tree; structlog reset afterwards."""
    made = RollbarHandler(access_token=devserver.tokens["post_server_item"],
                          endpoint=devserver.api_url, environment="structlog")
    parent = logging.getLogger("svc")
    parent.addHandler(made)
    parent.setLevel(logging.INFO)
    parent.propagate = False
    yield made
    parent.removeHandler(made)
    parent.propagate = True
    parent.setLevel(logging.NOTSET)
    made.close()
    structlog.reset_defaults()


def configure(*processors: structlog.types.Processor) -> None:
    structlog.configure(
        processors=[structlog.stdlib.add_log_level, *processors],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def log_three(name: str) -> None:
    log = structlog.get_logger(name)
    log.info("starting", port=8080)
    for order in (7, 8):
        log.error("payment failed", order=order)
    try:
        round(1 / 0)
    except ZeroDivisionError:
        log.exception("rounding failed", order=9)


def log_and_check(handler: RollbarHandler, devserver: DevServer,
                  name: str) -> List[Dict[str, Any]]:
    log_three(name)
    handler.flush()
    stored = [o["data"] for o in devserver.wait_for_occurrences(3, WAIT)]
    messages = [d for d in stored if "message" in d["body"]]
    (trace,) = [d for d in stored if "trace" in d["body"]]
    assert sorted(d["custom"]["order"] for d in messages) == [7, 8]
    assert all(d["context"] == name and d["level"] == "error" for d in stored)
    assert trace["body"]["trace"]["exception"]["class"] == "ZeroDivisionError"
    assert trace["custom"]["order"] == 9
    assert len(devserver.items()) == 2  # both payment failures group as one item
    return stored


def test_render_to_log_kwargs(handler: RollbarHandler, devserver: DevServer) -> None:
    configure(structlog.stdlib.render_to_log_kwargs)
    stored = log_and_check(handler, devserver, "svc.render")
    bodies = {d["body"].get("message", {}).get("body") for d in stored}
    assert "payment failed" in bodies
    trace = next(d for d in stored if "trace" in d["body"])
    assert trace["body"]["trace"]["exception"]["description"] == "rounding failed"


def test_processor_formatter(handler: RollbarHandler, devserver: DevServer) -> None:
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(processors=[
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.KeyValueRenderer(key_order=["event"]),
    ]))
    configure(structlog.stdlib.ProcessorFormatter.wrap_for_formatter)
    stored = log_and_check(handler, devserver, "svc.formatter")
    bodies = sorted(d["body"]["message"]["body"] for d in stored if "message" in d["body"])
    assert bodies == ["event='payment failed' order=7 level='error'",
                      "event='payment failed' order=8 level='error'"]
    trace = next(d for d in stored if "trace" in d["body"])
    assert trace["body"]["trace"]["exception"]["description"].startswith(
        "event='rounding failed' order=9")
    assert "Traceback" not in trace["body"]["trace"]["exception"]["description"]
    telemetry = [e["body"]["message"] for e in trace["body"]["telemetry"]]
    assert any("starting" in text and "8080" in text for text in telemetry)
