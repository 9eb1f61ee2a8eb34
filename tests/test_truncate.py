"""The 128 KB guarantee: whatever the program throws at us, the body fits and stays useful."""

import json
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reports import capture_exception, capture_message

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


def non_utf8_bytes():
    return b"\xff\xfe" * 100_000


def wide_list(value):
    return [value] * 500


def holders(value):
    """The lists and dicts inside ``value`` (cycles followed once): where more can go."""
    found, seen, pending = [], set(), [value]
    while pending:
        current = pending.pop()
        if isinstance(current, (list, dict)) and id(current) not in seen:
            seen.add(id(current))
            found.append(current)
            pending.extend(current.values() if isinstance(current, dict) else current)
    return found


# Every kind of hostile value below is as huge, deep or wide as ever; what is bounded is
# how they multiply. The library copies locals in up to 20 frames per trace (a container
# shared by those frames is copied once, then encoded once per reference), ``extra`` in
# 200-item containers and a ``before_send`` result up to 50,000 nodes. So a list repeated
# inside a repeated list, or 60 leaves each building a 3 MB repr, made some seeds build
# items of 17-170 MB and take up to a minute. Hence: at most MAX_COSTLY costly values per
# generated value, and no repeated list of a HugeRepr or of anything repeated.
MAX_COSTLY = 4
huge_text = st.builds(lambda ch, n: ch * n,
                      st.sampled_from(["x", "é", "€", "😀", "\ud800", "\x00", '"']),
                      st.integers(0, 400_000) | st.integers(200_000, 400_000))
"""Up to 1.6 MB, half of it over 200,000 characters (hypothesis favours small sizes)."""
deep = st.integers(1, 5000).map(deep_list)
small_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(), st.binary(max_size=50), st.builds(HostileRepr), st.builds(cyclic_dict),
)
"""Leaves that cost next to nothing however often they are visited."""
costly = st.one_of(
    huge_text, st.builds(non_utf8_bytes), st.builds(HugeRepr), deep,
    st.builds(wide_list, st.one_of(huge_text, st.builds(non_utf8_bytes))),
    st.builds(wide_list, st.one_of(small_leaf, deep, st.lists(small_leaf, max_size=5))),
)
"""Megabytes, 5000 levels, a 3 MB ``__repr__``, or 500 references to one value."""
shape = st.recursive(
    small_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=30),
        st.dictionaries(st.text(max_size=30), children, max_size=30),
    ),
    max_leaves=60,
)
"""Deep and wide nesting of up to 60 cheap leaves."""


@st.composite
def shape_with_costly_values(draw):
    """A shape with 1 to MAX_COSTLY costly values put anywhere inside it."""
    value = draw(shape)
    costly_values = draw(st.lists(costly, min_size=1, max_size=MAX_COSTLY))
    places = holders(value)
    if not places:
        value = [value]
        places = [value]
    for extra_value in costly_values:
        place = draw(st.sampled_from(places))
        if isinstance(place, dict):
            place[draw(st.text(max_size=30))] = extra_value
        else:
            place.insert(draw(st.integers(0, len(place))), extra_value)
    return value


nested = st.one_of(costly, shape_with_costly_values())


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
    """Within the limit, and an item the devserver (which follows docs/rollbar-api.md) accepts."""
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
