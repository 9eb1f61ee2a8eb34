"""The line on stderr that names, by reason, every item a sender lost, when it closes.

At exit logging may already be shut down, and a program that never configured it would
show nothing anyway; ``stats()`` is gone with the process. So a closing sender writes
one line, itself, naming each loss with the key ``stats()["dropped"]`` uses. Items the
program's own ``before_send`` discarded are its choice, not a loss.
"""

from __future__ import annotations

import sys
from typing import Dict, Mapping, Optional

from .config import Config
from .stats import DropReason

NOT_A_LOSS = frozenset({DropReason.BEFORE_SEND.value})
SPOOL_HINT = "; set spool_dir to keep such items"
SPOOL_WOULD_KEEP = frozenset({DropReason.SHUTDOWN_TIMEOUT.value, DropReason.RETRY_EXPIRED.value,
                              DropReason.SERVER_UNAVAILABLE.value})


def tell(dropped: Mapping[str, int], config: Config, spooling: bool) -> None:
    """Write the :func:`summary` line, if there is one."""
    line = summary(dropped, config, spooling)
    if line:
        write(line)


def summary(dropped: Mapping[str, int], config: Config, spooling: bool) -> Optional[str]:
    """The line for ``dropped`` (a ``stats()["dropped"]``), or ``None`` if nothing was lost."""
    lost = {reason: count for reason, count in dropped.items()
            if count > 0 and reason not in NOT_A_LOSS}
    if not lost:
        return None
    why = _explanations(config)
    parts = [f"{count} {reason} ({why.get(reason, _refusal(reason))})"
             for reason, count in sorted(lost.items(), key=lambda pair: (-pair[1], pair[0]))]
    hint = SPOOL_HINT if not spooling and SPOOL_WOULD_KEEP.intersection(lost) else ""
    return (f"rollbar_notifier: {sum(lost.values())} item(s) were not delivered: "
            f"{', '.join(parts)}{hint}")


def _explanations(config: Config) -> Dict[str, str]:
    return {
        DropReason.QUEUE_FULL.value: f"reported faster than sent; queue_size="
                                     f"{config.queue_size} was full",
        DropReason.CLOSED.value: "reported after close()",
        DropReason.RETRY_EXPIRED.value: f"not taken by the server within retry_for="
                                        f"{config.retry_for:g}s",
        DropReason.SHUTDOWN_TIMEOUT.value: f"not delivered within shutdown_timeout="
                                           f"{config.shutdown_timeout:g}s",
        DropReason.SERVER_UNAVAILABLE.value: "the server was down",
        DropReason.SPOOL_FULL.value: "evicted from the full spool",
        DropReason.INTERNAL_ERROR.value: "the notifier failed on them; see its log",
    }


def _refusal(reason: str) -> str:
    return "refused by the server" if reason.startswith("http_") else "lost"


def write(line: str) -> None:
    """Write ``line`` to stderr; never raise, even with stderr closed or gone."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(line + "\n")
        stream.flush()
    except Exception:
        pass
