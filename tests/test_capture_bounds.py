"""Capture's bounds make a huge item impossible, so building any captured event is quick.

Before, locals that shared one large container were encoded once per reference and every
trace of a chain kept 250 frames with locals: items encoded to 170 MB and their fit
took 8-11 s on a sender thread. The worst events below are made the way a program
would make them (generated code with long names and long lines, locals and arguments
holding wide, deep and long values, chains of 20 exceptions 260 frames deep); each must
stay small before the fit, and ``ItemBuilder.build`` must take under 50 ms of CPU.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

import pytest
from reports import capture_exception, capture_message

from rollbar_notifier.config import Config
from rollbar_notifier.contract import MAX_BODY_BYTES
from rollbar_notifier.event import Event, Stack
from rollbar_notifier.item import ItemBuilder
from rollbar_notifier.payload import build_payload
from rollbar_notifier.truncate import encode

BUILD_CPU_SECONDS = 0.050
MAX_CAPTURED_BYTES = 2_000_000
"""What an event may encode to before the fit, whatever it holds."""
ROUNDS = 5
NAME = "handle_" + "x" * 993
"""A 1000-character function name."""
ARGS = ", ".join(f"argument_{n}" for n in range(100))


def deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


LONG = "long text " * 500_000
WIDE = {f"key {i} " * 20: {f"k{j}": LONG for j in range(300)} for i in range(300)}
DEEP = deep(5000)
MANY = list(range(100_000))
CYCLE: Dict[str, Any] = {"name": "loop"}
CYCLE["self"] = CYCLE
VALUES = [WIDE, DEEP, LONG, MANY, CYCLE, b"\xff" * 1_000_000]


def generated_module(directory: Path) -> Callable[..., Any]:
    """A function in a file of its own, with long lines, 50 locals and 100 arguments."""
    body = [f"    local_{n} = VALUES[{n} % len(VALUES)]  # {'c' * 60}\n" for n in range(50)]
    source = (f"def {NAME}(depth, report, {ARGS}):\n" + "".join(body)
              + "    if depth:\n"
              + f"        return {NAME}(depth - 1, report, {ARGS})\n"
              + "    return report()\n")
    path = directory / ("generated_" + "m" * 200 + ".py")
    path.write_text(source)
    namespace: Dict[str, Any] = {"VALUES": VALUES}
    exec(compile(source, str(path), "exec"), namespace)
    function: Callable[..., Any] = namespace[NAME]
    return function


def call(function: Callable[..., Any], depth: int, report: Callable[[], Any]) -> Any:
    return function(depth, report, *([WIDE] * 100))


def chain(function: Callable[..., Any], traces: int, depth: int) -> BaseException:
    previous = None
    for n in range(traces):
        def fail(n: int = n) -> None:
            raise ValueError(f"failure {n} " + LONG)

        try:
            call(function, depth, fail)
        except ValueError as exc:
            exc.__cause__ = previous
            previous = exc
    assert previous is not None
    return previous


def stack_message(function: Callable[..., Any]) -> Event:
    def report() -> Event:
        event = capture_message(LONG, stack=Stack(sys._getframe(), "WARNING"), extra=WIDE,
                                telemetry=[{"level": "info", "body": {"message": LONG}}] * 500)
        assert event is not None
        return event

    result: Event = call(function, 300, report)
    return result


@pytest.fixture(scope="module")
def worst_events(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Event]]:
    function = generated_module(tmp_path_factory.mktemp("generated"))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 5000))
    try:
        events = {
            "20 chained exceptions 260 frames deep": chain(function, 20, 260),
            "a RecursionError 1200 frames deep": chain(function, 1, 1200),
        }
        captured = {name: capture_exception(exc, extra={"wide": WIDE, "deep": DEEP},
                                            request={"headers": WIDE, "body": LONG},
                                            person={"id": 1, "blob": WIDE})
                    for name, exc in events.items()}
        captured["a message with a 300-frame stack"] = stack_message(function)
    finally:
        sys.setrecursionlimit(limit)
    yield {name: event for name, event in captured.items() if event is not None}


def cpu_median(function: Callable[[], Any]) -> float:
    """CPU time of this thread: the machine is shared, and waiting for a core is not work."""
    samples = []
    for _ in range(ROUNDS):
        started = time.thread_time()
        function()
        samples.append(time.thread_time() - started)
    return statistics.median(samples)


CASES = ["20 chained exceptions 260 frames deep", "a RecursionError 1200 frames deep",
         "a message with a 300-frame stack"]


@pytest.mark.parametrize("case", CASES)
def test_the_worst_events_capture_can_make_are_small_and_built_quickly(
        worst_events: Dict[str, Event], case: str) -> None:
    event = worst_events[case]
    config = Config.from_options({"access_token": "bounds-token-1234"}, environ={})
    builder = ItemBuilder(config)
    assert len(encode(build_payload(event, config))) < MAX_CAPTURED_BYTES
    body = builder.build(event)
    assert body is not None and len(body) <= MAX_BODY_BYTES
    took = cpu_median(lambda: builder.build(event))
    assert took < BUILD_CPU_SECONDS, f"{case}: build took {took * 1000:.1f} ms of CPU"
