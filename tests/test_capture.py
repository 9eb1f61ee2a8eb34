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


# -- stand-ins: billiard (Celery), Twisted, Jinja and Cython hand over objects that only
# look like tracebacks, frames and code objects -------------------------------------------


class PartialCode:
    """Like billiard's ``_Code``: no ``co_kwonlyargcount``, no ``co_varnames`` kept."""

    def __init__(self, code):
        self.co_filename = code.co_filename
        self.co_name = code.co_name
        self.co_argcount = code.co_argcount
        self.co_flags = code.co_flags
        self.co_varnames = ()


class PartialFrame:
    def __init__(self, frame):
        self.f_code = PartialCode(frame.f_code)
        self.f_lineno = frame.f_lineno
        self.f_globals = {"__file__": frame.f_globals.get("__file__"), "__name__": "x"}
        self.f_locals = {}


class PartialTraceback:
    def __init__(self, tb):
        self.tb_frame = PartialFrame(tb.tb_frame)
        self.tb_lineno = tb.tb_lineno
        self.tb_next = None if tb.tb_next is None else PartialTraceback(tb.tb_next)


class BareCode:
    """Like Twisted's fake code: a name and a file name, nothing else."""

    def __init__(self, name, filename):
        self.co_name = name
        self.co_filename = filename


class BareFrame:
    def __init__(self, code, lineno):
        self.f_code = code
        self.f_lineno = lineno


class BareTraceback:
    """No ``tb_lineno``: the frame's line is used."""

    def __init__(self, frame, following=None):
        self.tb_frame = frame
        self.tb_next = following


class RaisingAttributes:
    """Every attribute read raises something other than AttributeError."""

    def __getattr__(self, name):
        raise RuntimeError(f"no {name}")


def test_a_billiard_style_traceback_is_captured_with_what_it_has():
    exc = raise_in(fail, 1, 2, 3, flag=False)
    real = capture_exception(exc).traces[0].frames
    event = capture_exception((ValueError, exc, PartialTraceback(exc.__traceback__)))
    frames = event.traces[0].frames
    assert [(f.filename, f.lineno, f.method) for f in frames] == [
        (f.filename, f.lineno, f.method) for f in real]
    assert frames[-1].argspec == [] and frames[-1].locals == {}
    assert event.traces[0].message == "inner"


def test_bare_and_hostile_stand_ins_cost_only_their_missing_fields():
    code = BareCode("render", "templates/page.html")
    tb = BareTraceback(BareFrame(code, 12), BareTraceback(RaisingAttributes(),
                                                          BareTraceback(BareFrame(None, None))))
    event = capture_exception((KeyError, KeyError("k"), tb))
    frames = event.traces[0].frames
    assert [(f.filename, f.lineno, f.method) for f in frames] == [
        ("templates/page.html", 12, "render"), ("<unknown>", None, "<unknown>"),
        ("<unknown>", None, "<unknown>")]
    assert all(f.locals is None and f.argspec == [] for f in frames)


def test_a_traceback_that_loops_is_walked_a_bounded_number_of_times():
    from rollbar_notifier.capture import MAX_TRACEBACK_WALK

    loop = BareTraceback(BareFrame(BareCode("again", "loop.py"), 1))
    loop.tb_next = loop
    event = capture_exception((ValueError, ValueError("loop"), loop))
    trace = event.traces[0]
    assert len(trace.frames) == MAX_FRAMES_HEAD + MAX_FRAMES_TAIL
    assert trace.omitted_frames == MAX_TRACEBACK_WALK - len(trace.frames)


def test_a_stand_in_traceback_reaches_the_server(devserver):
    from delivered import delivered, notifier_for

    exc = raise_in(fail, 1)
    notifier = notifier_for(devserver)
    try:
        uuid = notifier.report_exception((ValueError, exc, PartialTraceback(exc.__traceback__)))
        data = delivered(notifier, devserver, 1)[uuid]
    finally:
        notifier.close(timeout=1)
    frame = data["body"]["trace"]["frames"][-1]
    assert (frame["method"], frame["filename"]) == ("fail", __file__)
    assert frame["code"].strip() == 'raise ValueError("inner")'


