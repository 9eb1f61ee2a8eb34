"""The 128 KB guarantee: whatever the program throws at us, the body fits and stays useful."""

import json
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollbar_notifier.capture import capture_exception, capture_message
from rollbar_notifier.config import MAX_BODY_BYTES, MIN_BODY_BYTES, Config
from rollbar_notifier.devserver.validate import validate_item
from rollbar_notifier.item import ItemBuilder
from rollbar_notifier.truncate import fit

CONFIG = Config.from_options({"access_token": "tok-12345678"}, environ={})


class HostileRepr:
    def __repr__(self):
        raise RuntimeError("repr refuses")

    def __str__(self):
        raise RuntimeError("str refuses")


class HugeRepr:
    def __repr__(self):
        return "r" * 3_000_000


def deep_list(depth):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def cyclic_dict():
    value: dict = {"name": "loop"}
    value["self"] = value
    return value


huge_text = st.builds(lambda ch, n: ch * n,
                      st.sampled_from(["x", "é", "€", "😀", "\ud800", "\x00", '"']),
                      st.integers(0, 400_000))
leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(), huge_text, st.binary(max_size=50), st.just(b"\xff\xfe" * 100_000),
    st.builds(HostileRepr), st.builds(HugeRepr), st.builds(cyclic_dict),
    st.integers(1, 5000).map(deep_list),
)
nested = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=30),
        st.dictionaries(st.text(max_size=30), children, max_size=30),
        st.builds(lambda c: [c] * 500, children),
    ),
    max_leaves=60,
)


def raise_deep(depth, message, local_value):
    payload = local_value  # noqa: F841 - the hostile local under test
    if depth > 0:
        raise_deep(depth - 1, message, local_value)
    raise ValueError(message)


def innermost_method(data):
    body = data["body"]
    trace = body["trace"] if "trace" in body else body["trace_chain"][0]
    return trace["exception"]["class"], trace["frames"][-1]["method"]


def assert_fits(body: bytes, limit: int = MAX_BODY_BYTES):
    """Within the limit, and an item the devserver (which follows SPEC.md) accepts."""
    assert len(body) <= limit
    payload = json.loads(body.decode("utf-8"))
    validate_item(payload)
    data = payload["data"]
    assert data["environment"] == "production"
    assert sum(key in data["body"] for key in ("trace", "trace_chain", "message")) == 1
    return data


LIMITS = st.sampled_from([MIN_BODY_BYTES, 32768, MAX_BODY_BYTES])
GROUPS = st.booleans() if sys.version_info >= (3, 11) else st.just(False)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(depth=st.sampled_from([0, 3, 300, 1000]), message=st.one_of(st.text(), huge_text),
       local_value=nested, extra=st.dictionaries(st.text(max_size=20), nested, max_size=5),
       chained=st.booleans(), grouped=GROUPS, limit=LIMITS)
def test_any_exception_becomes_a_body_that_fits(depth, message, local_value, extra, chained,
                                                grouped, limit):
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, depth + 500))
    try:
        try:
            try:
                raise_deep(depth, message, local_value)
            except ValueError as inner:
                if chained:
                    raise KeyError(HostileRepr()) from inner
                raise
        except Exception as exc:
            if grouped:
                try:
                    raise ExceptionGroup("several", [exc, TypeError(message)])  # noqa: F821
                except Exception as group:
                    event = capture_exception(group, extra=extra, description=message)
            else:
                event = capture_exception(exc, extra=extra, description=message)
    finally:
        sys.setrecursionlimit(old_limit)
    assert event is not None
    config = Config.from_options({"access_token": "tok-12345678", "max_body_bytes": limit},
                                 environ={})
    data = assert_fits(ItemBuilder(config).build(event), limit)
    if grouped:
        assert innermost_method(data) == ("ExceptionGroup",
                                          "test_any_exception_becomes_a_body_that_fits")
        return
    if chained:
        expected = ("KeyError", "test_any_exception_becomes_a_body_that_fits")
    else:
        expected = ("ValueError", "raise_deep")
    assert innermost_method(data) == expected


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.one_of(st.text(), huge_text), extra=nested)
def test_any_message_becomes_a_body_that_fits(text, extra):
    event = capture_message(text, extra={"value": extra}, title=text, fingerprint=text)
    assert event is not None
    data = assert_fits(ItemBuilder(CONFIG).build(event))
    assert "message" in data["body"]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(junk=nested)
def test_a_before_send_hook_that_adds_junk_still_fits(junk):
    def add_junk(payload):
        payload["data"]["custom"]["junk"] = junk
        payload["data"]["junk"] = [junk] * 3
        return payload

    config = Config.from_options({"before_send": add_junk}, environ={})
    assert_fits(ItemBuilder(config).build(capture_message("x")))


def test_what_was_cut_is_recorded_and_the_exception_survives():
    try:
        raise_deep(50, "m" * 500_000, "v" * 100)
    except ValueError as exc:
        event = capture_exception(exc, extra={f"blob{i}": "b" * 20_000 for i in range(12)})
    data = assert_fits(ItemBuilder(CONFIG).build(event))
    truncated = data["notifier"]["diagnostic"]["truncated"]
    assert truncated["original_bytes"] > MAX_BODY_BYTES
    assert truncated["steps"]
    assert data["body"]["trace"]["exception"]["class"] == "ValueError"
    assert data["body"]["trace"]["exception"]["message"].startswith("mmm")


@pytest.mark.parametrize("limit", [MIN_BODY_BYTES, 16384, MAX_BODY_BYTES])
@pytest.mark.parametrize("char", ["a", "\x00", "😀"])
def test_a_smaller_limit_is_honoured_down_to_the_minimal_item(limit, char):
    text = char * 20_000
    payload = {"data": {
        "environment": char * 255, "uuid": "5f0c9a2e-0d3c-4b5e-9a53-0c1f3d1c2b7a",
        "platform": text, "framework": text, "title": text, "context": text,
        "body": {"trace": {
            "frames": [{"filename": "f" + text, "method": "m" + text, "lineno": 1}] * 50,
            "exception": {"class": "C" + text, "message": text}}}}}
    body = fit(payload, limit)
    assert len(body) <= limit
    data = json.loads(body)["data"]
    assert data["environment"] == char * 255
    assert data["uuid"] == "5f0c9a2e-0d3c-4b5e-9a53-0c1f3d1c2b7a"
    assert data["body"]["trace"]["frames"][-1]["method"].startswith("m")
    assert data["body"]["trace"]["exception"]["class"].startswith("C")


def test_small_items_are_sent_untouched():
    body = ItemBuilder(CONFIG).build(capture_message("hello"))
    assert "diagnostic" not in json.loads(body)["data"]["notifier"]
