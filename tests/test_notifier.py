"""The Notifier and the module-level default, against the devserver and a scripted server."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from scripted_server import Recorded, Reply, ScriptedServer

import rollbar_notifier.default as module
from rollbar_notifier.devserver import DevServer
from rollbar_notifier.notifier import Notifier

EXPECTED_KEYS = {"queued", "sent", "retried", "dropped", "spooled"}


@pytest.fixture(scope="module")
def devserver() -> Iterator[DevServer]:
    server = DevServer(port=0).start()
    yield server
    server.stop()


@pytest.fixture
def dev_notifier(devserver: DevServer) -> Iterator[Notifier]:
    notifier = Notifier(access_token=devserver.tokens["post_server_item"],
                        endpoint=devserver.api_url, environment="test")
    yield notifier
    notifier.close(timeout=1)


def fail(text: str) -> None:
    raise ValueError(text)


def test_reports_reach_the_devserver_with_their_uuids(dev_notifier: Notifier,
                                                      devserver: DevServer) -> None:
    before = len(devserver.occurrences())
    try:
        fail("boom")
    except ValueError:
        exc_uuid = dev_notifier.report_exception(extra={"order": 7}, title="t", context="c")
    msg_uuid = dev_notifier.report_message("hello", level="warning", person={"id": 3})
    assert dev_notifier.flush(10)
    stored = {o["data"]["uuid"]: o["data"] for o in devserver.occurrences()[before:]}
    assert set(stored) == {exc_uuid, msg_uuid}
    trace = stored[exc_uuid]["body"]["trace"]
    assert trace["exception"] == {"class": "ValueError", "message": "boom"}
    assert stored[exc_uuid]["custom"]["order"] == 7
    assert stored[msg_uuid]["level"] == "warning"
    assert stored[msg_uuid]["person"]["id"] == "3"
    stats = dev_notifier.stats()
    assert set(stats) == EXPECTED_KEYS and stats["sent"] == 2 and stats["dropped"] == {}
    assert dev_notifier.ping()


def test_deploys_are_delegated(dev_notifier: Notifier, devserver: DevServer) -> None:
    deploy_id = dev_notifier.report_deploy("abc123", comment="from a test", status="started")
    updated = dev_notifier.update_deploy(deploy_id, status="succeeded")
    assert str(updated["id"]) == str(deploy_id) and updated["status"] == "succeeded"
    assert any(d["revision"] == "abc123" for d in devserver.deploys())


def test_ignored_and_missing_exceptions_are_not_reported(make_notifier: Callable[..., Notifier],
                                                         server: ScriptedServer) -> None:
    notifier = make_notifier(ignore=(KeyError,))
    assert notifier.report_exception(KeyError("k")) is None
    assert notifier.report_exception() is None
    assert notifier.report_exception((None, None, None)) is None  # type: ignore[arg-type]
    try:
        fail("handled")
    except ValueError as exc:
        info = (type(exc), exc, exc.__traceback__)
    assert notifier.report_exception(info) is not None
    assert notifier.flush(5) and len(server.requests()) == 1


def test_disabled_or_tokenless_notifiers_send_nothing_and_start_no_threads(
        make_notifier: Callable[..., Notifier], server: ScriptedServer,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROLLBAR_ACCESS_TOKEN", raising=False)
    before = threading.active_count()
    disabled = make_notifier(enabled=False)
    with caplog.at_level(logging.WARNING, logger="rollbar_notifier"):
        tokenless = make_notifier(access_token="")
    assert threading.active_count() == before
    for notifier in (disabled, tokenless):
        assert notifier.report_message("x") is None
        assert notifier.report_exception(ValueError()) is None
        assert notifier.flush(0) is True
    assert [r.getMessage() for r in caplog.records].count(
        "rollbar_notifier: no access_token (option or ROLLBAR_ACCESS_TOKEN); nothing will be "
        "reported") == 1
    assert server.records == []


def test_blocking_mode_is_sent_before_returning(make_notifier: Callable[..., Notifier],
                                                server: ScriptedServer) -> None:
    notifier = make_notifier(mode="blocking")
    uuid = notifier.report_message("now")
    assert server.delivered() == [uuid]
    assert make_notifier(mode="blocking", before_send=lambda p: None).report_message("x") is None


def test_ping_sends_no_token(make_notifier: Callable[..., Notifier],
                             server: ScriptedServer) -> None:
    assert make_notifier().ping() is True
    (request,) = server.records
    assert request.path == "/api/1/status/ping"
    assert "X-Rollbar-Access-Token" not in request.headers


def test_blocking_mode_against_a_dead_server_does_not_block_every_report(
        tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for spool_dir in (None, str(tmp_path)):
        notifier = Notifier(access_token="token", endpoint=f"http://127.0.0.1:{port}/api/1/",
                            mode="blocking", shutdown_timeout=1, install_hooks=False,
                            spool_dir=spool_dir)
        started = time.monotonic()
        uuids = [notifier.report_message(f"down {n}") for n in range(10)]
        elapsed = time.monotonic() - started
        notifier.close()
        assert None not in uuids
        assert elapsed < 3, f"10 blocking reports took {elapsed:.1f} s (spool_dir={spool_dir})"


def test_a_full_queue_returns_none(make_notifier: Callable[..., Notifier],
                                   server: ScriptedServer) -> None:
    server.script(default=Reply(delay=0.3))
    notifier = make_notifier(queue_size=1, senders=1)
    results = [notifier.report_message(f"m{n}") for n in range(10)]
    assert None in results
    assert notifier.stats()["dropped"]["queue_full"] == results.count(None)


def test_close_is_idempotent_and_ping_fails_cleanly(make_notifier: Callable[..., Notifier],
                                                    server: ScriptedServer) -> None:
    notifier = make_notifier()
    notifier.report_message("x")
    notifier.close()
    notifier.close()
    assert notifier.report_message("after close") is None
    server.script(Reply(status=500))
    assert notifier.ping() is False


def test_the_default_notifier(server: ScriptedServer, caplog: pytest.LogCaptureFixture,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    module.close()
    monkeypatch.setattr(module, "_warned_no_default", False)  # said once per process
    with caplog.at_level(logging.WARNING, logger="rollbar_notifier"):
        assert module.report_message("nobody") is None
        assert module.report_exception(ValueError()) is None
    assert "init()" in caplog.text
    assert module.flush() is True
    first = module.init(access_token="t", endpoint=server.api_url, install_hooks=False)
    second = module.init(access_token="t", endpoint=server.api_url, install_hooks=False)
    try:
        assert module.get_notifier() is second
        assert first.report_message("closed") is None
        uuid = module.report_message("hello")
        assert module.flush(5) and server.delivered() == [uuid]
    finally:
        module.close()
    assert module.get_notifier() is None


def test_init_reports_a_deploy_without_stalling(server: ScriptedServer,
                                                caplog: pytest.LogCaptureFixture) -> None:
    server.script(Reply(delay=3))
    with caplog.at_level(logging.WARNING, logger="rollbar_notifier"):
        started = time.monotonic()
        try:
            notifier = module.init(report_deploy=True, access_token="t", endpoint=server.api_url,
                                   install_hooks=False, timeout=0.5, code_version="v1")
            took = time.monotonic() - started
        finally:
            module.close(timeout=0.5)
    assert took < 1.5, "init waited for the 3 s server, not just its 0.5 s timeout"
    assert notifier.config.timeout == 0.5
    assert server.wait_for(lambda: len(server.requests("/api/1/deploy/")) == 1, 2)


def test_a_token_echoed_by_the_server_is_not_logged(make_notifier: Callable[..., Notifier],
                                                    server: ScriptedServer,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    def echo(record: Recorded) -> Reply:
        sent = record.headers.get("X-Rollbar-Access-Token", "")
        return Reply(403, body=json.dumps({"err": 1, "message": f"invalid token {sent}"}
                                          ).encode())

    token = "echoed-token-0123456789abcdef"
    server.handle_with(echo)
    notifier = make_notifier(access_token=token)
    with caplog.at_level(logging.DEBUG, logger="rollbar_notifier"):
        notifier.report_message("refused")
        assert notifier.flush(5)
    assert "the server refused an item (http_403): invalid token ********" in caplog.text
    assert token not in caplog.text
    assert notifier.stats()["dropped"] == {"http_403": 1}