# -- one memo, one pool and one deadline per capture ----------------------------------


class CountedRepr:
    calls = 0

    def __repr__(self):
        CountedRepr.calls += 1
        return "<counted>"


def pass_down(depth, held):
    alias = held  # noqa: F841 - a second local holding the same object
    if depth:
        pass_down(depth - 1, held)
    raise ValueError("deep")


def test_an_object_held_by_many_locals_and_extra_is_repred_once():
    held = CountedRepr()
    CountedRepr.calls = 0
    event = capture_exception(raise_in(pass_down, 10, held), extra={"held": held})
    assert CountedRepr.calls == 1
    assert event.extra["held"] == "<counted>"
    assert all(f.locals["held"] == f.locals["alias"] == "<counted>"
               for f in event.traces[0].frames if f.method == "pass_down")


def test_values_made_on_the_fly_are_not_mistaken_for_each_other():
    """A mapping that builds each value when asked frees it after the copy; the memo must
    keep it alive, or the next value, given the same id, would be taken for it."""
    import collections.abc

    class Fresh(collections.abc.Mapping):
        def __getitem__(self, key):
            return [key]

        def __iter__(self):
            return iter(range(5))

        def __len__(self):
            return 5

    event = capture_message("x", extra={"fresh": Fresh()})
    assert event.extra["fresh"] == {"0": [0], "1": [1], "2": [2], "3": [3], "4": [4]}


def test_a_container_shown_in_many_frames_is_paid_for_each_time():
    from rollbar_notifier.capture import LOCALS_POOL

    big = {f"k{n}": "v" * 1000 for n in range(20)}
    event = capture_exception(raise_in(pass_down, 30, big))
    frames = [f for f in event.traces[0].frames if f.locals]
    assert sum(len(repr(f.locals)) for f in frames) < 1.2 * LOCALS_POOL[1]
    assert frames[-1].locals["held"]["k0"] == "v" * 1000
    assert frames[-1].locals["alias"] == frames[0].locals["held"] == "<repeated dict>"


def test_a_chain_shares_its_frames_and_every_trace_keeps_its_innermost():
    from rollbar_notifier.capture import MAX_CHAIN_FRAMES, MIN_TRACE_FRAMES

    def recurse(n, label):
        if n == 0:
            raise ValueError(label)
        recurse(n - 1, label)

    previous = None
    for label in ["a", "b", "c", "d", "e"]:
        exc = raise_in(recurse, 98, label)
        exc.__cause__ = previous
        previous = exc
    traces = capture_exception(previous).traces
    assert [len(t.frames) for t in traces] == [
        100, 100, MAX_CHAIN_FRAMES - 200, MIN_TRACE_FRAMES, MIN_TRACE_FRAMES]
    assert [t.omitted_frames for t in traces] == [0, 0, 50, 95, 95]
    assert all(t.frames[-1].method == "recurse" and t.frames[-1].locals["n"] == 0
               for t in traces)
    assert traces[3].frames[0].locals["n"] == MIN_TRACE_FRAMES - 1


def test_the_same_code_in_two_files_is_shown_in_each_file():
    """Code objects compare equal when only their file differs: frames must not share
    what they say of themselves through such equality."""
    source = "def boom():\n    raise ValueError('from a copied module')\n"
    filenames = []
    for filename in ("/srv/app/a_copy.py", "/srv/app/b_copy.py"):
        namespace = {}
        exec(compile(source, filename, "exec"), namespace)
        try:
            namespace["boom"]()
        except ValueError as exc:
            event = capture_exception(exc)
        filenames.append(event.traces[0].frames[-1].filename)
    assert filenames == ["/srv/app/a_copy.py", "/srv/app/b_copy.py"]
