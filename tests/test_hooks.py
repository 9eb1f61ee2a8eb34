"""Uncaught-exception hooks: in real subprocesses, and chained in-process."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from rollbar_notifier import hooks
from rollbar_notifier.devserver import DevServer
from rollbar_notifier.notifier import Notifier

WAIT = 10.0


@pytest.fixture
def notifier(devserver: DevServer) -> Iterator[Notifier]:
    with Notifier(access_token=devserver.tokens["post_server_item"],
                  endpoint=devserver.api_url, environment="test") as made:
        yield made


@pytest.fixture
def saved_hooks() -> Iterator[None]:
    """Each test starts and ends with the interpreter's hooks as pytest set them."""
    saved = sys.excepthook, threading.excepthook, sys.unraisablehook
    yield
    hooks.uninstall_excepthook()
    sys.excepthook, threading.excepthook, sys.unraisablehook = saved


def run_script(source: str, devserver: DevServer) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ROLLBAR_ACCESS_TOKEN=devserver.tokens["post_server_item"],
               ROLLBAR_ENDPOINT=devserver.api_url, ROLLBAR_ENVIRONMENT="subprocess")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(source)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_uncaught_exceptions_in_main_and_worker_threads_arrive(devserver: DevServer) -> None:
    done = run_script("""
        import threading
        import rollbar_notifier.default as rollbar

        rollbar.init()

        def work():
            raise ValueError("worker failed")

        thread = threading.Thread(target=work, name="worker-1")
        thread.start()
        thread.join()
        raise RuntimeError("main failed")
    """, devserver)
    assert done.returncode == 1
    assert "Exception in thread worker-1" in done.stderr
    assert "ValueError: worker failed" in done.stderr
    assert done.stderr.rstrip().endswith("RuntimeError: main failed")
    stored = {d["body"]["trace"]["exception"]["class"]: d
              for d in (o["data"] for o in devserver.wait_for_occurrences(2, WAIT))}
    assert set(stored) == {"ValueError", "RuntimeError"}
    assert stored["RuntimeError"]["level"] == "critical"
    assert stored["ValueError"]["level"] == "error"
    assert stored["ValueError"]["custom"]["thread"] == "worker-1"
    assert stored["RuntimeError"]["environment"] == "subprocess"


def test_keyboard_interrupt_and_system_exit_are_not_reported(devserver: DevServer) -> None:
    done = run_script("""
        import rollbar_notifier.default as rollbar
        rollbar.init()
        raise KeyboardInterrupt
    """, devserver)
    assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr
    done = run_script("""
        import rollbar_notifier.default as rollbar
        rollbar.init()
        raise SystemExit(3)
    """, devserver)
    assert done.returncode == 3
    assert devserver.occurrences() == []


def test_install_is_idempotent_and_uninstall_restores(saved_hooks: None,
                                                      notifier: Notifier) -> None:
    before = sys.excepthook, threading.excepthook, sys.unraisablehook
    hooks.install_excepthook(notifier)
    installed = sys.excepthook, threading.excepthook, sys.unraisablehook
    assert installed != before
    hooks.install_excepthook(notifier)
    assert (sys.excepthook, threading.excepthook, sys.unraisablehook) == installed
    hooks.uninstall_excepthook()
    assert (sys.excepthook, threading.excepthook, sys.unraisablehook) == before
    hooks.uninstall_excepthook()


def test_excepthook_reports_then_calls_the_previous_hook(saved_hooks: None, notifier: Notifier,
                                                        devserver: DevServer) -> None:
    calls: List[Tuple[type, str]] = []
    sys.excepthook = lambda kind, exc, tb: calls.append((kind, str(exc)))
    hooks.install_excepthook(notifier)
    for exc in (KeyError("gone"), KeyboardInterrupt()):
        try:
            raise exc
        except BaseException as caught:
            sys.excepthook(type(caught), caught, caught.__traceback__)
    assert calls == [(KeyError, "'gone'"), (KeyboardInterrupt, "")]
    (data,) = [o["data"] for o in devserver.wait_for_occurrences(1, WAIT)]
    assert data["level"] == "critical"
    assert data["body"]["trace"]["exception"]["class"] == "KeyError"


def test_a_chained_hook_survives_uninstall(saved_hooks: None, notifier: Notifier,
                                           devserver: DevServer) -> None:
    calls: List[str] = []
    sys.excepthook = lambda kind, exc, tb: calls.append("original")
    hooks.install_excepthook(notifier)
    ours = sys.excepthook

    def later_library(kind: Any, exc: Any, tb: Any) -> None:
        calls.append("later")
        ours(kind, exc, tb)

    sys.excepthook = later_library
    hooks.uninstall_excepthook()
    assert sys.excepthook is later_library
    sys.excepthook(ValueError, ValueError("x"), None)
    assert calls == ["later", "original"]
    notifier.flush(WAIT)
    assert devserver.occurrences() == []


