"""The real :class:`~.transport.Transport`: ``requests`` with a keep-alive connection pool.

Every request that needs it carries the token in the ``X-Rollbar-Access-Token`` header
only, has a timeout, and keeps TLS verification on unless the config turns it off.

What ``requests`` would look up in the environment on every request (proxies and
``NO_PROXY``, ``~/.netrc``, ``REQUESTS_CA_BUNDLE``) is resolved once, here, when the
transport is made; requests then go out on a Session that reads nothing. That per-request
lookup imported ``netrc`` on the first send: a ``fork()`` during that import left the
import lock held in the child, whose senders then waited on it forever. Likewise each
request is a copy of one prepared once for its method and path, given its body: merging
the Session's settings into every request cost a sender a tenth of its time per item.
(So cookies a server sets are not sent back; the Rollbar API sets none.)

Pooled sockets are the one piece of state a forked child must not share, so the
transport replaces its own Session in the child (see :mod:`.lifecycle`). What a server
sends back never carries the token further: a server or proxy that echoes the header is
answered with the token cut out of the body, the headers and any error.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import threading
from typing import Any, Dict, List, Optional, Tuple, Union
from urllib.parse import urlsplit

import requests
from requests.utils import get_environ_proxies, get_netrc_auth

from . import lifecycle
from ._version import __version__
from .bounded import safe_str
from .contract import TOKEN_HEADER
from .transport import Request, Response

log = logging.getLogger(__name__)

USER_AGENT = f"rollbar_notifier/{__version__}"
MIN_TIMEOUT = 0.05
"""A request given (almost) no time still gets this long, rather than an invalid timeout."""
REDACTED = "********"
MAX_ERROR = 300
"""Characters of a network error kept for the logs; the token is taken out before the cut."""
MAX_TEMPLATES = 64
"""Prepared requests kept, one per method and path (items, deploys, pings, reads)."""
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
"""Where ``requests`` finds a CA bundle, in the order it reads them."""


@dataclasses.dataclass(frozen=True)
class NetworkSettings:
    """What the environment says about reaching one endpoint, read once."""

    proxies: Dict[str, str]
    verify: Union[bool, str]
    auth: Optional[Tuple[str, str]]

    @classmethod
    def for_endpoint(cls, endpoint: str, verify: bool) -> NetworkSettings:
        """The proxy ``requests`` would pick for ``endpoint`` (``NO_PROXY`` included), the
        ``.netrc`` login for its host, and the CA bundle when verification is on."""
        scheme = urlsplit(endpoint).scheme
        found = get_environ_proxies(endpoint)
        proxy = found.get(scheme) or found.get("all")
        bundle = next((os.environ[name] for name in CA_BUNDLE_VARIABLES if os.environ.get(name)),
                      None)
        return cls(proxies={scheme: proxy} if proxy else {},
                   verify=(bundle or True) if verify else False,
                   auth=get_netrc_auth(endpoint))


class HttpTransport:
    """``requests`` with one keep-alive Session per thread-safe pool."""

    def __init__(self, endpoint: str, access_token: Optional[str], timeout: float,
                 verify: bool = True, pool_size: int = 4) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        self._headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        self._echoes = _echoed_forms(access_token)
        self._token: Dict[str, str] = {TOKEN_HEADER: access_token} if access_token else {}
        self._pool_size = pool_size
        self.settings = NetworkSettings.for_endpoint(endpoint, verify)
        self._session = self._new_session()
        self._templates: Dict[Tuple[str, str, bool], requests.PreparedRequest] = {}
        lifecycle.track_transport(self)

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size,
                                                max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(self._headers)
        session.trust_env = False
        session.proxies = dict(self.settings.proxies)
        session.verify = self.settings.verify
        session.auth = self.settings.auth
        return session

    def send(self, request: Request) -> Response:
        timeout = self._timeout if request.timeout is None else min(self._timeout,
                                                                     request.timeout)
        try:
            prepared = self._prepared(request)
            reply = self._session.send(prepared, timeout=max(timeout, MIN_TIMEOUT),
                                       allow_redirects=False, proxies=self.settings.proxies,
                                       verify=self.settings.verify)
            return Response(reply.status_code,
                            {name: self._redact(value) for name, value in reply.headers.items()},
                            self._redact_bytes(reply.content))
        except Exception as exc:
            text = self._redact(f"{type(exc).__name__}: {safe_str(exc)}")
            return Response(0, error=text if len(text) <= MAX_ERROR else text[:MAX_ERROR] + "...")

    def _prepared(self, request: Request) -> requests.PreparedRequest:
        """The request ready to send: a copy of the one prepared for its method and path
        (URL, headers and auth are worked out once), given its body."""
        key = (request.method, request.path, request.anonymous)
        template = self._templates.get(key)
        if template is None:
            template = self._session.prepare_request(requests.Request(
                request.method, self._endpoint + request.path.lstrip("/"),
                headers=None if request.anonymous else self._token))
            if len(self._templates) < MAX_TEMPLATES:
                self._templates[key] = template
        prepared = template.copy()
        prepared.prepare_body(data=request.body, files=None)
        return prepared

    def _redact(self, text: str) -> str:
        """``requests`` may quote header values in errors, and a proxy may echo them."""
        for form in self._echoes:
            text = text.replace(form, REDACTED)
        return text

    def _redact_bytes(self, body: bytes) -> bytes:
        for form in self._echoes:
            body = body.replace(form.encode("utf-8"), REDACTED.encode("ascii"))
        return body

    def after_fork_in_child(self) -> None:
        """A fresh Session, for a forked child: pooled sockets belong to the parent.

        Dropping the parent's Session makes ``urllib3`` close its pooled connections (a
        finalizer, run now or at exit), which only closes the child's copies of the
        parent's sockets; but it takes each pool's locks, which a sender of the parent
        may have held when the process forked. Nobody in the child would ever release
        them, so they are replaced first.
        """
        try:
            _replace_pool_locks(self._session)
        except Exception:
            log.debug("rollbar_notifier: replacing the inherited pool locks failed",
                      exc_info=True)
        self._session = self._new_session()
        self._templates = {}

    def close(self) -> None:
        try:
            self._session.close()
        except Exception:
            log.debug("rollbar_notifier: closing the session failed", exc_info=True)


def _echoed_forms(token: Optional[str]) -> Tuple[str, ...]:
    """The token as a server may write it back: as sent, and escaped inside a JSON string
    (which :func:`~.transport.server_message` would decode back into the token)."""
    if not token:
        return ()
    escaped = json.dumps(token)[1:-1]
    return (token,) if escaped == token else (token, escaped)


def _replace_pool_locks(session: requests.Session) -> None:
    """Give every connection pool of ``session`` (and the table holding them) new locks."""
    managers: List[Any] = []
    for adapter in session.adapters.values():
        managers.append(getattr(adapter, "poolmanager", None))
        managers.extend(getattr(adapter, "proxy_manager", {}).values())
    for manager in managers:
        pools = getattr(manager, "pools", None)
        if pools is None:
            continue
        pools.lock = threading.RLock()
        for key in pools.keys():
            connections = getattr(pools.get(key), "pool", None)
            if isinstance(connections, queue.Queue):
                _replace_queue_locks(connections)


def _replace_queue_locks(connections: queue.Queue[Any]) -> None:
    connections.mutex = threading.Lock()
    connections.not_empty = threading.Condition(connections.mutex)
    connections.not_full = threading.Condition(connections.mutex)
    connections.all_tasks_done = threading.Condition(connections.mutex)
