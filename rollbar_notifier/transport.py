"""The only place that speaks HTTP, behind a one-method interface.

The worker depends on :class:`Transport`, not on ``requests``, so its logic can be
tested with a recording transport; :class:`HttpTransport` is tested against real
servers. Every request carries the token in the ``X-Rollbar-Access-Token`` header
only, has a timeout, and keeps TLS verification on unless the config turns it off.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any, Mapping, Optional

import requests

from ._version import __version__

try:
    from typing import Protocol
except ImportError:  # pragma: no cover - Python < 3.8 is not supported anyway
    from typing_extensions import Protocol  # type: ignore[assignment]

log = logging.getLogger(__name__)

USER_AGENT = f"rollbar_notifier/{__version__}"


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    """Relative to the endpoint, e.g. ``item/`` or ``deploy/12``."""
    body: Optional[bytes] = None


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    """The HTTP status, or 0 when no response arrived (see ``error``)."""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b""
    error: Optional[str] = None
    """Why no response arrived: connection refused, reset, timeout..."""


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
        if access_token:
            self._headers["X-Rollbar-Access-Token"] = access_token
        self._pool_size = pool_size
        self._session = self._new_session()

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
        try:
            reply = self._session.request(request.method, url, data=request.body,
                                          timeout=self._timeout, verify=self._verify,
                                          allow_redirects=False)
            return Response(reply.status_code, dict(reply.headers), reply.content)
        except requests.RequestException as exc:
            return Response(0, error=f"{type(exc).__name__}: {_short_error(exc)}")
        except Exception as exc:
            log.debug("rollbar_notifier transport failure", exc_info=True)
            return Response(0, error=f"{type(exc).__name__}: {_short_error(exc)}")

    def reset(self) -> None:
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


def _short_error(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."


DELIVERED = "delivered"
RETRY = "retry"
DROP = "drop"
TOO_LARGE = "too_large"

DEFAULT_RATE_LIMIT_PAUSE = 60.0
MAX_RATE_LIMIT_PAUSE = 30 * 24 * 3600.0
"""Rollbar's longest rate-limit window; a later reset header is treated as garbage."""

_DROP_STATUSES = frozenset({400, 401, 403, 404, 422})


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
    if status in _DROP_STATUSES or 300 <= status < 500:
        return Outcome(DROP, f"http_{status}", message=message)
    return Outcome(RETRY, f"http_{status}", message=message)


def rate_limit_pause(headers: Mapping[str, str], now: float) -> float:
    """Seconds until the rate-limit window ends, from the 429 response headers."""
    lowered = {key.lower(): value for key, value in headers.items()}
    reset = _number(lowered.get("x-rate-limit-reset"))
    if reset is not None:
        return _bounded_pause(reset - now)
    remaining = _number(lowered.get("x-rate-limit-remaining-seconds"))
    if remaining is not None:
        return _bounded_pause(remaining)
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
    return value if value == value and abs(value) != float("inf") else None


def server_message(body: bytes) -> Optional[str]:
    """The ``message`` of a Rollbar JSON response, bounded; ``None`` if there is none."""
    try:
        data: Any = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError):
        return None
    message = data.get("message") if isinstance(data, dict) else None
    return str(message)[:500] if message is not None else None
