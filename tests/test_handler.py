"""RollbarHandler driven through logging as a user configures it, against a DevServer."""

from __future__ import annotations

import logging
import logging.config
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.handler import RollbarHandler
from rollbar_notifier.notifier import Notifier

WAIT = 10.0


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger at DEBUG; its handlers and level restored (and ours closed) after."""
    logger = logging.getLogger()
    handlers, level = logger.handlers[:], logger.level
    logger.setLevel(logging.DEBUG)
    yield logger
    for handler in logger.handlers[:]:
        if handler not in handlers:
            logger.removeHandler(handler)
            handler.close()
    logger.handlers[:] = handlers
    logger.setLevel(level)


@pytest.fixture
def make_handler(devserver: DevServer, root: logging.Logger
                 ) -> Iterator[Callable[..., RollbarHandler]]:
    """Handlers with their own notifier on ``devserver``, added to the root logger."""
    made: List[RollbarHandler] = []

    def make(**options: Any) -> RollbarHandler:
        options.setdefault("access_token", devserver.tokens["post_server_item"])
        options.setdefault("endpoint", devserver.api_url)
        options.setdefault("environment", "test")
        handler = RollbarHandler(**options)
        root.addHandler(handler)
        made.append(handler)
        return handler

    yield make
    for handler in made:
        root.removeHandler(handler)
        handler.close()


def settle(handler: logging.Handler, devserver: DevServer, count: int) -> List[Dict[str, Any]]:
    """Flush, then the stored item data, after checking no extra item trails behind."""
    handler.flush()
    notifier = handler.notifier
    assert notifier is not None and notifier.flush(0), "an item is still on its way"
    occurrences = devserver.wait_for_occurrences(count, WAIT)
    assert len(occurrences) == count, [o["data"]["body"] for o in occurrences]
    return [o["data"] for o in occurrences]


def test_dictconfig_handler_reports_messages_and_exceptions(devserver: DevServer,
                                                            root: logging.Logger) -> None:
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"rollbar": {
            "class": "rollbar_notifier.handler.RollbarHandler", "level": "ERROR",
            "access_token": devserver.tokens["post_server_item"],
            "endpoint": devserver.api_url, "environment": "staging",
        }},
        "root": {"handlers": ["rollbar"], "level": "INFO"},
    })
    (handler,) = root.handlers
    assert isinstance(handler, RollbarHandler)
    log = logging.getLogger("shop.orders")
    log.info("order %s received", 17)
    log.warning("below the handler's level")
    log.error("payment for order %s failed", 17, extra={"order_id": 17, "amount": 9.5})
    try:
        {}["sku"]
    except KeyError:
        log.exception("lookup of %s failed", "sku")

    message, trace = sorted(settle(handler, devserver, 2), key=lambda d: "trace" in d["body"])
    assert message["environment"] == "staging"
    assert message["level"] == "error"
    assert message["body"]["message"]["body"] == "payment for order 17 failed"
    assert message["context"] == "shop.orders"
    assert message["custom"]["order_id"] == 17 and message["custom"]["amount"] == 9.5
    assert message["custom"]["funcName"].startswith("test_dictconfig_handler_reports")
    assert {"module", "lineno", "thread", "process"} <= set(message["custom"])
    telemetry = [e["body"]["message"] for e in message["body"]["telemetry"]]
    # Telemetry is process-wide: records of earlier tests may come before these two.
    assert telemetry[-2:] == ["order 17 received", "below the handler's level"]

    assert trace["level"] == "error"
    exception = trace["body"]["trace"]["exception"]
    assert exception == {"class": "KeyError", "message": "'sku'",
                         "description": "lookup of sku failed"}
    assert trace["body"]["trace"]["frames"][-1]["method"].startswith("test_dictconfig")
    assert "fingerprint" not in trace


def test_fileconfig_takes_options_as_kwargs(devserver: DevServer, root: logging.Logger,
                                            tmp_path: Any) -> None:
    ini = tmp_path / "logging.ini"
    ini.write_text(f"""
[loggers]
keys = root
[handlers]
keys = rollbar
[formatters]
keys =
[logger_root]
level = INFO
handlers = rollbar
[handler_rollbar]
class = rollbar_notifier.handler.RollbarHandler
level = ERROR
args = (ERROR,)
kwargs = {{"access_token": "{devserver.tokens['post_server_item']}",
          "endpoint": "{devserver.api_url}", "environment": "ini"}}
