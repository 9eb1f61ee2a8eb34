import sys
import threading

import pytest
from reports import capture_exception, capture_message

from rollbar_notifier.bounded import safe_repr, safe_str, snapshot
from rollbar_notifier.capture import MAX_FRAMES_HEAD, MAX_FRAMES_TAIL


class Hostile:
    def __repr__(self):
        raise RuntimeError("no repr")

    def __str__(self):
        raise RuntimeError("no str")


def raise_in(function, *args, **kwargs):
    try:
        function(*args, **kwargs)
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def fail(a, b=2, *rest, flag=True, **options):
    secret_value = {"nested": [1, 2, 3]}  # noqa: F841 - captured as a local
    raise ValueError("inner")


def test_frames_are_oldest_first_with_argument_specs():
    event = capture_exception(raise_in(fail, 1, 2, 3, flag=False, x=1))
    frames = event.traces[0].frames
    assert [f.method for f in frames][-2:] == ["raise_in", "fail"]
    inner = frames[-1]
    assert inner.argspec == ["a", "b", "flag"]
    assert inner.varargspec == "rest"
    assert inner.keywordspec == "options"
    assert inner.locals["a"] == 1
    assert inner.locals["rest"] == [3]
    assert inner.locals["secret_value"] == {"nested": [1, 2, 3]}
    assert inner.filename == __file__
    assert event.traces[0].class_name == "ValueError"
    assert event.traces[0].message == "inner"


def test_chain_follows_cause_then_context_and_respects_suppression():
    def explicit():
        try:
            fail(1)
        except ValueError as exc:
            raise KeyError("outer") from exc

    def implicit():
        try:
            fail(1)
        except ValueError:
            raise TypeError("during handling")  # noqa: B904 - the context is the point

    def suppressed():
        try:
            fail(1)
        except ValueError:
            raise TypeError("hidden") from None

    assert [t.class_name for t in capture_exception(raise_in(explicit)).traces] == [
        "KeyError", "ValueError"]
    assert [t.class_name for t in capture_exception(raise_in(implicit)).traces] == [
        "TypeError", "ValueError"]
    assert [t.class_name for t in capture_exception(raise_in(suppressed)).traces] == [
        "TypeError"]


def test_a_cycle_in_the_chain_stops_at_the_repeat():
    first, second = ValueError("a"), KeyError("b")
    first.__cause__, second.__cause__ = second, first
    assert [t.class_name for t in capture_exception(first).traces] == ["ValueError", "KeyError"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception groups are 3.11+")
def test_exception_group_members_are_in_the_chain():
    group = raise_in(lambda: (_ for _ in ()).throw(
        ExceptionGroup("many", [ValueError("one"), KeyError("two")])))  # noqa: F821
    names = [t.class_name for t in capture_exception(group).traces]
    assert names == ["ExceptionGroup", "ValueError", "KeyError"]


def test_exc_info_tuple_and_current_exception_are_accepted():
    try:
        fail(1)
    except ValueError:
        from_handling = capture_exception(None)
        from_tuple = capture_exception(sys.exc_info())
    assert from_handling.traces[0].class_name == from_tuple.traces[0].class_name == "ValueError"
    assert capture_exception(None) is None


def test_deep_recursion_keeps_outermost_and_innermost_frames():
    def recurse(n):
        if n == 0:
            raise RecursionError("deep")
        recurse(n - 1)

    event = capture_exception(raise_in(recurse, 900))
    trace = event.traces[0]
    assert len(trace.frames) == MAX_FRAMES_HEAD + MAX_FRAMES_TAIL
    assert trace.omitted_frames == 902 - len(trace.frames)
    assert trace.frames[-1].locals["n"] == 0
    assert trace.frames[0].method == "raise_in"


def test_hostile_objects_never_break_capture():
    hostile = Hostile()  # noqa: F841 - captured as a local

    def broken():
        raise ValueError(Hostile())

    event = capture_exception(raise_in(broken))
    assert event.traces[0].message.startswith("<unprintable")
    assert "Hostile" in safe_repr(Hostile())
    assert safe_str(Hostile()) == "<unprintable Hostile object>"


def test_snapshot_bounds_size_without_copying_big_values():
    huge = "x" * 5_000_000
    assert len(snapshot(huge)) < 1100
    assert len(snapshot(b"\xff" * 5_000_000)) < 1100
    wide = snapshot(list(range(100_000)))
    assert len(wide) == 21 and wide[-1].startswith("...")
    cyclic: list = []
    cyclic.append(cyclic)
    assert snapshot(cyclic) == ["<cycle list>"]
    assert snapshot(float("nan")) == "nan"
    assert snapshot({1: {2: {3: {4: {5: 6}}}}}) == {"1": {"2": {"3": {"4": "{5: 6}"}}}}


def test_message_events_carry_time_thread_and_a_uuid4():
    result = {}
    worker = threading.Thread(target=lambda: result.update(e=capture_message("hi")), name="w-1")
    worker.start()
    worker.join(5)
    event = result["e"]
    assert event.thread == "w-1"
    assert event.level == "info"
    assert len(event.uuid) == 36 and event.uuid[14] == "4"


def test_unknown_level_falls_back_instead_of_raising():
    assert capture_message("x", level="loud").level == "info"
    assert capture_message("x", level=40).level == "error"
    assert capture_message("x", level="WARN").level == "warning"


def test_a_bad_optional_argument_costs_that_field_never_the_report():
    class FrameworkRequest:
        path = "/x"

    event = capture_exception(ValueError("still reported"), extra="just text",
                              request=FrameworkRequest(), person="bob")
    assert event is not None
    assert event.extra == {"extra": "just text"}
    assert event.request is None and event.person is None
    assert capture_message("x", person=[("id", 3)]).person == {"id": 3}
