"""The only place that speaks HTTP, behind a one-method interface.

The worker depends on :class:`Transport`, not on ``requests``, so its logic can be
tested with a recording transport; :class:`HttpTransport` is tested against real
servers. Every request that needs it carries the token in the ``X-Rollbar-Access-Token``
header only, has a timeout, and keeps TLS verification on unless the config turns it off.

Pooled sockets are the one piece of state a forked child must not share, and only
:class:`HttpTransport` has them, so it replaces its own Session in the child; that keeps
:class:`Transport` at the single ``send`` the worker actually calls.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import weakref
from typing import Any, Mapping, Optional, Protocol

import requests

from ._version import __version__
from .capture import safe_str

log = logging.getLogger(__name__)

USER_AGENT = f"rollbar_notifier/{__version__}"
MIN_TIMEOUT = 0.05
"""A request given (almost) no time still gets this long, rather than an invalid timeout."""


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    """Relative to the endpoint, e.g. ``item/`` or ``deploy/12``."""
    body: Optional[bytes] = None
    timeout: Optional[float] = None
    """Seconds, when the caller can afford less than the configured timeout (at exit)."""
    anonymous: bool = False
    """Sent without the token: ``GET status/ping`` needs none, so it is not exposed there."""


PING = Request("GET", "status/ping", anonymous=True)
"""``GET status/ping`` needs no token, so none is sent."""


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    """The HTTP status, or 0 when no response arrived (see ``error``)."""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b""
    error: Optional[str] = None
    """Why no response arrived: connection refused, reset, timeout..."""


def answers_pong(response: Response) -> bool:
    """What a live Rollbar API (or devserver) answers to :data:`PING`."""
    return response.status == 200 and response.body.strip() == b"pong"


class Transport(Protocol):
    def send(self, request: Request) -> Response:
        """Perform ``request``; never raise, report network failures as status 0."""


class HttpTransport:
    """``requests`` with one keep-alive Session per thread-safe pool."""

    def __init__(self, endpoint: str, access_token: Optional[str], timeout: float,
                 verify: bool = True, pool_size: int = 4) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        self._verify = verify
        self._headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        self._token = {"X-Rollbar-Access-Token": access_token} if access_token else {}
        self._pool_size = pool_size
        self._session = self._new_session()
        _live.add(self)

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size,
                                                max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(self._headers)
        session.trust_env = True
        return session

    def send(self, request: Request) -> Response:
        url = self._endpoint + request.path.lstrip("/")
        timeout = self._timeout if request.timeout is None else min(self._timeout,
                                                                     request.timeout)
        try:
            reply = self._session.request(request.method, url, data=request.body,
                                          headers=None if request.anonymous else self._token,
                                          timeout=max(timeout, MIN_TIMEOUT), verify=self._verify,
                                          allow_redirects=False)
            return Response(reply.status_code, dict(reply.headers), reply.content)
        except Exception as exc:
            return Response(0, error=self._describe(exc))

    def _describe(self, exc: BaseException) -> str:
        """A short reason for the logs; ``requests`` may quote header values, so the
        token is taken out of it."""
        text = f"{type(exc).__name__}: {safe_str(exc, 300)}"
        token = self._token.get("X-Rollbar-Access-Token")
        return text.replace(token, "********") if token else text

    def _reset_in_child(self) -> None:
        """A fresh Session, for a forked child: pooled sockets belong to the parent.

        The old Session is dropped, not closed: closing it would act on the parent's
        connections. Only the child's single thread runs here, so no lock is needed.
        """
        self._session = self._new_session()

    def close(self) -> None:
        try:
            self._session.close()
        except Exception:
            log.debug("rollbar_notifier: closing the session failed", exc_info=True)


_live: weakref.WeakSet[HttpTransport] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """Registered at import, so it runs before the worker's hook restarts senders."""
    for transport in list(_live):
        try:
            transport._reset_in_child()
        except Exception:
            log.debug("rollbar_notifier: resetting a transport after fork failed", exc_info=True)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


DELIVERED = "delivered"
RETRY = "retry"
DROP = "drop"
TOO_LARGE = "too_large"

DEFAULT_RATE_LIMIT_PAUSE = 60.0
MAX_RATE_LIMIT_PAUSE = 30 * 24 * 3600.0
"""Rollbar's longest rate-limit window; a later reset header is treated as garbage."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What to do after one attempt: the worker's whole decision table in one value."""

    kind: str
    """One of ``delivered``, ``retry``, ``drop``, ``too_large``."""
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
        return Outcome(RETRY, "network", message=response.error)
    message = server_message(response.body)
    if 200 <= status < 300:
        return Outcome(DELIVERED, f"http_{status}", message=message)
    if status == 429:
        return Outcome(RETRY, "rate_limited", rate_limit_pause(response.headers, now), message)
    if status == 413:
        return Outcome(TOO_LARGE, "http_413", message=message)
    if 300 <= status < 500:
        return Outcome(DROP, f"http_{status}", message=message)
    return Outcome(RETRY, f"http_{status}", message=message)


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


def server_message(body: bytes) -> Optional[str]:
    """The ``message`` of a Rollbar JSON response, bounded; ``None`` if there is none."""
    try:
        data: Any = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError):
        return None
    message = data.get("message") if isinstance(data, dict) else None
    return str(message)[:500] if message is not None else None
