"""Warnings a program must see even when it never configured logging.

The package adds a ``NullHandler`` to its logger, as a library should, so a program
without logging configuration is not sent the notifier's chatter. That handler also
stops ``logging.lastResort`` from printing: a missing token, a server refusing every
item or an endpoint that does not answer would leave no trace but a counter in
``stats()``. The few warnings that say the notifier cannot do its job therefore follow
``lastResort``'s own rule: when no handler of the program's would receive the record,
``logging.lastResort`` writes it to stderr. Callers decide how often to warn.

Standard library only, so the lowest layers (``config``) may use it.
"""

from __future__ import annotations

import logging
from typing import Optional


def warn(logger: logging.Logger, msg: str, *args: object) -> None:
    """Log a warning; write it to stderr as well when nothing else would show it."""
    if not logger.isEnabledFor(logging.WARNING) or logger.disabled:
        return
    logger.warning(msg, *args, stacklevel=2)
    fallback = logging.lastResort
    if fallback is None or logging.WARNING < fallback.level or _shown(logger):
        return
    try:
        fallback.handle(logger.makeRecord(logger.name, logging.WARNING, "(rollbar_notifier)", 0,
                                          msg, args, None))
    except Exception:
        logger.debug("rollbar_notifier: writing a warning to stderr failed", exc_info=True)


def _shown(logger: logging.Logger) -> bool:
    """Whether a handler other than a ``NullHandler`` is on the record's way up, as
    ``Logger.callHandlers`` walks it."""
    current: Optional[logging.Logger] = logger
    while current is not None:
        if any(not isinstance(handler, logging.NullHandler) for handler in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False
