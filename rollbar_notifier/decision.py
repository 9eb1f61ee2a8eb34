"""What to do after one attempt to post an item: a pure function of the answer.

:func:`classify` turns an HTTP answer into an :class:`Outcome`; :func:`decide` turns an
outcome, the attempt count and the elapsed time into a :class:`Decision` under a
:class:`~.retry.RetryPolicy`. Neither sleeps, reads a clock nor does I/O: the caller
passes the times, so the whole table is tested with plain values, and the worker only
carries decisions out.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Mapping, Optional

from .retry import Random, RetryPolicy
from .transport import Response, server_message

DEFAULT_RATE_LIMIT_PAUSE = 60.0
MAX_RATE_LIMIT_PAUSE = 30 * 24 * 3600.0
"""Rollbar's longest rate-limit window; a later reset header is treated as garbage."""


class OutcomeKind(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DROP = "drop"
    TOO_LARGE = "too_large"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one attempt's answer means, whatever the attempt was."""

    kind: OutcomeKind
    reason: str
    """Short and stable, e.g. ``http_500`` or ``network``: a key for counting and logging."""
    retry_after: Optional[float] = None
    """Seconds every sender must pause (429 only)."""
    message: Optional[str] = None
    """The server's ``message``, or the network error."""


def classify(response: Response, now: float) -> Outcome:
    """Classify a response to ``POST item/``; ``now`` is the wall clock in unix seconds."""
    status = response.status
    if status == 0:
        return Outcome(OutcomeKind.RETRY, "network", message=response.error)
    message = server_message(response.body)
    if 200 <= status < 300:
        return Outcome(OutcomeKind.DELIVERED, f"http_{status}", message=message)
    if status == 429:
        return Outcome(OutcomeKind.RETRY, "rate_limited", rate_limit_pause(response.headers, now),
                       message)
    if status == 413:
        return Outcome(OutcomeKind.TOO_LARGE, "http_413", message=message)
    if 300 <= status < 500:
        return Outcome(OutcomeKind.DROP, f"http_{status}", message=message)
    return Outcome(OutcomeKind.RETRY, f"http_{status}", message=message)


def rate_limit_pause(headers: Mapping[str, str], now: float) -> float:
    """Seconds until the rate-limit window ends, from the 429 response headers.

    ``X-Rate-Limit-Remaining-Seconds`` is relative, so a client clock that is off does
    not distort it; the absolute ``X-Rate-Limit-Reset`` is only the fallback.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    remaining = _number(lowered.get("x-rate-limit-remaining-seconds"))
    if remaining is not None:
        return _bounded_pause(remaining)
    reset = _number(lowered.get("x-rate-limit-reset"))
    if reset is not None:
        return _bounded_pause(reset - now)
    return DEFAULT_RATE_LIMIT_PAUSE


def _bounded_pause(seconds: float) -> float:
    """A reset already past still means one short pause, so the next try is not immediate."""
    return min(max(seconds, 1.0), MAX_RATE_LIMIT_PAUSE)


def _number(text: Optional[str]) -> Optional[float]:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class Action(enum.Enum):
    DELIVERED = "delivered"
    """Done: count it as sent."""
    RETRY = "retry"
    """Try again after ``Decision.delay`` seconds (after ``Decision.pause``, if any)."""
    SHRINK = "shrink"
    """Rebuild the item smaller and try again at once."""
    DROP = "drop"
    """The server refused it for good: count it, never spool it."""
    GIVE_UP = "give_up"
    """The retry window is over: spool it if there is a spool, else count it lost."""


@dataclasses.dataclass(frozen=True)
class Decision:
    action: Action
    delay: float = 0.0
    """Seconds to wait before the next attempt (``RETRY`` only)."""
    pause: Optional[float] = None
    """Seconds every sender must stop for, from now (a 429), whatever the action."""


def decide(outcome: Outcome, *, failures: int, elapsed: float, policy: RetryPolicy,
           can_shrink: bool, rand: Random) -> Decision:
    """The next step after an attempt that ended in ``outcome``, ``elapsed`` seconds after
    the item's first attempt, which ``failures`` retryable failures preceded.

    A 429 pauses every sender and retries at once when the pause is over; repeated
    429s still end the item's retry window like any other failure. A 413 is retried
    once smaller when ``can_shrink``, and otherwise refused like any other 4xx.
    """
    if outcome.kind is OutcomeKind.DELIVERED:
        return Decision(Action.DELIVERED)
    if outcome.kind is OutcomeKind.TOO_LARGE and can_shrink:
        return Decision(Action.SHRINK)
    if outcome.kind is not OutcomeKind.RETRY:
        return Decision(Action.DROP)
    if outcome.retry_after is not None:
        action = Action.RETRY if elapsed < policy.retry_for else Action.GIVE_UP
        return Decision(action, pause=outcome.retry_after)
    delay = policy.next_delay(failures + 1, elapsed, rand)
    if delay is None:
        return Decision(Action.GIVE_UP)
    return Decision(Action.RETRY, delay=delay)
