"""The sender queue: a FIFO bounded in items and in estimated bytes, cheap to put on.

Split from :mod:`.worker` because it is on every report's path and owes nothing to
the senders: the worker decides what an item is and what it weighs.
"""

from __future__ import annotations

import queue
import threading
from typing import Generic, Tuple, TypeVar

T = TypeVar("T")


class BoundedQueue(Generic[T]):
    """A FIFO bounded in items and in estimated bytes, that a caller never waits on for
    longer than a few counter updates.

    Items travel on a ``queue.SimpleQueue``, written in C and reentrant: garbage
    collection can run a ``__del__`` at any allocation, even inside :meth:`offer`, and if
    it raises, the unraisable hook reports and so offers again on the same thread. The
    counts are kept under a lock that thread may take again (``mutex``) for the same
    reason. Cheaper than ``queue.Queue``, whose every put takes a lock and wakes a
    condition: this is on every report's path.
    """

    def __init__(self, maxsize: int, maxbytes: int) -> None:
        self._items: queue.SimpleQueue[Tuple[T, int]] = queue.SimpleQueue()
        self.mutex = threading.RLock()
        self.all_done = threading.Condition(self.mutex)
        self.maxsize = maxsize
        self.maxbytes = maxbytes
        self.size = 0
        """Items offered and not yet taken."""
        self.nbytes = 0
        self.unfinished = 0
        """Items offered and not yet done with (:meth:`task_done`)."""
        self.accepted = 0
        """Items ever queued (but instructions): counted here, under the lock :meth:`offer`
        takes anyway."""

    def full(self) -> bool:
        """Whether the next event would be refused whatever its size."""
        return self.size >= self.maxsize or self.nbytes >= self.maxbytes

    def offer(self, item: T, nbytes: int = 0, counted: bool = True) -> bool:
        """Queue ``item`` without waiting; ``False`` when that would pass either bound.
        ``counted``: whether it counts as :attr:`accepted` (an instruction to the
        consumers does not)."""
        with self.mutex:
            if self.size >= self.maxsize or (nbytes and self.nbytes + nbytes > self.maxbytes):
                return False
            self.size += 1
            self.nbytes += nbytes
            self.unfinished += 1
            self.accepted += counted
        self._items.put((item, nbytes))
        return True

    def get(self) -> T:
        return self._taken(self._items.get())

    def get_nowait(self) -> T:
        """The next item; raises ``queue.Empty`` when there is none."""
        return self._taken(self._items.get_nowait())

    def _taken(self, entry: Tuple[T, int]) -> T:
        item, nbytes = entry
        with self.mutex:
            self.size -= 1
            self.nbytes -= nbytes
        return item

    def task_done(self) -> None:
        with self.mutex:
            self.unfinished -= 1
            if self.unfinished <= 0:
                self.all_done.notify_all()

    def empty(self) -> bool:
        return self.size <= 0
