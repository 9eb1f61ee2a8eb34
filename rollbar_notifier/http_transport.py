"""The real :class:`~.transport.Transport`: ``requests`` with a keep-alive connection pool.

Every request that needs it carries the token in the ``X-Rollbar-Access-Token`` header
only, has a timeout, and keeps TLS verification on unless the config turns it off.
Pooled sockets are the one piece of state a forked child must not share, so the
transport replaces its own Session in the child (see :mod:`.lifecycle`).
"""

from __future__ import annotations

import logging
from typing import Dict, Optional

import requests

from . import lifecycle
from ._version import __version__
from .bounded import safe_str
from .contract import TOKEN_HEADER
from .transport import Request, Response

log = logging.getLogger(__name__)

USER_AGENT = f"rollbar_notifier/{__version__}"
MIN_TIMEOUT = 0.05
"""A request given (almost) no time still gets this long, rather than an invalid timeout."""


class HttpTransport:
    """``requests`` with one keep-alive Session per thread-safe pool."""

    def __init__(self, endpoint: str, access_token: Optional[str], timeout: float,
                 verify: bool = True, pool_size: int = 4) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        self._verify = verify
        self._headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        self._token: Dict[str, str] = {TOKEN_HEADER: access_token} if access_token else {}
        self._pool_size = pool_size
        self._session = self._new_session()
        lifecycle.track_transport(self)

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
        token = self._token.get(TOKEN_HEADER)
        return text.replace(token, "********") if token else text

    def after_fork_in_child(self) -> None:
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
