"""``import rollbar_notifier.compat as rollbar``: pyrollbar's common calls deliver items of
the same shape as the native API (on a DevServer)."""

from __future__ import annotations

import logging
from typing import Any, Iterator, Optional

import pytest
from delivered import delivered

import rollbar_notifier.compat as rollbar
from rollbar_notifier import default
from rollbar_notifier.compat.logger import RollbarHandler
from rollbar_notifier.devserver import DevServer
from rollbar_notifier.notifier import Notifier, get_notifier


@pytest.fixture
def initialized(devserver: DevServer) -> Iterator[Notifier]:
    """``rollbar.init`` as a pyrollbar program calls it; the default notifier closed after."""
    rollbar.init(devserver.tokens["post_server_item"], environment="test",
                 endpoint=devserver.api_url, install_hooks=False)
    notifier = get_notifier()
    assert notifier is not None
    yield notifier
    default.close(timeout=1)


def shape(value: Any) -> Any:
    """The keys of nested objects, and the kind of everything else (and of locals, which
    differ between two reports made one line apart)."""
    if isinstance(value, dict):
        return {key: "locals" if key == "locals" else shape(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


def fail() -> None:
    raise ValueError("card declined")


def test_exceptions_and_messages_have_the_native_shape(initialized: Notifier,
                                                       devserver: DevServer) -> None:
    try:
        fail()
    except ValueError as exc:
        ours = rollbar.report_exc_info(extra_data={"order": 7},
                                       payload_data={"level": "warning", "context": "pay"})
        native = initialized.report_exception(ValueError(*exc.args).with_traceback(
            exc.__traceback__), extra={"order": 7}, level="warning", context="pay")
    message = rollbar.report_message("cache cold", extra_data={"hits": 0})
    native_message = initialized.report_message("cache cold", extra={"hits": 0},
                                                level="error")
    assert rollbar.wait(lambda: "done") == "done"
    items = delivered(initialized, devserver, 4)
    assert shape(items[ours]) == shape(items[native])
    assert shape(items[message]) == shape(items[native_message])
    assert (items[ours]["level"], items[ours]["context"], items[ours]["custom"]["order"]) == (
        "warning", "pay", 7)
    assert (items[message]["level"], items[message]["custom"]["hits"]) == ("error", 0)


def test_payload_data_and_request_map_to_native_fields(initialized: Notifier,
                                                       devserver: DevServer,
                                                       caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    request = {"url": "http://shop.test/pay", "method": "POST"}
    with caplog.at_level(logging.WARNING, logger="rollbar_notifier"):
        uuid = rollbar.report_message(
            "declined", "warning", request, "not a dict",
            {"fingerprint": "pay", "title": "Declined", "person": {"id": 5},
             "custom": {"order": 7}, "server": {"host": "x"}})
        left_out = rollbar.report_message("environ", request={"wsgi.version": (1, 0)})
    data = delivered(initialized, devserver, 2)
    item = data[uuid]
    assert (item["level"], item["title"], item["person"], item["request"]) == (
        "warning", "Declined", {"id": "5"}, request)
    assert (item["custom"]["value"], item["custom"]["order"]) == ("not a dict", 7)
    assert "request" not in data[left_out]
    warnings = " ".join(record.getMessage() for record in caplog.records)
    assert "payload_data keys without a counterpart are left out: server" in warnings
    assert "a dict is left out" in warnings


def test_init_is_once_and_translates_options(devserver: DevServer,
                                             caplog: pytest.LogCaptureFixture) -> None:
    class Expected(Exception):
        pass

    with caplog.at_level(logging.WARNING, logger="rollbar_notifier"):
        rollbar.init(devserver.tokens["post_server_item"], "staging", endpoint=devserver.api_url,
                     handler="blocking", verify_https=False, locals={"enabled": False},
                     exception_level_filters=[(Expected, "ignored"), (KeyError, "warning")],
                     allow_logging_basic_config=False, agent_option=1, install_hooks=False)
        try:
            notifier: Optional[Notifier] = get_notifier()
            assert notifier is not None
            config = notifier.config
            assert (config.environment, config.mode, config.verify_tls,
                    config.capture_locals, config.ignore) == (
                "staging", "blocking", False, False, (Expected,))
            rollbar.init("another-token-123", "production")
            assert get_notifier() is notifier and notifier.config.environment == "staging"
            assert rollbar.report_exc_info((Expected, Expected(), None)) is None
        finally:
            default.close(timeout=1)
    warnings = [record.getMessage() for record in caplog.records]
    assert any("KeyError" in text and "agent_option" in text for text in warnings), warnings
    assert any("already initialized" in text for text in warnings)


def test_the_logging_handler_takes_pyrollbars_arguments(devserver: DevServer) -> None:
    handler = RollbarHandler(devserver.tokens["post_server_item"], "test",
                             endpoint=devserver.api_url, install_hooks=False)
    logger = logging.getLogger("compat.app")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        logger.debug("below pyrollbar's default INFO level")
        logger.info("reported, as pyrollbar reports INFO by default")
        notifier = get_notifier()
        assert notifier is not None
        (data,) = delivered(notifier, devserver, 1).values()
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
        default.close(timeout=1)
    assert data["body"]["message"]["body"] == "reported, as pyrollbar reports INFO by default"
    assert data["environment"] == "test" and data["level"] == "info"


def test_without_init_nothing_is_reported_and_nothing_raises() -> None:
    assert get_notifier() is None
    assert rollbar.report_message("lost") is None
    assert rollbar.wait() is None
