"""What makes reports cheap must not change what is reported.

Plain messages skip the general capture; uuids come from a per-process generator;
source lines and telemetry events are scrubbed once and shared between items; an event
with far too many frames is cut before its item is built. Each test compares the cheap
way with the thorough one, or checks what a user of the item would see.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reports import capture_exception

from rollbar_notifier import truncate
from rollbar_notifier.capture import _Capture, _plain_message
from rollbar_notifier.config import Config
from rollbar_notifier.contract import LEVELS
from rollbar_notifier.event import Event, ReportFields
from rollbar_notifier.item import ItemBuilder
from rollbar_notifier.payload import build_payload
from rollbar_notifier.telemetry import TelemetryCollector
from rollbar_notifier.truncate import fit
from rollbar_notifier.uuids import new_uuid


def long_text(shortest: int, longest: int) -> st.SearchStrategy[str]:
    """Around a limit: hypothesis does not make texts this long itself."""
    return st.integers(shortest, longest).map(lambda n: "é" * n)


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=40), long_text(16380, 16390))
texts = st.one_of(st.none(), st.text(max_size=30), long_text(8190, 8195))


def comparable(event: Optional[Event]) -> Dict[str, Any]:
    assert event is not None
    return dict(dataclasses.asdict(event), uuid=None)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(message=st.one_of(st.text(max_size=50), long_text(8190, 8195),
                         st.integers()),
       level=st.one_of(st.none(), st.sampled_from(LEVELS), st.just("WARN"), st.just(30)),
       extra=st.one_of(st.none(), st.dictionaries(st.text(max_size=12), scalars, max_size=6),
                       st.dictionaries(st.text(max_size=5), st.lists(st.integers()),
                                       max_size=2)),
       timestamp=st.one_of(st.none(), st.integers(min_value=-5, max_value=2**38)),
       thread=st.one_of(st.none(), st.text(max_size=10), long_text(250, 260)),
       context=texts, group=texts, title=texts, description=texts, fingerprint=texts,
       framework=texts,
       location=st.one_of(st.none(), st.tuples(
           texts, st.one_of(st.text(max_size=20), long_text(250, 260)),
           st.one_of(st.none(), st.integers(), st.floats()), st.one_of(st.none(), st.integers()))))
def test_the_plain_message_path_makes_what_the_general_capture_makes(
        message: Any, level: Any, extra: Any, timestamp: Any, thread: Any, context: Any,
        group: Any, title: Any, description: Any, fingerprint: Any, framework: Any,
        location: Any) -> None:
    fields = ReportFields(message=message, level=level, extra=extra, timestamp=timestamp,
                          thread=thread, context=context, group=group, title=title,
                          description=description, fingerprint=fingerprint,
                          framework=framework, location=location)
    fast = _plain_message(fields)
    general = _Capture(fields, True).event()
    if fast is None:
        return
    if timestamp is None:
        general.timestamp = fast.timestamp  # both are "now", read a moment apart
    assert comparable(fast) == comparable(general)


def test_most_log_records_take_the_plain_path() -> None:
    fields = ReportFields(message="disk 91% full", level="warning", group="app\ndisk %s",
                          extra={"disk": "/var"}, timestamp=1_700_000_000,
                          thread="MainThread", context="app",
                          location=("app", "check", 12, 7))
    assert _plain_message(fields) is not None
    for unusual in (dict(extra={"nested": {"a": 1}}), dict(level="WARN"),
                    dict(message="x" * 10_000), dict(location=("app", "check", 1.5, 7))):
        assert _plain_message(fields._replace(**unusual)) is None


def test_uuids_are_version_4_and_unique() -> None:
    made = [new_uuid() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    fixed = {8: "-", 13: "-", 14: "4", 18: "-", 23: "-"}
    for at in range(36):  # every digit but the fixed ones takes every value
        assert len({text[at] for text in made}) == (1 if at in fixed else 4 if at == 19 else 16)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_makes_other_uuids_than_its_parent() -> None:
    new_uuid()  # uuids are made ahead: some are ready when the process forks
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write its next uuids and leave at once
        os.write(writer, json.dumps([new_uuid() for _ in range(5)]).encode())
        os._exit(0)
    os.close(writer)
    parent = [new_uuid() for _ in range(5)]
    with os.fdopen(reader) as pipe:
        child = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert not set(parent) & set(child)


def builder(**options: Any) -> ItemBuilder:
    return ItemBuilder(Config.from_options({"access_token": "t" * 32, **options}, environ={}))


def collected(*messages: str) -> TelemetryCollector:
    collector = TelemetryCollector(50, logging.DEBUG)
    for text in messages:
        collector.observe(logging.LogRecord("test_sender_cost.records", logging.INFO, __file__,
                                            1, text, None, None))
    return collector


def telemetry_of(body: Optional[bytes]) -> List[str]:
    assert body is not None
    return [e["body"]["message"] for e in json.loads(body)["data"]["body"]["telemetry"]]


def test_telemetry_is_scrubbed_once_and_by_each_notifiers_own_rules() -> None:
    records = collected("login password=hunter2", "order_ref=A-77", "plain")
    plain, strict = builder(), builder(scrub_fields=["order_ref"])
    first = capture_exception(ValueError("x"))
    assert first is not None
    events: List[Dict[str, Any]] = []
    for notifier_builder in (plain, strict, plain):
        first.telemetry = records.snapshot(logging.DEBUG, 50)
        events.append(json.loads(notifier_builder.build(first) or b"{}"))
    texts = [[e["body"]["message"] for e in item["data"]["body"]["telemetry"]]
             for item in events]
    assert texts[0] == texts[2] == ["login password=********", "order_ref=A-77", "plain"]
    assert texts[1] == ["login password=********", "order_ref=********", "plain"]
    again = records.snapshot(logging.DEBUG, 50)
    assert again.scrubbed(plain.scrubber)[0] is again.scrubbed(plain.scrubber)[0], \
        "one scrubbed form, shared by every item of the same notifier"


def test_source_lines_are_scrubbed_in_every_item_that_shows_them() -> None:
    def leaky() -> None:
        password = "hunter2-in-the-source"  # noqa: F841
        raise ValueError("from a line that holds a secret")

    items = []
    for _ in range(2):
        try:
            leaky()
        except ValueError as exc:
            event = capture_exception(exc, capture_locals=False)
        assert event is not None
        items.append(builder().build(event) or b"")
    for body in items:
        assert b"hunter2" not in body
        frame = json.loads(body)["data"]["body"]["trace"]["frames"][-1]
        assert frame["context"]["pre"][-1].endswith('password = "********"  # noqa: F841')


def test_a_frame_shared_by_items_is_theirs_to_cut_and_its_locals_are_their_own() -> None:
    """What a frame shows but its locals is scrubbed once for every item passing through
    its line: one item's truncation ladder taking keys out of its frames, or another
    item's locals, must not show in the next item."""
    def leaky(blob: str, api_key: str) -> None:
        password = "hunter2-in-the-source"  # noqa: F841
        raise ValueError("from a line that holds a secret")

    def event_of(blob: str, key: str) -> Event:
        try:
            leaky(blob, key)
        except ValueError as exc:
            captured = capture_exception(exc)
        assert captured is not None
        return captured

    items = builder()
    cut = items.build(event_of("b" * 4000, "k1-secret"), limit=2500) or b""
    assert len(cut) <= 2500 and b"hunter2" not in cut
    for key in ("k2-secret", "k3-secret"):
        body = items.build(event_of("small", key)) or b""
        frame = json.loads(body)["data"]["body"]["trace"]["frames"][-1]
        assert frame["context"]["pre"][-1].endswith('password = "********"  # noqa: F841')
        assert frame["code"].strip().startswith("raise ValueError")
        assert frame["argspec"] == ["blob", "api_key"]
        assert frame["locals"]["blob"] == "small"
        assert frame["locals"]["api_key"] == "********"
        assert b"hunter2" not in body
    first = items.payload(event_of("first", "k4-secret"))  # two senders build at once
    items.payload(event_of("second", "k5-secret"))
    assert first["data"]["body"]["trace"]["frames"][-1]["locals"]["blob"] == "first"


