"""Deliver what is queued when the process is told to stop, not only when it exits.

SIGTERM's default action kills the process at once: no ``atexit``, no ``finally``, so
every item still queued is lost without a word. ``multiprocessing.Pool`` ends its
workers that way, and so do container runtimes and process managers. For each signal
in ``flush_on_signals`` whose handler is the default one, ``init()`` installs a handler
that closes every sender within ``shutdown_timeout`` (spooling what does not go out
when a spool is set, and saying what was lost), then restores the default and sends
the signal again: the process still ends "killed by SIGTERM", as its parent expects.

A handler the program (or gunicorn, or a framework) installed first is chained, not
replaced: the queue is flushed, then that handler runs and decides what happens next.
Since the process may well go on (a graceful shutdown), the senders stay open. An
ignored signal does not end the process, so it is left alone.

Signal handlers run in the main thread between two bytecodes, whatever that thread
was doing; everything the handler reaches takes only re-entrant locks, and waits with
timeouts that let the sender threads run.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Callable, Dict, Optional, Tuple, Union

from . import lifecycle

log = logging.getLogger(__name__)

Handler = Union[Callable[[int, Optional[FrameType]], object], int, None]

_previous: Dict[int, Handler] = {}
"""The handler each signal had before ours, while ours is installed."""


def install(names: Tuple[str, ...]) -> None:
    """Install the flushing handler for each of ``names`` whose handler allows it; once:
    a handler chained over ours already calls it."""
    if not names:
        return
    if threading.current_thread() is not threading.main_thread():
        log.debug("rollbar_notifier: init() ran outside the main thread, where %s cannot be "
                  "handled; queued items are not flushed on them", ", ".join(names))
        return
    for name in names:
        number = signal.Signals[name]
        current = signal.getsignal(number)
        if number in _previous or not (current is signal.SIG_DFL or callable(current)):
            continue
        try:
            signal.signal(number, _handle)
        except (OSError, ValueError) as exc:
            log.debug("rollbar_notifier: cannot handle %s: %s", name, exc)
            continue
        _previous[number] = current


def uninstall() -> None:
    """Put back the handlers ours replaced, where ours is still the one installed (one
    chained over ours still calls it, so it stays)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for number, previous in list(_previous.items()):
        if signal.getsignal(number) is _handle:
            signal.signal(number, previous)
            del _previous[number]


def _handle(number: int, frame: Optional[FrameType]) -> None:
    """The program's own handler decides what follows a flush; the default action
    follows a close, which no second signal can cut short (see
    :func:`.lifecycle.close_all_at_exit`)."""
    previous = _previous.get(number, signal.SIG_DFL)
    if callable(previous):
        lifecycle.flush_all()
        previous(number, frame)
        return
    lifecycle.close_all_at_exit(then=lambda: _default_action(number))


def _default_action(number: int) -> None:
    """End the process as the signal would have without us."""
    signal.signal(number, signal.SIG_DFL)
    os.kill(os.getpid(), number)


SYNCHRONOUS_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGABRT",
                                       "SIGTRAP", "SIGSYS") if hasattr(signal, name))
"""Raised by the thread's own fault: they must reach that thread, so they stay unblocked."""


def leave_signals_to_the_main_thread() -> None:
    """Block the process's signals in the calling (notifier) thread.

    Python runs signal handlers in the main thread only, but the kernel delivers a
    signal sent to the process to any thread that does not block it. Delivered to a
    sender, a SIGTERM only sets a flag, and a main thread asleep in ``time.sleep`` or
    ``select`` does not see it until it wakes: the program's handler (and this
    notifier's flush at SIGTERM) would run seconds late, or never.
    """
    if not hasattr(signal, "pthread_sigmask"):
        return
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals() - SYNCHRONOUS_SIGNALS)
    except (OSError, ValueError):
        log.debug("rollbar_notifier: could not block signals in a sender thread", exc_info=True)