""")
    logging.config.fileConfig(str(ini), disable_existing_loggers=False)
    (handler,) = root.handlers
    logging.getLogger("ini.app").critical("disk full")
    (data,) = settle(handler, devserver, 1)
    assert (data["level"], data["environment"]) == ("critical", "ini")


def test_messages_group_by_template_unless_turned_off(devserver: DevServer,
                                                     make_handler: Callable[..., RollbarHandler]
                                                     ) -> None:
    handler = make_handler()
    log = logging.getLogger("auth")
    for user in ("alice", "bob", "carol"):
        log.error("user %s failed to log in", user)
    settle(handler, devserver, 3)
    (item,) = devserver.items()
    assert item["total_occurrences"] == 3

    handler.fingerprint_messages = False
    for user in ("dave", "erin"):
        log.error("user %s failed to log in", user)
    settle(handler, devserver, 5)
    assert len(devserver.items()) == 3


def test_record_gets_the_item_uuid_and_levels_map(devserver: DevServer,
                                                 make_handler: Callable[..., RollbarHandler]
                                                 ) -> None:
    handler = make_handler(level=logging.DEBUG)
    seen: List[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger = logging.getLogger("levels")
    logger.addHandler(Keep())
    try:
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, 35, logging.ERROR,
                      logging.CRITICAL):
            logger.log(level, "at %d", level)
    finally:
        logger.handlers.clear()
    levels = {d["uuid"]: d["level"] for d in settle(handler, devserver, 6)}
    assert [levels[r.rollbar_uuid] for r in seen] == [  # type: ignore[attr-defined]
        "debug", "info", "warning", "warning", "error", "critical"]


def test_stack_info_adds_a_trace_of_the_call_site(devserver: DevServer,
                                                  make_handler: Callable[..., RollbarHandler]
                                                  ) -> None:
    handler = make_handler()

    def checkout() -> None:
        logging.getLogger("cart").error("stock went negative", stack_info=True)

    checkout()
    (data,) = settle(handler, devserver, 1)
    trace = data["body"]["trace"]
    assert trace["exception"]["description"] == "stock went negative"
    assert [f["method"] for f in trace["frames"][-2:]] == [
        "test_stack_info_adds_a_trace_of_the_call_site", "checkout"]
    assert "stock went negative" in trace["frames"][-1]["code"]


def test_excluded_loggers_and_threads_never_become_items(devserver: DevServer,
                                                         make_handler: Callable[..., RollbarHandler]
                                                         ) -> None:
    handler = make_handler(level=logging.DEBUG)
    excluded = ("rollbar_notifier", "rollbar_notifier.worker", "urllib3.connectionpool",
                "requests", "requests.sessions")
    for name in excluded:
        logging.getLogger(name).error("from %s", name)

    def sender_like() -> None:
        logging.getLogger("app").error("from a notifier thread")

    thread = threading.Thread(target=sender_like, name="rollbar_notifier-sender-99")
    thread.start()
    thread.join(WAIT)
    logging.getLogger("app").info("the only item")
    # While the sender threads deliver it, urllib3 logs at DEBUG and the root is at DEBUG.
    (data,) = settle(handler, devserver, 1)
    assert data["body"]["message"]["body"] == "the only item"
    logging.getLogger("app").info("second")
    _, second = settle(handler, devserver, 2)
    telemetry = [e["body"]["message"] for e in second["body"]["telemetry"]]
    assert telemetry[-1] == "the only item"
    # Telemetry is process-wide: earlier tests' records may be there, this test's not.
    logged_here = {f"from {name}" for name in excluded} | {"from a notifier thread"}
    assert not logged_here & set(telemetry)
    assert not [m for m in telemetry if m.startswith("Starting new")]


def test_excluded_loggers_never_become_items_in_blocking_mode(
        devserver: DevServer, make_handler: Callable[..., RollbarHandler]) -> None:
    """In blocking mode urllib3 logs from the caller's own thread, while it reports."""
    handler = make_handler(level=logging.DEBUG, mode="blocking")
    logging.getLogger("app").info("first")
    logging.getLogger("app").info("second")
    first, second = settle(handler, devserver, 2)
    assert [first["body"]["message"]["body"], second["body"]["message"]["body"]] == [
        "first", "second"]
    telemetry = [e["body"]["message"] for e in second["body"]["telemetry"]]
    assert telemetry[-1] == "first"
    assert not [m for m in telemetry if "HTTP" in m or "connection" in m]