PADDING = "# " + "p" * 480
"""Generated code has long lines: each frame then shows seven of them."""


def chained(tmp_path: Path, traces: int, depth: int) -> BaseException:
    path = tmp_path / "generated_deep.py"
    path.write_text("\n".join([
        PADDING, PADDING, PADDING,
        "def dive(n):", "    " + PADDING, "    if n:", "        dive(n - 1)  " + PADDING,
        "    " + PADDING, "    raise KeyError(n)  " + PADDING, PADDING, PADDING, PADDING, ""]))
    spec = importlib.util.spec_from_file_location("generated_deep", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exc: Optional[BaseException] = None
    for _ in range(traces):
        try:
            module.dive(depth)
        except KeyError as caught:
            caught.__cause__ = exc
            exc = caught
    assert exc is not None
    return exc


def test_a_chain_cut_before_building_reads_as_the_ladder_would_cut_it(tmp_path: Path) -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    event = capture_exception(chained(tmp_path, 4, 300))
    assert event is not None and sum(len(t.frames) for t in event.traces) > 250
    made = builder()
    body = made.build(event)
    assert body is not None and len(body) <= made.config.max_body_bytes
    thorough = fit(made.scrubber.scrub(build_payload(event, made.config)),
                   made.config.max_body_bytes)
    ours, theirs = json.loads(body)["data"], json.loads(thorough)["data"]
    ours_cut = ours["notifier"].pop("diagnostic")["truncated"]
    theirs_cut = theirs["notifier"].pop("diagnostic")["truncated"]
    assert ours == theirs
    assert ours_cut["steps"] == theirs_cut["steps"] and ours_cut["steps"][0] == "frames_10_40"
    assert ours_cut["original_bytes"] > 2 * made.config.max_body_bytes
    assert theirs_cut["original_bytes"] > 2 * made.config.max_body_bytes


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(messages=st.lists(st.one_of(st.text(max_size=40), st.just(truncate._STAND_IN)),
                         min_size=1, max_size=6),
       note=st.one_of(st.text(max_size=20), st.just(truncate._STAND_IN)))
def test_telemetry_encoded_once_gives_the_same_bytes(messages: List[str], note: str) -> None:
    """Whatever the events and the rest of the item hold (even the stand-in's own text)."""
    made = builder()
    event = capture_exception(ValueError(note), extra={"note": note})
    assert event is not None
    event.telemetry = collected(*messages).snapshot(logging.DEBUG, 50)
    for _ in range(2):  # the second time, from the events' stored encodings
        payload = made.scrubber.scrub(made.payload(event))
        assert truncate.encode_sharing(payload) == truncate.encode(payload)


def test_a_before_send_hook_that_edits_telemetry_edits_that_item_only() -> None:
    """The events are shared by every item that carries them: a hook editing them in
    place must not reach the next item, nor be missed by the encoding."""
    def exclaim(payload: Dict[str, Any]) -> Dict[str, Any]:
        for entry in payload["data"]["body"]["telemetry"]:
            entry["body"]["message"] += "!"
        return payload

    records = collected("quiet")
    plain, hooked = builder(), builder(before_send=exclaim)
    event = capture_exception(ValueError("x"))
    assert event is not None
    for made, expected in ((plain, ["quiet"]), (hooked, ["quiet!"]), (hooked, ["quiet!"]),
                           (plain, ["quiet"])):
        event.telemetry = records.snapshot(logging.DEBUG, 50)
        assert telemetry_of(made.build(event)) == expected
