"""How much of the interpreter the senders take while the program is busy reporting.

On CPython a sender holds the GIL for most of its work: building an item, and most of
what ``requests`` does around each request. While reports come faster than they can be
sent, four senders working flat out leave the program's own threads a fraction of the
interpreter: a burst of errors would slow down everything else the program does, which
is what an error reporter must never do. Worse than the CPU they take is how often
they take the interpreter: a thread the program wakes (a request handler, a heartbeat)
waits behind every thread that asks for the GIL at the same time.

So while the program reports faster than they send and nobody waits for the queue, the
senders build items one at a time (building is most of an item's CPU), and together
keep to :data:`BUSY_SHARE` of the time: every paced item's CPU time moves one clock,
shared by the senders, forward by that time over the share, and a paced sender starts
building only once the clock allows. Time spent waiting (for the server, for the interpreter)
lets the clock fall behind the present, so it counts as rest, and holds no turn: against
a slow server every sender still has a request in flight. The clock is shared so that
the share holds from a burst's first items, when every idle sender wakes at once. There
is no turn and no wait when the senders keep up, nor while somebody waits for the
queue to empty (``flush``, the exit): then delivering is all that is left to do.
"""

from __future__ import annotations

BUSY_SHARE = 0.2
"""Of the wall-clock time, what the senders of one notifier may spend working while
items wait, all together: a program reporting in a tight loop keeps at least the rest."""


def start_item(clock: float, now: float, expected: float, share: float = BUSY_SHARE) -> float:
    """The pace clock once a paced item starts at ``now``, charged the CPU time it is
    ``expected`` to cost: the next may start then. A clock behind ``now`` (the senders
    waited, for the server or the interpreter, or had nothing to do) owes nothing."""
    if share <= 0:
        return now
    return max(clock, now) + max(expected, 0.0) / share


def end_item(clock: float, expected: float, cpu: float, share: float = BUSY_SHARE) -> float:
    """The pace clock once an item charged ``expected`` as it started turned out to cost
    ``cpu``: charged at the start, senders starting side by side count before any ends."""
    if share <= 0:
        return clock
    return clock + (cpu - expected) / share