def test_a_record_a_logger_filter_rejects_is_not_in_telemetry(
        devserver: DevServer, make_handler: Callable[..., RollbarHandler]) -> None:
    class Redact(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "password" not in str(record.msg)

    app = logging.getLogger("app.login")
    app.addFilter(Redact())
    try:
        handler = make_handler()
        app.info("login ok for bob password=hunter2")
        app.info("login ok for ann")
        app.error("then it failed")
        (data,) = settle(handler, devserver, 1)
        telemetry = [e["body"]["message"] for e in data["body"]["telemetry"]]
        assert telemetry[-1] == "login ok for ann"
        assert not [m for m in telemetry if "password" in m]
    finally:
        app.filters.clear()


def test_a_disabled_handler_does_not_collect_telemetry() -> None:
    """In a fresh process: the collector is process-wide, other tests attach it."""
    code = ("import logging, rollbar_notifier\n"
            "rollbar_notifier.RollbarHandler(enabled=False).close()\n"
            "print(logging.getLogRecordFactory() is logging.LogRecord)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, "True\n"), done.stderr


def test_extra_fields_of_the_wrong_type_stay_in_custom(
        devserver: DevServer, make_handler: Callable[..., RollbarHandler]) -> None:
    """Django logs ``extra={"request": HttpRequest}``: not a request dict for the item."""

    class HttpRequest:
        def __repr__(self) -> str:
            return "<WSGIRequest: GET '/checkout'>"

    handler = make_handler()
    logging.getLogger("django.request").error("Not Found: %s", "/x", extra={
        "status_code": 404, "request": HttpRequest(), "person": "ann", "context": 7,
        "title": ["not", "a", "title"]})
    (data,) = settle(handler, devserver, 1)
    assert "request" not in data and "person" not in data and "title" not in data
    assert data["context"] == "django.request"
    assert "WSGIRequest" in str(data["custom"]["request"])
    assert {"person", "context", "title", "status_code"} <= set(data["custom"])


def test_telemetry_comes_from_every_thread_and_excludes_the_record(
        devserver: DevServer, make_handler: Callable[..., RollbarHandler]) -> None:
    handler = make_handler(telemetry_level="INFO", telemetry_size=3)
    logging.getLogger("early").info("dropped: the ring keeps three")

    def worker() -> None:
        logging.getLogger("worker").warning("queue is slow")

    logging.getLogger("web").debug("below telemetry_level")
    logging.getLogger("web").info("request started")
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(WAIT)
    logging.getLogger("web").info("request body parsed")
    logging.getLogger("web").error("request failed")
    (data,) = settle(handler, devserver, 1)
    events = data["body"]["telemetry"]
    assert [e["body"]["message"] for e in events] == ["request started", "queue is slow",
                                                      "request body parsed"]
    assert [e["level"] for e in events] == ["info", "warning", "info"]
    assert all(e["type"] == "log" and e["source"] == "server" for e in events)
    assert all(isinstance(e["timestamp_ms"], int) and e["timestamp_ms"] > 10**12
               for e in events)


def test_logging_while_reporting_does_not_recurse(devserver: DevServer,
                                                 make_handler: Callable[..., RollbarHandler]
                                                 ) -> None:
    calls: List[str] = []

    def before_send(payload: Dict[str, Any]) -> Dict[str, Any]:
        calls.append(payload["data"]["uuid"])
        logging.getLogger("app").error("logged from before_send")
        return payload

    handler = make_handler(mode="blocking", before_send=before_send)
    logging.getLogger("app").error("outer")
    (data,) = settle(handler, devserver, 1)
    assert data["body"]["message"]["body"] == "outer"
    assert calls == [data["uuid"]]


def test_a_broken_record_is_still_reported_and_nothing_raises(
        devserver: DevServer, make_handler: Callable[..., RollbarHandler]) -> None:
    handler = make_handler()
    log = logging.getLogger("broken")
    log.propagate = False  # pytest's own capture handler would raise on the bad format
    log.addHandler(handler)

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

        __str__ = __repr__

    try:
        log.error("%d apples", "not a number")
        log.error("hostile extra", extra={"thing": Hostile()})
    finally:
        log.removeHandler(handler)
        log.propagate = True
    stored = {d["body"]["message"]["body"]: d for d in settle(handler, devserver, 2)}
    assert set(stored) == {"%d apples", "hostile extra"}
    assert "Hostile" in stored["hostile extra"]["custom"]["thing"]


def test_a_formatter_renders_the_message_without_the_traceback(
        devserver: DevServer, make_handler: Callable[..., RollbarHandler]) -> None:
    handler = make_handler()
    handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
    try:
        raise ValueError("bad")
    except ValueError:
        logging.getLogger("fmt").exception("while parsing")
    (data,) = settle(handler, devserver, 1)
    assert data["body"]["trace"]["exception"]["description"] == "[fmt] while parsing"


def test_reserved_extra_keys_set_item_fields(devserver: DevServer,
                                             make_handler: Callable[..., RollbarHandler]
                                             ) -> None:
    handler = make_handler()
    logging.getLogger("app").error("checkout failed", extra={
        "context": "checkout#pay", "person": {"id": 42, "username": "ann"},
        "title": "Checkout failed", "fingerprint": "checkout"})
    (data,) = settle(handler, devserver, 1)
    assert data["context"] == "checkout#pay"
    assert data["person"]["id"] == "42"
    assert (data["title"], data["fingerprint"]) == ("Checkout failed", "checkout")
    assert not {"context", "person", "title", "fingerprint"} & set(data["custom"])


def test_default_notifier_is_looked_up_per_record(devserver: DevServer,
                                                  root: logging.Logger) -> None:
    from rollbar_notifier import default as notifier_module

    handler = RollbarHandler()
    root.addHandler(handler)
    logging.getLogger("app").error("before init: dropped")
    notifier_module.init(access_token=devserver.tokens["post_server_item"],
                         endpoint=devserver.api_url, install_hooks=False)
    try:
        logging.getLogger("app").error("after init")
        (data,) = settle(handler, devserver, 1)
        assert data["body"]["message"]["body"] == "after init"
        handler.close()
        assert notifier_module.get_notifier() is not None
    finally:
        notifier_module.close()


def test_explicit_notifier_is_shared_not_closed(devserver: DevServer,
                                               root: logging.Logger) -> None:
    with Notifier(access_token=devserver.tokens["post_server_item"],
                  endpoint=devserver.api_url) as notifier:
        handler = RollbarHandler(logging.WARNING, notifier)
        root.addHandler(handler)
        logging.getLogger("app").warning("shared")
        started = time.monotonic()
        handler.close()
        assert time.monotonic() - started < 1, "close() must not flush a shared notifier"
        assert notifier.report_message("still open") is not None
        notifier.flush(WAIT)
        assert len(devserver.wait_for_occurrences(2, WAIT)) == 2
    with pytest.raises(ValueError, match="not both"):
        RollbarHandler(notifier=notifier, access_token="x")


def test_a_record_handled_on_a_listener_thread_keeps_its_own_thread_and_time(
        devserver: DevServer, make_handler: Callable[..., RollbarHandler],
        root: logging.Logger) -> None:
    import logging.handlers
    import queue

    handler = make_handler()
    root.removeHandler(handler)
    records: queue.Queue[logging.LogRecord] = queue.Queue()
    listener = logging.handlers.QueueListener(records, handler)
    logger = logging.getLogger("test.listener")
    logger.propagate = False
    logger.addHandler(logging.handlers.QueueHandler(records))
    try:
        worker = threading.Thread(target=lambda: logger.error("from %s", "elsewhere"),
                                  name="request-7")
        worker.start()
        worker.join(WAIT)
        record_time = int(records.queue[0].created)
        listener.start()
        listener.stop()
        handler.flush()
        [occurrence] = devserver.wait_for_occurrences(1, WAIT)
    finally:
        logger.handlers.clear()
        logger.propagate = True
    data = occurrence["data"]
    assert data["custom"]["thread"] == "request-7"
    assert data["timestamp"] == record_time


def test_the_context_is_the_extra_one_then_the_scopes_then_the_loggers(
        devserver: DevServer, make_handler: Callable[..., RollbarHandler]) -> None:
    from rollbar_notifier import scope

    handler = make_handler()
    log = logging.getLogger("django.request")
    with scope(context="GET /orders/{id}", framework="django"):
        log.error("in a route")
        log.error("with its own context", extra={"context": "mine"})
    log.error("outside any scope")
    items = {d["body"]["message"]["body"]: d for d in settle(handler, devserver, 3)}
    assert items["in a route"]["context"] == "GET /orders/{id}"
    assert items["in a route"]["framework"] == "django"
    assert items["with its own context"]["context"] == "mine"
    assert items["outside any scope"]["context"] == "django.request"
    assert "framework" not in items["outside any scope"]


def test_a_handler_without_telemetry_sends_none(devserver: DevServer,
                                                make_handler: Callable[..., RollbarHandler]
                                                ) -> None:
    """Its notifier collects anyway (every active notifier does): only its items go
    without."""
    handler = make_handler(telemetry=False)
    logging.getLogger("app").info("collected, not sent")
    logging.getLogger("app").error("failed")
    (data,) = settle(handler, devserver, 1)
    assert "telemetry" not in data["body"]
