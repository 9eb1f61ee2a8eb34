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

A Python handler can miss its signal where the default action would not, in two ways;
a pool worker that ``Pool.terminate()`` reaches there never ends, and the parent joins
it for good:

- it runs at the main thread's next bytecode: a signal that lands after the last check
  and before the thread blocks in C (on the GIL, then on a lock) interrupts nothing.
  Where ours stands in for the default action, a watchdog thread learns of each signal
  (``signal.set_wakeup_fd``) and, if our handler has not started within
  :data:`NUDGE_SECONDS`, sends it again to the main thread: that breaks the wait.
- a forked child forgets a signal that reaches it before its interpreter has reset
  after the fork. The forking thread blocks our signals across ``fork()``; the child
  unblocks them once its notifier is restarted, and only then receives them.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import Callable, Dict, Optional, Tuple, Union

from . import lifecycle

log = logging.getLogger(__name__)

Handler = Union[Callable[[int, Optional[FrameType]], object], int, None]

_previous: Dict[int, Handler] = {}
"""The handler each signal had before ours, while ours is installed."""

NUDGE_SECONDS = 0.25
"""How long our handler may lag its signal before the main thread is sent it again."""

_entered = False
"""Our handler has started: the process is ending, no nudge is needed any more."""

_fork_hooks = False
_masks = threading.local()
"""The signal mask of a thread that is forking, restored after ``fork()``."""


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
    _hook_fork()
    if _ends_the_process():
        _Watchdog.arm()


def uninstall() -> None:
    """Put back the handlers ours replaced, where ours is still the one installed (one
    chained over ours still calls it, so it stays)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for number, previous in list(_previous.items()):
        if signal.getsignal(number) is _handle:
            signal.signal(number, previous)
            del _previous[number]
    if not _ends_the_process():
        _Watchdog.disarm()


def _handle(number: int, frame: Optional[FrameType]) -> None:
    """The program's own handler decides what follows a flush; the default action
    follows a close, which no second signal can cut short (see
    :func:`.lifecycle.close_all_at_exit`)."""
    previous = _previous.get(number, signal.SIG_DFL)
    if callable(previous):
        lifecycle.flush_all()
        previous(number, frame)
        return
    global _entered
    _entered = True
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


def _ends_the_process() -> bool:
    return any(previous is signal.SIG_DFL for previous in _previous.values())


def _hook_fork() -> None:
    """Registered after the notifier's own fork hooks (a notifier exists by the time
    ``init()`` installs handlers), so the child unblocks only once they have run."""
    global _fork_hooks
    if _fork_hooks or not hasattr(os, "register_at_fork") \
            or not hasattr(signal, "pthread_sigmask"):
        return
    _fork_hooks = True
    os.register_at_fork(before=_block_across_fork, after_in_parent=_restore_mask,
                        after_in_child=_after_fork_in_child)


def _block_across_fork() -> None:
    if _previous:
        _masks.saved = signal.pthread_sigmask(signal.SIG_BLOCK, set(_previous))


def _restore_mask() -> None:
    saved = getattr(_masks, "saved", None)
    if saved is not None:
        _masks.saved = None
        signal.pthread_sigmask(signal.SIG_SETMASK, saved)


def _after_fork_in_child() -> None:
    """Our handler may run at once, on a signal sent to the child while it was forked."""
    global _entered
    _entered = False
    _Watchdog.after_fork_in_child()
    _restore_mask()


class _Watchdog:
    """Sends a signal again to the main thread while our handler has not started.

    Only where our handler ends the process: run twice, it still ends it once. The C
    signal handler writes each signal's number to the wakeup pipe, whichever thread it
    ran in. A program that set its own wakeup fd first (``asyncio``) keeps it, without
    a watchdog. A forked child gets its own pipe and thread.
    """

    current: Optional[_Watchdog] = None

    def __init__(self) -> None:
        self.read, self.write = os.pipe()
        os.set_blocking(self.write, False)

    @classmethod
    def arm(cls) -> None:
        if cls.current is not None or not hasattr(signal, "pthread_kill"):
            return
        watchdog = cls()
        try:
            previous: Optional[int] = signal.set_wakeup_fd(watchdog.write,
                                                           warn_on_full_buffer=False)
        except (OSError, ValueError):
            previous = None
        if previous != -1:
            if previous is not None:
                signal.set_wakeup_fd(previous)
            os.close(watchdog.write)
            os.close(watchdog.read)
            return
        cls.current = watchdog
        threading.Thread(target=watchdog.run, name="rollbar_notifier-signals",
                         daemon=True).start()

    @classmethod
    def disarm(cls) -> None:
        """The thread sees the end of the pipe and closes the read end."""
        watchdog, cls.current = cls.current, None
        if watchdog is not None:
            watchdog.let_go(read_end=False)

    @classmethod
    def after_fork_in_child(cls) -> None:
        """The parent's pipe and thread are the parent's."""
        inherited, cls.current = cls.current, None
        if inherited is not None and inherited.let_go(read_end=True) and _ends_the_process():
            cls.arm()

    def let_go(self, read_end: bool) -> bool:
        """Stop being the wakeup fd, leaving one the program set since in place, and close
        the pipe (its ``read_end`` too when no thread of ours reads it); whether the
        wakeup fd was still ours."""
        current = signal.set_wakeup_fd(-1)
        ours = current == self.write
        if not ours:
            signal.set_wakeup_fd(current)
        os.close(self.write)
        if read_end:
            os.close(self.read)
        return ours

    def run(self) -> None:
        leave_signals_to_the_main_thread()
        main = threading.main_thread().ident
        try:
            while True:
                data = os.read(self.read, 64)
                if not data:
                    return
                numbers = {number for number in data if _previous.get(number) is signal.SIG_DFL}
                while numbers and not _entered:
                    time.sleep(NUDGE_SECONDS)
                    for number in numbers:
                        if main and not _entered and signal.getsignal(number) is _handle:
                            signal.pthread_kill(main, number)
        except OSError:
            log.debug("rollbar_notifier: the signal watchdog stopped", exc_info=True)
        finally:
            os.close(self.read)
