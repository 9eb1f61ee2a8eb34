"""The process events a notifier must follow: exit, ``fork()`` and ``multiprocessing``.

Every hook is registered here, once per process, and runs its parts in one explicit
order. After a fork the child first replaces the package's module-level locks (another
thread may have held one when the process forked, and no thread of the child will
ever release it), then gives each transport fresh sockets (the pooled ones belong to
the parent), then restarts each sender (whose threads did not survive the fork, whose
locks it replaces, and which must not start on a parent's socket), then arranges for
the child's own exit flush. At exit every sender is closed, drawing on one deadline.

A ``multiprocessing`` child, however started, ends in ``os._exit()`` or after
``multiprocessing``'s own finalizers, so the exit flush is also one of those.

Senders and transports are held weakly: a notifier that is dropped without ``close()``
is not kept alive by being registered.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import weakref
from typing import Callable, List, Optional, Protocol

log = logging.getLogger(__name__)

MULTIPROCESSING_EXIT_PRIORITY = 0
"""Run with ``multiprocessing``'s first round of finalizers, which ends a child process."""


class ForkAware(Protocol):
    def after_fork_in_child(self) -> None:
        """Drop what belongs to the parent; only the child's single thread runs here."""


class ExitAware(ForkAware, Protocol):
    def close_at_exit(self) -> None:
        """Deliver what is queued within the exit deadline, then stop; never raise."""

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait up to ``timeout`` for what is queued."""

    def exit_budget(self, start: bool = True) -> float:
        """Seconds left of the sender's ``shutdown_timeout``."""


_lock = threading.Lock()
_transports: weakref.WeakSet[ForkAware] = weakref.WeakSet()
_senders: weakref.WeakSet[ExitAware] = weakref.WeakSet()
_lock_resets: List[Callable[[], None]] = []
_registered = False
_closing = False
"""An exit-time close is running. It runs in the main thread (``atexit``,
``multiprocessing``'s finalizers, a signal handler), where a signal handler may
interrupt it, and then start another."""
_after_close: List[Callable[[], None]] = []


def on_fork_in_child(reset: Callable[[], None]) -> None:
    """Have ``reset`` replace a module-level lock (or reseed a generator) in a forked
    child, before anything runs."""
    _lock_resets.append(reset)


def track_transport(transport: ForkAware) -> None:
    _register_hooks()
    _transports.add(transport)


def track_sender(sender: ExitAware) -> None:
    _register_hooks()
    _senders.add(sender)


def forget_sender(sender: ExitAware) -> None:
    """A closed sender has nothing left to do at exit, and must not restart after a fork."""
    _senders.discard(sender)


def _register_hooks() -> None:
    global _registered
    with _lock:
        if _registered:
            return
        _registered = True
    atexit.register(close_all_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
    _finalize_in_multiprocessing_child()


def close_all_at_exit(then: Optional[Callable[[], None]] = None) -> None:
    """Close every sender within its exit deadline, then run ``then``; what the process
    does at its end.

    Called while another such close runs below it (a SIGTERM arriving during the
    ``multiprocessing`` exit flush), it returns at once and leaves ``then`` to the close
    already running: that one cannot go on until this call returns, and ``then`` (which
    may end the process) must not cut it short.
    """
    global _closing
    if then is not None:
        _after_close.append(then)
    if _closing:
        return
    _closing = True
    try:
        for sender in list(_senders):
            try:
                sender.close_at_exit()
            except Exception:
                log.debug("rollbar_notifier: closing at exit failed", exc_info=True)
    finally:
        _closing = False
        while _after_close:
            _after_close.pop(0)()


def flush_all() -> None:
    """Wait for every sender's queue, within its ``shutdown_timeout``, leaving it open: for
    a process that may go on (a signal whose handler the program chose)."""
    for sender in list(_senders):
        try:
            sender.flush(sender.exit_budget(start=False))
        except Exception:
            log.debug("rollbar_notifier: flushing failed", exc_info=True)


def _reset_in_child() -> None:
    """Module state first, whether or not a notifier exists yet (a uuid generator is
    reseeded even in a process that only captures); registered when this module is
    imported, so it runs before :func:`_after_fork_in_child`."""
    global _lock, _closing
    _lock = threading.Lock()
    _closing = False
    _after_close.clear()
    for reset in _lock_resets:
        reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


def _after_fork_in_child() -> None:
    """After the module state: a sender restarted on a parent's socket would corrupt its
    stream."""
    for obj in [*_transports, *_senders]:
        try:
            obj.after_fork_in_child()
        except Exception:
            log.debug("rollbar_notifier: resetting %r after fork failed", obj, exc_info=True)
    _close_at_multiprocessing_exit()


class _MultiprocessingHook:
    """What ``multiprocessing.util.register_after_fork`` keeps a weak reference to."""


_multiprocessing_hook = _MultiprocessingHook()
_multiprocessing_registered = False


def _close_at_multiprocessing_exit() -> None:
    """A ``multiprocessing`` child ends in ``os._exit()``, so ``atexit`` never runs there;
    its finalizers do. ``Process._bootstrap`` clears the finalizers it inherited *after*
    the fork hook, then runs the after-fork callbacks: so the finalizer is registered
    from one of those. Inherited by grandchildren, hence registered once."""
    global _multiprocessing_registered
    util = sys.modules.get("multiprocessing.util")
    if util is None or _multiprocessing_registered:
        return
    try:
        util.register_after_fork(_multiprocessing_hook, _finalize_in_child)
        _multiprocessing_registered = True
    except Exception:
        log.debug("rollbar_notifier: registering the multiprocessing exit flush failed",
                  exc_info=True)


def _finalize_in_child(hook: _MultiprocessingHook) -> None:
    util = sys.modules["multiprocessing.util"]
    util.Finalize(None, close_all_at_exit, exitpriority=MULTIPROCESSING_EXIT_PRIORITY)


def _finalize_in_multiprocessing_child() -> None:
    """A notifier first made inside a ``multiprocessing`` child (a pool initializer, a
    task; any start method) closes with the child's finalizers: a forkserver child
    ends in ``os._exit()`` and would never run ``atexit``."""
    process = sys.modules.get("multiprocessing.process")
    if process is None or process.parent_process() is None:
        return
    try:
        _finalize_in_child(_multiprocessing_hook)
    except Exception:
        log.debug("rollbar_notifier: registering the multiprocessing exit flush failed",
                  exc_info=True)


class ExitDeadline:
    """The one ``shutdown_timeout`` that every exit-time wait of a sender shares.

    At exit several waits follow one another: the excepthook's flush, the ``atexit``
    close, ``logging.shutdown()`` flushing handlers. A dead server must cost the
    timeout once, not once per wait.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._deadline: Optional[float] = None
        self._lock = threading.RLock()
        """Re-entrant: a report from a ``__del__`` run by garbage collection may land here."""

    def remaining(self, start: bool = True) -> float:
        """Seconds left. The first exit-time wait (``start``) fixes the deadline; a wait
        that may also happen during normal running (a handler's ``flush()``) only
        respects one already set, and otherwise gets the whole timeout."""
        with self._lock:
            if self._deadline is None:
                if not start:
                    return self.seconds
                self._deadline = self._clock() + self.seconds
            return max(0.0, self._deadline - self._clock())

    def after_fork_in_child(self) -> None:
        self._lock = threading.RLock()
        self._deadline = None
