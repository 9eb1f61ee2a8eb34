import datetime
import json
import os
import sys

from freezegun import freeze_time
from reports import capture_exception, capture_message

from rollbar_notifier import __version__
from rollbar_notifier.config import Config
from rollbar_notifier.item import ItemBuilder
from rollbar_notifier.payload import build_payload


def config(**options):
    options.setdefault("access_token", "test-token-123456")
    return Config.from_options(options, environ={})


def failing():
    counter = 41
    counter += 1
    raise ZeroDivisionError(f"bad {counter}")


def exception_event(**fields):
    try:
        failing()
    except ZeroDivisionError as exc:
        return capture_exception(exc, **fields)
    raise AssertionError


def test_trace_item_has_every_field_the_spec_lists():
    cfg = config(environment="staging", code_version="abc123", framework="flask",
                 branch="main", root="/srv/app/", host="web-1")
    event = exception_event(level="critical", extra={"order": 7}, context="checkout",
                            person={"id": 5, "email": "a@example.com"},
                            request={"url": "http://127.0.0.1/x", "method": "GET"},
                            fingerprint="f" * 41, title="t" * 300)
    data = build_payload(event, cfg)["data"]
    assert data["environment"] == "staging"
    assert data["level"] == "critical"
    assert data["language"] == "python"
    assert data["platform"] == sys.platform
    assert data["framework"] == "flask"
    assert data["code_version"] == "abc123"
    assert data["context"] == "checkout"
    assert data["uuid"] == event.uuid
    assert data["server"]["host"] == "web-1"
    assert data["server"]["root"] == "/srv/app"
    assert data["server"]["branch"] == "main"
    assert data["server"]["pid"] == os.getpid()
    assert data["server"]["argv"] == sys.argv
    assert data["notifier"] == {"name": "rollbar_notifier", "version": __version__}
    assert data["custom"]["order"] == 7
    assert data["person"] == {"id": "5", "email": "a@example.com"}
    assert data["request"]["method"] == "GET"
    assert len(data["fingerprint"]) == 40  # SHA-1 hex of the longer one
    assert len(data["title"]) == 255
    trace = data["body"]["trace"]
    assert trace["exception"] == {"class": "ZeroDivisionError", "message": "bad 42"}
    frame = trace["frames"][-1]
    assert frame["method"] == "failing"
    assert frame["code"].strip() == 'raise ZeroDivisionError(f"bad {counter}")'
    assert frame["context"]["pre"][-1].strip() == "counter += 1"
    assert frame["locals"]["counter"] == 42


def test_chained_exceptions_become_a_trace_chain_with_the_reported_one_first():
    try:
        try:
            failing()
        except ZeroDivisionError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as exc:
        event = capture_exception(exc, description="while checking out")
    body = build_payload(event, config())["data"]["body"]
    chain = body["trace_chain"]
    assert [t["exception"]["class"] for t in chain] == ["RuntimeError", "ZeroDivisionError"]
    assert chain[0]["exception"]["description"] == "while checking out"
    assert "description" not in chain[1]["exception"]


def test_message_item():
    data = build_payload(capture_message("disk almost full", level="warning"), config())["data"]
    assert data["body"] == {"message": {"body": "disk almost full"}}
    assert data["level"] == "warning"


def test_a_uuid_shaped_like_a_card_number_reaches_the_server_whole():
    """Digits 5 to 23 of this uuid read as a Luhn-valid card number (2715-9273-4700-8457):
    about one uuid in 30,000 is one, and the server deduplicates and finds items by it."""
    event = capture_message("paid")
    event.uuid = "d9bc2715-9273-4700-8457-612ba9d8bd56"
    body = ItemBuilder(config()).build(event)
    assert json.loads(body)["data"]["uuid"] == event.uuid


def test_client_token_sends_a_client_platform():
    data = build_payload(capture_message("x"), config(token_scope="post_client_item"))["data"]
    assert data["platform"] == "client"


def test_capture_locals_off_sends_no_locals():
    event = exception_event(capture_locals=False)
    frames = build_payload(event, config())["data"]["body"]["trace"]["frames"]
    assert all("locals" not in frame for frame in frames)


@freeze_time("2026-01-02 03:04:05")
def test_timestamp_is_gmt_unix_seconds():
    event = capture_message("x")
    assert event.timestamp == int(datetime.datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc).timestamp())
    assert isinstance(event.timestamp, int)


@freeze_time("2026-01-02 03:04:05", tz_offset=-8)
def test_timestamp_ignores_the_local_time_zone():
    assert capture_message("x").timestamp == 1767323045


def test_timestamp_is_taken_at_capture_not_at_send():
    with freeze_time("2026-05-05 00:00:00") as clock:
        event = capture_message("x")
        clock.tick(3600)
        body = ItemBuilder(config()).build(event)
    assert json.loads(body)["data"]["timestamp"] == 1777939200


def test_before_send_can_edit_or_drop_and_a_failing_hook_changes_nothing():
    def edit(payload):
        payload["data"]["custom"]["edited"] = True
        return payload

    def boom(payload):
        payload["data"]["custom"]["leaked"] = "half-done edit"
        raise RuntimeError("hook bug")

    event = capture_message("x", extra={"password": "hunter2"})
    edited = json.loads(ItemBuilder(config(before_send=edit)).build(event))
    assert edited["data"]["custom"]["edited"] is True
    assert ItemBuilder(config(before_send=lambda p: None)).build(event) is None
    unchanged = json.loads(ItemBuilder(config(before_send=boom)).build(event))
    assert unchanged["data"]["custom"]["password"] == "********"
    assert "leaked" not in unchanged["data"]["custom"]


def test_before_send_sees_the_scrubbed_payload():
    seen = {}

    def look(payload):
        seen.update(payload["data"]["custom"])
        return payload

    ItemBuilder(config(before_send=look)).build(capture_message("x", extra={"api_key": "k"}))
    assert seen["api_key"] == "********"


def test_person_and_request_get_the_types_and_lengths_the_spec_requires():
    event = capture_message("x", person={"id": 12345, "username": "u" * 300, "email": 7},
                            request={"url": 42, "headers": [("Accept", "text/html")],
                                     "GET": "?q=shoes&page=2", "POST": 5,
                                     "body": {"name": "ann"}, "method": "POST"})
    data = build_payload(event, config())["data"]
    assert data["person"] == {"id": "12345", "username": "u" * 255, "email": "7"}
    assert data["request"] == {"url": "42", "headers": {"Accept": "text/html"},
                               "GET": {"q": "shoes", "page": "2"},
                               "body": '{"name": "ann"}', "method": "POST"}
    assert "person" not in build_payload(capture_message("x", person={"email": "a@b"}),
                                         config())["data"]
