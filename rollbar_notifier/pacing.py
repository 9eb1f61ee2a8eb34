"""How much of the interpreter the senders take while the program is busy reporting.

On CPython a sender holds the GIL for most of its work: building an item, and most of
what ``requests`` does around each request. While reports come faster than they can be
sent, four senders working flat out leave the program's own threads a fraction of the
interpreter: a burst of errors would slow down everything else the program does, which
is what an error reporter must never do. Worse than the CPU they take is how often
they take the interpreter: a thread the program wakes (a request handler, a heartbeat)
waits behind every thread that asks for the GIL at the same time.

So while items wait in the queue and nobody waits for them, the senders build items one
at a time (building is most of an item's CPU), and together keep to :data:`BUSY_SHARE`
of the time: after each item, a sender rests in proportion to the CPU time the item cost
it. Time spent waiting for the server counts as rest, and holds no turn: against a slow
server every sender still has a request in flight. There is no turn and no rest when
the queue is empty, nor while somebody waits for it to empty (``flush``, the exit):
then delivering is all that is left to do.
"""

from __future__ import annotations

BUSY_SHARE = 0.2
"""Of the wall-clock time, what the senders of one notifier may spend working while
items wait, all together (each keeps to its part): a program reporting in a tight loop
keeps at least the rest."""


def rest_after(cpu: float, elapsed: float, share: float = BUSY_SHARE) -> float:
    """Seconds to rest after an item that cost ``cpu`` seconds of CPU over ``elapsed``
    seconds, so as to keep to ``share`` of the time. Time the item spent waiting (for
    the server, for the GIL) already counts as rest."""
    if cpu <= 0 or share <= 0:
        return 0.0
    return max(cpu / share - elapsed, 0.0)
