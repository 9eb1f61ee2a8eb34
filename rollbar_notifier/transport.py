"""The only place that speaks HTTP, behind a one-method interface.

The worker depends on :class:`Transport`, not on ``requests``, so its logic can be
tested with a recording transport; :class:`HttpTransport` is tested against real
servers. Every request carries the token in the ``X-Rollbar-Access-Token`` header
only, has a timeout, and keeps TLS verification on unless the config turns it off.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Mapping, Optional

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
        self._lock = threading.Lock()
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
        """A fresh Session, for a forked child: pooled sockets belong to the parent."""
        with self._lock:
            self._session = self._new_session()

    def close(self) -> None:
        try:
            self._session.close()
        except Exception:
            log.debug("rollbar_notifier: closing the session failed", exc_info=True)


def _short_error(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."