def test_thread_hook_reports_at_error_and_chains(saved_hooks: None, notifier: Notifier,
                                                devserver: DevServer) -> None:
    seen: List[str] = []
    threading.excepthook = lambda args: seen.append(str(args.exc_value))
    hooks.install_excepthook(notifier)

    def fail() -> None:
        raise OSError("disk gone")

    thread = threading.Thread(target=fail, name="copier")
    thread.start()
    thread.join(WAIT)
    assert seen == ["disk gone"]
    (data,) = [o["data"] for o in devserver.wait_for_occurrences(1, WAIT)]
    assert (data["level"], data["custom"]["thread"]) == ("error", "copier")


def test_unraisable_exceptions_are_reported(saved_hooks: None, notifier: Notifier,
                                            devserver: DevServer) -> None:
    seen: List[Optional[BaseException]] = []
    sys.unraisablehook = lambda unraisable: seen.append(unraisable.exc_value)
    hooks.install_excepthook(notifier)

    class Leaky:
        def __del__(self) -> None:
            raise ValueError("cleanup failed")

    leaky: Optional[Leaky] = Leaky()
    del leaky
    gc.collect()
    assert [str(exc) for exc in seen] == ["cleanup failed"]
    (data,) = [o["data"] for o in devserver.wait_for_occurrences(1, WAIT)]
    assert data["body"]["trace"]["exception"]["description"].startswith("Exception ignored in")


def test_default_notifier_is_used_when_none_is_given(saved_hooks: None,
                                                     devserver: DevServer) -> None:
    from rollbar_notifier import default as notifier_module

    calls: List[str] = []
    sys.excepthook = lambda kind, exc, tb: calls.append("previous")
    notifier_module.init(access_token=devserver.tokens["post_server_item"],
                         endpoint=devserver.api_url, install_hooks=False)
    try:
        hooks.install_excepthook()
        sys.excepthook(ValueError, ValueError("late binding"), None)
        assert calls == ["previous"]
        assert len(devserver.wait_for_occurrences(1, WAIT)) == 1
    finally:
        notifier_module.close()
    sys.excepthook(ValueError, ValueError("no notifier any more"), None)
    assert calls == ["previous", "previous"]


def test_asyncio_handler_reports_and_keeps_the_previous_one(notifier: Notifier,
                                                            devserver: DevServer) -> None:
    contexts: List[Dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    try:
        loop.set_exception_handler(lambda _loop, context: contexts.append(context))
        hooks.install_asyncio_handler(loop, notifier)

        async def main() -> None:
            loop.call_exception_handler({"message": "Task exception was never retrieved",
                                         "exception": LookupError("no row")})
            loop.call_exception_handler({"message": "socket closed twice"})

        loop.run_until_complete(main())
    finally:
        loop.close()
    assert [c["message"] for c in contexts] == ["Task exception was never retrieved",
                                                "socket closed twice"]
    stored = [o["data"] for o in devserver.wait_for_occurrences(2, WAIT)]
    bodies = sorted(stored, key=lambda d: "trace" in d["body"])
    assert bodies[0]["body"]["message"]["body"] == "socket closed twice"
    trace = bodies[1]["body"]["trace"]
    assert trace["exception"] == {"class": "LookupError", "message": "no row",
                                  "description": "Task exception was never retrieved"}


def test_a_handler_with_install_hooks_installs_them(saved_hooks: None,
                                                    devserver: DevServer) -> None:
    from rollbar_notifier.handler import RollbarHandler

    before = sys.excepthook
    plain = RollbarHandler(access_token=devserver.tokens["post_server_item"],
                           endpoint=devserver.api_url)
    assert sys.excepthook is before
    hooked = RollbarHandler(access_token=devserver.tokens["post_server_item"],
                            endpoint=devserver.api_url, install_hooks=True)
    assert sys.excepthook is not before
    for handler in (plain, hooked):
        handler.close()


UNRAISABLE_DURING_GC = r"""
import gc, sys
import rollbar_notifier

notifier = rollbar_notifier.init(access_token=sys.argv[1], endpoint=sys.argv[2],
                                 environment="test")
calls = []

def failing_callback(phase, info):
    if phase == "start" and len(calls) < 200:
        calls.append(phase)
        raise RuntimeError("raised during garbage collection")

gc.callbacks.append(failing_callback)
gc.set_threshold(1)  # collect at nearly every allocation: inside the notifier's own locks too
try:
    for index in range(20):
        rollbar_notifier.report_message(f"message {index}")
finally:
    gc.callbacks.remove(failing_callback)
    gc.set_threshold(700)
print("reports", len(calls), "delivered", notifier.flush(10))
"""


def test_errors_raised_during_garbage_collection_are_reported_and_nothing_hangs(
        tmp_path: Any) -> None:
    with DevServer() as server:
        script = tmp_path / "gc_reentry.py"
        script.write_text(UNRAISABLE_DURING_GC)
        result = subprocess.run(
            [sys.executable, str(script), server.tokens["post_server_item"], server.api_url],
            capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "delivered True" in result.stdout
        unraisable = [o for o in server.occurrences()
                      if "garbage collection" in str(o["data"]["body"])]
        assert unraisable
